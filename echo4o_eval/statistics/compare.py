"""Regression gate: compare a new run against a baseline, metric by metric, with paired tests.

Every metric the two runs share (overall and per tag) is compared on the images both runs
scored. The change and its interval and p-value come from a paired clustered bootstrap that
re-runs the benchmark's own aggregate on the same resampled prompts for both runs
(:func:`echo4o_eval.statistics.bootstrap.paired_aggregate_bootstrap`). Direction comes from the
benchmark spec (``MetricSpec.higher_is_better``). A metric *regresses* when it got worse by more
than ``max_drop`` (in the metric's own units: 0.02 = 2 points of a fraction) AND its
Holm-adjusted p-value (family: every gated metric, overall and per tag) is below ``alpha``.

Coverage is gated too, since metrics average only the images that were scored: each run's
coverage (images with status ok / all its images) is printed, and the comparison fails with a
``coverage`` regression row when the new run's coverage is lower than the baseline's by more
than ``max_coverage_drop`` (a fraction, default 0.02; no test, the counts are exact). The
header also says how many paired images were ok in both runs.

Exit codes of ``echo4o-eval compare``: 0 no regression; 1 at least one regression;
2 unusable input (missing run, different benchmarks or versions, no shared images).

Example:
    >>> from echo4o_eval.report.runs import RunView
    >>> from echo4o_eval.statistics.bootstrap import _demo_aggregate
    >>> from echo4o_eval.types import Sample, SampleScore, Status
    >>> samples = [Sample(str(i), i, "p", "t") for i in range(40)]
    >>> def run(name, p):
    ...     return RunView(name, {"benchmark": "demo@1"}, samples,
    ...                    [SampleScore(str(i), 0, "t", Status.OK, {"correct": i % 10 < p})
    ...                     for i in range(40)])
    >>> c = compare_runs(run("base", 8), run("new", 4), aggregate=_demo_aggregate, n_boot=300,
    ...                  direction=lambda benchmark, metric: True)
    >>> c.regressed, [r.metric for r in c.regressions]
    (True, ['accuracy', 'accuracy'])
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Callable

from echo4o_eval.report.runs import RunInputError, RunView

EXIT_OK, EXIT_REGRESSION, EXIT_INPUT_ERROR = 0, 1, 2


@dataclass(frozen=True)
class MetricComparison:
    """One metric (overall: tag "") of baseline vs new."""

    tag: str
    metric: str
    higher_is_better: bool | None  # None: the spec does not know the metric (not gated)
    baseline: float | None
    new: float | None
    delta: float | None  # new - baseline
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    p_holm: float | None = None
    regression: bool = False
    verdict: str = ""  # "regression", "worse (within noise)", "better", "unchanged", "n/a"


@dataclass(frozen=True)
class Comparison:
    """A baseline-vs-new comparison of one benchmark: per-metric rows, gates and coverage."""

    baseline: str
    new: str
    benchmark: str
    rows: list[MetricComparison]
    max_drop: float
    alpha: float
    n_boot: int
    n_pairs: int  # images scored in both runs
    notes: list[str] = field(default_factory=list)
    n_pairs_ok: int = 0  # paired images with status ok in both runs
    baseline_images: tuple[int, int] = (0, 0)  # (ok images, images)
    new_images: tuple[int, int] = (0, 0)
    max_coverage_drop: float = 0.02

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
        """True when any metric row is a regression."""
        return bool(self.regressions)

    def to_json(self) -> dict:
        """A JSON-able dict of every field plus regressed and both coverages."""
        return {**asdict(self), "regressed": self.regressed,
                "baseline_coverage": self.baseline_coverage, "new_coverage": self.new_coverage}


def _coverage(counts: tuple[int, int]) -> float | None:
    return counts[0] / counts[1] if counts[1] else None


def _image_counts(view: RunView) -> tuple[int, int]:
    """(ok images, images) of a run, over every image it holds a score for."""
    from echo4o_eval.types import Status

    return sum(1 for s in view.scores if s.status is Status.OK), len(view.scores)


def _coverage_row(baseline: tuple[int, int], new: tuple[int, int], max_drop: float) -> MetricComparison:
    base, now = _coverage(baseline), _coverage(new)
    if base is None or now is None:
        return MetricComparison("", "coverage", True, base, now, None, None, None, None, verdict="n/a")
    delta = now - base
    regression = -delta > max_drop
    verdict = ("regression" if regression else "worse (within tolerance)" if delta < 0
               else "better" if delta > 0 else "unchanged")
    return MetricComparison("", "coverage", True, base, now, delta, None, None, None,
                            regression=regression, verdict=verdict)


def _direction(benchmark_id: str, metric: str) -> bool | None:
    from echo4o_eval.spec import SpecError, get_benchmark

    try:
        return get_benchmark(benchmark_id).metric(metric).higher_is_better
    except (KeyError, SpecError):
        return None


def compare_runs(
    baseline: RunView,
    new: RunView,
    max_drop: float = 0.02,
    alpha: float = 0.05,
    n_boot: int = 1000,
    seed: int = 0,
    aggregate: Callable | None = None,
    direction: Callable[[str, str], bool | None] | None = None,
    max_coverage_drop: float = 0.02,
) -> Comparison:
    """Compare ``new`` against ``baseline`` (see the module docstring for the rule).

    ``aggregate`` defaults to the benchmark evaluator's aggregate built from the new run's
    manifest; ``direction(benchmark, metric)`` defaults to the benchmark spec.
    ``max_coverage_drop``: largest tolerated fall of the ok-image share (new vs baseline).
    """
    from echo4o_eval.statistics.bootstrap import paired_aggregate_bootstrap
    from echo4o_eval.statistics.basic import holm

    if baseline.benchmark_key != new.benchmark_key:
        raise RunInputError(
            f"runs are of different benchmarks or versions: {baseline.name} is "
            f"{baseline.benchmark_key!r}, {new.name} is {new.benchmark_key!r}"
        )
    notes = []
    if baseline.judge != new.judge:
        notes.append(f"judges differ: baseline {baseline.judge!r}, new {new.judge!r}")
    if baseline.options != new.options:
        notes.append("evaluator options differ between the runs")
    aggregate = aggregate or new.aggregate_function()
    bench = new.benchmark_id
    if direction is None:
        def direction(_bench: str, metric: str) -> bool | None:
            """Whether higher is better for ``metric`` in the new run's spec (None: unknown)."""
            return _direction(bench, metric)
    pairs = {(s.sample_id, s.image_index) for s in baseline.scores} & {
        (s.sample_id, s.image_index) for s in new.scores
    }
    if not pairs:
        raise RunInputError(f"{baseline.name} and {new.name} share no scored images")
    paired_ids = {p[0] for p in pairs}
    samples = [s for s in new.samples if s.id in paired_ids]
    deltas = paired_aggregate_bootstrap(
        aggregate, samples, baseline.scores, new.scores, n_boot=n_boot, seed=seed
    )
    gated = [i for i, d in enumerate(deltas)
             if d.p_value is not None and direction(bench, d.metric) is not None]
    adjusted = dict(zip(gated, holm([deltas[i].p_value for i in gated])))
    rows = []
    for i, d in enumerate(deltas):
        higher = direction(bench, d.metric)
        p_holm = adjusted.get(i)
        verdict, regression = "n/a", False
        if d.delta is not None and higher is not None:
            worsening = -d.delta if higher else d.delta
            regression = worsening > max_drop and p_holm is not None and p_holm < alpha
            if regression:
                verdict = "regression"
            elif worsening > 0:
                verdict = "worse (within noise)" if worsening > max_drop else "worse (within tolerance)"
            elif worsening < 0:
                verdict = "better"
            else:
                verdict = "unchanged"
        rows.append(MetricComparison(d.tag, d.metric, higher, d.value_a, d.value_b, d.delta,
                                     d.ci_low, d.ci_high, d.p_value, p_holm, regression, verdict))
    rows.sort(key=lambda r: (r.tag != "", r.tag, r.metric))
    base_counts, new_counts = _image_counts(baseline), _image_counts(new)
    rows.insert(0, _coverage_row(base_counts, new_counts, max_coverage_drop))
    ok_pairs = ({(s.sample_id, s.image_index) for s in baseline.scores if s.status.value == "ok"}
                & {(s.sample_id, s.image_index) for s in new.scores if s.status.value == "ok"})
    return Comparison(baseline.name, new.name, new.benchmark_key, rows, max_drop, alpha,
                      n_boot, len(pairs), notes, n_pairs_ok=len(ok_pairs),
                      baseline_images=base_counts, new_images=new_counts,
                      max_coverage_drop=max_coverage_drop)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    return "—" if value is None else (f"{value:.4f}" if value >= 1e-4 else "<1e-4")


