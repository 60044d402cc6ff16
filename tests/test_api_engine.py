"""The shared API engine against the local fake OpenAI server: retries, cache, limits, secrets."""

from __future__ import annotations

import json
import time

import pytest

from echo4o_eval.api import ApiCall, ApiEngine, EngineConfig

KEY_ENV = "ECHO4O_TEST_KEY"
SECRET = "sk-test-SECRET-1234567890"


def chat(text: str, **extra) -> ApiCall:
    return ApiCall(kind="chat", payload={"messages": [{"role": "user", "content": text}]}, **extra)


def engine_for(server, tmp_path, **overrides) -> ApiEngine:
    cfg = dict(model="fake-vlm", base_url=server.base_url, api_key_env=KEY_ENV,
               cache_path=str(tmp_path / "cache.sqlite"), backoff_base=0.01, backoff_cap=0.05,
               timeout=5.0, concurrency=8)
    cfg.update(overrides)
    return ApiEngine(EngineConfig(**cfg))


def content(result) -> str:
    return result.reply["choices"][0]["message"]["content"]


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)


def test_second_run_is_served_from_cache(fake_openai, tmp_path):
    server = fake_openai(responder=lambda body: "answer:" + body["messages"][0]["content"])
    calls = [chat(f"q{i}") for i in range(5)]
    first = engine_for(server, tmp_path).run_all(calls)
    assert [content(r) for r in first] == [f"answer:q{i}" for i in range(5)]
    assert server.count("chat") == 5 and not any(r.cached for r in first)
    engine = engine_for(server, tmp_path)
    second = engine.run_all(calls)
    assert server.count("chat") == 5 and engine.totals["calls"] == 0
    assert all(r.cached for r in second) and [content(r) for r in second] == [content(r) for r in first]
    assert first[0].usage == {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    # replayed replies cost nothing and use no tokens now; they are counted apart
    assert second[0].usage == {} and second[0].cost_usd == 0.0 and second[0].cached_replies == 1


def test_cache_key_covers_model_and_params_not_server_or_retries(fake_openai, tmp_path):
    server = fake_openai()
    engine = engine_for(server, tmp_path)
    base = engine.call_key(chat("x"))
    assert engine.call_key(chat("y")) != base
    assert engine.call_key(ApiCall("chat", {"messages": [{"role": "user", "content": "x"}],
                                            "temperature": 0.5})) != base
    other = engine_for(server, tmp_path, model="other-model")
    assert other.call_key(chat("x")) != base
    # where the server lives and how patiently we retry do not decide the answer
    moved = engine_for(server, tmp_path, base_url="http://127.0.0.1:1/v1", backoff_cap=1.0,
                       concurrency=99, timeout=3.0, max_retries=1)
    assert moved.call_key(chat("x")) == base


def test_moved_server_replays_the_cache(fake_openai, tmp_path):
    first, second = fake_openai(responder=lambda b: "one"), fake_openai(responder=lambda b: "two")
    engine_for(first, tmp_path).run_all([chat("x")])
    [again] = engine_for(second, tmp_path, backoff_cap=2.0).run_all([chat("x")])
    assert content(again) == "one" and again.cached and second.count() == 0


@pytest.mark.parametrize("fault", ["429", "500", "slow", "truncated", "non_json"])
def test_each_fault_is_retried(fake_openai, tmp_path, fault):
    server = fake_openai(script=[fault, fault], slow_seconds=1.0, responder=lambda b: "fine")
    engine = engine_for(server, tmp_path, timeout=0.4)
    [result] = engine.run_all([chat("hello")])
    assert result.status == "ok" and content(result) == "fine"
    assert result.calls == 3 and engine.totals["retries"] == 2


def test_retry_after_is_honoured(fake_openai, tmp_path):
    server = fake_openai(script=["429"], retry_after="0.6")
    start = time.monotonic()
    [result] = engine_for(server, tmp_path).run_all([chat("x")])
    assert result.status == "ok" and time.monotonic() - start >= 0.6


def test_gives_up_after_max_retries(fake_openai, tmp_path):
    server = fake_openai(script=["500"] * 10)
    [result] = engine_for(server, tmp_path, max_retries=2).run_all([chat("x")])
    assert result.status == "api_error" and "gave up after 3 attempts" in result.error
    assert server.count("chat") == 3 and result.replies == []


def test_parse_failure_re_asks_and_caches_each_reply_under_its_own_slot(fake_openai, tmp_path):
    replies = iter(["not json", "still not", '{"ok": true}'])
    server = fake_openai(responder=lambda body: next(replies))

    def validate(reply):
        return json.loads(reply["choices"][0]["message"]["content"])

    calls = [chat("x", validate=validate)]
    [result] = engine_for(server, tmp_path, parse_retries=2).run_all(calls)
    assert result.status == "ok" and result.value == {"ok": True} and len(result.replies) == 3
    engine = engine_for(server, tmp_path, parse_retries=2)
    [again] = engine.run_all(calls)  # replayed from cache, same sequence, no call
    assert engine.totals["calls"] == 0 and again.value == {"ok": True} and again.cached


def test_parse_failure_after_all_asks_is_a_parse_error_with_replies_kept(fake_openai, tmp_path):
    server = fake_openai(responder=lambda body: "no json here")

    def validate(reply):
        raise ValueError("no JSON object")

    [result] = engine_for(server, tmp_path, parse_retries=1).run_all([chat("x", validate=validate)])
    assert result.status == "parse_error" and "no JSON object" in result.error
    assert [content_of["choices"][0]["message"]["content"] for content_of in result.replies] == [
        "no json here", "no json here"]


def test_votes_use_distinct_slots(fake_openai, tmp_path):
    counter = iter(range(100))
    server = fake_openai(responder=lambda body: str(next(counter)))
    calls = [chat("same", slot=f"v{i}") for i in range(3)]
    results = engine_for(server, tmp_path).run_all(calls)
    assert sorted(content(r) for r in results) == ["0", "1", "2"]


def test_concurrency_is_bounded(fake_openai, tmp_path):
    server = fake_openai(latency=0.15)
    engine_for(server, tmp_path, concurrency=3).run_all([chat(f"q{i}") for i in range(12)])
    assert server.max_in_flight == 3


def test_requests_per_minute_limit_spaces_calls(fake_openai, tmp_path):
    server = fake_openai()
    start = time.monotonic()
    engine_for(server, tmp_path, requests_per_minute=1200).run_all([chat(f"q{i}") for i in range(30)])
    # 20 per second with a one-second burst: the last 10 wait about half a second
    assert time.monotonic() - start >= 0.4


def test_api_key_never_reaches_errors_cache_or_manifest(fake_openai, tmp_path):
    server = fake_openai(script=["unauthorized"])
    engine = engine_for(server, tmp_path)
    [result] = engine.run_all([chat("x")])
    assert server.requests[0]["authorization"] == f"Bearer {SECRET}"  # it was sent...
    assert result.status == "api_error" and "Incorrect API key" in result.error
    assert SECRET not in result.error and "***" in result.error  # ...but never echoed back
    assert SECRET not in json.dumps(engine.describe())
    engine.run_all([chat("y")])
    engine.close()
    for path in tmp_path.iterdir():
        assert SECRET.encode() not in path.read_bytes()


@pytest.mark.parametrize("base_url", [None, "https://api.openai.com/v1",
                                      "https://myres.openai.azure.com/openai/v1",
                                      "https://gw.azure-api.net/v1"])
def test_missing_key_for_a_hosted_provider_is_one_error_before_any_request(base_url, monkeypatch):
    import openai

    from echo4o_eval.api.engine import MissingApiKey

    monkeypatch.delenv(KEY_ENV)
    from echo4o_eval.api import http

    monkeypatch.setattr(openai, "AsyncOpenAI", lambda **kw: pytest.fail("client built without a key"))
    monkeypatch.setattr(http, "JsonClient", lambda *a, **kw: pytest.fail("client built without a key"))
    engine = ApiEngine(EngineConfig(model="gpt-4.1", base_url=base_url, api_key_env=KEY_ENV))
    with pytest.raises(MissingApiKey, match=f"set the environment variable {KEY_ENV}"):
        engine.run_all([chat(f"x{i}") for i in range(5)])
    assert engine.totals["calls"] == 0


def test_api_key_env_that_is_not_a_name_is_never_echoed(monkeypatch):
    from echo4o_eval.api.engine import MissingApiKey

    engine = ApiEngine(EngineConfig(model="gpt-4.1", api_key_env=SECRET))
    with pytest.raises(MissingApiKey, match="must be the NAME of an environment variable") as info:
        engine.run_all([chat("x")])
    assert SECRET not in str(info.value) and SECRET not in json.dumps(engine.describe())


def test_missing_key_for_a_local_server_proceeds_with_one_warning(fake_openai, tmp_path, monkeypatch,
                                                                  caplog):
    monkeypatch.delenv(KEY_ENV)
    server = fake_openai()
    engine = engine_for(server, tmp_path)
    with caplog.at_level("WARNING", logger="echo4o_eval.api.engine"):
        first = engine.run_all([chat(f"q{i}") for i in range(3)])
        second = engine.run_all([chat("another")])
    assert [r.status for r in first + second] == ["ok"] * 4
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and KEY_ENV in warnings[0].getMessage()


def test_prices_give_cost_and_unknown_models_give_none(fake_openai, tmp_path):
    server = fake_openai()
    priced = engine_for(server, tmp_path, model="gpt-4.1").run_all([chat("x")])[0]
    assert priced.cost_usd == pytest.approx(100 * 2.0 / 1e6 + 20 * 8.0 / 1e6)
    unpriced = engine_for(server, tmp_path).run_all([chat("x")])[0]
    assert unpriced.cost_usd is None
    custom = engine_for(server, tmp_path, prices={"fake-vlm": {"input": 1e6, "output": 0}})
    assert custom.run_all([chat("x")])[0].cost_usd == 0.0  # replayed from the cache: free
    fresh = engine_for(server, tmp_path, prices={"fake-vlm": {"input": 1e6, "output": 0}},
                       cache_path=str(tmp_path / "fresh.sqlite"))
    assert fresh.run_all([chat("x")])[0].cost_usd == pytest.approx(100.0)
