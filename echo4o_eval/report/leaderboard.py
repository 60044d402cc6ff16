"""The leaderboard shared by the HTML report and the CSV/Markdown/LaTeX/JSON exports.

One row per model (and training step) and judge: runs of different benchmarks with the same
model and judge join one row. One column per benchmark (and variant) with its primary metric,
then one column per tag (shown behind a toggle in the HTML). Published reference rows
(:mod:`echo4o_eval.report.published`) are labelled and carry their source on every row. Within a
column, measured rows are ranked with ties: a row's rank is 1 + the number of rows whose
interval lies entirely above (or below, for lower-is-better) its own, so overlapping intervals
share a rank. Display names, units and directions come from the benchmark spec.

Example:
    >>> from echo4o_eval.records.types import BenchmarkResult, MetricValue
    >>> r = BenchmarkResult("geneval", "1.0", {"overall": MetricValue(0.5, 8, 10, 0.4, 0.6)},
    ...                     {"colors": {"accuracy": MetricValue(0.25, 4, 4)}}, 5, 10, 8)
    >>> board = build_leaderboard([Entry("run1", "m", "j", "2026-11-28", r)])
    >>> [c.label for c in board.columns]
    ['GenEval', 'GenEval · colors']
    >>> board.rows[0].cells[0].text, board.rows[0].cells[0].coverage_warning
    ('50.0 ± 10.0', '80% coverage (8 of 10)')
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from echo4o_eval.records.types import BenchmarkResult, MetricValue


@dataclass(frozen=True)
class Column:
    """One leaderboard column: a benchmark's primary metric (tag "") or one tag's metric."""

    benchmark: str
    tag: str  # "" for the benchmark's primary metric column
    metric: str
    label: str
    unit: str  # "fraction", "score", "score_0_10"
    higher_is_better: bool
    description: str = ""
    variant: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """(benchmark, variant): which results feed this column."""
        return self.benchmark, self.variant


@dataclass(frozen=True)
class Cell:
    """One table cell: the value, its interval, counts, display text and rank."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    n_total: int | None = None
    text: str = "—"
    coverage_warning: str = ""  # non-empty when coverage < 100%
    bar: tuple[float, float, float] | None = None  # (low, value, high) in 0..1 of the scale
    run: str = ""  # the run (or published entry) the value comes from
    rank: str = ""  # "1", "2=" (tied) ...; "" for published or missing values


@dataclass(frozen=True)
class Entry:
    """One source of values: a measured run or a published reference."""

    name: str
    model: str
    judge: str
    date: str
    result: BenchmarkResult | None
    published: bool = False
    source: str = ""  # citation for published rows
    variant: str = ""
    step: int | None = None


@dataclass
class Row:
    """One leaderboard row: a model (+ step) and judge, its entries and one cell per column."""

    entry: Entry  # the first entry (model, judge, published, source)
    cells: list[Cell] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)

    @property
    def name(self) -> str:
        """Display name: the model, with its step, or "published: model"."""
        e = self.entry
        if e.published:
            return e.model
        return e.model + (f" @ step {e.step}" if e.step is not None else "")

    @property
    def runs(self) -> str:
        """The names of the runs joined in this row."""
        return ", ".join(e.name for e in self.entries)


@dataclass
class Leaderboard:
    """Columns and rows of the leaderboard table."""

    columns: list[Column]
    rows: list[Row]


def _spec(benchmark: str):
    from echo4o_eval.spec import SpecError, get_benchmark

    try:
        return get_benchmark(benchmark)
    except (KeyError, SpecError):
        return None


def scale(unit: str) -> float:
    """Display scale: fractions are shown as percentages, 0..10 scores as they are."""
    return 100.0 if unit == "fraction" else 1.0


def full_scale(unit: str) -> float | None:
    """The top of a metric's scale (1 for fractions, 10 for 0..10 scores, None if unknown)."""
    return 1.0 if unit == "fraction" else (10.0 if unit == "score_0_10" else None)


def format_value(value: float | None, unit: str) -> str:
    """Text of a value in its display unit.

    >>> format_value(0.6321, "fraction"), format_value(7.125, "score_0_10")
    ('63.2', '7.12')
    """
    if value is None:
        return "—"
    return f"{value * 100:.1f}" if unit == "fraction" else f"{value:.2f}"


def _cell(mv: MetricValue | None, unit: str, entry: Entry | None) -> Cell:
    published = bool(entry and entry.published)
    run = entry.name if entry else ""
    if mv is None or mv.value is None:
        warning = ""
        if mv is not None and mv.n_total:
            warning = f"not computed: {mv.n} of {mv.n_total} scored"
        return Cell(None, coverage_warning=warning, run=run if mv is not None else "")
    text = format_value(mv.value, unit)
    if mv.ci_low is not None and mv.ci_high is not None:
        half = (mv.ci_high - mv.ci_low) / 2 * scale(unit)
        text += f" ± {half:.1f}" if unit == "fraction" else f" ± {half:.2f}"
    warning = ""
    if not published and mv.n_total and mv.n < mv.n_total:
        warning = f"{mv.coverage:.0%} coverage ({mv.n} of {mv.n_total})"
    top = full_scale(unit)
    bar = None
    if top:
        low = mv.ci_low if mv.ci_low is not None else mv.value
        high = mv.ci_high if mv.ci_high is not None else mv.value
        bar = tuple(max(0.0, min(1.0, v / top)) for v in (low, mv.value, high))
    return Cell(mv.value, mv.ci_low, mv.ci_high, mv.n, mv.n_total, text, warning, bar, run)


