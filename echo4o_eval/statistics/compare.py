"""Regression gate: did a new run get worse than a baseline on the same prompts?

The rule (``docs/ci_regression_gate.md``):

* The runs must be comparable: same benchmark, version and variant, same prompts (same ids
  and texts). Otherwise :class:`RunInputError` (exit 2) says what differs in one line; with
  ``intersect=True`` the shared prompts are compared and the note says how many were dropped.
* The benchmark's **primary metric decides**. Its change is measured on the images both runs
  scored, paired by prompt (:func:`echo4o_eval.statistics.jackknife.paired_changes`), and
  tested one-sided for a drop (t test on the paired jackknife standard error; analytic
  p-values, so any alpha can be reached). It is a regression when it got worse by more than
  ``max_drop`` (in the metric's own unit) AND the one-sided p < ``alpha``.
* Per-tag values of the primary metric are reported with Holm-adjusted one-sided p-values;
  with ``gate_tags=True`` they can fail the gate too (same rule on the Holm p). Other overall
  metrics are reported, never gating.
* Coverage (ok images / images) is gated: a fall beyond ``max_coverage_drop`` fails.
* The comparison reports the **minimum detectable drop** of the primary metric at ``alpha``
  and ``power`` for these runs, and warns when a drop of ``max_drop`` would likely be missed.

Exit codes of ``echo4o-eval compare``: 0 no regression; 1 regression; 2 unusable input.

Example:
    >>> from echo4o_eval.report.runs import RunView
    >>> from echo4o_eval.statistics.bootstrap import _demo_aggregate
    >>> from echo4o_eval.records.types import Sample, SampleScore, Status
    >>> samples = [Sample(str(i), i, "p", "t") for i in range(40)]
    >>> def run(name, p):
    ...     return RunView(name, {"benchmark": "demo@1"}, samples,
    ...                    [SampleScore(str(i), 0, "t", Status.OK, {"correct": i % 10 < p})
    ...                     for i in range(40)])
    >>> c = compare_runs(run("base", 8), run("new", 4), aggregate=_demo_aggregate,
    ...                  primary="accuracy", direction=lambda benchmark, metric: True)
    >>> c.regressed, [r.metric for r in c.regressions]
    (True, ['accuracy'])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable

from echo4o_eval.report.runs import RunInputError, RunView

EXIT_OK, EXIT_REGRESSION, EXIT_INPUT_ERROR = 0, 1, 2
DEFAULT_DROP_SHARE = 0.02  # default max drop: 2% of the metric's full scale (2 points of a %)
SCALES = {"fraction": 1.0, "score_0_10": 10.0}


def default_max_drop(unit: str) -> float | None:
    """The default tolerated drop in a metric's own unit: 2% of its full scale.

    >>> default_max_drop("fraction"), default_max_drop("score_0_10"), default_max_drop("score")
    (0.02, 0.2, None)
    """
    scale = SCALES.get(unit)
    return None if scale is None else round(DEFAULT_DROP_SHARE * scale, 12)


@dataclass(frozen=True)
class MetricComparison:
    """One metric (overall: tag "") of baseline vs new."""

    tag: str
    metric: str
    higher_is_better: bool | None  # None: the spec does not know the metric (not tested)
    baseline: float | None
    new: float | None
    delta: float | None  # new - baseline
    ci_low: float | None
    ci_high: float | None
    p_value: float | None  # one-sided: "new is worse"
    p_holm: float | None = None  # per-tag rows of the primary metric
    regression: bool = False
    verdict: str = ""
    gated: bool = False  # whether this row can fail the gate
    se: float | None = None


@dataclass(frozen=True)
class Power:
    """What these runs can detect for the primary metric."""

    se: float  # standard error of the paired change
    df: int
    alpha: float
    power: float
    mdd: float  # minimum detectable drop at alpha and power
    power_at_max_drop: float  # probability a true drop of max_drop is flagged significant

    @property
    def too_small(self) -> bool:
        """True when a drop of max_drop would be detected with less than the wanted power."""
        return self.power_at_max_drop < self.power


@dataclass(frozen=True)
class Comparison:
    """A baseline-vs-new comparison of one benchmark: rows, the gate's settings, coverage, power."""

    baseline: str
    new: str
    benchmark: str
    rows: list[MetricComparison]
    max_drop: float
    alpha: float
    n_pairs: int  # images scored in both runs
    notes: list[str] = field(default_factory=list)
    n_pairs_ok: int = 0
    baseline_images: tuple[int, int] = (0, 0)  # (ok images, images)
    new_images: tuple[int, int] = (0, 0)
    max_coverage_drop: float = 0.02
    primary: str = ""
    unit: str = ""
    power: Power | None = None
    gate_tags: bool = False
    method: str = ""

    @property
    def baseline_coverage(self) -> float | None:
        """Baseline ok images / images, or None when it has no images."""
        return _coverage(self.baseline_images)

    @property
    def new_coverage(self) -> float | None:
        """New run ok images / images, or None when it has no images."""
        return _coverage(self.new_images)

    @property
    def regressions(self) -> list[MetricComparison]:
        """The rows flagged as regressions."""
        return [r for r in self.rows if r.regression]

    @property
    def regressed(self) -> bool:
        """True when any gated row is a regression."""
        return bool(self.regressions)

    def to_json(self) -> dict:
        """A JSON-able dict of every field plus regressed and both coverages."""
        data = asdict(self)
        if self.power is not None:
            data["power"]["too_small"] = self.power.too_small
        return {**data, "regressed": self.regressed,
                "baseline_coverage": self.baseline_coverage, "new_coverage": self.new_coverage}


