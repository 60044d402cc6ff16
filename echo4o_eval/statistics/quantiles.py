"""Normal and Student t quantiles without importing scipy (it costs 0.2-0.5 s to import).

Intervals are computed at the end of every scored run, after the last judge reply, so their
imports are on the critical path. The normal quantile comes from the standard library
(:class:`statistics.NormalDist`, Wichura's AS 241, accurate to about 1e-16); the t quantile for
an integer number of degrees of freedom (what the jackknife uses: groups - 1 or prompts - 1)
inverts the closed-form t distribution function (Abramowitz & Stegun 26.7.3-4) by bisection
to the last bit. Other degrees of freedom use scipy. They agree with scipy to about 1e-16
(normal) and 1e-13 relative (t, worst in the far tails at large df; tests/test_jackknife_fast.py
compares them).

Example:
    >>> round(normal_quantile(0.975), 6), round(t_quantile(0.975, 10), 6)
    (1.959964, 2.228139)
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

EXACT_DF_LIMIT = 200  # integer df up to this use the closed form (agrees with scipy to 1e-13); beyond, scipy


def normal_quantile(p: float) -> float:
    """The standard normal quantile of ``p`` in (0, 1).

    >>> normal_quantile(0.5)
    0.0
    """
    return NormalDist().inv_cdf(p)


def _central_mass(theta: float, df: int) -> float:
    """P(|T| <= sqrt(df) tan(theta)) for integer ``df`` (A&S 26.7.3 odd, 26.7.4 even)."""
    cos2 = math.cos(theta) ** 2
    if df % 2:
        if df == 1:
            return 2.0 * theta / math.pi
        term = total = math.cos(theta)
        for k in range(1, (df - 3) // 2 + 1):
            term *= cos2 * (2 * k) / (2 * k + 1)
            total += term
        return 2.0 / math.pi * (theta + math.sin(theta) * total)
    term = total = 1.0
    for k in range(1, (df - 2) // 2 + 1):
        term *= cos2 * (2 * k - 1) / (2 * k)
        total += term
    return math.sin(theta) * total


@lru_cache(maxsize=256)
def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom at ``p`` in (0, 1).

    >>> round(t_quantile(0.025, 49), 6)
    -2.009575
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if df != int(df) or not 1 <= df <= EXACT_DF_LIMIT:
        from scipy.special import stdtrit

        return float(stdtrit(df, p))
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    target, df = 2.0 * p - 1.0, int(df)  # central mass A(theta) to reach
    low, high = 0.0, math.pi / 2
    while True:
        mid = (low + high) / 2
        if mid in (low, high):
            break
        if _central_mass(mid, df) < target:
            low = mid
        else:
            high = mid
    return math.sqrt(df) * math.tan(high)