def _table_rows(comparison: Comparison) -> list[list[str]]:
    rows = []
    for r in comparison.rows:
        arrow = {True: "↑", False: "↓", None: "?"}[r.higher_is_better]
        ci = "—" if r.ci_low is None else f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]"
        delta = "—" if r.delta is None else f"{r.delta:+.4f}"
        rows.append([r.tag or "(overall)", f"{r.metric} {arrow}", _fmt(r.baseline), _fmt(r.new),
                     delta, ci, _p(r.p_value), _p(r.p_holm), r.verdict])
    return rows


HEADER = ["tag", "metric", "baseline", "new", "delta", "95% CI of delta", "p", "p (Holm)", "verdict"]


def format_text(comparison: Comparison) -> str:
    """Plain aligned table plus a one-line verdict."""
    rows = [HEADER] + _table_rows(comparison)
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [f"compare {comparison.baseline} -> {comparison.new} ({comparison.benchmark}, "
             f"{comparison.n_pairs} paired images, {comparison.n_pairs_ok} ok in both, "
             f"{comparison.n_boot} resamples)", _coverage_line(comparison)]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines += [f"note: {n}" for n in comparison.notes]
    lines.append(_verdict_line(comparison))
    return "\n".join(lines)


def _coverage_text(counts: tuple[int, int]) -> str:
    value = _coverage(counts)
    return f"{counts[0]}/{counts[1]} ({'—' if value is None else f'{value:.1%}'})"


