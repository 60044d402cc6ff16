"""Two honesty rules of the synth pipeline, through the CLI against the fake OpenAI server:

* a chat/VLM refusal (OpenAI's structured refusal: ``content`` null, ``refusal`` text) is
  recorded as ``refused`` with the model's text, counted under its own name by ``synth status``
  and ``synth report``, and never asked again (requests counted on the server);
* every image reply the server billed counts in the budget and the reported spend, whatever
  became of its image (undecodable, empty); one with no known price is counted as unpriced,
  never as $0; requests that got no reply are reported as possibly billed.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from echo4o_eval.cli import main
from synth_fakes import chat_responder, patterned_png, write_job

IMAGE_KINDS = ("images.generate", "images.edit")
REFUSAL = "I can't help with that"
IMAGE_PRICE = 0.0013  # gpt-image-1 list price on the fake usage (100 input, 20 output tokens)
CHAT_PRICE = 0.000072  # gpt-4.1-mini list price on the fake usage


def _synth(*args, code: int | None = 0) -> str:
    result = CliRunner().invoke(main, ["synth", *map(str, args)], catch_exceptions=False)
    if code is not None:
        assert result.exit_code == code, result.output
    return result.output


def _records(work: Path, stage: str) -> list[dict]:
    return [json.loads(line) for file in sorted((work / "records").glob(f"{stage}-rank*.jsonl"))
            for line in file.read_text().splitlines() if line.strip()]


def _refusal_reply(body: dict) -> dict:
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": body.get("model", ""),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": None, "refusal": REFUSAL}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}


def _refusing(*tasks: str):
    """A responder that refuses the pipeline's chat tasks named in ``tasks``."""
    def respond(body: dict):
        if any(body["messages"][0]["content"].startswith(f"[synth:{task}]") for task in tasks):
            return _refusal_reply(body)
        return chat_responder(body)
    return respond


def test_a_check_refusal_is_recorded_as_refused_and_not_asked_again(tmp_path, fake_openai):
    server = fake_openai(responder=_refusing("check"), image_maker=patterned_png)
    job = write_job(tmp_path, server.base_url, counts=(2, 2, 0), subjects=0)
    work = tmp_path / "work"
    _synth("plan", job)
    _synth("generate", job)
    chats = server.count("chat")
    output = _synth("check", job)  # a refusal is final, not an error left to retry: exit 0
    assert server.count("chat") - chats == 4  # one request per sample: a refusal is not re-asked
    assert '"refused": 4' in output
    checks = _records(work, "check")
    assert [c["status"] for c in checks] == ["refused"] * 4
    assert {c["reason"] for c in checks} == {f"refused by the check model: {REFUSAL}"}
    assert all(c["cost_usd"] == pytest.approx(CHAT_PRICE) for c in checks)  # the refusal was billed

    _synth("check", job)  # resume: refusals are final
    assert server.count("chat") - chats == 4 and len(_records(work, "check")) == 4

    status = json.loads(_synth("status", job, "--json"))
    assert status["check"]["by_status"] == {"refused": 4}
    assert status["check"]["cost_usd"] == pytest.approx(4 * CHAT_PRICE)
    assert "check: 4 samples (refused 4)" in _synth("status", job)
    _synth("filter", job)
    _synth("report", job)
    page = (work / "report.html").read_text()
    assert 'value="refused" checked> refused (4)' in page
    assert f"refused by the check model: {REFUSAL}".replace("'", "&#39;") in page


def test_a_writer_refusal_is_refused_in_the_plan_and_never_generated(tmp_path, fake_openai):
    server = fake_openai(responder=_refusing("fantasy-writer"), image_maker=patterned_png)
    job = write_job(tmp_path, server.base_url, counts=(3, 2, 0), subjects=0)
    work = tmp_path / "work"
    output = _synth("plan", job)
    summary = json.loads(output.split("plan: ", 1)[1].splitlines()[0])
    assert summary["refused"] == 3 and summary["errors"] == 0
    assert server.count("chat") == 3 + 2  # writer and paraphrase, each asked once
    plans = {p["id"]: p for p in _records(work, "plan")}
    assert Counter(p["status"] for p in plans.values()) == {"refused": 3, "ok": 2}
    assert {p["error"] for p in plans.values() if p["subset"] == "fantasy"} == {
        f"refused by the chat model: {REFUSAL}"}
    _synth("plan", job)  # resume: refusals are final
    assert server.count("chat") == 5
    _synth("generate", job)
    assert sum(server.count(k) for k in IMAGE_KINDS) == 2  # only the planned instruction samples
    status = json.loads(_synth("status", job, "--json"))
    assert status["plan"]["by_subset"]["fantasy"] == {"refused": 3}


