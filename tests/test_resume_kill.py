"""Kill `score` with SIGKILL at random points, resume, and get exactly the uninterrupted result."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from echo4o_eval.store import load_run
from geneval_folder import build_geneval_folder

N_PROMPTS = 120  # 480 images


def _command(folder: Path, run_dir: Path, data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "echo4o_eval", "score", "--benchmark", "geneval",
            "--model", f"folder:{folder}", "--judge", f"detections:{folder / 'dets.jsonl'}",
            "--run-dir", str(run_dir), "--data-dir", str(data_dir), "--offline", "--limit", str(N_PROMPTS),
            "--bootstrap", "0", "--judge-batch", "8", "--keep-failed", "-q"]


def _records(run_dir: Path):
    lines = []
    for shard in sorted(run_dir.glob("records-*.jsonl")):
        lines += [json.loads(line) for line in shard.read_text().splitlines()]
    return lines


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_matches_uninterrupted(tmp_path, data_dir):
    folder = tmp_path / "imgs"
    build_geneval_folder(folder, data_dir / "geneval" / "evaluation_metadata.jsonl", N_PROMPTS)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    reference = tmp_path / "reference"
    subprocess.run(_command(folder, reference, data_dir), check=True, env=env, capture_output=True)

    interrupted = tmp_path / "interrupted"
    total = 2 * N_PROMPTS * 4  # one generation and one score record per image
    rng = random.Random(1234)
    targets = sorted(rng.sample(range(1, total), 6))
    kills = 0
    for target in targets:  # kill once the store holds `target` records (random points)
        proc = subprocess.Popen(_command(folder, interrupted, data_dir), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shard = interrupted / "records-0.jsonl"
        while proc.poll() is None:
            if shard.exists() and shard.read_bytes().count(b"\n") >= target:
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.001)
        proc.wait()
    done = subprocess.run(_command(folder, interrupted, data_dir), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert kills >= 4, f"only {kills} kills landed mid-run"

    records = _records(interrupted)
    keys = [(r["type"], r["key"]["sample_id"], r["key"]["image_index"]) for r in records]
    assert len(keys) == len(set(keys)), "duplicate records after resume"
    want, got = load_run(reference), load_run(interrupted)
    assert got.generations.keys() == want.generations.keys()
    assert {k: v.values for k, v in got.scores.items()} == {k: v.values for k, v in want.scores.items()}
    assert {k: v.status for k, v in got.scores.items()} == {k: v.status for k, v in want.scores.items()}
    assert got.result.metrics == want.result.metrics
    assert len(got.scores) == N_PROMPTS * 4
    print(f"kills={kills} at record counts {targets} records={len(records)}")
