"""A full 280-sample GenEval++ judging run through the real openai client against the fake
server with 30% injected faults: every sample ends judged or failed, totals equal a
fault-free run, and a re-run from the cache makes no call."""

from __future__ import annotations

import pytest
from PIL import Image

from echo4o_eval.assets import Assets
from echo4o_eval.benchmarks.geneval_pp.loader import load_samples
from echo4o_eval.benchmarks.geneval_pp.vlm import GenEvalPlusPlusVLMEvaluator
from echo4o_eval.catalog import JUDGES
from echo4o_eval.spec import get_benchmark
from echo4o_eval.records.types import Generation, Status
from fake_judge_replies import geneval_pp_reply


@pytest.fixture(scope="module")
def run_inputs(data_dir, tmp_path_factory):
    samples = load_samples(Assets(get_benchmark("geneval_pp"), data_dir=data_dir, allow_download=False))
    folder = tmp_path_factory.mktemp("images")
    generations = []
    for s in samples:
        path = folder / f"{s.id}.png"
        Image.new("RGB", (16, 16), (int(s.id) % 256, 90, 40)).save(path)
        generations.append(Generation(s.id, 0, 0, Status.OK, image_path=str(path)))
    return samples, generations


def judge_run(server, cache_dir, samples, generations, **options):
    evaluator = GenEvalPlusPlusVLMEvaluator({})
    requests = [evaluator.requests(s, g) for s, g in zip(samples, generations)]
    judge = JUDGES.get("openai")("fake-judge", {
        "base_url": server.base_url, "cache_dir": str(cache_dir), "api_key_env": "ECHO4O_FAKE_KEY",
        "concurrency": 32, "max_retries": 10, "timeout": 0.5, "backoff_base": 0.02,
        "backoff_cap": 0.2, **options})
    judgements = judge.judge([r for group in requests for r in group])
    scores = [evaluator.score(s, g, [j]) for s, g, j in zip(samples, generations, judgements)]
    return evaluator.aggregate(samples, scores), judgements, judge


def test_thirty_percent_faults_give_the_fault_free_totals(fake_openai, tmp_path, run_inputs):
    samples, generations = run_inputs
    assert len(samples) == 280
    clean = fake_openai(responder=geneval_pp_reply)
    expected, clean_judgements, _ = judge_run(clean, tmp_path / "clean", samples, generations)
    assert clean.count("chat") == 280 and expected.n_ok == 280

    faulty = fake_openai(responder=geneval_pp_reply, fault_rate=0.3, seed=7, slow_seconds=1.0)
    result, judgements, judge = judge_run(faulty, tmp_path / "faulty", samples, generations)
    faults = sum(1 for r in faulty.requests if r["fault"])
    assert faults > 50  # the run really went through many faults of every kind
    assert {r["fault"] for r in faulty.requests} >= {"429", "500", "slow", "truncated", "non_json"}
    assert all(j.status in (Status.OK, Status.JUDGE_ERROR, Status.PARSE_ERROR) for j in judgements)
    assert result.n_ok == 280 and result.status_counts == {"ok": 280}
    assert faulty.count("chat", ok_only=True) == 280  # each request answered exactly once
    assert {k: v.value for k, v in result.metrics.items()} == {k: v.value for k, v in expected.metrics.items()}
    assert result.per_tag == expected.per_tag
    assert [j.parsed for j in judgements] == [j.parsed for j in clean_judgements]
    # every fault was retried (a few more retries come from connections dropped after timeouts)
    assert judge.engine.totals["retries"] >= faults

    faulty.reset()  # a second run over the same cache: nothing is judged twice
    again, cached_judgements, judge2 = judge_run(faulty, tmp_path / "faulty", samples, generations)
    assert faulty.count() == 0 and judge2.engine.totals["calls"] == 0
    assert all(j.cached for j in cached_judgements)
    assert {k: v.value for k, v in again.metrics.items()} == {k: v.value for k, v in expected.metrics.items()}
