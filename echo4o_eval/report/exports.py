"""Machine- and paper-ready exports of a leaderboard: JSON (versioned schema), CSV, Markdown, LaTeX.

Example:
    >>> from echo4o_eval.report.leaderboard import Entry, build_leaderboard
    >>> from echo4o_eval.records.types import BenchmarkResult, MetricValue
    >>> r = BenchmarkResult("geneval", "1.0", {"overall": MetricValue(0.5, 10, 10, 0.4, 0.6)}, {}, 5, 10, 10)
    >>> board = build_leaderboard([Entry("run_1", "m&m", "j", "2026-11-28", r)])
    >>> print(to_markdown(board).splitlines()[2])
    | m&m | j | run_1 | 50.0 ± 10.0 (#1) |
    >>> "m\\&m" in to_latex(board)
    True
    >>> spreadsheet_safe("=HYPERLINK(1)"), spreadsheet_safe("ckpt-1")
    ("'=HYPERLINK(1)", 'ckpt-1')
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


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: Any) -> str:
    """Text that a spreadsheet shows as text: a leading = + - @ tab or CR gets a ' in front
    (OWASP's advice against CSV formula injection)."""
    text = "" if text is None else str(text)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(board: Leaderboard) -> str:
    """Long format: one line per (row, column) with value, CI, coverage and rank; text cells are
    neutralised against spreadsheet formulas (numbers are written as numbers)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["run", "model", "judge", "step", "date", "published", "source", "benchmark",
                     "variant", "tag", "metric", "value", "ci_low", "ci_high", "n", "n_total", "rank"])
    for row in board.rows:
        for column, cell in zip(board.columns, row.cells):
            if cell.value is None and not cell.coverage_warning:
                continue
            e = next((x for x in row.entries if x.name == cell.run), row.entry)
            text = [spreadsheet_safe(v) for v in (e.name, e.model, e.judge)]
            writer.writerow([*text, "" if e.step is None else e.step, spreadsheet_safe(e.date), e.published,
                             spreadsheet_safe(e.source), spreadsheet_safe(column.benchmark),
                             spreadsheet_safe(column.variant), spreadsheet_safe(column.tag),
                             spreadsheet_safe(column.metric),
                             "" if cell.value is None else repr(cell.value),
                             "" if cell.ci_low is None else repr(cell.ci_low),
                             "" if cell.ci_high is None else repr(cell.ci_high),
                             "" if cell.n is None else cell.n, "" if cell.n_total is None else cell.n_total,
                             spreadsheet_safe(cell.rank)])
    return out.getvalue()


def _md(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def to_markdown(board: Leaderboard) -> str:
    """GitHub Markdown table; published rows are labelled, coverage gaps get ⚠."""
    header = ["model", "judge", "runs"] + [
        f"{c.label} {'↑' if c.higher_is_better else '↓'}" for c in board.columns]
    lines = ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
    for row in board.rows:
        name = row.name + (" (published, not measured)" if row.entry.published else "")
        runs = ("source: " + row.entry.source) if row.entry.published else row.runs
        cells = [c.text + (f" (#{c.rank})" if c.rank else "") + (" ⚠" if c.coverage_warning else "")
                 for c in row.cells]
        lines.append("| " + " | ".join(_md(x) for x in [name, row.entry.judge, runs] + cells) + " |")
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
        cells = [latex_escape(row.name), latex_escape(row.entry.judge)]
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
