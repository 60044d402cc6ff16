"""A tiny local diffusers pipeline as the generator, sharded over 2 processes (RANK/WORLD_SIZE as
torchrun sets them), then check (no VLM), filter and export from one config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from echo4o_eval.cli import main
from synth_fakes import write_job

pytest.importorskip("diffusers")
pytest.importorskip("imagehash")
pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def test_tiny_diffusers_generator_on_two_processes(tmp_path, data_dir):
    from tests.tiny_pipelines import save_tiny_sd3

    pipeline = save_tiny_sd3(tmp_path / "sd3")
    job = write_job(tmp_path, None, counts=(4, 4, 0), subjects=0, extra={
        "generate.model": f"diffusers:{pipeline}", "generate.batch_size": 2,
        "generate.options": {"width": 64, "height": 64, "num_inference_steps": 2, "device": "cpu"},
        "filter.min_side": 32, "filter.data_dir": str(data_dir), "export.formats": ["bagel", "omnigen2"]})
    assert CliRunner().invoke(main, ["synth", "plan", str(job)]).exit_code == 0
    procs = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank),
               "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29533",
               "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        procs.append(subprocess.Popen([sys.executable, "-m", "echo4o_eval", "synth", "generate", str(job)],
                                      cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    outputs = [p.communicate(timeout=600)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    work = tmp_path / "work"
    per_rank = {}
    for rank in range(2):
        lines = [json.loads(x) for x in (work / "records" / f"generate-rank{rank}.jsonl").read_text().splitlines()]
        per_rank[rank] = [line["id"] for line in lines if line["status"] == "ok"]
    assert per_rank[0] and per_rank[1]  # both ranks generated
    counts = Counter(per_rank[0] + per_rank[1])
    assert len(counts) == 8 and set(counts.values()) == {1}  # a partition: none twice, none lost
    result = CliRunner().invoke(main, ["synth", "all", str(job)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads((work / "export" / "export_summary.json").read_text())
    assert summary["bagel"]["rows"]["t2i"] == sum(summary["samples"].values()) >= 6
    checks = [json.loads(x) for x in (work / "records" / "check-rank0.jsonl").read_text().splitlines()]
    assert {c["verdict"] for c in checks} == {"not_checked"}
    card = (work / "export" / "bagel" / "README.md").read_text()
    assert "check VLM: `none (not checked)`" in card and "diffusers:" in card