def _coverage_line(comparison: Comparison) -> str:
    return (f"coverage (ok images / images): baseline {_coverage_text(comparison.baseline_images)}, "
            f"new {_coverage_text(comparison.new_images)}; max coverage drop "
            f"{comparison.max_coverage_drop}")


def _verdict_line(comparison: Comparison) -> str:
    if comparison.regressed:
        names = ", ".join(f"{r.tag + '/' if r.tag else ''}{r.metric}" for r in comparison.regressions)
        return (f"FAIL: {len(comparison.regressions)} regression(s) beyond max-drop "
                f"{comparison.max_drop} at alpha {comparison.alpha} (Holm) or max coverage drop "
                f"{comparison.max_coverage_drop}: {names}")
    return (f"PASS: no metric dropped by more than {comparison.max_drop} with Holm-adjusted "
            f"p < {comparison.alpha}; coverage did not drop by more than "
            f"{comparison.max_coverage_drop}")


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def format_github(comparison: Comparison) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY`` (text cells escaped for Markdown tables)."""
    icon = "❌" if comparison.regressed else "✅"
    lines = [
        f"### {icon} echo4o-eval compare: {_md(comparison.benchmark)}",
        "",
        f"Baseline `{_md(comparison.baseline)}` → new `{_md(comparison.new)}`; "
        f"{comparison.n_pairs} paired images ({comparison.n_pairs_ok} ok in both), paired "
        f"clustered bootstrap ({comparison.n_boot} "
        f"resamples), Holm-adjusted across {sum(r.p_holm is not None for r in comparison.rows)} "
        f"metrics. Max drop {comparison.max_drop}, alpha {comparison.alpha}.",
        "",
        _md(_coverage_line(comparison)) + ".",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    for row in _table_rows(comparison):
        if row[-1] == "regression":
            row[-1] = "**regression**"
        lines.append("| " + " | ".join(_md(c) if c != "**regression**" else c for c in row) + " |")
    lines += [""] + [f"> note: {_md(n)}" for n in comparison.notes]
    lines += ["", f"**{_md(_verdict_line(comparison))}**", ""]
    return "\n".join(lines)


def format_json(comparison: Comparison) -> str:
    """The comparison as indented, key-sorted JSON text."""
    return json.dumps(comparison.to_json(), indent=2, sort_keys=True)