def _coverage(counts: tuple[int, int]) -> float | None:
    return counts[0] / counts[1] if counts[1] else None


def _image_counts(scores) -> tuple[int, int]:
    from echo4o_eval.records.types import Status

    return sum(1 for s in scores if s.status is Status.OK), len(scores)


def _coverage_row(baseline, new, max_drop: float) -> MetricComparison:
    base, now = _coverage(baseline), _coverage(new)
    if base is None or now is None:
        return MetricComparison("", "coverage", True, base, now, None, None, None, None, verdict="n/a")
    delta = now - base
    regression = -delta > max_drop
    verdict = ("regression" if regression else "worse (within tolerance)" if delta < 0
               else "better" if delta > 0 else "unchanged")
    return MetricComparison("", "coverage", True, base, now, delta, None, None, None,
                            regression=regression, verdict=verdict, gated=True)


def _metric_spec(bench_spec, metric: str):
    """``metric``'s MetricSpec in ``bench_spec`` (None when either is unknown)."""
    try:
        return None if bench_spec is None else bench_spec.metric(metric)
    except KeyError:
        return None


def comparable_samples(baseline: RunView, new: RunView, intersect: bool = False):
    """The samples to compare and notes; RunInputError (one line) when the runs differ in what
    they measure: benchmark, version, variant or prompt set (unless ``intersect``)."""
    if baseline.benchmark_id != new.benchmark_id:
        raise RunInputError(f"different benchmarks: {baseline.name} is {baseline.benchmark_key!r}, "
                            f"{new.name} is {new.benchmark_key!r}")
    versions = [{v.benchmark_key.partition("@")[2], v.benchmark_version} - {""} for v in (baseline, new)]
    if versions[0] != versions[1]:
        raise RunInputError(f"different {new.benchmark_id} versions: {baseline.name} is "
                            f"{'/'.join(sorted(versions[0]))!r}, {new.name} is {'/'.join(sorted(versions[1]))!r}")
    if baseline.variant != new.variant:
        raise RunInputError(f"different variants of {new.benchmark_id}: {baseline.name} is "
                            f"{baseline.variant or 'default'!r}, {new.name} is {new.variant or 'default'!r}")
    base = {s.id: s.prompt for s in baseline.samples}
    other = {s.id: s.prompt for s in new.samples}
    shared = [sid for sid in other if sid in base and base[sid] == other[sid]]
    only_base, only_new = len(base) - len(shared), len(other) - len(shared)
    notes = []
    if only_base or only_new:
        changed = sum(1 for sid in other if sid in base and base[sid] != other[sid])
        what = (f"different prompt sets: {baseline.name} has {len(base)} prompts, {new.name} "
                f"{len(other)}, {len(shared)} identical" + (f", {changed} same id with another text"
                                                            if changed else ""))
        if not intersect:
            raise RunInputError(what + "; pass --intersect to compare the shared prompts")
        if len(shared) < 2:
            raise RunInputError(what + "; fewer than 2 shared prompts")
        notes.append(f"--intersect: compared on {len(shared)} shared prompts; dropped "
                     f"{only_base} of {baseline.name}'s and {only_new} of {new.name}'s")
    keep = set(shared)
    return [s for s in new.samples if s.id in keep], notes


