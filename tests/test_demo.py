"""`echo4o-eval demo`: from a fresh clone, installed as the README says, offline, to an HTML report.

The clone is installed (non-editable, no dependencies) into a temporary venv that sees the
test environment's packages, so torch is not installed again; its own `echo4o-eval` script
then runs the demo with no data dir, an empty cache and the Hub offline.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from click.testing import CliRunner

from echo4o_eval.cli import main
from echo4o_eval.demo.local_judge import LocalJudgeServer, scripted_reply
from echo4o_eval.demo.prompts import GENEVAL_PP_PROMPTS, GENEVAL_PROMPTS
from tests.verbosity_guard import restored_verbosity

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _restore_verbosity():
    """-q and the demo quiet the libraries process-wide; undo that for the tests that follow."""
    with restored_verbosity():
        yield


def _offline_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ECHO4O_DATA_DIR", "ECHO4O_SHARED_DIR")}
    return {**env, "HF_HUB_OFFLINE": "1", "ECHO4O_CACHE_DIR": str(tmp_path / "empty-cache"),
            "HOME": str(tmp_path / "home")}


@pytest.mark.slow
def test_fresh_clone_install_and_demo_give_a_report(tmp_path):
    readme = (REPO / "README.md").read_text()
    assert 'pip install ".[detect,gen]"' in readme and "echo4o-eval demo" in readme  # the documented commands
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)  # pip, setuptools: the .pth below
    site = Path(subprocess.run([venv / "bin/python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "test-env.pth").write_text(sysconfig.get_path("purelib") + "\n")  # torch & co., not reinstalled
    env = _offline_env(tmp_path)
    # README: pip install ".[detect,gen]" from the clone (dependencies already present: --no-deps)
    install = subprocess.run([venv / "bin/python", "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                              "."], cwd=clone, env=env, capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-3000:]
    where = subprocess.run([venv / "bin/python", "-c", "import echo4o_eval; print(echo4o_eval.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv)), where  # the installed copy, not this checkout
    demo = subprocess.run([venv / "bin/echo4o-eval", "demo", "--out", str(tmp_path / "demo")], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=900)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "meaningless" in demo.stdout and "pipeline is real" in demo.stdout
    last = demo.stdout.strip().splitlines()[-1]
    assert last.startswith("report: ")
    report = Path(last.removeprefix("report: "))
    assert report.is_file() and "<html" in report.read_text(encoding="utf-8")[:2000].lower()
    for run in ("geneval__mask2former-clip", "geneval_pp__mask2former-clip", "geneval_pp__local-vlm-judge"):
        assert (tmp_path / "demo" / "runs" / run / "result.json").is_file()
    assert "coverage 100.0% (24/24 images scored)" in demo.stdout
    assert demo.stdout.count("coverage 100.0% (7/7 images scored)") >= 2
    assert "local judge server: 7 chat completions answered" in demo.stdout


def test_real_demo_names_the_checkpoints_and_fails_clearly_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    result = CliRunner().invoke(main, ["demo", "--real", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 1, result.output
    assert "could not download the generator segmind/tiny-sd" in result.output
    assert "HF_HUB_OFFLINE" in result.output and "without --real" in result.output
    assert "facebook/mask2former-swin-tiny-coco-instance" in result.output
    assert not (tmp_path / "demo").exists()  # nothing half-written


def test_demo_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "was not made by `echo4o-eval demo`" in result.output
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_demo_prompts_are_read_by_the_real_loaders(tmp_path):
    from echo4o_eval.assets import Assets
    from echo4o_eval.demo.prompts import demo_benchmark, write_prompt_files
    from echo4o_eval.spec import load_benchmark

    data = write_prompt_files(tmp_path)
    for benchmark_id, rows in (("geneval", GENEVAL_PROMPTS), ("geneval_pp", GENEVAL_PP_PROMPTS)):
        spec = demo_benchmark(benchmark_id, data)
        samples = load_benchmark(spec).load_samples(Assets(spec, data_dir=data, allow_download=False))
        assert [s.prompt for s in samples] == [r["prompt"] for r in rows]
        assert spec.version.endswith("-demo")


def test_local_judge_answers_over_http_with_the_real_openai_judge(tmp_path):
    from echo4o_eval.demo.local_judge import MODEL_NAME
    from echo4o_eval.judges.openai_judge import make_openai_judge
    from echo4o_eval.records.types import JudgeRequest
    from PIL import Image

    image = tmp_path / "x.png"
    Image.new("RGB", (16, 16), (200, 10, 10)).save(image)
    schema = {"type": "object", "properties": {"checks": {"type": "array"}}}
    with LocalJudgeServer() as server:
        judge = make_openai_judge(MODEL_NAME, {"base_url": server.base_url, "cache_dir": "none",
                                               "api_key_env": "ECHO4O_TEST_UNSET_KEY"})
        try:
            [judgement] = judge.judge([JudgeRequest("main", (str(image),), text="1. a cat\n2. a dog",
                                                    response_schema=schema)])
        finally:
            judge.close()
        assert server.calls == 1
    assert judgement.status.value == "ok", judgement
    body = {"messages": [{"role": "user", "content": "1. a cat\n2. a dog"}],
            "response_format": {"json_schema": {"schema": schema}}}
    assert scripted_reply(body) == scripted_reply(body)  # deterministic
