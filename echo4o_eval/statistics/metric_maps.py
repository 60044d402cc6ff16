"""A benchmark result's metrics as one flat map, and back: what the jackknife and the bootstrap share.

Both interval methods use a benchmark's own ``aggregate`` (re-run, or for the jackknife through
the evaluator's ``metric_terms`` shortcut) and work on every metric at once, overall and per
tag, keyed ``(tag, metric name)`` with tag ``""`` (:data:`OVERALL`) for the overall metrics;
once each metric has its interval, :func:`with_intervals` puts the map back into the result's
shape and records the method in its notes.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Sequence

from echo4o_eval.records.types import BenchmarkResult, MetricValue, Sample, SampleScore

Aggregate = Callable[[Sequence[Sample], Sequence[SampleScore]], BenchmarkResult]
OVERALL = ""  # tag of overall metrics in flattened metric maps: (OVERALL, name)


def flatten(result: BenchmarkResult) -> dict[tuple[str, str], MetricValue]:
    """Metrics as {(tag or "", metric name): MetricValue}; overall metrics use tag "".

    >>> from echo4o_eval.records.types import BenchmarkResult, MetricValue
    >>> result = BenchmarkResult("b", "1", {"acc": MetricValue(0.5, 4, 4)},
    ...                          {"t": {"acc": MetricValue(1.0, 2, 2)}}, 4, 4, 4)
    >>> sorted(flatten(result))
    [('', 'acc'), ('t', 'acc')]
    """
    flat = {(OVERALL, name): mv for name, mv in result.metrics.items()}
    for tag, metrics in result.per_tag.items():
        for name, mv in metrics.items():
            flat[(tag, name)] = mv
    return flat


def as_float(mv: MetricValue | None) -> float:
    """A metric's value as a float; NaN when the metric is absent or has no value.

    >>> as_float(MetricValue(1, 3, 3)), as_float(None)
    (1.0, nan)
    """
    return float("nan") if mv is None or mv.value is None else float(mv.value)


def with_intervals(result: BenchmarkResult, filled: Mapping[tuple[str, str], MetricValue],
                   note: str) -> BenchmarkResult:
    """``result`` with its metrics replaced by ``filled`` (a :func:`flatten` map) and ``note`` added.

    >>> from echo4o_eval.records.types import BenchmarkResult, MetricValue
    >>> result = BenchmarkResult("b", "1", {"acc": MetricValue(0.5, 4, 4)}, {}, 4, 4, 4)
    >>> new = with_intervals(result, {("", "acc"): MetricValue(0.5, 4, 4, 0.1, 0.9)}, "CIs")
    >>> new.metrics["acc"].ci_high, new.notes
    (0.9, ('CIs',))
    """
    metrics = {name: filled[(OVERALL, name)] for name in result.metrics}
    per_tag = {tag: {name: filled[(tag, name)] for name in values}
               for tag, values in result.per_tag.items()}
    return dataclasses.replace(result, metrics=metrics, per_tag=per_tag,
                               notes=tuple(result.notes) + (note,))
