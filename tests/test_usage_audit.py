"""Usage and settings an audit can trust: a failed paid image still counts after a retry
replaced it, a judge model's structured refusal is recorded as ``refused`` with its text, and
the judge settings in the manifest hold no running totals. Against the fake OpenAI server,
which counts what it received."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from PIL import Image

from echo4o_eval.api.prices import DEFAULT_PRICES, load_prices, estimate_cost
from echo4o_eval.cli import main
from echo4o_eval.judges.openai_judge import OpenAIJudge
from echo4o_eval.records.types import Generation, JudgeRequest, Judgement, SampleScore, Status
from echo4o_eval.rundir.store import RunStore, load_run
from fake_judge_replies import geneval_pp_reply
from fake_openai_server import tiny_png

KEY_ENV = "ECHO4O_AUDIT_TEST_KEY"  # never set: the local server takes no key
REFUSAL = "I can't help with that"


def cli(args, exit_code=0):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == exit_code, result.output
    return result.output


def usage_of(run_dir):
    return json.loads((run_dir / "result.json").read_text())["usage"]


# -- 1. a failed paid generation still counts after --retry-failed replaced it -------------

def run_args(server, run_dir, data_dir):
    return ["run", "--benchmark", "geneval_pp", "--model", "openai:gpt-image-1",
            "--model-option", f"base_url={server.base_url}", "--model-option", f"api_key_env={KEY_ENV}",
            "--model-option", "concurrency=1", "--model-option", "max_retries=0",
            "--model-option", "parse_retries=0",  # a bad image is a failure at once, not re-asked
            "--model-option", "cache=off",  # a retry must ask the server again
            "--judge", "openai:gpt-4.1", "--judge-base-url", server.base_url,
            "--judge-api-key-env", KEY_ENV, "--data-dir", str(data_dir), "--offline",
            "--limit", "3", "--images-per-prompt", "1", "--bootstrap", "0",
            "--run-dir", str(run_dir), "-q"]


def test_failed_paid_images_count_in_usage_after_a_retry_replaced_them(fake_openai, tmp_path, data_dir):
    images = {"n": 0}

    def image_maker(kind, body):  # the first image reply is billed but holds no image
        images["n"] += 1
        return b"not an image" if images["n"] == 1 else tiny_png()

    def fault_plan(index, path, body):  # the second image request fails with a 500 (not billed)
        if path.endswith("/images/generations"):
            images.setdefault("requests", 0)
            images["requests"] += 1
            return "500" if images["requests"] == 2 else None
        return None

    server = fake_openai(responder=geneval_pp_reply, image_maker=image_maker, fault_plan=fault_plan)
    run_dir = tmp_path / "run"
    cli(run_args(server, run_dir, data_dir))
    first = load_run(run_dir)
    failed = sorted(k for k, g in first.generations.items() if g.status is Status.GENERATION_ERROR)
    assert len(failed) == 2 and server.count("images.generate") == 3
    assert any("bad image in reply" in first.generations[k].error for k in failed)

    cli(run_args(server, run_dir, data_dir))  # --retry-failed is the default
    run = load_run(run_dir)
    assert {g.status for g in run.generations.values()} == {Status.OK}
    assert server.count("images.generate") == 5
    earlier = run.earlier_generations()
    assert sorted((g.sample_id, g.image_index) for g in earlier) == failed
    assert {g.status for g in earlier} == {Status.GENERATION_ERROR}

    usage = usage_of(run_dir)
    assert usage["generation_calls"] == server.count("images.generate")  # what the server received
    # replies the server answered with 200 were billed: the two first good ones, the bad one,
    # and the two retries; the 500 was not
    billed = server.count("images.generate", ok_only=True)
    assert billed == 4
    prompt_tokens, completion_tokens = server.usage
    one = estimate_cost(load_prices(), "gpt-image-1",
                        {"input_tokens": prompt_tokens, "output_tokens": completion_tokens})
    assert one and "gpt-image-1" in DEFAULT_PRICES
    assert usage["generation_cost_usd"] == pytest.approx(billed * one)
    assert usage["unpriced_generations"] == 0
    assert usage["judge_calls"] == server.count("chat") == 3  # only ok images are judged


def test_a_bad_image_replayed_from_the_cache_says_so(fake_openai, tmp_path):
    """The response cache keeps a billed reply whose image is unusable (every ask of it): the
    same request (retry round 0, e.g. a fresh run directory) replays them, and the error tells
    the user how to ask again (--retry-failed in that run directory, or cache=off)."""
    from echo4o_eval.catalog import MODELS
    from echo4o_eval.records.types import GenerationRequest

    server = fake_openai(image_maker=lambda kind, body: b"not an image")
    request = GenerationRequest("a", 0, "t", "a red cube", 0, 7, str(tmp_path / "out" / "a.png"))
    options = {"base_url": server.base_url, "api_key_env": KEY_ENV, "cache_dir": str(tmp_path / "cache")}
    [first] = MODELS.get("openai")("gpt-image-1", options).generate([request])
    [again] = MODELS.get("openai")("gpt-image-1", options).generate([request])
    assert first.status is again.status is Status.GENERATION_ERROR and server.count() == 3  # 2 re-asks
    assert "replayed from the response cache" not in first.error and first.cost_usd > 0
    assert "replayed from the response cache" in again.error and "cache=off" in again.error
    assert again.usage["api_calls"] == 0 and again.cost_usd == 0


def _store(tmp_path):
    store = RunStore(tmp_path / "run")
    store.initialise({"fingerprint": "f", "generation_fingerprint": "g", "model": {"spec": "m"},
                      "benchmark": "b@1"}, [])
    return store


def test_an_ok_image_wins_over_a_failure_read_later_from_another_shard(tmp_path):
    """A run launched on 2 processes, resumed on 1: the retry lands in records-0, the failure
    it replaced in records-1, which is read after it."""
    failed = Generation("a", 0, 1, Status.GENERATION_ERROR, error="bad image in reply",
                        usage={"api_calls": 1}, cost_usd=0.04)
    retried = Generation("a", 0, 1, Status.OK, image_path="a.png", usage={"api_calls": 1}, cost_usd=0.04)
    with _store(tmp_path).writer() as writer:  # rank 0: the retry
        writer.append_generation(retried)
    with RunStore(tmp_path / "run", rank=1).writer() as writer:  # rank 1: the failure
        writer.append_generation(failed)
    data = load_run(tmp_path / "run")
    assert data.generations[("a", 0)] == retried
    assert data.earlier_generations() == [failed]


def test_the_latest_retry_round_of_a_score_wins_whatever_shard_holds_it(tmp_path):
    gen = Generation("a", 0, 1, Status.OK, image_path="a.png")
    failed = Judgement("main", "j", Status.JUDGE_ERROR, usage={"api_calls": 1}, error="HTTP 500")
    ok = Judgement("main", "j", Status.OK, parsed=(1,), usage={"api_calls": 1})
    with _store(tmp_path).writer() as writer:  # rank 0: the retry round
        writer.append_score(gen, [ok], SampleScore("a", 0, "t", Status.OK), attempt=1,
                            earlier=[{"attempt": 0, "status": "judge_error", "judgements": [failed]}])
    with RunStore(tmp_path / "run", rank=1).writer() as writer:  # rank 1: the first round
        writer.append_score(gen, [failed], SampleScore("a", 0, "t", Status.JUDGE_ERROR))
    data = load_run(tmp_path / "run")
    assert data.scores[("a", 0)].status is Status.OK and data.attempts[("a", 0)] == 1
    assert data.judgements[("a", 0)] == [ok] and data.earlier_judgements() == [[failed]]


# -- 2. a structured refusal from the judge model -------------------------------------------

def refusal_reply(body):
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": None, "refusal": REFUSAL}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105}}


def make_images(folder, n):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        Image.new("RGB", (32, 32), (i * 40 % 256, 90, 30)).save(folder / f"{i}.png")
    return folder


def test_a_structured_refusal_is_refused_with_its_text_and_not_asked_again(fake_openai, tmp_path):
    server = fake_openai(responder=refusal_reply)
    make_images(tmp_path / "img", 1)
    judge = OpenAIJudge("gpt-4.1", {"base_url": server.base_url, "api_key_env": KEY_ENV})
    parse = json.loads  # a parser that cannot read "": before the fix this was a parse_error
    [judgement] = judge.judge([JudgeRequest("main", (str(tmp_path / "img" / "1.png"),), "Is it red?",
                                            parse=parse)])
    judge.close()
    assert judgement.status is Status.REFUSED
    assert judgement.error == f"refused by the judge model: {REFUSAL}"
    assert server.count("chat") == 1  # a refusal is not re-asked (parse_retries would ask twice more)
    assert judgement.usage["api_calls"] == 1 and judgement.cost_usd and judgement.cost_usd > 0


def test_a_refused_judgement_reaches_the_score_and_is_kept_on_resume(fake_openai, tmp_path, data_dir):
    server = fake_openai(responder=refusal_reply)
    images = make_images(tmp_path / "img", 2)
    args = ["score", "--benchmark", "geneval_pp", "--model", f"folder:{images}",
            "--judge", "openai:gpt-4.1", "--judge-base-url", server.base_url,
            "--judge-api-key-env", KEY_ENV, "--data-dir", str(data_dir), "--offline",
            "--bootstrap", "0", "--limit", "2", "--run-dir", str(tmp_path / "run")]
    output = cli(args, exit_code=3)
    assert f"refused ×2: main: refused by the judge model: {REFUSAL}" in output
    run = load_run(tmp_path / "run")
    assert {s.status for s in run.scores.values()} == {Status.REFUSED}
    assert all(REFUSAL in s.reason for s in run.scores.values())
    assert server.count("chat") == 2
    cli(args, exit_code=3)  # --retry-failed keeps refusals, like the API's moderation refusals
    assert server.count("chat") == 2
    assert usage_of(tmp_path / "run")["judge_calls"] == 2


def test_an_answer_wins_over_a_refusal_field_and_an_empty_reply_is_still_a_parse_error(fake_openai, tmp_path):
    answers = iter([{"content": '{"correct": 1}', "refusal": "ignored"}, {"content": "", "refusal": None}])

    def responder(body):
        message = next(answers, {"content": "", "refusal": None})
        reply = refusal_reply(body)
        reply["choices"][0]["message"].update(message)
        return reply

    server = fake_openai(responder=responder)
    make_images(tmp_path / "img", 1)
    judge = OpenAIJudge("gpt-4.1", {"base_url": server.base_url, "api_key_env": KEY_ENV,
                                    "parse_retries": 0, "cache": "off"})
    request = JudgeRequest("main", (str(tmp_path / "img" / "1.png"),), "Is it red?", parse=json.loads)
    [answered] = judge.judge([request])
    [empty] = judge.judge([request])
    judge.close()
    assert answered.status is Status.OK and answered.parsed == ({"correct": 1},)
    assert empty.status is Status.PARSE_ERROR and "empty reply" in empty.error


# -- 3. the manifest records judge settings, not running totals -----------------------------

def test_judge_describe_is_settings_only(fake_openai, tmp_path):
    server = fake_openai(responder=lambda body: "yes")
    make_images(tmp_path / "img", 1)
    judge = OpenAIJudge("gpt-4.1", {"base_url": server.base_url, "api_key_env": KEY_ENV})
    before = judge.describe()
    judge.judge([JudgeRequest("main", (str(tmp_path / "img" / "1.png"),), "Is it red?")])
    after = judge.describe()
    judge.close()
    assert server.count("chat") == 1
    assert before == after  # nothing in it moves while the judge works
    assert not {"usage", "totals"} & set(after)


def test_the_manifest_judge_settings_hold_no_totals(fake_openai, tmp_path, data_dir):
    server = fake_openai(responder=geneval_pp_reply)
    images = make_images(tmp_path / "img", 2)
    cli(["score", "--benchmark", "geneval_pp", "--model", f"folder:{images}",
         "--judge", "openai:gpt-4.1", "--judge-base-url", server.base_url,
         "--judge-api-key-env", KEY_ENV, "--data-dir", str(data_dir), "--offline",
         "--bootstrap", "0", "--limit", "2", "--run-dir", str(tmp_path / "run"), "-q"])
    settings = load_run(tmp_path / "run").manifest["judge_settings"]
    assert settings["model"] == "gpt-4.1" and settings["engine"]["model"] == "gpt-4.1"
    assert not {"usage", "totals", "calls", "cost_usd"} & set(settings)
    assert not {"calls", "cost_usd", "replies"} & set(settings["engine"])
    assert usage_of(tmp_path / "run")["judge_calls"] == server.count("chat") == 2
