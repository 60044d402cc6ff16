"""Text, GitHub Markdown and JSON renderings of a :class:`~echo4o_eval.statistics.compare.Comparison`.

Every rendering states the gate: the primary metric and its unit, ``max_drop`` in that unit,
alpha, the minimum detectable drop of these runs, and a warning when they are too small to
detect ``max_drop``.

Example:
    >>> from echo4o_eval.statistics.compare import Comparison
    >>> c = Comparison("a", "b", "demo@1", [], 0.02, 0.05, 0, primary="overall", unit="fraction")
    >>> verdict_line(c)
    'PASS: overall (fraction) did not drop by more than 0.02 with one-sided p < 0.05; coverage did not drop by more than 0.02'
"""

from __future__ import annotations

import json

from echo4o_eval.statistics.compare import Comparison, size_advice


def _fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    return "—" if value is None else (f"{value:.4f}" if value >= 1e-4 else "<1e-4")


HEADER = ["tag", "metric", "baseline", "new", "delta", "95% CI of delta", "p (worse)", "p (Holm)", "verdict"]


def _table_rows(comparison: Comparison) -> list[list[str]]:
    rows = []
    for r in comparison.rows:
        arrow = {True: "↑", False: "↓", None: "?"}[r.higher_is_better]
        ci = "—" if r.ci_low is None else f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]"
        delta = "—" if r.delta is None else f"{r.delta:+.4f}"
        gate = " *" if r.gated else ""
        rows.append([r.tag or "(overall)", f"{r.metric} {arrow}{gate}", _fmt(r.baseline), _fmt(r.new),
                     delta, ci, _p(r.p_value), _p(r.p_holm), r.verdict])
    return rows


def _points(value: float, unit: str) -> str:
    return f" ({value * 100:.1f} points)" if unit == "fraction" else ""


def gate_lines(comparison: Comparison) -> list[str]:
    """The gate's settings and what these runs can detect (also warns when they are too small)."""
    c = comparison
    lines = [f"gate: {c.primary} ({c.unit}) decides; max drop {c.max_drop:g}{_points(c.max_drop, c.unit)} "
             f"in its unit; alpha {c.alpha:g}; {c.method}"
             + ("; per-tag rows gate too (Holm)" if c.gate_tags else "; per-tag rows reported with Holm")]
    if c.power is not None:
        p = c.power
        lines.append(f"minimum detectable drop of {c.primary} at alpha {p.alpha:g} and {p.power:.0%} power: "
                     f"{p.mdd:.4f}{_points(p.mdd, c.unit)} (SE of the change {p.se:.4f}); a drop of "
                     f"{c.max_drop:g} is detected with probability {p.power_at_max_drop:.0%}")
        if p.too_small:
            lines.append(f"WARNING: these runs are too small to reliably detect a drop of {c.max_drop:g}: "
                         + size_advice(p, c.max_drop))
    return lines


def _coverage_text(counts: tuple[int, int]) -> str:
    value = counts[0] / counts[1] if counts[1] else None
    return f"{counts[0]}/{counts[1]} ({'—' if value is None else f'{value:.1%}'})"


def coverage_line(comparison: Comparison) -> str:
    """Both runs' coverage (ok images / images) and the tolerated fall."""
    return (f"coverage (ok images / images): baseline {_coverage_text(comparison.baseline_images)}, "
            f"new {_coverage_text(comparison.new_images)}; max coverage drop "
            f"{comparison.max_coverage_drop}")


def verdict_line(comparison: Comparison) -> str:
    """One line: PASS or FAIL and why."""
    c = comparison
    if c.regressed:
        names = ", ".join(f"{r.tag + '/' if r.tag else ''}{r.metric}" for r in c.regressions)
        return (f"FAIL: {len(c.regressions)} regression(s) (drop beyond max-drop {c.max_drop:g} with "
                f"one-sided p < {c.alpha:g}, or coverage fall beyond {c.max_coverage_drop}): {names}")
    return (f"PASS: {c.primary} ({c.unit}) did not drop by more than {c.max_drop:g} with one-sided "
            f"p < {c.alpha:g}; coverage did not drop by more than {c.max_coverage_drop}")


def format_text(comparison: Comparison) -> str:
    """Plain aligned table plus the gate lines and a one-line verdict."""
    rows = [HEADER] + _table_rows(comparison)
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [f"compare {comparison.baseline} -> {comparison.new} ({comparison.benchmark}, "
             f"{comparison.n_pairs} paired images, {comparison.n_pairs_ok} ok in both)",
             *gate_lines(comparison), coverage_line(comparison)]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.append("* = can fail the gate")
    lines += [f"note: {n}" for n in comparison.notes]
    lines.append(verdict_line(comparison))
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def format_github(comparison: Comparison) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY`` (text cells escaped for Markdown tables)."""
    icon = "❌" if comparison.regressed else "✅"
    lines = [f"### {icon} echo4o-eval compare: {_md(comparison.benchmark)}", "",
             f"Baseline `{_md(comparison.baseline)}` → new `{_md(comparison.new)}`; "
             f"{comparison.n_pairs} paired images ({comparison.n_pairs_ok} ok in both).", ""]
    lines += [f"- {_md(line)}" for line in gate_lines(comparison)]
    lines += [f"- {_md(coverage_line(comparison))}", "", "| " + " | ".join(HEADER) + " |",
              "|" + "---|" * len(HEADER)]
    for row in _table_rows(comparison):
        cells = [_md(c) for c in row]
        if row[-1] == "regression":
            cells[-1] = "**regression**"
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "\\* = can fail the gate"] + [f"> note: {_md(n)}" for n in comparison.notes]
    lines += ["", f"**{_md(verdict_line(comparison))}**", ""]
    return "\n".join(lines)


def format_json(comparison: Comparison) -> str:
    """The comparison as indented, key-sorted JSON text."""
    return json.dumps(comparison.to_json(), indent=2, sort_keys=True)