def _unusable_for(count: int):
    """An image maker whose first ``count`` distinct prompts always get an unusable image
    (0 bytes for the first, bytes that are no image for the others); the rest a good PNG."""
    bad: list[str] = []
    lock = threading.Lock()

    def make(kind: str, body: dict) -> bytes:
        prompt = str(body.get("prompt", ""))
        with lock:
            if prompt not in bad and len(bad) < count:
                bad.append(prompt)
            if prompt in bad:
                return b"" if bad.index(prompt) == 0 else b"this is not an image"
        return patterned_png(kind, body)
    return make


def test_billed_unusable_images_count_in_the_reported_spend(tmp_path, fake_openai):
    server = fake_openai(responder=chat_responder, image_maker=_unusable_for(2))
    job = write_job(tmp_path, server.base_url, counts=(6, 0, 0), subjects=0)
    work = tmp_path / "work"
    _synth("plan", job)
    output = _synth("generate", job, code=2)  # the two unusable images are generation errors
    sent = sum(server.count(k) for k in IMAGE_KINDS)  # every request got a billed reply
    assert sent >= 6
    spent = json.loads(output.split("generate: ", 1)[1].splitlines()[0])
    assert spent["cost_usd"] == pytest.approx(sent * IMAGE_PRICE)
    records = _records(work, "generate")
    assert Counter(r["status"] for r in records) == {"ok": 4, "generation_error": 2}
    assert all(r["paid"] for r in records)

    status = json.loads(_synth("status", job, "--json"))["generate"]
    assert status["cost_usd"] == pytest.approx(sent * IMAGE_PRICE)
    assert status["cost_unknown"] == 0 and status["paid_images"] == sent  # re-asks included
    _synth("report", job)
    page = (work / "report.html").read_text()
    assert f"{sent * IMAGE_PRICE:.4f}" in page


def test_billed_unusable_images_count_in_the_cost_budget(tmp_path, fake_openai):
    server = fake_openai(responder=chat_responder, image_maker=lambda kind, body: b"this is not an image")
    job = write_job(tmp_path, server.base_url, counts=(8, 0, 0), subjects=0)
    _synth("plan", job)
    output = _synth("generate", job, "--max-cost", 0.005, code=None)
    assert "stopped cleanly: max_cost reached" in output
    sent = sum(server.count(k) for k in IMAGE_KINDS)
    assert 0 < sent * IMAGE_PRICE <= 0.005
    status = json.loads(_synth("status", job, "--json"))["generate"]
    assert status["cost_usd"] == pytest.approx(sent * IMAGE_PRICE) and status["paid_images"] == sent
    again = _synth("generate", job, "--max-cost", 0.005, code=None)  # what earlier runs spent counts
    assert "stopped cleanly: max_cost reached" in again
    assert sum(server.count(k) for k in IMAGE_KINDS) == sent


def test_billed_unusable_images_of_unknown_price_are_unpriced_not_free(tmp_path, fake_openai):
    server = fake_openai(responder=chat_responder, image_maker=lambda kind, body: b"this is not an image")
    job = write_job(tmp_path, server.base_url, counts=(4, 0, 0), subjects=0,
                    extra={"generate.model": "openai:unpriced-image-model"})
    _synth("plan", job)
    output = _synth("generate", job, "--max-cost", 1.0, code=None)
    assert "stopped cleanly: max_cost is set but the generator reports no price" in output
    assert len(_records(tmp_path / "work", "generate")) == 1  # it stopped after the first request
    status = json.loads(_synth("status", job, "--json"))["generate"]
    sent = sum(server.count(k) for k in IMAGE_KINDS)
    assert status["cost_unknown"] == sent == status["paid_images"] and status["cost_usd"] == 0.0
    assert "of unknown price" in _synth("status", job)


