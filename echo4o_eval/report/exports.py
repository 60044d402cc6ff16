"""Machine- and paper-ready exports of a leaderboard: JSON (versioned schema), CSV, Markdown, LaTeX.

Example:
    >>> from echo4o_eval.report.leaderboard import Entry, build_leaderboard
    >>> from echo4o_eval.types import BenchmarkResult, MetricValue
    >>> r = BenchmarkResult("geneval", "1.0", {"overall": MetricValue(0.5, 10, 10, 0.4, 0.6)}, {}, 5, 10, 10)
    >>> board = build_leaderboard([Entry("run_1", "m&m", "j", "2026-11-28", r)])
    >>> print(to_markdown(board).splitlines()[2])
    | run_1 | m&m | j | 50.0 ± 10.0 |
    >>> "m\\&m" in to_latex(board)
    True
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Sequence

from echo4o_eval.report.leaderboard import Leaderboard, as_plain

REPORT_SCHEMA = "echo4o-eval/report"
REPORT_SCHEMA_VERSION = 1


def to_json(board: Leaderboard, runs: Sequence[Any] = (), generated: str = "") -> str:
    """``{"schema", "schema_version", "generated", "leaderboard", "runs"}``; runs are plain dicts."""
    return json.dumps({"schema": REPORT_SCHEMA, "schema_version": REPORT_SCHEMA_VERSION,
                       "generated": generated, "leaderboard": as_plain(board), "runs": list(runs)},
                      indent=2, sort_keys=True, ensure_ascii=False)


def to_csv(board: Leaderboard) -> str:
    """Long format: one line per (row, column) with value, CI and coverage."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["run", "model", "judge", "date", "published", "source", "benchmark", "tag",
                     "metric", "value", "ci_low", "ci_high", "n", "n_total"])
    for row in board.rows:
        for column, cell in zip(board.columns, row.cells):
            if cell.value is None and not cell.coverage_warning:
                continue
            e = row.entry
            writer.writerow([e.name, e.model, e.judge, e.date, e.published, e.source,
                             column.benchmark, column.tag, column.metric,
                             "" if cell.value is None else repr(cell.value),
                             "" if cell.ci_low is None else repr(cell.ci_low),
                             "" if cell.ci_high is None else repr(cell.ci_high),
                             "" if cell.n is None else cell.n, "" if cell.n_total is None else cell.n_total])
    return out.getvalue()


def _md(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def to_markdown(board: Leaderboard) -> str:
    """GitHub Markdown table; published rows are labelled, coverage gaps get ⚠."""
    header = ["run", "model", "judge"] + [
        f"{c.label} {'↑' if c.higher_is_better else '↓'}" for c in board.columns]
    lines = ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
    for row in board.rows:
        name = row.entry.name + (" (published, not measured)" if row.entry.published else "")
        cells = [c.text + (" ⚠" if c.coverage_warning else "") for c in row.cells]
        lines.append("| " + " | ".join(_md(x) for x in [name, row.entry.model, row.entry.judge] + cells) + " |")
    return "\n".join(lines) + "\n"


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
          "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    r"""Escape LaTeX special characters.

    >>> latex_escape("50% of a_b & {c}")
    '50\\% of a\\_b \\& \\{c\\}'
    """
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


def to_latex(board: Leaderboard) -> str:
    """A booktabs table (needs ``\\usepackage{booktabs}``); ± as ``$\\pm$``, published rows in italics."""
    cols = "ll" + "r" * len(board.columns)
    head = ["Model", "Judge"] + [
        latex_escape(c.label) + (r" $\uparrow$" if c.higher_is_better else r" $\downarrow$")
        for c in board.columns]
    lines = [r"\begin{tabular}{" + cols + "}", r"\toprule", " & ".join(head) + r" \\", r"\midrule"]
    for row in board.rows:
        cells = [latex_escape(row.entry.model), latex_escape(row.entry.judge)]
        cells += [latex_escape(c.text).replace(" ± ", r" $\pm$ ").replace("—", "--") for c in row.cells]
        if row.entry.published:
            cells = [r"\textit{" + c + "}" for c in cells]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if any(r.entry.published for r in board.rows):
        lines.append(r"% italic rows: published figures, not measured by echo4o-eval")
    return "\n".join(lines) + "\n"


def write_exports(board: Leaderboard, out_dir: Path, runs: Sequence[Any] = (), generated: str = "") -> list[Path]:
    """Write leaderboard.json/.csv/.md/.tex into ``out_dir``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (("leaderboard.json", to_json(board, runs, generated)),
                       ("leaderboard.csv", to_csv(board)), ("leaderboard.md", to_markdown(board)),
                       ("leaderboard.tex", to_latex(board))):
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
