"""The leaderboard table shared by the HTML report and the CSV/Markdown/LaTeX/JSON exports.

One row per run (model, judge, date) plus reference rows for published figures (marked
"published (not measured)"); one column per benchmark (its primary metric) and one per tag of
that benchmark (its per-tag metric). Display names, units and directions come from the
benchmark spec (``MetricSpec``).

Example:
    >>> from echo4o_eval.types import BenchmarkResult, MetricValue
    >>> r = BenchmarkResult("geneval", "1.0", {"overall": MetricValue(0.5, 8, 10, 0.4, 0.6)},
    ...                     {"colors": {"accuracy": MetricValue(0.25, 4, 4)}}, 5, 10, 8)
    >>> board = build_leaderboard([Entry("run1", "m", "j", "2026-11-28", r)])
    >>> [c.label for c in board.columns]
    ['GenEval', 'GenEval · colors']
    >>> board.rows[0].cells[0].text, board.rows[0].cells[0].coverage_warning
    ('50.0 ± 10.0', '80% coverage (8 of 10)')
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from echo4o_eval.types import BenchmarkResult, MetricValue


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


@dataclass(frozen=True)
class Cell:
    """One table cell: the value, its interval, counts and display text."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    n_total: int | None = None
    text: str = "—"
    coverage_warning: str = ""  # non-empty when coverage < 100%
    bar: tuple[float, float, float] | None = None  # (low, value, high) in 0..1 of the scale


@dataclass(frozen=True)
class Entry:
    """One leaderboard row's source: a measured run or a published reference."""

    name: str
    model: str
    judge: str
    date: str
    result: BenchmarkResult | None
    published: bool = False
    source: str = ""  # citation for published rows


@dataclass
class Row:
    """One leaderboard row: its entry and one cell per column."""

    entry: Entry
    cells: list[Cell] = field(default_factory=list)


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


def format_value(value: float | None, unit: str) -> str:
    """Text of a value in its display unit.

    >>> format_value(0.6321, "fraction"), format_value(7.125, "score_0_10")
    ('63.2', '7.12')
    """
    if value is None:
        return "—"
    return f"{value * 100:.1f}" if unit == "fraction" else f"{value:.2f}"


def _cell(mv: MetricValue | None, unit: str, published: bool) -> Cell:
    if mv is None or mv.value is None:
        warning = ""
        if mv is not None and mv.n_total:
            warning = f"not computed: {mv.n} of {mv.n_total} scored"
        return Cell(None, coverage_warning=warning)
    text = format_value(mv.value, unit)
    if mv.ci_low is not None and mv.ci_high is not None:
        half = (mv.ci_high - mv.ci_low) / 2 * scale(unit)
        text += f" ± {half:.1f}" if unit == "fraction" else f" ± {half:.2f}"
    warning = ""
    if not published and mv.n_total and mv.n < mv.n_total:
        warning = f"{mv.coverage:.0%} coverage ({mv.n} of {mv.n_total})"
    top = 1.0 if unit == "fraction" else (10.0 if unit == "score_0_10" else None)
    bar = None
    if top:
        low = mv.ci_low if mv.ci_low is not None else mv.value
        high = mv.ci_high if mv.ci_high is not None else mv.value
        bar = tuple(max(0.0, min(1.0, v / top)) for v in (low, mv.value, high))
    return Cell(mv.value, mv.ci_low, mv.ci_high, mv.n, mv.n_total, text, warning, bar)


def _columns(results: Sequence[BenchmarkResult]) -> list[Column]:
    columns: list[Column] = []
    seen: dict[str, list[str]] = {}
    for result in results:
        tags = seen.setdefault(result.benchmark, [])
        for tag in result.per_tag:
            if tag not in tags:
                tags.append(tag)
    for benchmark, tags in seen.items():
        spec = _spec(benchmark)
        name = spec.display_name if spec else benchmark
        primary = spec.primary_metric if spec else "overall"
        metric = spec.metric(primary) if spec else None
        columns.append(Column(benchmark, "", primary, name, metric.unit if metric else "score",
                              metric.higher_is_better if metric else True,
                              metric.display_name if metric else primary))
        for tag in tags:
            tag_metric = next((m for r in results if r.benchmark == benchmark
                               for m in r.per_tag.get(tag, {})), None)
            if tag_metric is None:
                continue
            try:
                ms = spec.metric(tag_metric) if spec else None
            except KeyError:
                ms = None
            columns.append(Column(benchmark, tag, tag_metric, f"{name} · {tag}",
                                  ms.unit if ms else "score", ms.higher_is_better if ms else True,
                                  ms.display_name if ms else tag_metric))
    return columns


def build_leaderboard(entries: Sequence[Entry]) -> Leaderboard:
    """Columns from every result's benchmark and tags; one row per entry."""
    columns = _columns([e.result for e in entries if e.result is not None])
    rows = []
    for entry in entries:
        row = Row(entry)
        for column in columns:
            mv = None
            if entry.result is not None and entry.result.benchmark == column.benchmark:
                source = entry.result.metrics if not column.tag else entry.result.per_tag.get(column.tag, {})
                mv = source.get(column.metric)
            row.cells.append(_cell(mv, column.unit, entry.published))
        rows.append(row)
    return Leaderboard(columns, rows)


def load_published(path: str | Path) -> list[Entry]:
    """Reference rows from a JSON list of published figures (never measured by us).

    Each item: ``{"model", "benchmark", "version", "metrics": {name: value},
    "per_tag": {tag: {name: value}}, "source": "citation"}``; values as fractions for
    fraction metrics. Errors name the file and the item.
    """
    path = Path(path)
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read published figures: {exc}") from exc
    entries = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        try:
            metrics = {k: MetricValue(float(v), 0, 0) for k, v in item.get("metrics", {}).items()}
            per_tag = {t: {k: MetricValue(float(v), 0, 0) for k, v in m.items()}
                       for t, m in item.get("per_tag", {}).items()}
            result = BenchmarkResult(str(item["benchmark"]), str(item.get("version", "")),
                                     metrics, per_tag, 0, 0, 0)
            entries.append(Entry(f"published: {item['model']}", str(item["model"]),
                                 "published (not measured)", str(item.get("date", "")), result,
                                 published=True, source=str(item["source"])))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{path}: item {i} is malformed ({exc!r}); need model, benchmark, "
                             "metrics, source") from exc
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a JSON list of published figures")
    return entries


def as_plain(board: Leaderboard) -> Mapping[str, Any]:
    """JSON-ready form (used by the JSON export)."""
    return {
        "columns": [c.__dict__ for c in board.columns],
        "rows": [
            {"name": r.entry.name, "model": r.entry.model, "judge": r.entry.judge,
             "date": r.entry.date, "published": r.entry.published, "source": r.entry.source,
             "cells": [{k: v for k, v in c.__dict__.items() if k != "bar"} for c in r.cells]}
            for r in board.rows
        ],
    }