def test_chat_requests_without_a_reply_are_reported_as_maybe_billed(tmp_path, fake_openai):
    # the first chat request is answered after the client's timeout: sent, no reply, retried
    server = fake_openai(responder=chat_responder, image_maker=patterned_png, slow_seconds=1.5,
                         fault_plan=lambda index, path, body: "slow" if index == 0 else None)
    job = write_job(tmp_path, server.base_url, counts=(2, 0, 0), subjects=0, extra={"chat.timeout": 0.5})
    output = _synth("plan", job)
    assert server.count("chat") == 3
    assert json.loads(output.split("plan: ", 1)[1].splitlines()[0])["unanswered"] == 1
    assert "note: 1 request(s) got no reply" in output
    status = _synth("status", job)
    assert "note: 1 request(s) got no reply (timeout or broken connection); they may have been billed" in status
    assert json.loads(_synth("status", job, "--json"))["unanswered_requests"] == 1


def test_image_requests_without_a_reply_are_reported_as_maybe_billed(tmp_path, fake_openai):
    # requests 0-1 are the planner's chats; the first image request is answered after the
    # adapter's timeout (sent, no reply) and retried
    server = fake_openai(responder=chat_responder, image_maker=patterned_png, slow_seconds=1.5,
                         fault_plan=lambda index, path, body: "slow" if index == 2 else None)
    job = write_job(tmp_path, server.base_url, counts=(2, 0, 0), subjects=0,
                    extra={"generate.options.timeout": 0.5, "generate.options.backoff_base": 0.01})
    _synth("plan", job)
    output = _synth("generate", job)
    assert sum(server.count(k) for k in IMAGE_KINDS) == 3
    assert json.loads(output.split("generate: ", 1)[1].splitlines()[0])["unanswered"] == 1
    assert "note: 1 request(s) got no reply" in output
    summary = json.loads(_synth("status", job, "--json"))
    assert summary["generate"]["unanswered"] == summary["unanswered_requests"] == 1
    assert summary["generate"]["paid_images"] == 2  # the replies received
    assert "note: 1 request(s) got no reply" in _synth("status", job)


class _ScriptedImageModel:
    """An in-memory generator whose replies say what an API adapter reports: a billed reply
    with an unusable image (priced) and a request that got no reply (``usage["unanswered"]``)."""

    id = "scripted"
    batch_size = 8

    def generate(self, requests):
        from echo4o_eval.records.types import Generation, Status

        out = []
        for number, request in enumerate(requests):
            if number == 0:
                out.append(Generation(request.sample_id, 0, request.seed, Status.GENERATION_ERROR,
                                      error="bad image in reply: cannot decode the image", cost_usd=0.02,
                                      usage={"api_calls": 1, "cached": False}))
            else:
                out.append(Generation(request.sample_id, 0, request.seed, Status.GENERATION_ERROR,
                                      error="gave up: timeout", cost_usd=0.0,
                                      usage={"api_calls": 2, "unanswered": 2, "cached": False}))
        return out

    def describe(self):
        return {"id": self.id}

    def close(self):
        pass


def test_generator_usage_unanswered_and_unusable_replies_reach_status(tmp_path):
    from echo4o_eval.data_gen.config import load_synth_config
    from echo4o_eval.data_gen.generate import run_generate
    from echo4o_eval.data_gen.plan import run_plan
    from echo4o_eval.data_gen.records import RecordStore

    job = write_job(tmp_path, None, counts=(2, 0, 0), subjects=0, extra={"generate.model": "scripted"})
    config = load_synth_config(str(job), [])
    run_plan(config, RecordStore(config.work_dir))
    summary = run_generate(config, model=_ScriptedImageModel())
    assert summary["cost_usd"] == pytest.approx(0.02) and summary["paid_images"] == 1
    assert summary["unanswered"] == 2
    status = _synth("status", job)
    assert "generate: 2 samples (generation_error 2), cost $0.0200" in status
    assert "note: 2 request(s) got no reply" in status


