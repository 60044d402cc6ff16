"""The judged-run pipeline against the fake OpenAI server: records written as judgements
complete, the response cache on by default, retries that really ask again, refusals kept,
operational settings that do not change the run, capped stored replies, concurrency as
configured, adaptive rate limiting, cache hits without image work, and true usage."""

from __future__ import annotations

import json
import threading
import time

import pytest
from click.testing import CliRunner
from PIL import Image

from echo4o_eval.cli import main
from echo4o_eval.judges.openai_judge import OpenAIJudge
from echo4o_eval.judging import judge_and_score
from echo4o_eval.rundir.store import RunStore, load_run
from echo4o_eval.records.types import Generation, JudgeRequest, Sample, SampleScore, Status
from fake_judge_replies import geneval_pp_reply


def make_images(folder, n, size=32):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        Image.new("RGB", (size, size), (i * 7 % 256, 90, 30)).save(folder / f"{i}.png")
    return folder


def score_args(tmp_path, server, images, limit, *extra):
    return ["score", "--benchmark", "geneval_pp", "--model", f"folder:{images}",
            "--judge", "openai:fake-judge", "--judge-base-url", server.base_url,
            "--judge-api-key-env", "ECHO4O_TEST_KEY", "--data-dir", str(pytest.data_dir),
            "--offline", "--bootstrap", "0", "--limit", str(limit),
            "--run-dir", str(tmp_path / "run"), "-q", *extra]


@pytest.fixture(autouse=True)
def _data_dir(data_dir):
    pytest.data_dir = data_dir


def cli(args, exit_code=0):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == exit_code, result.output  # 3: nothing could be scored
    return result.output


def judge_for(server, **options):
    return OpenAIJudge("fake-judge", {"base_url": server.base_url, "api_key_env": "ECHO4O_TEST_KEY",
                                      **options})


def request(path, key="main", text="Is it red?"):
    return JudgeRequest(key=key, images=(str(path),), text=text)


def result_json(tmp_path, run="run"):
    return json.loads((tmp_path / run / "result.json").read_text())


# -- issue 10: money ------------------------------------------------------------------------

def test_cache_is_on_by_default_under_the_cache_dir_and_cache_off_disables_it(fake_openai, tmp_path, monkeypatch):
    monkeypatch.setenv("ECHO4O_CACHE_DIR", str(tmp_path / "cache"))
    server = fake_openai(responder=lambda body: "yes")
    make_images(tmp_path / "img", 1)
    [first] = judge_for(server).judge([request(tmp_path / "img" / "1.png")])
    assert first.status is Status.OK and server.count() == 1
    assert (tmp_path / "cache" / "api" / "responses.sqlite").exists()
    [again] = judge_for(server).judge([request(tmp_path / "img" / "1.png")])
    assert again.cached and again.replies == ("yes",) and server.count() == 1
    [off] = judge_for(server, cache="off").judge([request(tmp_path / "img" / "1.png")])
    assert not off.cached and server.count() == 2


def test_each_image_is_recorded_as_soon_as_its_judgement_completes(fake_openai, tmp_path):
    release = threading.Event()

    def responder(body):
        if "image one" in json.dumps(body):
            release.wait(30)  # the first image's reply is held back
        return "fine"

    server = fake_openai(responder=responder)
    make_images(tmp_path / "img", 6)

    class Evaluator:
        def requests(self, sample, generation):
            return [request(generation.image_path, text=sample.prompt)]

        def score(self, sample, generation, judgements):
            return SampleScore(sample.id, generation.image_index, sample.tag, judgements[0].status)

    items = [(Sample(str(i), i, "image one" if i == 1 else f"image {i}", "t"),
              Generation(str(i), 0, 0, Status.OK, image_path=str(tmp_path / "img" / f"{i}.png")))
             for i in range(1, 7)]
    store = RunStore(tmp_path / "run")
    store.initialise({"fingerprint": "f", "model": {"spec": "m"}, "benchmark": "b@1"}, [])
    judge = judge_for(server, concurrency=8)
    done = []
    with store.writer() as writer:
        thread = threading.Thread(target=lambda: done.append(
            judge_and_score(items, judge, Evaluator(), writer, batch_size=64, progress=False)))
        thread.start()
        deadline = time.monotonic() + 30
        while len(store.load().scores) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        recorded_while_one_was_pending = len(store.load().scores)
        release.set()
        thread.join(30)
    judge.close()
    assert recorded_while_one_was_pending == 5  # no batch barrier: the other five are on disk
    assert done == [6] and len(store.load().scores) == 6


