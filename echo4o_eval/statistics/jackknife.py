"""Intervals for any benchmark aggregate, with prompts as the sampled units.

A benchmark run samples *prompts*; the images of one prompt are repeated measures of it (they
share the prompt's difficulty). The right unit of resampling is therefore the prompt, once:
resampling images inside prompts as well counts the image noise twice (it is already inside
each prompt's mean) and makes intervals too wide.

Method: the stratified delete-a-group jackknife (Kott). Prompts are shuffled within each tag
(seeded) and dealt in turn into ``G`` groups, so every group is a small stratified sample of the
prompt set. Replicate ``g`` is the benchmark's own ``aggregate`` without group ``g``;
the variance of a metric is ``(G-1)/G * sum_g (theta_g - theta)^2``, and the interval is
``theta +- t_{df} * se`` with ``df = G - 1`` (for a tag with fewer prompts than groups,
``df = prompts - 1``: the classic t interval of a mean). For a mean of per-image (or
per-prompt) scores this is the cluster-robust variance; for smooth functions of such means
(mean of tag means, weighted type scores) it is their linearised variance.

Cost: an evaluator that offers ``metric_terms`` next to ``aggregate`` (every built-in one does;
:mod:`echo4o_eval.statistics.terms`) has its replicates computed from per-group totals: one
pass over the scores, a few milliseconds for thousands of images, and neither numpy nor scipy
imported (:mod:`.shuffle`, :mod:`.quantiles`). Any other aggregate is re-run ``G`` times (``2G``
for a paired change). Both give the same values.

Boundary: a proportion at 0 or 1 with no spread in any replicate gets the Wilson interval
over its ``n``. Metrics whose value is None keep no interval. ``docs/statistics.md`` gives the
reasoning and the coverage measured by ``bench/stats_calibration.py``.

Example:
    >>> from echo4o_eval.records.types import Sample, SampleScore, Status
    >>> from echo4o_eval.statistics.bootstrap import _demo_aggregate
    >>> samples = [Sample(id=str(i), index=i, prompt="p", tag="t") for i in range(40)]
    >>> scores = [SampleScore(str(i), j, "t", Status.OK, {"correct": (i + j) % 3 == 0})
    ...           for i in range(40) for j in range(2)]
    >>> result = confidence_intervals(_demo_aggregate, samples, scores,
    ...                               _demo_aggregate(samples, scores))
    >>> m = result.metrics["accuracy"]
    >>> m.ci_low < m.value < m.ci_high
    True
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from echo4o_eval.statistics.metric_maps import Aggregate, as_float, flatten, with_intervals
from echo4o_eval.statistics.quantiles import t_quantile  # no scipy import for integer df up to 200
from echo4o_eval.statistics.terms import terms_hook
from echo4o_eval.records.types import BenchmarkResult, MetricValue, Sample, SampleScore

DEFAULT_GROUPS = 50


def assign_groups(samples: Sequence[Sample], n_groups: int = DEFAULT_GROUPS, seed: int = 0) -> list[int]:
    """Group number of each sample: shuffled within its tag, then dealt in turn across groups.

    The shuffles are numpy's ``default_rng(seed).permutation``, reproduced without importing
    numpy (:mod:`echo4o_eval.statistics.shuffle`).

    >>> s = [Sample(str(i), i, "p", "ab"[i % 2]) for i in range(6)]
    >>> sorted(assign_groups(s, n_groups=3))
    [0, 0, 1, 1, 2, 2]
    """
    from echo4o_eval.statistics.shuffle import Generator

    rng = Generator(seed)
    by_tag: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        by_tag[s.tag].append(i)
    groups = [0] * len(samples)
    dealt = 0
    for tag in sorted(by_tag):
        for i in rng.permutation(by_tag[tag]):
            groups[i] = dealt % n_groups
            dealt += 1
    return groups


@dataclass(frozen=True)
class Replicates:
    """Full-sample values and the G delete-a-group replicate values of every flattened metric."""

    keys: list[tuple[str, str]]
    full: dict[tuple[str, str], MetricValue]
    values: list[list[float]]  # [group][key]; nan where the metric is undefined
    df: dict[tuple[str, str], int]

    def se(self, j: int, centre: float) -> float | None:
        """Jackknife standard error of metric ``j`` around ``centre`` (None if undefined)."""
        column = [row[j] for row in self.values]
        if not column or any(math.isnan(v) for v in column):
            return None
        g = len(column)
        return math.sqrt((g - 1) / g * sum((v - centre) ** 2 for v in column))


def _tag_groups(samples: Sequence[Sample], groups: Sequence[int]) -> dict[str, int]:
    seen: dict[str, set[int]] = defaultdict(set)
    for s, g in zip(samples, groups):
        seen[s.tag].add(g)
    return {t: len(v) for t, v in seen.items()}


def replicates(aggregates: Sequence[tuple[Aggregate, Sequence[SampleScore]]], samples: Sequence[Sample],
               n_groups: int = DEFAULT_GROUPS, seed: int = 0) -> list[Replicates]:
    """Delete-a-group replicates of each (aggregate, scores) pair over the same groups.

    An aggregate whose evaluator offers ``metric_terms`` (:mod:`echo4o_eval.statistics.terms`)
    gets its replicates from group totals; any other is re-run once per group.
    """
    n_groups = max(2, min(n_groups, len(samples)))
    groups = assign_groups(samples, n_groups, seed)
    of_sample = {s.id: g for s, g in zip(samples, groups)}
    per_tag_groups = _tag_groups(samples, groups)
    out = []
    for aggregate, scores in aggregates:
        full = flatten(aggregate(samples, scores))
        keys = list(full)
        rows = _rows_from_terms(aggregate, samples, scores, of_sample, n_groups, full)
        if rows is None:
            rows = _rows_by_rerunning(aggregate, samples, scores, groups, of_sample, n_groups, keys)
        df = {k: (per_tag_groups.get(k[0], n_groups) if k[0] else n_groups) - 1 for k in keys}
        out.append(Replicates(keys, full, rows, df))
    return out


def _rows_by_rerunning(aggregate, samples, scores, groups, of_sample, n_groups, keys) -> list[list[float]]:
    """Replicate values by calling ``aggregate`` without each group in turn."""
    scores_of: list[list[SampleScore]] = [[] for _ in range(n_groups + 1)]
    for s in scores:
        scores_of[of_sample.get(s.sample_id, n_groups)].append(s)
    rows = []
    for g in range(n_groups):
        kept = [s for s, k in zip(samples, groups) if k != g]
        kept_scores = [s for k in range(n_groups + 1) if k != g for s in scores_of[k]]
        flat = flatten(aggregate(kept, kept_scores))
        rows.append([as_float(flat.get(k)) for k in keys])
    return rows


def _rows_from_terms(aggregate, samples, scores, of_sample, n_groups, full) -> list[list[float]] | None:
    """Replicate values from the evaluator's ``metric_terms``; None when it has none, returns
    None, fails, or does not reproduce the full-sample result (then a warning says which)."""
    hook = terms_hook(aggregate)
    if hook is None:
        return None
    owner = type(aggregate.__self__).__name__
    try:
        terms = hook(samples, scores)
        if terms is None:
            return None
        *reps, whole = terms.replicate_values(of_sample, n_groups)
    except Exception as exc:  # noqa: BLE001 - a broken shortcut must not cost the run its intervals
        warnings.warn(f"{owner}.metric_terms failed ({type(exc).__name__}: {exc}); intervals "
                      "re-run aggregate instead", RuntimeWarning, stacklevel=3)
        return None
    for key, mv in full.items():
        got = whole.get(key)
        same = (got is None) if mv.value is None else (
            got is not None and abs(float(got) - float(mv.value)) <= 1e-9 * max(1.0, abs(float(mv.value))))
        if not same:
            warnings.warn(f"{owner}.metric_terms gives {key} = {got!r} where aggregate gives "
                          f"{mv.value!r}; intervals re-run aggregate instead", RuntimeWarning, stacklevel=3)
            return None
    nan = float("nan")
    return [[nan if (v := rep.get(k)) is None else float(v) for k in full] for rep in reps]


def interval(value: float, se: float, df: int, confidence: float) -> tuple[float, float]:
    """``value +- t_{df} * se``.

    >>> [round(x, 4) for x in interval(0.5, 0.1, 1000000, 0.95)]
    [0.304, 0.696]
    """
    half = t_quantile(0.5 + confidence / 2, df) * se
    return value - half, value + half


def confidence_intervals(
    aggregate: Aggregate,
    samples: Sequence[Sample],
    scores: Sequence[SampleScore],
    result: BenchmarkResult,
    confidence: float = 0.95,
    n_groups: int = DEFAULT_GROUPS,
    seed: int = 0,
) -> BenchmarkResult:
    """``result`` with ci_low/ci_high filled for every metric and per-tag metric.

    ``aggregate`` is the benchmark's own aggregate; the intervals are the stratified
    delete-a-group jackknife over prompts (module docstring). The result's notes say so.
    """
    from echo4o_eval.statistics.basic import wilson_interval

    ids = {s.id for s in samples}
    stray = sorted({s.sample_id for s in scores} - ids)
    if stray:
        raise ValueError(f"scores refer to samples not in the sample list: {stray[:5]}")
    if len(samples) < 2:
        return result
    (rep,) = replicates([(aggregate, scores)], samples, n_groups, seed)
    filled = {}
    for key, mv in flatten(result).items():
        if mv.value is None or key not in rep.full:
            filled[key] = dataclasses.replace(mv, ci_low=None, ci_high=None)
            continue
        j = rep.keys.index(key)
        value = float(mv.value)
        se, df = rep.se(j, value), rep.df[key]
        if se is None or df < 1:
            filled[key] = dataclasses.replace(mv, ci_low=None, ci_high=None)
            continue
        if se == 0 and value in (0.0, 1.0) and mv.n > 0:
            low, high = wilson_interval(value * mv.n, mv.n, confidence)
        else:
            low, high = interval(value, se, df, confidence)
            column = [row[j] for row in rep.values]
            if 0.0 <= min(column) and max(column) <= 1.0 and 0.0 <= value <= 1.0:
                low, high = max(0.0, low), min(1.0, high)  # a fraction stays a fraction
        filled[key] = dataclasses.replace(mv, ci_low=low, ci_high=high)
    groups = max(2, min(n_groups, len(samples)))
    note = (f"{confidence:.0%} CIs: stratified delete-a-group jackknife over prompts ({groups} groups, "
            f"seed {seed}; t interval; Wilson at 0/1 boundaries); images are repeated measures "
            "of their prompt")
    return with_intervals(result, filled, note)


@dataclass(frozen=True)
class PairedChange:
    """Change of one metric from run A to run B on the same prompts and images."""

    tag: str  # "" for overall metrics
    metric: str
    value_a: float | None
    value_b: float | None
    delta: float | None  # value_b - value_a
    se: float | None  # standard error of delta (paired jackknife over prompts)
    df: int
    ci_low: float | None
    ci_high: float | None

    def p_worse(self, higher_is_better: bool) -> float | None:
        """One-sided p-value of "B is worse than A" (t test of the paired change)."""
        if self.delta is None or self.se is None:
            return None
        worsening = -self.delta if higher_is_better else self.delta
        if self.se == 0:
            return 0.0 if worsening > 0 else 1.0
        from scipy.special import stdtr

        return float(stdtr(self.df, -worsening / self.se))  # P(T >= worsening / se)

    def p_two_sided(self) -> float | None:
        """Two-sided p-value of "A and B differ"."""
        p = self.p_worse(True)
        return None if p is None else min(1.0, 2 * min(p, 1 - p))


def paired_changes(
    aggregate: Aggregate,
    samples: Sequence[Sample],
    scores_a: Sequence[SampleScore],
    scores_b: Sequence[SampleScore],
    confidence: float = 0.95,
    n_groups: int = DEFAULT_GROUPS,
    seed: int = 0,
) -> list[PairedChange]:
    """Every shared metric's change from A to B with a paired standard error.

    Only images scored in both runs are used. The same prompt groups are deleted from both
    runs in each replicate, so prompt difficulty cancels and each prompt's images enter once.

    >>> from echo4o_eval.records.types import Sample, SampleScore, Status
    >>> from echo4o_eval.statistics.bootstrap import _demo_aggregate
    >>> samples = [Sample(id=str(i), index=i, prompt="p", tag="t") for i in range(30)]
    >>> a = [SampleScore(str(i), 0, "t", Status.OK, {"correct": i % 2 == 0}) for i in range(30)]
    >>> b = [SampleScore(str(i), 0, "t", Status.OK, {"correct": True}) for i in range(30)]
    >>> d = [c for c in paired_changes(_demo_aggregate, samples, a, b) if c.tag == ""][0]
    >>> round(d.delta, 2), d.p_worse(higher_is_better=False) < 0.001
    (0.5, True)
    """
    both = {(s.sample_id, s.image_index) for s in scores_a} & {(s.sample_id, s.image_index) for s in scores_b}
    kept_a = [s for s in scores_a if (s.sample_id, s.image_index) in both]
    kept_b = [s for s in scores_b if (s.sample_id, s.image_index) in both]
    ids = {k[0] for k in both}
    kept = [s for s in samples if s.id in ids]
    if len(kept) < 2:
        raise ValueError("a paired comparison needs at least 2 prompts scored in both runs")
    rep_a, rep_b = replicates([(aggregate, kept_a), (aggregate, kept_b)], kept, n_groups, seed)
    out = []
    for key in rep_a.keys:
        if key not in rep_b.full:
            continue
        va, vb = rep_a.full[key].value, rep_b.full[key].value
        if va is None or vb is None:
            out.append(PairedChange(key[0], key[1], va, vb, None, None, 0, None, None))
            continue
        delta = float(vb) - float(va)
        ja, jb = rep_a.keys.index(key), rep_b.keys.index(key)
        column = [rb[jb] - ra[ja] for ra, rb in zip(rep_a.values, rep_b.values)]
        df = rep_a.df[key]
        if any(math.isnan(v) for v in column) or df < 1:
            out.append(PairedChange(key[0], key[1], float(va), float(vb), delta, None, df, None, None))
            continue
        g = len(column)
        se = math.sqrt((g - 1) / g * sum((v - delta) ** 2 for v in column))
        low, high = interval(delta, se, df, confidence)
        out.append(PairedChange(key[0], key[1], float(va), float(vb), delta, se, df, low, high))
    return out
