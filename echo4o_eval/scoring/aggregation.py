"""The aggregation kit every evaluator uses: status counts, coverage and its notes, per-tag
means, parity variants (failures counted as wrong or as 0) and the result record with the
benchmark's version, written once here instead of by hand in each evaluator.

:func:`safe_score` wraps one sample's ``evaluator.score()`` so that an exception costs that
sample (a ``score_error`` naming the exception), never the run.

Example:
    >>> from echo4o_eval.records.types import SampleScore, Status
    >>> scores = [SampleScore("1", 0, "a", Status.OK, {"score": 1.0}),
    ...           SampleScore("2", 0, "a", Status.OK, {"score": 0.0}),
    ...           SampleScore("3", 0, "b", Status.JUDGE_ERROR)]
    >>> status_counts(scores)
    {'ok': 2, 'judge_error': 1}
    >>> tags = tag_means(["a", "b"], scores, ["score"])
    >>> tags["a"]["score"], tags["b"]["score"].value
    (MetricValue(value=0.5, n=2, n_total=2, ci_low=None, ci_high=None), None)
    >>> tags = tag_means(["a", "b"], scores, ["score"], failed_value=0.0)  # parity: failures are 0
    >>> tags["b"]["score"].value
    0.0
    >>> coverage_note(2, 3, "images not judged are excluded from the means")
    'coverage 2/3: images not judged are excluded from the means'
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Iterable, Mapping, Sequence

from echo4o_eval.records.types import BenchmarkResult, MetricValue, Sample, SampleScore, Status


def status_counts(scores: Sequence[SampleScore]) -> dict[str, int]:
    """Number of scores per status value, in first-seen order."""
    return dict(Counter(s.status.value for s in scores))


def mean_metric(values: Iterable[float], n_total: int) -> MetricValue:
    """Mean of ``values`` (None when empty, never 0) with its coverage.

    >>> mean_metric([1.0, 0.0, 1.0], n_total=4).value
    0.6666666666666666
    >>> mean_metric([], n_total=2).value is None
    True
    """
    values = list(values)
    return MetricValue(sum(values) / len(values) if values else None, len(values), n_total)


def tags_in_order(samples: Sequence[Sample], scores: Sequence[SampleScore]) -> list[str]:
    """Tags in first-seen order over the samples, then the scores (a tag with no image stays)."""
    seen: dict[str, None] = {}
    for item in list(samples) + list(scores):
        seen.setdefault(item.tag, None)
    return list(seen)


def tag_means(tags: Sequence[str], scores: Sequence[SampleScore], metrics: Sequence[str], *,
              failed_value: float | None = None,
              counts_as_failed: Callable[[SampleScore], bool] | None = None,
              tag_of: Callable[[SampleScore], str] | None = None,
              ) -> dict[str, dict[str, MetricValue]]:
    """Per tag, the mean of each of ``metrics`` over its ok scores.

    Default mode (``failed_value`` None): failures are left out and counted in ``n_total``.
    Parity variants: ``failed_value`` is what a failed image contributes (0.0, or False
    counted as wrong); ``counts_as_failed`` picks which non-ok scores get it (default: all of
    them) — the others are skipped as the official script skips them. ``tag_of`` maps a score
    to its reporting group (default: its tag).
    """
    tag_of = tag_of or (lambda s: s.tag)
    values: dict[str, dict[str, list[float]]] = {t: {m: [] for m in metrics} for t in tags}
    totals: dict[str, int] = {t: 0 for t in tags}
    for score in scores:
        tag = tag_of(score)
        values.setdefault(tag, {m: [] for m in metrics})
        totals[tag] = totals.get(tag, 0) + 1
        for metric in metrics:
            if score.status is Status.OK:
                values[tag][metric].append(float(score.values[metric]))
            elif failed_value is not None and (counts_as_failed is None or counts_as_failed(score)):
                values[tag][metric].append(float(failed_value))
    return {t: {m: mean_metric(v[m], totals[t]) for m in metrics} for t, v in values.items()}


def coverage_note(n_used: int, n_total: int, what: str) -> str | None:
    """``"coverage n/N: <what>"`` when some items were left out, else None."""
    return f"coverage {n_used}/{n_total}: {what}" if n_used < n_total else None


def failure_note(scores: Sequence[SampleScore], parity: bool, *, parity_treatment: str,
                 default_treatment: str = "left out of the means (see status counts)") -> str | None:
    """One note on the images that could not be scored: how many and what became of them.

    >>> from echo4o_eval.records.types import SampleScore, Status
    >>> failure_note([SampleScore("1", 0, "t", Status.PARSE_ERROR)], True,
    ...              parity_treatment="counted as wrong, as the official script does")
    'parity: 1 image(s) that could not be scored counted as wrong, as the official script does'
    """
    n_bad = sum(1 for s in scores if s.status is not Status.OK)
    if not n_bad:
        return None
    if parity:
        return f"parity: {n_bad} image(s) that could not be scored {parity_treatment}"
    return f"coverage {len(scores) - n_bad}/{len(scores)}: {n_bad} image(s) could not be scored, {default_treatment}"


def make_result(spec: Any, mode: str, samples: Sequence[Sample], scores: Sequence[SampleScore],
                metrics: Mapping[str, MetricValue], per_tag: Mapping[str, Mapping[str, MetricValue]],
                notes: Iterable[str | None] = ()) -> BenchmarkResult:
    """The BenchmarkResult of ``scores``: id and version from the benchmark's ``spec``, status
    counts, n_ok and n_images from the scores; empty notes dropped."""
    return BenchmarkResult(
        benchmark=spec.id, version=spec.version, metrics=dict(metrics), per_tag=dict(per_tag),
        n_samples=len(samples), n_images=len(scores),
        n_ok=sum(1 for s in scores if s.status is Status.OK),
        status_counts=status_counts(scores), mode=mode,
        notes=tuple(n for n in notes if n),
    )


def safe_score(evaluator: Any, sample: Sample, generation: Any, judgements: Sequence[Any]) -> SampleScore:
    """``evaluator.score(sample, generation, judgements)``; an exception becomes this sample's
    ``score_error`` naming the exception (and a score that is not a SampleScore is one too).

    >>> from echo4o_eval.records.types import Generation, Sample, Status
    >>> class Broken:
    ...     def score(self, sample, generation, judgements):
    ...         raise ValueError("math domain error")
    >>> s = safe_score(Broken(), Sample("7", 0, "p", "t"), Generation("7", 0, 0, Status.OK), [])
    >>> s.status.value, s.reason
    ('score_error', 'scoring raised ValueError: math domain error')
    """
    try:
        score = evaluator.score(sample, generation, judgements)
    except Exception as exc:  # one sample's bad data must not stop the run
        return SampleScore(sample.id, generation.image_index, sample.tag, Status.SCORE_ERROR,
                           reason=f"scoring raised {type(exc).__name__}: {exc}")
    if not isinstance(score, SampleScore):
        return SampleScore(sample.id, generation.image_index, sample.tag, Status.SCORE_ERROR,
                           reason=f"scoring returned {type(score).__name__}, not a SampleScore")
    return score
