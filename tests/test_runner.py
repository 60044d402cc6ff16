"""Runner: generate-only runs judged in place, retries, and images never left uncounted."""

import json
from pathlib import Path

from PIL import Image

from echo4o_eval.runner import RunConfig, Runner, _finish, run
from echo4o_eval.spec import load_benchmark
from echo4o_eval.rundir.store import RunStore
from echo4o_eval.records.types import Generation, Status


class PaintingModel:
    """A generating test model: writes a grey PNG per request; fails where told to."""

    id = "painting"
    batch_size = 3

    def __init__(self, fail=()):
        self.fail = set(fail)
        self.calls = 0

    def generate(self, requests):
        self.calls += len(requests)
        out = []
        for r in requests:
            if (r.sample_id, r.image_index) in self.fail:
                out.append(Generation(r.sample_id, r.image_index, r.seed, Status.GENERATION_ERROR, error="boom"))
                continue
            Path(r.output_path).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8), (r.seed % 256, 0, 0)).save(r.output_path)
            out.append(Generation(r.sample_id, r.image_index, r.seed, Status.OK, image_path=r.output_path))
        return out

    def describe(self):
        return {"type": "painting"}

    def close(self):
        pass


def _detections(run_dir: Path, n_prompts: int, images: int) -> Path:
    lines = [json.dumps({"image": str(run_dir / "images" / f"{i:05d}" / f"{k}.png"), "detections": []})
             for i in range(n_prompts) for k in range(images)]
    path = run_dir.parent / "dets.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _config(run_dir, data_dir, **kw):
    return RunConfig(benchmark="geneval", model="painting:x", run_dir=str(run_dir), data_dir=str(data_dir),
                     allow_download=False, limit=3, images_per_prompt=2, n_bootstrap=0, progress=False, **kw)


def test_generate_only_then_judge_in_place(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    model = PaintingModel()
    first = run(_config(run_dir, data_dir, generate_only=True), model=model)
    assert (first.generated, first.scored, first.result) == (6, 0, None)
    dets = _detections(run_dir, 3, 2)
    second = run(_config(run_dir, data_dir, judge=f"detections:{dets}"), model=model)
    assert (second.generated, second.scored) == (0, 6) and model.calls == 6
    assert second.result.n_images == 6 and second.result.coverage == 1.0
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["judge"]["spec"] == f"detections:{dets}"


def test_failed_generations_are_retried_unless_kept(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    dets = _detections(run_dir, 3, 2)
    failing = PaintingModel(fail={("00001", 1)})
    first = run(_config(run_dir, data_dir, judge=f"detections:{dets}"), model=failing)
    assert first.result.status_counts == {"ok": 5, "generation_error": 1}
    kept = run(_config(run_dir, data_dir, judge=f"detections:{dets}", retry_failed=False), model=PaintingModel())
    assert (kept.generated, kept.scored) == (0, 0)
    healed = run(_config(run_dir, data_dir, judge=f"detections:{dets}"), model=PaintingModel())
    assert (healed.generated, healed.scored) == (1, 1)
    assert healed.result.status_counts == {"ok": 6}


def test_images_without_a_score_are_counted_as_not_scored(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    dets = _detections(run_dir, 3, 2)
    config = _config(run_dir, data_dir, judge=f"detections:{dets}")
    run(config, model=PaintingModel())
    shard = run_dir / "records-0.jsonl"
    lines = shard.read_text().splitlines(keepends=True)
    dropped = [ln for ln in lines if json.loads(ln)["type"] == "score"][0]
    shard.write_text("".join(ln for ln in lines if ln is not dropped))
    runner = Runner(config)
    store = RunStore(run_dir)
    evaluator = load_benchmark(runner.spec).make_evaluator("detector", {"mode": "default"})
    outcome = _finish(runner, store, runner.load_samples(), evaluator, 0, 0)
    assert outcome.result.n_images == 6 and outcome.result.n_ok == 5
    assert outcome.status_counts["not_scored"] == 1


def test_a_moved_run_directory_still_shows_its_images(tmp_path, data_dir):
    import shutil

    from echo4o_eval.report.html import _image_file
    from echo4o_eval.report.runs import load_view

    run_dir = tmp_path / "run"
    dets = _detections(run_dir, 3, 2)
    run(_config(run_dir, data_dir, judge=f"detections:{dets}"), model=PaintingModel())
    moved = tmp_path / "elsewhere"
    shutil.move(str(run_dir), str(moved))
    view = load_view(moved)
    found = _image_file(view, "00001", 1)
    assert found is not None and found.is_relative_to(moved)


def test_usage_totals_count_unpriced_calls_instead_of_zero():
    from echo4o_eval.runner import _usage_totals
    from echo4o_eval.records.types import Judgement

    judgements = [[Judgement("main", "j", Status.OK, usage={"api_calls": 1}, cost_usd=0.002),
                   Judgement("main", "j", Status.OK, usage={"api_calls": 2}, cost_usd=None)]]
    generations = [Generation("a", 0, 1, Status.OK, usage={"api_calls": 1}, cost_usd=None),
                   Generation("b", 0, 1, Status.OK, usage={"api_calls": 1}, cost_usd=0.04),
                   Generation("c", 0, 1, Status.OK)]  # a local model: no API, no cost
    totals = _usage_totals(judgements, generations)
    assert (totals["judge_calls"], totals["unpriced_judgements"]) == (3, 1)
    assert totals["judge_cost_usd"] == 0.002
    assert (totals["generation_cost_usd"], totals["unpriced_generations"]) == (0.04, 1)
