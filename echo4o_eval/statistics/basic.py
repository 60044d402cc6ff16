"""Statistics for honest benchmark numbers: intervals, paired tests, corrections, agreement.

Pure functions over plain sequences (numpy/scipy imported inside functions). Intervals for a
benchmark's own ``aggregate`` live in :mod:`echo4o_eval.statistics.jackknife`; this module
imports nothing from its siblings (no import cycle).

Example:
    >>> low, high = wilson_interval(8, 10)
    >>> round(low, 4), round(high, 4)
    (0.4902, 0.9433)
    >>> mcnemar_exact([1, 1, 0, 0], [0, 0, 0, 0]).p_value
    0.5
    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Hashable, Sequence

__all__ = [
    "wilson_interval",
    "seed_spread",
    "SeedSpread",
    "mcnemar_exact",
    "McNemarResult",
    "wilcoxon_signed_rank",
    "WilcoxonResult",
    "paired_bootstrap",
    "PairedBootstrapResult",
    "cohens_h",
    "cohens_dz",
    "holm",
    "cohen_kappa",
    "confusion_matrix",
]


def _z(confidence: float) -> float:
    # no scipy: the jackknife's Wilson intervals run at the end of every scored run
    from echo4o_eval.statistics.quantiles import normal_quantile

    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return normal_quantile(0.5 + confidence / 2.0)


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``successes / n``.

    Unlike the normal approximation it stays inside [0, 1] and is not degenerate at 0 or n.
    Raises ValueError for n <= 0 (there is no proportion to bound).

    >>> [round(v, 4) for v in wilson_interval(0, 10)]
    [0.0, 0.2775]
    """
    if n <= 0:
        raise ValueError("wilson_interval needs n > 0")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n], got {successes} of {n}")
    z = _z(confidence)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the boundaries,
    high = 1.0 if successes == n else min(1.0, centre + half)  # not centre - half's rounding
    return low, high


@dataclass(frozen=True)
class SeedSpread:
    """Spread of one metric across runs that differ only in the seed."""

    n_seeds: int
    mean: float
    std: float  # sample standard deviation (ddof=1); 0.0 for a single seed
    min: float
    max: float


def seed_spread(values: Sequence[float]) -> SeedSpread:
    """Mean, sample standard deviation and range of a metric over seeds.

    >>> seed_spread([0.5, 0.7, 0.6])
    SeedSpread(n_seeds=3, mean=0.6, std=0.1, min=0.5, max=0.7)
    """
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("seed_spread needs at least one value")
    mean = sum(vals) / len(vals)
    std = 0.0
    if len(vals) > 1:
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
    return SeedSpread(len(vals), round(mean, 12), round(std, 12), min(vals), max(vals))


@dataclass(frozen=True)
class McNemarResult:
    """Exact McNemar test on paired binary outcomes of runs A and B."""

    n: int  # pairs
    a_only: int  # pairs where A is correct and B is not
    b_only: int  # pairs where B is correct and A is not
    p_value: float  # two-sided exact binomial p on the discordant pairs
    odds_ratio: float | None  # b_only / a_only (None when a_only == 0)


def mcnemar_exact(a: Sequence[Any], b: Sequence[Any]) -> McNemarResult:
    """Exact (binomial) McNemar test: did B get different items right than A more than chance?

    >>> r = mcnemar_exact([1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0])
    >>> r.a_only, r.b_only, r.p_value
    (0, 4, 0.125)
    """
    if len(a) != len(b):
        raise ValueError(f"paired sequences differ in length: {len(a)} vs {len(b)}")
    a_only = sum(1 for x, y in zip(a, b) if bool(x) and not bool(y))
    b_only = sum(1 for x, y in zip(a, b) if bool(y) and not bool(x))
    discordant = a_only + b_only
    if discordant == 0:
        p = 1.0
    else:
        from scipy.stats import binom

        p = min(1.0, 2.0 * float(binom.cdf(min(a_only, b_only), discordant, 0.5)))
    ratio = b_only / a_only if a_only else None
    return McNemarResult(len(a), a_only, b_only, p, ratio)


@dataclass(frozen=True)
class WilcoxonResult:
    """Wilcoxon signed-rank test of paired scores (B minus A)."""

    n: int  # pairs
    n_nonzero: int  # pairs with a non-zero difference
    statistic: float | None
    p_value: float
    rank_biserial: float  # matched-pairs rank-biserial effect size in [-1, 1]; > 0: B higher


def wilcoxon_signed_rank(a: Sequence[float], b: Sequence[float]) -> WilcoxonResult:
    """Two-sided Wilcoxon signed-rank test on ``b - a`` (zero differences dropped).

    With no non-zero difference the runs are identical: p = 1.

    >>> r = wilcoxon_signed_rank([1, 2, 3, 4, 5], [2, 3, 4, 5, 6])
    >>> r.rank_biserial, r.p_value
    (1.0, 0.0625)
    """
    import numpy as np
    from scipy.stats import rankdata, wilcoxon

    if len(a) != len(b):
        raise ValueError(f"paired sequences differ in length: {len(a)} vs {len(b)}")
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    nz = d[d != 0]
    if nz.size == 0:
        return WilcoxonResult(len(d), 0, None, 1.0, 0.0)
    ranks = rankdata(np.abs(nz))
    total = ranks.sum()
    effect = float((ranks[nz > 0].sum() - ranks[nz < 0].sum()) / total)
    res = wilcoxon(nz, zero_method="wilcox", alternative="two-sided")
    return WilcoxonResult(len(d), int(nz.size), float(res.statistic), float(res.pvalue), effect)


