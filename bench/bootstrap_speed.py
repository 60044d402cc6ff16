"""Speed of the clustered bootstrap CI on a GenEval-sized run (553 prompts x 4 images).

The package's intervals now come from the jackknife (echo4o_eval/statistics/jackknife.py);
bench/report_speed.py compares the two side by side on a real run. This script keeps timing
the bootstrap itself (a cross-check method).

Prints, measured side by side in one process: one plain ``aggregate`` call, the bootstrap with
1000 resamples, and their ratio (the bootstrap costs about n_boot aggregate calls plus the
resampling overhead). Run: ``python bench/bootstrap_speed.py [n_boot]``.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict

import numpy as np

from echo4o_eval.statistics.bootstrap import _demo_aggregate, confidence_intervals
from echo4o_eval.records.types import BenchmarkResult, MetricValue, Sample, SampleScore, Status

TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")


def geneval_like_aggregate(samples, scores):
    """Image accuracy, prompt accuracy (any image correct), mean of tags: GenEval's summary."""
    base = _demo_aggregate(samples, scores)
    any_correct = defaultdict(bool)
    for s in scores:
        if s.status is Status.OK:
            any_correct[s.sample_id] |= bool(s.values["correct"])
    tag_values = [m["accuracy"].value for m in base.per_tag.values()]
    metrics = dict(base.metrics)
    metrics["prompt_accuracy"] = MetricValue(
        sum(any_correct.values()) / len(any_correct), len(any_correct), len(samples))
    metrics["overall"] = MetricValue(sum(tag_values) / len(tag_values), base.n_ok, len(scores))
    return BenchmarkResult(**{**base.__dict__, "metrics": metrics})


def main(n_boot: int = 1000) -> None:
    rng = np.random.default_rng(0)
    samples, scores = [], []
    for i in range(553):
        tag = TAGS[i % len(TAGS)]
        samples.append(Sample(id=str(i), index=i, prompt=f"prompt {i}", tag=tag))
        for j in range(4):
            status = Status.OK if rng.random() > 0.01 else Status.JUDGE_ERROR
            scores.append(SampleScore(str(i), j, tag, status, {"correct": bool(rng.random() < 0.6)}))
    start = time.perf_counter()
    for _ in range(20):
        point = geneval_like_aggregate(samples, scores)
    one = (time.perf_counter() - start) / 20
    start = time.perf_counter()
    confidence_intervals(geneval_like_aggregate, samples, scores, point, n_boot=n_boot)
    total = time.perf_counter() - start
    print(f"images={len(scores)} prompts={len(samples)} n_boot={n_boot}")
    print(f"one aggregate call: {one * 1000:.2f} ms")
    print(f"bootstrap CI total: {total:.2f} s ({total / n_boot * 1000:.2f} ms per resample)")
    print(f"ratio bootstrap / (n_boot x aggregate): {total / (n_boot * one):.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