def _columns(entries: Sequence[Entry]) -> list[Column]:
    seen: dict[tuple[str, str], list[str]] = {}
    for e in entries:
        tags = seen.setdefault((e.result.benchmark, e.variant), [])
        for tag in e.result.per_tag:
            if tag not in tags:
                tags.append(tag)
    columns: list[Column] = []
    for (benchmark, variant), tags in seen.items():
        spec = _spec(benchmark)
        name = (spec.display_name if spec else benchmark) + (f" ({variant})" if variant else "")
        primary = spec.primary_metric if spec else "overall"
        metric = spec.metric(primary) if spec else None
        columns.append(Column(benchmark, "", primary, name, metric.unit if metric else "score",
                              metric.higher_is_better if metric else True,
                              metric.display_name if metric else primary, variant))
        for tag in tags:
            tag_metric = next((m for e in entries if (e.result.benchmark, e.variant) == (benchmark, variant)
                               for m in e.result.per_tag.get(tag, {})), None)
            if tag_metric is None:
                continue
            try:
                ms = spec.metric(tag_metric) if spec else None
            except KeyError:
                ms = None
            columns.append(Column(benchmark, tag, tag_metric, f"{name} · {tag}",
                                  ms.unit if ms else "score", ms.higher_is_better if ms else True,
                                  ms.display_name if ms else tag_metric, variant))
    return columns


def _group(entries: Sequence[Entry]) -> list[list[Entry]]:
    """Entries joined into rows: same model, step, judge and kind; one entry per benchmark."""
    rows: list[list[Entry]] = []
    for entry in entries:
        key = (entry.published, entry.model, entry.step, entry.judge)
        target = None
        for row in rows:
            first = row[0]
            if (first.published, first.model, first.step, first.judge) != key:
                continue
            taken = {(e.result.benchmark, e.variant) for e in row if e.result is not None}
            if entry.result is None or (entry.result.benchmark, entry.variant) not in taken:
                target = row
                break
        if target is None:
            rows.append([entry])
        else:
            target.append(entry)
    return rows


def _rank(rows: list[Row], j: int, higher: bool) -> None:
    measured = [(i, r.cells[j]) for i, r in enumerate(rows)
                if not r.entry.published and r.cells[j].value is not None]
    for i, cell in measured:
        low = cell.ci_low if cell.ci_low is not None else cell.value
        high = cell.ci_high if cell.ci_high is not None else cell.value
        better = 0
        tied = False
        for k, other in measured:
            if k == i:
                continue
            o_low = other.ci_low if other.ci_low is not None else other.value
            o_high = other.ci_high if other.ci_high is not None else other.value
            if (o_low > high) if higher else (o_high < low):
                better += 1
            elif not ((o_high < low) if higher else (o_low > high)):
                tied = True
        rows[i].cells[j] = replace(cell, rank=f"{better + 1}{'=' if tied else ''}")


def build_leaderboard(entries: Sequence[Entry]) -> Leaderboard:
    """Columns from every result's benchmark, variant and tags; rows joined by model and judge."""
    with_result = [e for e in entries if e.result is not None]
    columns = _columns(with_result)
    rows = []
    for group in _group(entries):
        row = Row(group[0], entries=list(group))
        for column in columns:
            entry = next((e for e in group if e.result is not None
                          and (e.result.benchmark, e.variant) == column.key), None)
            mv = None
            if entry is not None:
                source = entry.result.metrics if not column.tag else entry.result.per_tag.get(column.tag, {})
                mv = source.get(column.metric)
            row.cells.append(_cell(mv, column.unit, entry))
        rows.append(row)
    for j, column in enumerate(columns):
        _rank(rows, j, column.higher_is_better)
    return Leaderboard(columns, rows)


def as_plain(board: Leaderboard) -> Mapping[str, Any]:
    """JSON-ready form (used by the JSON export)."""
    return {
        "columns": [c.__dict__ for c in board.columns],
        "rows": [
            {"name": r.name, "model": r.entry.model, "judge": r.entry.judge, "step": r.entry.step,
             "date": r.entry.date, "published": r.entry.published, "source": r.entry.source,
             "runs": [e.name for e in r.entries],
             "cells": [{k: v for k, v in c.__dict__.items() if k != "bar"} for c in r.cells]}
            for r in board.rows
        ],
    }
