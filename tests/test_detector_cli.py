"""`echo4o-eval score` with the mask2former-clip judge, end to end, for GenEval and GenEval++.

Tiny random Mask2Former and CLIP are saved to disk and passed as judge options exactly as a
user passes real weights; the CLIP config is given as a .json path (a fresh process knows no
tiny config), and the command runs in a subprocess like a user's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny_models import TINY_CLIP_NAME, save_tiny_clip, save_tiny_mask2former, write_test_images

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def judge_args(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("tiny")
    m2f = save_tiny_mask2former(root / "m2f")
    _, weights = save_tiny_clip(root / "clip")
    options = {"detector_model": m2f, "clip_model": root / "clip" / f"{TINY_CLIP_NAME}.json",
               "clip_pretrained": weights, "min_score": 0, "color_min_score": 0, "device": "cpu"}
    args = ["--judge", "mask2former-clip"]
    for key, value in options.items():
        args += ["--judge-option", f"{key}={value}"]
    return args


def _score(benchmark, folder, run_dir, data_dir, judge_args, limit):
    command = [sys.executable, "-m", "echo4o_eval", "score", "-b", benchmark, "-m", f"folder:{folder}",
               *judge_args, "--data-dir", str(data_dir), "--offline", "--limit", str(limit),
               "--run-dir", str(run_dir), "--bootstrap", "50"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def test_geneval_and_geneval_pp_score_with_the_detector_judge(tmp_path, data_dir, judge_args):
    images = write_test_images(tmp_path / "src")  # RGB, RGBA, L, CMYK, EXIF-rotated, odd size
    geneval = tmp_path / "geneval"
    for i in range(3):
        for k in range(4):
            target = geneval / f"{i:05d}" / "samples" / f"{k:04d}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(images[(i * 4 + k) % len(images)], target)  # decoded by content, not name
    result = _score("geneval", geneval, tmp_path / "run_geneval", data_dir, judge_args, 3)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "coverage 100.0% (12/12 images scored)" in result.stdout
    assert (tmp_path / "run_geneval" / "results.jsonl").read_text().count("\n") == 12

    flat = tmp_path / "geneval_pp"  # Echo-4o's layout: <1-based line>.<ext>
    flat.mkdir()
    for line, source in enumerate(images, start=1):
        shutil.copy(source, flat / f"{line}{source.suffix}")
    result = _score("geneval_pp", flat, tmp_path / "run_pp", data_dir, judge_args, 6)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "coverage 100.0% (6/6 images scored)" in result.stdout
    scores = [json.loads(line)["score"] for line in (tmp_path / "run_pp" / "records-0.jsonl").read_text().splitlines()
              if json.loads(line)["type"] == "score"]
    assert all(s["status"] == "ok" and isinstance(s["values"]["correct"], bool) for s in scores)
    assert all(s["reason"] for s in scores if not s["values"]["correct"])  # failed clauses explained
