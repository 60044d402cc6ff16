"""Unit tests of echo4o_eval.statistics.basic against hand-computed values and scipy called directly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from echo4o_eval.statistics import basic as stats


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (8, 10), (10, 10), (40, 553), (1, 1)])
def test_wilson_matches_scipy(k, n):
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = stats.wilson_interval(k, n)
    assert low == pytest.approx(ci.low, abs=1e-12)
    assert high == pytest.approx(ci.high, abs=1e-12)


def test_wilson_hand_value_and_errors():
    # p = 0.5, n = 100, z = 1.959964: centre 0.5, half = z*sqrt(.0025 + z^2/40000)/(1+z^2/100)
    z = 1.959963984540054
    half = z * math.sqrt(0.25 / 100 + z * z / 40000) / (1 + z * z / 100)
    assert stats.wilson_interval(50, 100) == pytest.approx((0.5 - half, 0.5 + half))
    assert stats.wilson_interval(50, 100, 0.99)[0] < 0.5 - half
    with pytest.raises(ValueError):
        stats.wilson_interval(0, 0)
    with pytest.raises(ValueError):
        stats.wilson_interval(11, 10)


def test_seed_spread_matches_numpy():
    vals = [0.61, 0.58, 0.66, 0.6]
    s = stats.seed_spread(vals)
    assert s.n_seeds == 4
    assert s.mean == pytest.approx(np.mean(vals))
    assert s.std == pytest.approx(np.std(vals, ddof=1))
    assert (s.min, s.max) == (0.58, 0.66)
    assert stats.seed_spread([0.3]).std == 0.0


def test_mcnemar_matches_binomtest():
    rng = np.random.default_rng(1)
    a = rng.random(200) < 0.6
    b = rng.random(200) < 0.5
    r = stats.mcnemar_exact(a.tolist(), b.tolist())
    a_only = int(np.sum(a & ~b))
    b_only = int(np.sum(b & ~a))
    assert (r.a_only, r.b_only, r.n) == (a_only, b_only, 200)
    expected = sps.binomtest(b_only, a_only + b_only, 0.5).pvalue
    assert r.p_value == pytest.approx(expected, rel=1e-9)
    assert r.odds_ratio == pytest.approx(b_only / a_only)


def test_mcnemar_no_discordant_pairs():
    r = stats.mcnemar_exact([1, 0, 1], [1, 0, 1])
    assert r.p_value == 1.0 and r.odds_ratio is None
    with pytest.raises(ValueError):
        stats.mcnemar_exact([1], [1, 0])


def test_wilcoxon_matches_scipy_and_effect_by_hand():
    a = [0.2, 0.5, 0.4, 0.9, 0.3, 0.6, 0.7, 0.1]
    b = [0.3, 0.4, 0.8, 0.9, 0.6, 0.65, 0.95, 0.5]
    r = stats.wilcoxon_signed_rank(a, b)
    d = np.subtract(b, a)
    d = d[d != 0]
    ref = sps.wilcoxon(d)
    assert r.p_value == pytest.approx(ref.pvalue)
    assert r.n == 8 and r.n_nonzero == 7
    ranks = sps.rankdata(np.abs(d))
    assert r.rank_biserial == pytest.approx((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum())
    same = stats.wilcoxon_signed_rank([1, 2], [1, 2])
    assert same.p_value == 1.0 and same.statistic is None


def test_paired_bootstrap_detects_shift_not_noise():
    rng = np.random.default_rng(0)
    base = rng.random(400)
    shifted = stats.paired_bootstrap(base, base + 0.1 + rng.normal(0, 0.05, 400), n_boot=1000)
    assert shifted.ci_low < 0.1 < shifted.ci_high
    assert shifted.p_value < 0.01
    noise = stats.paired_bootstrap(base, base + rng.normal(0, 0.05, 400), n_boot=1000)
    assert noise.ci_low < 0 < noise.ci_high and noise.p_value > 0.05


def test_paired_bootstrap_clusters_widen_interval():
    rng = np.random.default_rng(3)
    prompt_effect = np.repeat(rng.normal(0, 0.5, 50), 8)  # strong within-prompt correlation
    d = prompt_effect + rng.normal(0, 0.1, 400)
    clusters = np.repeat(np.arange(50), 8)
    flat = stats.paired_bootstrap(np.zeros(400), d, n_boot=1000)
    clustered = stats.paired_bootstrap(np.zeros(400), d, clusters=clusters.tolist(), n_boot=1000)
    assert (clustered.ci_high - clustered.ci_low) > 2 * (flat.ci_high - flat.ci_low)


def test_effect_sizes_by_hand():
    assert stats.cohens_h(0.5, 0.5) == 0.0
    assert stats.cohens_h(0.0, 1.0) == pytest.approx(math.pi)
    assert stats.cohens_dz([0, 0, 0], [1, 2, 3]) == pytest.approx(2.0)  # mean 2, sd 1
    assert stats.cohens_dz([0, 0], [1, 1]) is None


def test_holm_by_hand():
    assert stats.holm([0.01, 0.02, 0.03, 0.04]) == pytest.approx([0.04, 0.06, 0.06, 0.06])
    assert stats.holm([0.5, 0.9]) == [1.0, 1.0]
    assert stats.holm([]) == []


def test_kappa_textbook_example():
    # 50 items: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> po 0.7, pe 0.5, kappa 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert stats.cohen_kappa(a, b) == pytest.approx(0.4)
    labels, matrix = stats.confusion_matrix(a, b, labels=["yes", "no"])
    assert matrix == [[20, 5], [10, 15]]
    assert stats.cohen_kappa(a, a) == pytest.approx(1.0)
    assert stats.cohen_kappa([1, 1], [1, 1]) is None  # chance agreement 1: undefined
    with pytest.raises(ValueError):
        stats.confusion_matrix([1], [2], labels=[1])
