"""SIGKILL during generation and during checking, then resume: nothing paid twice (counted on the
server), nothing lost or duplicated. A budget cap reached mid-run stops cleanly and what was
generated exports."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from echo4o_eval.cli import main
from synth_fakes import chat_responder, patterned_png, write_job

pytest.importorskip("imagehash")
pytest.importorskip("pyarrow")
REPO = Path(__file__).resolve().parents[1]
IMAGE_KINDS = ("images.generate", "images.edit")


def _cli(*args):
    result = CliRunner().invoke(main, ["synth", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _cached_replies(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]


def _kill_when(server, kinds, reached: int, command: list[str]) -> int:
    """Run a synth command in a subprocess; SIGKILL it once the server got ``reached`` requests."""
    proc = subprocess.Popen([sys.executable, "-m", "echo4o_eval", "synth", *command], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while sum(server.count(k) for k in kinds) < reached:
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline, "the command never reached the kill point"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)  # requests sent before the kill finish on the server
    return sum(server.count(k) for k in kinds)


def _records(work: Path, stage: str) -> list[dict]:
    lines = []
    for file in sorted((work / "records").glob(f"{stage}-rank*.jsonl")):
        for line in file.read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass  # a line torn by the kill
    return lines


@pytest.mark.slow
def test_kill_during_generation_and_checking_then_resume(tmp_path, fake_openai):
    server = fake_openai(responder=chat_responder, image_maker=patterned_png, latency=0.25)
    job = write_job(tmp_path, server.base_url, counts=(6, 6, 4), subjects=4)
    work = tmp_path / "work"
    _cli("plan", job)
    planned = 6 + 6 + 4 + 4

    received = _kill_when(server, IMAGE_KINDS, 6, ["generate", str(job)])
    cached = _cached_replies(work / "cache" / "images" / "responses.sqlite")
    assert 0 < received < planned and cached <= received
    _cli("generate", job)
    # every reply the killed process received was replayed from the cache; only requests whose
    # reply never reached it (in flight at the kill) were sent again
    assert sum(server.count(k) for k in IMAGE_KINDS) == planned + (received - cached)
    ok = Counter(r["id"] for r in _records(work, "generate") if r["status"] == "ok")
    assert len(ok) == planned and set(ok.values()) == {1}
    assert all(Path(r["image_path"]).is_file() for r in _records(work, "generate"))

    chats_before = server.count("chat")
    received = _kill_when(server, ("chat",), chats_before + 5, ["check", str(job)]) - chats_before
    cached = _cached_replies(work / "cache" / "check.sqlite")
    _cli("check", job)
    checked = 6 + 6 + 4  # subjects are not checked
    assert server.count("chat") - chats_before == checked + (received - cached)
    final = Counter(r["id"] for r in _records(work, "check") if r["status"] != "check_error")
    assert len(final) == checked and set(final.values()) == {1}

    _cli("filter", job)
    _cli("export", job)
    summary = json.loads((work / "export" / "export_summary.json").read_text())
    assert summary["omnigen2"]["rows"] == sum(summary["samples"].values()) > 0


def test_image_budget_stops_cleanly_and_what_was_made_exports(tmp_path, fake_openai):
    server = fake_openai(responder=chat_responder, image_maker=patterned_png)
    job = write_job(tmp_path, server.base_url, counts=(6, 6, 0), subjects=0)
    _cli("plan", job)
    output = _cli("generate", job, "--max-images", 5)
    assert "stopped cleanly: max_images reached (5 images paid)" in output
    assert sum(server.count(k) for k in IMAGE_KINDS) == 5
    output = _cli("generate", job, "--max-images", 5)  # the budget counts what was already paid
    assert sum(server.count(k) for k in IMAGE_KINDS) == 5 and "stopped cleanly" in output
    _cli("check", job)
    _cli("filter", job)
    _cli("export", job)
    work = tmp_path / "work"
    summary = json.loads((work / "export" / "export_summary.json").read_text())
    checked = [r for r in _records(work, "check")]
    assert len(checked) == 5
    assert summary["hf"]["rows"] == sum(summary["samples"].values()) > 0
    status = _cli("status", job, "--json")
    assert json.loads(status)["generate"]["paid_images"] == 5


def test_cost_budget_never_exceeded(tmp_path, fake_openai):
    server = fake_openai(responder=chat_responder, image_maker=patterned_png)
    job = write_job(tmp_path, server.base_url, counts=(8, 0, 0), subjects=0)
    _cli("plan", job)
    # gpt-image-1 list price on the fake usage (100 input, 20 output tokens): $0.0013 per image
    output = _cli("generate", job, "--max-cost", 0.005)
    assert "stopped cleanly: max_cost reached" in output
    spent = json.loads(_cli("status", job, "--json"))["generate"]
    assert spent["paid_images"] == 3 == sum(server.count(k) for k in IMAGE_KINDS)
    assert spent["cost_usd"] <= 0.005
    again = _cli("generate", job, "--max-cost", 0.005)  # what earlier runs spent counts
    assert "stopped cleanly: max_cost reached" in again and sum(server.count(k) for k in IMAGE_KINDS) == 3


def test_refusals_are_recorded_not_retried(tmp_path, fake_openai):
    # the fake server refuses (moderation_blocked) every prompt containing REFUSE
    server = fake_openai(responder=lambda body: json.dumps({"prompt": "REFUSE this", "must_change": "a",
                                                            "must_stay": "b"}), image_maker=patterned_png)
    job = write_job(tmp_path, server.base_url, counts=(2, 0, 0), subjects=0)
    _cli("plan", job)
    _cli("generate", job)
    _cli("generate", job)
    assert server.count("images.generate") == 2
    statuses = [r["status"] for r in _records(tmp_path / "work", "generate")]
    assert statuses == ["refused", "refused"]


def test_failed_generations_exit_2_and_are_retried(tmp_path, fake_openai):
    # requests 0-3 are the planner's chats; the first two image requests get a non-retryable 401
    server = fake_openai(responder=chat_responder, image_maker=patterned_png,
                         fault_plan=lambda index, path, body: "unauthorized" if index in (4, 5) else None)
    job = write_job(tmp_path, server.base_url, counts=(4, 0, 0), subjects=0)
    _cli("plan", job)
    first = CliRunner().invoke(main, ["synth", "generate", str(job)])
    assert first.exit_code == 2 and "generate 2 failed" in first.output
    _cli("generate", job)
    assert sum(server.count(k) for k in IMAGE_KINDS) == 6
    statuses = Counter(r["status"] for r in _records(tmp_path / "work", "generate"))
    assert statuses == {"generation_error": 2, "ok": 4}
