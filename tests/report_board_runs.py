"""Hand-made runs of one model family across benchmarks and training steps, for the leaderboard,
plots and phone-width browser test (tests/test_report_board.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from runfixtures import make_samples, verdicts, worsen, write_run
from vlm_runfixtures import geneval_pp_reply, write_vlm_run

from echo4o_eval.assets import Assets
from echo4o_eval.spec import get_benchmark, load_benchmark
from echo4o_eval.statistics.jackknife import confidence_intervals
from echo4o_eval.rundir.store import RunStore


def official(name: str, data_dir) -> list:
    """The official samples of a benchmark (offline, from the data dir)."""
    spec = get_benchmark(name)
    return load_benchmark(spec).load_samples(Assets(spec, data_dir=data_dir, allow_download=False), None)


def set_model(run_dir: Path, model: str, step: int | None = None, intervals: bool = True) -> Path:
    """Give a run the model spec and training step (manifest ``model.identity.step``); with
    ``intervals`` recompute its result with intervals."""
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["model"] = {"spec": model, **({"identity": {"step": step}} if step is not None else {})}
    path.write_text(json.dumps(manifest))
    if intervals:
        from echo4o_eval.report.runs import load_view

        view = load_view(run_dir)
        aggregate = view.aggregate_function()
        result = confidence_intervals(aggregate, view.samples, view.scores, aggregate(view.samples, view.scores))
        RunStore(run_dir).write_result(result)
    return run_dir


def imagine_reply(sample, i: int, key: str) -> str:
    """Imagine-Bench replies with scores spread over 0..10 (seeded by sample and image)."""
    h = int(hashlib.sha256(f"{sample.id}/{i}".encode()).hexdigest(), 16)
    entry = lambda score, what: {"reason": f"{what} for image {i}", "score": score}  # noqa: E731
    return json.dumps({"fantasy_fulfillment": entry(h % 11, "fantasy"),
                       "identity_preservation": entry((h >> 8) % 11, "identity"),
                       "aesthetic_quality": entry(3 + (h >> 16) % 8, "aesthetics")})


def board_runs(root: Path, data_dir) -> list[Path]:
    """GenEval at steps 100/200/300 (images 4 per prompt), GenEval++ and Imagine-Bench at step 300."""
    samples = make_samples(60)
    base = verdicts(samples, images=4, seed=1)
    runs = []
    for step, table in ((100, worsen(base, 0.3, seed=2)), (200, worsen(base, 0.1, seed=3)), (300, base)):
        run = write_run(root / f"geneval-step{step}", samples, table, "bagel-ft", images=4, image_px=64,
                        n_boot=0, created=f"2026-11-28T1{step // 100}:00:00+00:00")
        runs.append(set_model(run, "bagel-ft", step))
    gpp = official("geneval_pp", data_dir)[::10]
    runs.append(set_model(write_vlm_run(root / "gpp-step300", "geneval_pp", gpp, geneval_pp_reply, images=1),
                          "bagel-ft", 300))
    imagine = official("imagine_bench", data_dir)[::9]
    runs.append(set_model(write_vlm_run(root / "imagine-step300", "imagine_bench", imagine, imagine_reply,
                                        images=1), "bagel-ft", 300))
    return runs
