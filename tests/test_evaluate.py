"""evaluate(): objects in, the CLI's run directory out; model identity decides what is reused."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PIL import Image

from echo4o_eval import evaluate
from echo4o_eval.models.identity import ModelIdentityError
from echo4o_eval.rundir.store import RunConfigChanged, load_run

N_PROMPTS = 3


def detections_file(folder: Path) -> Path:
    """Empty detections for every image a 3-prompt, 1-image run writes (matched by path tail)."""
    path = folder / "dets.jsonl"
    lines = [json.dumps({"image": f"images/{i:05d}/0.png", "detections": []}) for i in range(N_PROMPTS)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def common(tmp_path, data_dir):
    return {"limit": N_PROMPTS, "images_per_prompt": 1, "data_dir": data_dir, "allow_download": False,
            "n_bootstrap": 0, "progress": False}


def grey(prompts, seeds):
    return [Image.new("RGB", (8, 8), (seed % 256, 0, 0)) for seed in seeds]


def test_callable_model_writes_a_resumable_reportable_run(tmp_path, common):
    judge = f"detections:{detections_file(tmp_path)}"
    outcome = evaluate("geneval", grey, judge, run_dir=tmp_path / "run", model_id="grey", **common)
    assert (outcome.generated, outcome.scored) == (N_PROMPTS, N_PROMPTS)
    assert outcome.result.coverage == 1.0 and outcome.result.n_images == N_PROMPTS
    data = load_run(tmp_path / "run")
    assert data.manifest["model"]["identity"] == {"model_id": "grey"}
    assert len(data.scores) == N_PROMPTS
    again = evaluate("geneval", grey, judge, run_dir=tmp_path / "run", model_id="grey", **common)
    assert (again.generated, again.scored) == (0, 0)
    assert again.result.metrics["overall"].value == outcome.result.metrics["overall"].value


def test_in_memory_model_without_identity_is_refused(tmp_path, common):
    with pytest.raises(ModelIdentityError, match=r"pass model_id=\"NAME\" and/or step=N"):
        evaluate("geneval", grey, None, run_dir=tmp_path / "run", generate_only=True, **common)
    assert not (tmp_path / "run").exists()


def test_each_step_is_its_own_run_and_a_changed_step_is_refused_by_name(tmp_path, common):
    judge = f"detections:{detections_file(tmp_path)}"
    first = evaluate("geneval", grey, judge, step=100, runs_root=str(tmp_path / "runs"), **common)
    second = evaluate("geneval", grey, judge, step=200, runs_root=str(tmp_path / "runs"), **common)
    assert "step-100" in first.run_dir.name and "step-200" in second.run_dir.name
    assert first.generated == second.generated == N_PROMPTS
    started = time.perf_counter()
    with pytest.raises(RunConfigChanged) as caught:
        evaluate("geneval", grey, judge, step=300, run_dir=first.run_dir, **common)
    assert time.perf_counter() - started < 1.0
    assert "model.identity.step: 100 -> 300" in str(caught.value)


def test_unknown_keyword_gets_a_did_you_mean(tmp_path):
    with pytest.raises(TypeError, match="did you mean 'generate_only'"):
        evaluate("geneval", grey, run_dir=tmp_path, generate_onyl=True)


def test_a_benchmark_object_is_accepted(tmp_path, common):
    from echo4o_eval.spec import load_benchmark

    outcome = evaluate(load_benchmark("geneval"), grey, run_dir=tmp_path / "run", model_id="grey",
                       generate_only=True, **common)
    assert outcome.generated == N_PROMPTS and outcome.result is None


def test_the_python_api_doc_examples_run(tmp_path, monkeypatch, data_dir, capsys):
    """docs/python_api.md: its first example and its config example run as written."""
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / "python_api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ECHO4O_DATA_DIR", str(data_dir))
    exec(compile(blocks[0], "docs/python_api.md", "exec", dont_inherit=True), {"__name__": "docs_example"})
    assert capsys.readouterr().out.splitlines()[0] == "1.0 0.0"
    assert (tmp_path / "runs" / "python-api" / "result.json").exists()
    exec(compile(blocks[-1], "docs/python_api.md", "exec", dont_inherit=True), {"__name__": "docs_example"})
    assert "- 500" in capsys.readouterr().out


def test_a_finished_run_loads_no_judge(tmp_path, common, monkeypatch):
    monkeypatch.setitem(__import__("echo4o_eval.deferred").deferred.DEFERRED_JUDGE_KINDS, "detections", "detector")
    judge = f"detections:{detections_file(tmp_path)}"
    first = evaluate("geneval", grey, judge, run_dir=tmp_path / "run", model_id="grey", **common)
    assert first.scored == N_PROMPTS
    assert load_run(tmp_path / "run").manifest["judge_settings"]["type"] == "detections-file"  # recorded once loaded

    def no_loading(*args, **kwargs):
        raise AssertionError("a judge was loaded")

    monkeypatch.setattr("echo4o_eval.factories.make_judge", no_loading)
    again = evaluate("geneval", grey, judge, run_dir=tmp_path / "run", model_id="grey", **common)
    assert (again.generated, again.scored, again.result.n_images) == (0, 0, N_PROMPTS)


class CountingJudge:
    """A caller-owned judge (wrapping the detections judge) that fails once it is closed."""

    def __init__(self, inner):
        self.inner, self.closes = inner, 0
        self.id, self.kind = inner.id, inner.kind

    def judge(self, requests):
        assert self.closes == 0, "the caller's judge was closed by an earlier evaluate()"
        return self.inner.judge(requests)

    def describe(self):
        return self.inner.describe()

    def close(self):
        self.closes += 1


def test_a_judge_object_is_reused_across_calls_and_left_open(tmp_path, common):
    from echo4o_eval.factories import make_judge

    judge = CountingJudge(make_judge(f"detections:{detections_file(tmp_path)}", {}))
    first = evaluate("geneval", grey, judge, step=1, runs_root=str(tmp_path / "runs"), **common)
    second = evaluate("geneval", grey, judge, step=2, runs_root=str(tmp_path / "runs"), **common)
    assert first.scored == second.scored == N_PROMPTS
    assert judge.closes == 0  # the caller closes what it made