def power_of(se: float, df: int, alpha: float, power: float, max_drop: float) -> Power:
    """Minimum detectable drop ``(t_{1-alpha} + t_{power}) * se`` and the power at max_drop.

    >>> p = power_of(0.0134, 10**6, 0.05, 0.8, 0.03)
    >>> round(p.mdd, 4), round(p.power_at_max_drop, 2), p.too_small
    (0.0333, 0.72, True)
    """
    from scipy.stats import t

    crit = float(t.ppf(1 - alpha, df))
    mdd = (crit + float(t.ppf(power, df))) * se
    at = 1.0 if se == 0 else float(t.cdf(max_drop / se - crit, df))
    return Power(se, df, alpha, power, mdd, at)


def _verdict(worsening: float, max_drop: float, p: float | None, alpha: float, gated: bool):
    significant = p is not None and p < alpha
    if worsening > max_drop and significant:
        return ("regression", True) if gated else ("worse (significant, not gated)", False)
    if worsening > 0:
        return ("worse (within noise)" if worsening > max_drop else "worse (within tolerance)"), False
    return ("better" if worsening < 0 else "unchanged"), False


def compare_runs(
    baseline: RunView,
    new: RunView,
    max_drop: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    aggregate: Callable | None = None,
    direction: Callable[[str, str], bool | None] | None = None,
    max_coverage_drop: float = 0.02,
    intersect: bool = False,
    gate_tags: bool = False,
    primary: str | None = None,
    unit: str | None = None,
    n_groups: int = 50,
    seed: int = 0,
) -> Comparison:
    """Compare ``new`` against ``baseline`` (rule in the module docstring).

    ``max_drop`` is in the primary metric's unit (default :func:`default_max_drop` of its unit);
    ``aggregate``, ``direction(benchmark, metric)``, ``primary`` and ``unit`` default to the
    benchmark spec of the new run.
    """
    from echo4o_eval.report.leaderboard import _spec
    from echo4o_eval.statistics.basic import holm
    from echo4o_eval.statistics.jackknife import paired_changes

    samples, notes = comparable_samples(baseline, new, intersect)
    if baseline.judge != new.judge:
        notes.append(f"judges differ: baseline {baseline.judge!r}, new {new.judge!r}")
    if baseline.options != new.options:
        notes.append("evaluator options differ between the runs")
    bench = new.benchmark_id
    aggregate = aggregate or new.aggregate_function()
    bench_spec = _spec(bench)  # looked up once, not per metric row
    if direction is None:
        def direction(_bench: str, metric: str) -> bool | None:
            """Whether higher is better for ``metric`` in the new run's spec (None: unknown)."""
            spec = _metric_spec(bench_spec, metric)
            return None if spec is None else spec.higher_is_better
    primary = primary or (bench_spec.primary_metric if bench_spec else None)
    if primary is None:
        raise RunInputError(f"{new.name}: benchmark {bench!r} is unknown here; cannot tell its primary metric")
    spec = _metric_spec(bench_spec, primary)
    unit = unit or (spec.unit if spec else "fraction")
    if max_drop is None:
        max_drop = default_max_drop(unit)
        if max_drop is None:
            raise RunInputError(f"{bench} metric {primary!r} has unit {unit!r} with no known scale; "
                                "pass --max-drop in its unit")
    ids = {s.id for s in samples}
    scores_a = [s for s in baseline.scores if s.sample_id in ids]
    scores_b = [s for s in new.scores if s.sample_id in ids]
    pairs = {(s.sample_id, s.image_index) for s in scores_a} & {(s.sample_id, s.image_index) for s in scores_b}
    if not pairs:
        raise RunInputError(f"{baseline.name} and {new.name} share no scored images")
    try:
        changes = paired_changes(aggregate, samples, scores_a, scores_b, n_groups=n_groups, seed=seed)
    except ValueError as exc:
        raise RunInputError(f"{baseline.name} vs {new.name}: {exc}") from exc
    primary_change = next((c for c in changes if c.tag == "" and c.metric == primary), None)
    if primary_change is None or primary_change.delta is None:
        raise RunInputError(f"primary metric {primary!r} is not defined in both runs "
                            f"({baseline.name}, {new.name})")
    tag_metric = _tag_metric(changes)
    higher = {c.metric: direction(bench, c.metric) for c in changes}
    tag_rows = [i for i, c in enumerate(changes)
                if c.tag and c.metric == tag_metric and c.se is not None and higher[c.metric] is not None]
    p_one = {i: c.p_worse(bool(higher[c.metric])) for i, c in enumerate(changes)
             if higher[c.metric] is not None}
    adjusted = dict(zip(tag_rows, holm([p_one[i] for i in tag_rows])))
    rows = []
    for i, c in enumerate(changes):
        hib = higher[c.metric]
        is_primary = c.tag == "" and c.metric == primary
        gated = is_primary or (gate_tags and i in adjusted)
        verdict, regression = "n/a", False
        if c.delta is not None and hib is not None:
            metric_unit = (_metric_spec(bench_spec, c.metric) or spec)
            row_drop = max_drop * SCALES.get(getattr(metric_unit, "unit", unit), 1.0) / SCALES.get(unit, 1.0)
            p = adjusted.get(i) if c.tag else p_one.get(i)
            verdict, regression = _verdict(-c.delta if hib else c.delta, row_drop, p, alpha, gated)
        rows.append(MetricComparison(c.tag, c.metric, hib, c.value_a, c.value_b, c.delta, c.ci_low,
                                     c.ci_high, p_one.get(i), adjusted.get(i), regression, verdict,
                                     gated, c.se))
    rows.sort(key=lambda r: (r.tag != "", r.metric != primary, r.tag, r.metric))
    base_counts, new_counts = _image_counts(scores_a), _image_counts(scores_b)
    rows.insert(0, _coverage_row(base_counts, new_counts, max_coverage_drop))
    ok_pairs = ({(s.sample_id, s.image_index) for s in scores_a if s.status.value == "ok"}
                & {(s.sample_id, s.image_index) for s in scores_b if s.status.value == "ok"})
    pw = None
    if primary_change.se is not None:
        pw = power_of(primary_change.se, primary_change.df, alpha, power, max_drop)
    method = (f"paired delete-a-group jackknife over prompts ({min(n_groups, len(samples))} groups), "
              "one-sided t test for a drop")
    return Comparison(baseline.name, new.name, new.benchmark_key, rows, max_drop, alpha, len(pairs),
                      notes, len(ok_pairs), base_counts, new_counts, max_coverage_drop, primary, unit,
                      pw, gate_tags, method)


def _tag_metric(changes) -> str | None:
    names = [c.metric for c in changes if c.tag]
    return max(set(names), key=names.count) if names else None


def size_advice(power: Power, max_drop: float) -> str:
    """How much larger the runs must be for a drop of ``max_drop`` to be detected.

    >>> size_advice(power_of(0.0134, 10**6, 0.05, 0.8, 0.02), 0.02)
    'about 2.8x as many images per prompt (or seeds) would detect a drop of 0.02 with 80% power'
    """
    factor = (power.mdd / max_drop) ** 2 if max_drop > 0 else math.inf
    return (f"about {factor:.1f}x as many images per prompt (or seeds) would detect a drop of "
            f"{max_drop:g} with {power.power:.0%} power")