def test_a_failed_parse_is_asked_again_on_resume_and_the_first_reply_is_kept(fake_openai, tmp_path):
    replies = {"text": "this is not JSON"}
    server = fake_openai(responder=lambda body: replies["text"] if replies["text"] else geneval_pp_reply(body))
    images = make_images(tmp_path / "img", 2)
    args = score_args(tmp_path, server, images, 2)
    cli(args, exit_code=3)
    assert server.count() == 2 * 3  # asked, then re-asked twice (parse_retries=2)
    assert {s.status for s in load_run(tmp_path / "run").scores.values()} == {Status.PARSE_ERROR}
    replies["text"] = None  # the server is fixed
    cli(args)
    assert server.count() == 2 * 3 + 2  # a retry round asks again instead of replaying the cache
    run = load_run(tmp_path / "run")
    assert {s.status for s in run.scores.values()} == {Status.OK}
    for key in run.scores:
        assert run.attempts[key] == 1
        [earlier] = run.earlier[key]
        assert earlier["status"] == "parse_error"
        assert earlier["judgements"][0]["replies"][0] == "this is not JSON"
    assert result_json(tmp_path)["usage"]["judge_calls"] == server.count()


def test_a_moderation_refusal_is_recorded_as_refused_and_kept_on_resume(fake_openai, tmp_path):
    refusal = (400, {"error": {"message": "Invalid prompt: flagged", "type": "invalid_request_error",
                               "code": "content_policy_violation"}})
    server = fake_openai(responder=lambda body: refusal)
    images = make_images(tmp_path / "img", 1)
    args = score_args(tmp_path, server, images, 1)
    cli(args, exit_code=3)
    assert [s.status for s in load_run(tmp_path / "run").scores.values()] == [Status.REFUSED]
    assert server.count() == 1  # not retried: waiting does not change a moderation verdict
    cli(args, exit_code=3)  # --retry-failed (the default) keeps refusals
    assert server.count() == 1
    assert [s.status for s in load_run(tmp_path / "run").scores.values()] == [Status.REFUSED]


def test_operational_settings_and_a_moved_server_resume_the_same_run(fake_openai, tmp_path):
    first, moved = fake_openai(responder=geneval_pp_reply), fake_openai(responder=geneval_pp_reply)
    images = make_images(tmp_path / "img", 3)
    cli(score_args(tmp_path, first, images, 3))
    assert first.count() == 3
    output = cli(score_args(tmp_path, moved, images, 3, "--judge-option", "backoff_cap=5",
                            "--judge-option", "concurrency=3", "--judge-option", "timeout=30",
                            "--judge-option", "max_retries=2"))
    assert "changed" not in output and moved.count() == 0
    cli(score_args(tmp_path, moved, images, 3, "--new-run"))  # a fresh run over the same cache
    assert moved.count() == 0


def test_stored_replies_are_capped_and_the_cache_keeps_the_full_text(fake_openai, tmp_path):
    long_reply = "x" * 5000
    server = fake_openai(responder=lambda body: long_reply)
    make_images(tmp_path / "img", 1)
    [judgement] = judge_for(server, stored_reply_chars=100).judge([request(tmp_path / "img" / "1.png")])
    stored = judgement.replies[0]
    assert stored.startswith("x" * 100) and not stored.startswith("x" * 101)
    assert "[cut: the reply has 5000 characters, the first 100 are stored here" in stored
    [full] = judge_for(server, stored_reply_chars=100000).judge([request(tmp_path / "img" / "1.png")])
    assert full.cached and full.replies == (long_reply,)  # the cache kept every character


