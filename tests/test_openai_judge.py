"""The OpenAI-compatible VLM judge: message building, structured output, votes, statuses."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from echo4o_eval.catalog import JUDGES
from echo4o_eval.records.types import JudgeRequest, Status

KEY_ENV = "ECHO4O_TEST_KEY"


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "img.png"
    Image.new("RGB", (64, 32), (250, 0, 0)).save(path)
    return str(path)


def make_judge(server, tmp_path, **options):
    factory = JUDGES.get("openai")
    opts = {"base_url": server.base_url, "api_key_env": KEY_ENV,
            "cache_dir": str(tmp_path / "cache"), "max_retries": 2}
    opts.update(options)
    return factory("judge-model", opts)


def json_parse(text):
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(str(exc)) from exc


def test_messages_carry_system_text_images_and_schema(fake_openai, tmp_path, image):
    server = fake_openai(responder=lambda body: '{"correct": 1}')
    schema = {"type": "object", "properties": {"correct": {"type": "integer"}},
              "required": ["correct"], "additionalProperties": False}
    request = JudgeRequest(key="main", images=(image, image), text="Check it", system="SYS",
                           system_as_parts=True, crop=(0, 0, 32, 32), response_schema=schema,
                           params={"max_tokens": 200}, parse=json_parse)
    [judgement] = make_judge(server, tmp_path, image_detail="high").judge([request])
    assert judgement.status is Status.OK and judgement.parsed == ({"correct": 1},)
    body = server.requests[0]["body"]
    assert body["model"] == "judge-model" and body["max_tokens"] == 200 and body["temperature"] == 0.0
    assert body["messages"][0] == {"role": "system", "content": [{"type": "text", "text": "SYS"}]}
    parts = body["messages"][1]["content"]
    assert parts[0] == {"type": "text", "text": "Check it"}
    assert [p["type"] for p in parts[1:]] == ["image_url", "image_url"]
    assert parts[1]["image_url"]["detail"] == "high"
    sizes = [Image.open(io.BytesIO(base64.b64decode(p["image_url"]["url"].split(",")[1]))).size
             for p in parts[1:]]
    assert sizes == [(64, 32), (32, 32)]  # the crop applies to the last (generated) image only
    assert parts[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert body["response_format"]["json_schema"]["schema"] == schema
    assert judgement.prompt_hash and judgement.usage["api_calls"] == 1


def test_user_options_override_request_params(fake_openai, tmp_path, image):
    server = fake_openai()
    request = JudgeRequest(key="k", images=(image,), text="t", params={"max_tokens": 200})
    make_judge(server, tmp_path, max_tokens="50", seed=7, image_format="png",
               structured_output="false").judge([request])
    body = server.requests[0]["body"]
    assert body["max_tokens"] == 50 and body["seed"] == 7 and "response_format" not in body
    assert body["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/png")


def test_parse_error_keeps_raw_replies_and_judge_error_is_a_status(fake_openai, tmp_path, image):
    server = fake_openai(responder=lambda body: "I cannot answer")
    request = JudgeRequest(key="k", images=(image,), text="t", parse=json_parse)
    [bad] = make_judge(server, tmp_path, parse_retries=1).judge([request])
    assert bad.status is Status.PARSE_ERROR and bad.replies == ("I cannot answer",) * 2
    down = fake_openai(script=["500"] * 5)
    [failed] = make_judge(down, tmp_path, max_retries=1).judge([JudgeRequest(key="k", images=(image,), text="x")])
    assert failed.status is Status.JUDGE_ERROR and "HTTP 500" in failed.error


def test_unreadable_image_is_bad_image(fake_openai, tmp_path):
    server = fake_openai()
    [j] = make_judge(server, tmp_path).judge([JudgeRequest(key="k", images=(str(tmp_path / "no.png"),))])
    assert j.status is Status.BAD_IMAGE and server.count() == 0


def test_votes_are_combined_and_cached(fake_openai, tmp_path, image):
    answers = iter(['{"correct": 1, "score": 6}', '{"correct": 0, "score": 8}',
                    '{"correct": 1, "score": 10}'])
    server = fake_openai(responder=lambda body: next(answers))
    request = JudgeRequest(key="k", images=(image,), text="t", parse=json_parse)
    judge = make_judge(server, tmp_path, votes=3, vote_rule="mean", concurrency=1)
    [j] = judge.judge([request])
    assert j.parsed[0] == {"correct": 1, "score": 8.0} and len(j.parsed) == 4
    [again] = make_judge(server, tmp_path, votes=3, vote_rule="mean").judge([request])
    assert again.cached and again.parsed == j.parsed and server.count() == 3


def test_describe_names_the_key_variable_not_the_key(fake_openai, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-very-secret-value")
    judge = make_judge(fake_openai(), tmp_path)
    text = json.dumps(judge.describe())
    assert KEY_ENV in text and "sk-very-secret-value" not in text


def test_unknown_option_is_rejected_with_a_did_you_mean():
    with pytest.raises(ValueError, match="unknown openai judge option 'temprature'; did you mean 'temperature'"):
        JUDGES.get("openai")("m", {"temprature": 0})


@pytest.mark.parametrize("options, message", [
    ({"votes": "three"}, "openai judge option: votes: expected an integer, got 'three'"),
    ({"votes": 2.5}, "votes: expected an integer"),
    ({"vote_rule": "mode"}, "vote_rule: expected one of 'majority', 'mean', 'median'"),
    ({"structured_output": "maybe"}, "structured_output: expected true or false"),
    ({"temperature": [0]}, "temperature: expected a number"),
])
def test_option_of_the_wrong_type_is_an_error(options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        JUDGES.get("openai")("m", {"cache": "off", **options})


def test_options_keep_the_spellings_the_cli_passes():
    """The CLI reads VALUE as JSON: 0/1, yes/no, on/off, numbers for text options, null."""
    judge = JUDGES.get("openai")("m", {"cache": False, "structured_output": "no", "adaptive": 0,
                                       "votes": "3", "rpm": 60, "seed": None, "api_key_env": "KEY_1"})
    assert judge.engine.config.cache_path is None and judge.options["cache"] == "false"
    assert judge.options["structured_output"] is False and judge.options["adaptive"] is False
    assert judge.options["votes"] == 3 and judge.options["rpm"] == 60.0 and "seed" not in judge.options
    assert judge.user_options == {"cache": "false", "structured_output": False, "adaptive": False,
                                  "votes": 3, "rpm": 60.0, "api_key_env": "KEY_1"}
    for off in ("off", 0, "no", "false"):
        assert JUDGES.get("openai")("m", {"cache": off}).engine.config.cache_path is None
    assert JUDGES.get("openai")("m", {"cache_dir": "none"}).engine.config.cache_path is None


def test_max_tokens_field_and_vote_ties(fake_openai, tmp_path, image):
    from echo4o_eval.judges.vlm_messages import combine_votes

    server = fake_openai()
    make_judge(server, tmp_path, max_tokens_field="max_completion_tokens").judge(
        [JudgeRequest(key="k", images=(image,), text="t", params={"max_tokens": 30})])
    body = server.requests[0]["body"]
    assert body["max_completion_tokens"] == 30 and "max_tokens" not in body
    assert combine_votes([{"ok": 1}, {"ok": 0}], "majority") == {"ok": 0}  # ties: conservative
    assert combine_votes([{"s": 4}, {"s": 8}, {"s": None}], "majority") == {"s": 4}
    assert combine_votes([3, 9, 4], "median") == 4