def test_an_unusable_image_is_asked_again_on_resume_not_replayed(tmp_path, fake_openai):
    # every ask of the first run gets an unusable image; the rerun's request gets a good one
    asked: list[int] = []

    def make(kind: str, body: dict) -> bytes:
        asked.append(1)
        return patterned_png(kind, body) if len(asked) > 3 else b"this is not an image"

    server = fake_openai(responder=chat_responder, image_maker=make)
    job = write_job(tmp_path, server.base_url, counts=(1, 0, 0), subjects=0)
    _synth("plan", job)
    _synth("generate", job, code=2)
    first = sum(server.count(k) for k in IMAGE_KINDS)
    output = _synth("generate", job)  # retry round 1: new cache slots, so the server is asked
    assert sum(server.count(k) for k in IMAGE_KINDS) == first + 1
    records = _records(tmp_path / "work", "generate")
    assert [(r["status"], r["retry_round"]) for r in records] == [("generation_error", 0), ("ok", 1)]
    assert Path(records[-1]["image_path"]).is_file()
    status = json.loads(_synth("status", job, "--json"))["generate"]
    assert status["paid_images"] == first + 1 and status["cost_usd"] == pytest.approx((first + 1) * IMAGE_PRICE)
    assert '"paid_images": 1' in output  # this run's spend; status above counts both runs
    _synth("generate", job)  # done: nothing asked again
    assert sum(server.count(k) for k in IMAGE_KINDS) == first + 1


def test_the_spend_ledger_counts_each_line_once_and_fills_an_older_index(tmp_path):
    import sqlite3

    from echo4o_eval.data_gen.records import RecordStore

    store = RecordStore(tmp_path)
    with store.writer("generate") as write:
        write({"id": "a", "status": "generation_error", "cached": False, "cost_usd": 0.0039,
               "usage": {"api_calls": 3, "replies": 3}})
        write({"id": "a", "status": "ok", "cached": False, "cost_usd": 0.0013, "usage": {"replies": 1}})
        write({"id": "b", "status": "generation_error", "cached": False, "cost_usd": None,
               "usage": {"api_calls": 2, "replies": 1, "unanswered": 1}})
    expected = {"billed": 5, "cost_usd": 0.0052, "unpriced": 1, "unanswered": 1, "unit_cost": 0.0039}
    assert store.spend("generate") == expected
    store._db.execute("DELETE FROM offsets")  # another process indexing the same lines again
    store._db.commit()
    assert store.spend("generate") == expected
    store.close()
    with sqlite3.connect(tmp_path / "index.sqlite") as db:  # an index made before the ledger
        db.execute("DROP TABLE spend")
    store = RecordStore(tmp_path)
    assert store.spend("generate") == expected and store.get("generate", "a")["status"] == "ok"
    store.close()


def test_an_unparsable_check_is_asked_again_on_resume_not_replayed(tmp_path, fake_openai):
    # the first run's check asks (1 + 2 re-asks) all get prose; the rerun's ask a verdict
    checks: list[int] = []

    def respond(body: dict):
        if body["messages"][0]["content"].startswith("[synth:check]"):
            checks.append(1)
            if len(checks) <= 3:
                return "I think the picture is fine."
        return chat_responder(body)

    server = fake_openai(responder=respond, image_maker=patterned_png)
    job = write_job(tmp_path, server.base_url, counts=(1, 0, 0), subjects=0)
    _synth("plan", job)
    _synth("generate", job)
    before = server.count("chat")
    _synth("check", job, code=2)
    assert server.count("chat") - before == 3
    _synth("check", job)  # retry round 1: asked again, not replayed from the cache
    assert server.count("chat") - before == 4
    records = _records(tmp_path / "work", "check")
    assert [(r["status"] != "check_error", r["retry_round"]) for r in records] == [(False, 0), (True, 1)]
    status = json.loads(_synth("status", job, "--json"))["check"]
    assert status["cost_usd"] == pytest.approx(4 * CHAT_PRICE)  # the failed attempt's 3 replies too
