"""Two CPU processes (gloo, launched with torchrun; accelerate picks them up) with batch 2 each
give the same losses as one process with batch 4: the same global batch, the same per-sample
noise, gradients averaged by DDP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers")
pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def _train(tmp_path, output, processes, batch):
    from tests.tiny_pipelines import save_tiny_sd3
    from tests.train_fixtures import write_bagel_parquet

    sd3 = tmp_path / "sd3"
    if not sd3.exists():
        save_tiny_sd3(sd3)
        write_bagel_parquet(tmp_path / "export", count=8)
    settings = [f"model.pretrained={sd3}", f"data.sources=[{tmp_path / 'export' / 't2i'}]", "data.resolution=64",
                "run.mixed_precision=no", "run.report_to=none", "run.progress=false", "model.max_text_tokens=16",
                "run.max_steps=3", "eval.at_end=false", "run.save_final=false", "optim.learning_rate=1e-3",
                "data.caption_dropout=0.2", f"run.batch_size={batch}", f"run.output_dir={output}", "run.save_every=100"]
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    launcher = [torchrun, f"--nproc_per_node={processes}", "--master_port=29517"] if processes > 1 else [sys.executable]
    env = {**os.environ, "PYTHONPATH": str(REPO), "ACCELERATE_USE_CPU": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([*launcher, "-m", "echo4o_eval", "train", *settings], capture_output=True, text=True,
                            env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in (output / "train_log.jsonl").read_text().splitlines()]


def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    one = _train(tmp_path, tmp_path / "one", processes=1, batch=4)
    two = _train(tmp_path, tmp_path / "two", processes=2, batch=2)
    assert [r["step"] for r in two] == [1, 2, 3]  # only the main process writes the log
    for a, b in zip(one, two):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-6, abs=1e-7)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-5)