@dataclass(frozen=True)
class PairedBootstrapResult:
    """Bootstrap of the mean paired difference ``mean(b) - mean(a)``."""

    delta: float
    ci_low: float
    ci_high: float
    p_value: float  # two-sided, from the null-centred bootstrap distribution
    n_boot: int


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    clusters: Sequence[Hashable] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedBootstrapResult:
    """Paired bootstrap of ``mean(b) - mean(a)``; resamples whole clusters (prompts) if given.

    p-value: share of resampled deltas at least as far from the observed delta as the observed
    delta is from 0 (the distribution shifted to the null), with the +1 correction.

    >>> r = paired_bootstrap([0, 0, 0, 0], [1, 1, 1, 1], n_boot=200)
    >>> r.delta, r.ci_low, r.ci_high
    (1.0, 1.0, 1.0)
    """
    import numpy as np

    if len(a) != len(b):
        raise ValueError(f"paired sequences differ in length: {len(a)} vs {len(b)}")
    if not len(a):
        raise ValueError("paired_bootstrap needs at least one pair")
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    rng = np.random.default_rng(seed)
    if clusters is None:
        sums, counts = d, np.ones_like(d)
    else:
        keys = {}
        ids = np.array([keys.setdefault(c, len(keys)) for c in clusters])
        sums = np.bincount(ids, weights=d)
        counts = np.bincount(ids).astype(float)
    k = len(sums)
    picks = rng.integers(0, k, size=(n_boot, k))
    boot = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    delta = float(d.mean())
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    extreme = np.sum(np.abs(boot - delta) >= abs(delta) - 1e-12)
    p = 1.0 if delta == 0 else float((extreme + 1) / (n_boot + 1))
    return PairedBootstrapResult(delta, float(low), float(high), min(1.0, p), n_boot)


def cohens_h(p1: float, p2: float) -> float:
    """Cohen's h effect size between two proportions: 2·asin(√p2) − 2·asin(√p1).

    >>> round(cohens_h(0.5, 0.75), 4)
    0.5236
    """
    return 2.0 * math.asin(math.sqrt(p2)) - 2.0 * math.asin(math.sqrt(p1))


def cohens_dz(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Cohen's d_z for paired scores: mean(b - a) / sd(b - a); None when sd is 0.

    >>> cohens_dz([1, 2, 3], [2, 4, 6])
    2.0
    """
    d = [float(y) - float(x) for x, y in zip(a, b)]
    if len(d) < 2:
        return None
    mean = sum(d) / len(d)
    sd = math.sqrt(sum((v - mean) ** 2 for v in d) / (len(d) - 1))
    return None if sd == 0 else mean / sd


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1), input order kept.

    Reject hypothesis i at level alpha when ``holm(p)[i] <= alpha``.

    >>> holm([0.04, 0.001, 0.5])
    [0.08, 0.003, 0.5]
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = round(running, 15)
    return adjusted


def confusion_matrix(
    a: Sequence[Hashable], b: Sequence[Hashable], labels: Sequence[Hashable] | None = None
) -> tuple[list[Hashable], list[list[int]]]:
    """Confusion matrix: rows are ``a``'s labels, columns ``b``'s, in ``labels`` order.

    Labels default to the sorted union of both sequences (by their string form).

    >>> confusion_matrix([True, True, False], [True, False, False])
    ([False, True], [[1, 0], [1, 1]])
    """
    if len(a) != len(b):
        raise ValueError(f"rater sequences differ in length: {len(a)} vs {len(b)}")
    if labels is None:
        labels = sorted(set(a) | set(b), key=str)
    labels = list(labels)
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for x, y in zip(a, b):
        if x not in index or y not in index:
            raise ValueError(f"label {x if x not in index else y!r} is not in labels {labels}")
        matrix[index[x]][index[y]] += 1
    return labels, matrix


def cohen_kappa(
    a: Sequence[Hashable], b: Sequence[Hashable], labels: Sequence[Hashable] | None = None
) -> float | None:
    """Cohen's kappa between two raters; None when chance agreement is 1 (kappa undefined).

    >>> round(cohen_kappa([1, 1, 0, 0, 1, 0], [1, 0, 0, 0, 1, 1]), 4)
    0.3333
    """
    labels, matrix = confusion_matrix(a, b, labels)
    n = sum(map(sum, matrix))
    if n == 0:
        return None
    observed = sum(matrix[i][i] for i in range(len(labels))) / n
    rows = [sum(r) / n for r in matrix]
    cols = [sum(matrix[i][j] for i in range(len(labels))) / n for j in range(len(labels))]
    expected = sum(r * c for r, c in zip(rows, cols))
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)
