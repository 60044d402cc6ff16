"""Tests of the clustered bootstrap that re-runs a benchmark's aggregate."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from echo4o_eval.statistics.bootstrap import _demo_aggregate, confidence_intervals, paired_aggregate_bootstrap
from echo4o_eval.records.types import BenchmarkResult, MetricValue, Sample, SampleScore, Status


def make_run(n_prompts=60, images=4, tags=("a", "b", "c"), p=0.6, seed=0, prompt_sd=1.0):
    """Samples with a per-prompt difficulty, so images of a prompt are correlated."""
    rng = np.random.default_rng(seed)
    samples, scores = [], []
    for i in range(n_prompts):
        tag = tags[i % len(tags)]
        samples.append(Sample(id=f"s{i}", index=i, prompt=f"prompt {i}", tag=tag))
        logit = np.log(p / (1 - p)) + rng.normal(0, prompt_sd)
        for j in range(images):
            ok = rng.random() < 1 / (1 + np.exp(-logit))
            scores.append(SampleScore(f"s{i}", j, tag, Status.OK, {"correct": bool(ok)}))
    return samples, scores


def prompt_aggregate(samples, scores):
    """GenEval-like: image accuracy, prompt accuracy (any image correct), mean of tags;
    refuses duplicate (sample, image) keys so the relabelling is checked."""
    keys = [(s.sample_id, s.image_index) for s in scores]
    assert len(keys) == len(set(keys)), "duplicate sample/image keys reached aggregate"
    assert len({s.id for s in samples}) == len(samples)
    base = _demo_aggregate(samples, scores)
    any_correct = defaultdict(bool)
    for s in scores:
        any_correct[s.sample_id] |= bool(s.values["correct"])
    prompt_acc = sum(any_correct.values()) / len(any_correct)
    tag_values = [m["accuracy"].value for m in base.per_tag.values()]
    metrics = dict(base.metrics)
    metrics["prompt_accuracy"] = MetricValue(prompt_acc, len(any_correct), len(samples))
    metrics["mean_of_tags"] = MetricValue(sum(tag_values) / len(tag_values), len(scores), len(scores))
    metrics["undefined"] = MetricValue(None, 0, len(scores))
    return BenchmarkResult(**{**base.__dict__, "metrics": metrics})


def test_every_metric_gets_an_interval_around_its_value():
    samples, scores = make_run()
    point = prompt_aggregate(samples, scores)
    result = confidence_intervals(prompt_aggregate, samples, scores, point, n_boot=300, seed=1)
    for name in ("accuracy", "prompt_accuracy", "mean_of_tags"):
        m = result.metrics[name]
        assert m.ci_low < m.value < m.ci_high, name
        assert m.value == point.metrics[name].value
    for tag, metrics in result.per_tag.items():
        m = metrics["accuracy"]
        assert m.ci_low <= m.value <= m.ci_high and m.ci_high > m.ci_low, tag
    assert result.metrics["undefined"].ci_low is None
    assert result.metrics["undefined"].ci_high is None
    assert any("300 resamples" in note for note in result.notes)


def test_deterministic_for_a_seed():
    samples, scores = make_run(n_prompts=30)
    point = prompt_aggregate(samples, scores)
    a = confidence_intervals(prompt_aggregate, samples, scores, point, n_boot=100, seed=5)
    b = confidence_intervals(prompt_aggregate, samples, scores, point, n_boot=100, seed=5)
    c = confidence_intervals(prompt_aggregate, samples, scores, point, n_boot=100, seed=6)
    assert a == b
    assert a != c


def test_interval_width_matches_cluster_robust_standard_error():
    # 200 prompts x 4 images with strong prompt effects: the bootstrap SE of image accuracy must
    # match the cluster-robust analytic SE (and exceed the naive iid one).
    samples, scores = make_run(n_prompts=200, tags=("a",), seed=2)
    point = _demo_aggregate(samples, scores)
    res = confidence_intervals(_demo_aggregate, samples, scores, point, n_boot=600, seed=0,
                               resample_images=False)
    m = res.metrics["accuracy"]
    per_prompt = np.array([[s.values["correct"] for s in scores[i * 4:(i + 1) * 4]]
                           for i in range(200)], dtype=float).mean(axis=1)
    cluster_se = per_prompt.std(ddof=1) / np.sqrt(200)
    naive_se = np.sqrt(m.value * (1 - m.value) / 800)
    width = m.ci_high - m.ci_low
    assert width == pytest.approx(2 * 1.96 * cluster_se, rel=0.2)
    assert width > 2 * 1.96 * naive_se * 1.2


def test_prompt_level_metric_not_biased_by_image_resampling():
    samples, scores = make_run(n_prompts=120, seed=4, p=0.4)
    point = prompt_aggregate(samples, scores)
    res = confidence_intervals(prompt_aggregate, samples, scores, point, n_boot=300)
    m = res.metrics["prompt_accuracy"]
    centre = (m.ci_low + m.ci_high) / 2
    assert abs(centre - m.value) < 0.25 * (m.ci_high - m.ci_low)


def test_boundary_proportion_uses_wilson_and_failures_are_kept():
    samples = [Sample(id=str(i), index=i, prompt="p", tag="t") for i in range(10)]
    scores = [SampleScore(str(i), 0, "t", Status.OK, {"correct": True}) for i in range(9)]
    scores.append(SampleScore("9", 0, "t", Status.JUDGE_ERROR, {}, reason="timeout"))
    point = _demo_aggregate(samples, scores)
    res = confidence_intervals(_demo_aggregate, samples, scores, point, n_boot=100)
    m = res.metrics["accuracy"]
    assert m.value == 1.0 and m.n == 9 and m.n_total == 10
    assert m.ci_high == 1.0 and m.ci_low == pytest.approx(0.7008, abs=1e-3)  # Wilson 9/9


def test_unknown_sample_in_scores_is_an_error_and_zero_boot_is_identity():
    samples, scores = make_run(n_prompts=3)
    point = _demo_aggregate(samples, scores)
    assert confidence_intervals(_demo_aggregate, samples, scores, point, n_boot=0) is point
    stray = scores + [SampleScore("ghost", 0, "a", Status.OK, {"correct": True})]
    with pytest.raises(ValueError, match="ghost"):
        confidence_intervals(_demo_aggregate, samples, stray, point, n_boot=10)


def test_time_budget_stops_after_min_boot():
    samples, scores = make_run(n_prompts=30)
    point = _demo_aggregate(samples, scores)
    res = confidence_intervals(_demo_aggregate, samples, scores, point, n_boot=5000,
                               time_budget_s=0.0, min_boot=50)
    assert any("(50 resamples" in note for note in res.notes)


def test_paired_bootstrap_regression_vs_noise():
    samples, base = make_run(n_prompts=150, seed=10, prompt_sd=0.5)
    rng = np.random.default_rng(11)
    # seeded regression: 30% of correct images become wrong
    worse = [SampleScore(s.sample_id, s.image_index, s.tag, s.status,
                         {"correct": s.values["correct"] and rng.random() > 0.3}) for s in base]
    # noise: 5% of verdicts flipped either way
    noisy = [SampleScore(s.sample_id, s.image_index, s.tag, s.status,
                         {"correct": s.values["correct"] ^ (rng.random() < 0.05)}) for s in base]
    reg = {(d.tag, d.metric): d for d in
           paired_aggregate_bootstrap(prompt_aggregate, samples, base, worse, n_boot=300)}
    noise = {(d.tag, d.metric): d for d in
             paired_aggregate_bootstrap(prompt_aggregate, samples, base, noisy, n_boot=300)}
    assert reg[("", "accuracy")].delta < -0.1 and reg[("", "accuracy")].p_value < 0.01
    assert reg[("", "accuracy")].ci_high < 0
    assert noise[("", "accuracy")].p_value > 0.05
    assert noise[("", "accuracy")].ci_low < 0 < noise[("", "accuracy")].ci_high
    assert reg[("", "undefined")].delta is None


def test_paired_uses_only_shared_images():
    samples, base = make_run(n_prompts=20)
    partial = [s for s in base if s.image_index < 2]
    deltas = paired_aggregate_bootstrap(_demo_aggregate, samples, base, partial, n_boot=50)
    overall = [d for d in deltas if d.tag == "" and d.metric == "accuracy"][0]
    assert overall.delta == 0.0 and overall.p_value == 1.0