# -- issue 11: throughput -------------------------------------------------------------------

def test_concurrency_is_what_it_says_and_not_capped_by_judge_batch(fake_openai, tmp_path):
    server = fake_openai(responder=geneval_pp_reply, latency=0.4)
    images = make_images(tmp_path / "img", 24)
    cli(score_args(tmp_path, server, images, 24, "--judge-batch", "4", "--judge-option", "concurrency=12"))
    assert server.count() == 24 and server.max_in_flight == 12


def test_a_rate_limited_server_slows_us_down_instead_of_failing_judgements(fake_openai, tmp_path):
    server = fake_openai(responder=lambda body: "ok", latency=0.05, rate_limit_rpm=1200)  # 20/s
    paths = make_images(tmp_path / "img", 40)
    judge = judge_for(server, concurrency=32, max_retries=1)
    judgements = judge.judge([request(paths / f"{i}.png", text=f"q{i}") for i in range(1, 41)])
    assert [j.status for j in judgements] == [Status.OK] * 40
    assert server.count() > server.count(ok_only=True)  # it did answer 429s...
    assert judge.engine.totals["lowest_limit"] < 32  # ...and the in-flight limit came down
    assert judge.engine.totals["adopted_rpm"] == pytest.approx(1200 * 0.97)  # paced to the announced limit
    assert sum(j.usage["api_calls"] for j in judgements) == server.count()


def test_a_cached_rerun_neither_decodes_nor_encodes_images(fake_openai, tmp_path, monkeypatch):
    server = fake_openai(responder=lambda body: "seen")
    paths = make_images(tmp_path / "img", 3)
    requests = [request(paths / f"{i}.png") for i in range(1, 4)]
    assert all(j.status is Status.OK for j in judge_for(server).judge(requests))

    def forbidden(*args, **kwargs):
        raise AssertionError("an image was decoded or encoded")

    import PIL.Image

    import echo4o_eval.judges.openai_judge as module

    originals = module.encode_image, PIL.Image.open
    monkeypatch.setattr(module, "encode_image", forbidden)
    monkeypatch.setattr(PIL.Image, "open", forbidden)
    again = judge_for(server).judge(requests)
    assert [j.status for j in again] == [Status.OK] * 3 and all(j.cached for j in again)
    assert server.count() == 3
    (paths / "2.png").write_bytes((paths / "1.png").read_bytes() + b"\0")  # new bytes: new key
    monkeypatch.setattr(module, "encode_image", originals[0])
    monkeypatch.setattr(PIL.Image, "open", originals[1])
    [changed] = judge_for(server).judge([requests[1]])
    assert not changed.cached and server.count() == 4


def test_usage_in_result_json_is_what_the_server_saw_and_cached_answers_cost_nothing(fake_openai, tmp_path):
    server = fake_openai(responder=geneval_pp_reply, script=["500", None, "429"])
    images = make_images(tmp_path / "img", 5)
    cli(score_args(tmp_path, server, images, 5, "--judge-option", "backoff_base=0.01"))
    usage = result_json(tmp_path)["usage"]
    assert server.count() == 7 and usage["judge_calls"] == 7  # 5 judgements, 2 retried
    assert usage["judge_cached"] == 0 and usage["prompt_tokens"] == 5 * 100
    cli(score_args(tmp_path, server, images, 5, "--new-run"))
    fresh = sorted(p for p in tmp_path.iterdir() if p.name.startswith("run-"))[-1]
    usage = result_json(tmp_path, fresh.name)["usage"]
    assert server.count() == 7
    assert (usage["judge_calls"], usage["judge_cached"], usage["prompt_tokens"]) == (0, 5, 0)
    assert usage["judge_cost_usd"] == 0.0
