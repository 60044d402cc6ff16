"""Core-only install (no torch, diffusers, transformers, open_clip...): the suite collects
and skips cleanly, and `ls`, `validate`, `score` (precomputed detections), `report`,
`compare` and `agreement` work. Checked in subprocesses where tests/heavy_blocker.py makes
those packages unimportable, so the test process itself keeps them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.geneval_folder import build_geneval_folder

REPO = Path(__file__).resolve().parents[1]
PRELUDE = (f"import sys; sys.path.insert(0, {str(REPO / 'tests')!r}); "
           "import heavy_blocker; heavy_blocker.install(); ")


def blocked(code: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PRELUDE + code], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)})


def blocked_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    code = ("import runpy; sys.argv = ['echo4o-eval', *sys.argv[1:]]; "
            "runpy.run_module('echo4o_eval', run_name='__main__')")
    return subprocess.run([sys.executable, "-c", PRELUDE + code, *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_the_blocker_blocks(tmp_path):
    out = blocked("import torch", tmp_path)
    assert out.returncode == 1 and "blocked: core-only install" in out.stderr


@pytest.mark.slow
def test_suite_collects_without_torch(tmp_path):
    code = ("import pytest; sys.exit(pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider', "
            f"{str(REPO / 'tests')!r}]))")
    out = blocked(code, REPO, timeout=600)
    errors = [line for line in out.stdout.splitlines() if line.startswith("ERROR")]
    assert out.returncode == 0 and not errors, "\n".join(errors) or out.stdout[-3000:]
    assert "could not import 'torch'" in out.stdout  # torch-only modules are skipped, not errors


@pytest.mark.slow
def test_core_commands_work_without_torch(tmp_path, data_dir):
    assert blocked_cli(tmp_path, "--help").returncode == 0
    listing = blocked_cli(tmp_path, "ls")
    assert listing.returncode == 0 and "geneval_pp" in listing.stdout, listing.stderr
    valid = blocked_cli(tmp_path, "validate", "--offline", "--data-dir", str(data_dir), "geneval_pp")
    assert valid.returncode == 0 and "geneval_pp: ok" in valid.stdout, valid.stderr

    folder = tmp_path / "imgs"
    dets = build_geneval_folder(folder, data_dir / "geneval" / "evaluation_metadata.jsonl", 6)
    runs = []
    for name in ("a", "b"):
        scored = blocked_cli(tmp_path, "score", "-b", "geneval", "-m", f"folder:{folder}",
                             "-j", f"detections:{dets}", "--data-dir", str(data_dir), "--offline",
                             "--limit", "6", "--run-dir", name, "--bootstrap", "0")
        assert scored.returncode == 0, scored.stderr
        runs.append(name)
    report = blocked_cli(tmp_path, "report", *runs, "-o", "report")
    assert report.returncode == 0 and (tmp_path / "report" / "index.html").exists(), report.stderr
    compare = blocked_cli(tmp_path, "compare", *runs)
    assert compare.returncode == 0 and "PASS" in compare.stdout, compare.stdout + compare.stderr
    agreement = blocked_cli(tmp_path, "agreement", *runs)
    assert agreement.returncode == 0 and "kappa" in agreement.stdout.lower(), agreement.stdout + agreement.stderr
