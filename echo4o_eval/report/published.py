"""Published reference figures for the leaderboard: read at run time, never shipped.

The package holds no published numbers. ``report`` reads them from, in order: ``--published
PATH``; ``$ECHO4O_PUBLISHED``; ``$ECHO4O_SHARED_DIR/published/README.md``;
``<data dir>/../published/README.md`` (``$ECHO4O_DATA_DIR``). Two formats:

* a JSON list: ``[{"model", "benchmark", "version", "metrics": {name: value}, "per_tag":
  {tag: {name: value}}, "source"}]`` (values as fractions for fraction metrics);
* the Markdown of the project's shared ``published/README.md``: its tables of benchmarks
  (rows) by models (columns); the first paragraph before the tables that names a URL or a
  commit is the source put on every row. Rows of benchmarks this module does not map, and cells such as
  ``n/a`` or ``–``, are skipped.

Example:
    >>> text = ("Source: https://example.org/fig at commit abc.\\n\\n"
    ...         "| benchmark | M1 | M2 |\\n|---|---|---|\\n| GenEval (overall, 0–1) | 0.89 | n/a |\\n")
    >>> [(e.model, e.result.benchmark, e.result.metrics["overall"].value) for e in parse_markdown(text, "f.md")]
    [('M1', 'geneval', 0.89)]
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from echo4o_eval.report.leaderboard import Entry
from echo4o_eval.records.types import BenchmarkResult, MetricValue

# first words of a table row label -> (benchmark id, metric); OmniContext rows are subsets or a
# rescaled overall, so they are not mapped
ROW_LABELS = (("GenEval++", "geneval_pp", "overall"), ("GenEval", "geneval", "overall"),
              ("DPG-Bench", "dpg_bench", "overall"), ("Imagine-Bench", "imagine_bench", "overall"))


def default_published_path() -> Path | None:
    """Where published figures are found without ``--published`` (None when nowhere)."""
    candidates = []
    if os.environ.get("ECHO4O_PUBLISHED"):
        candidates.append(Path(os.environ["ECHO4O_PUBLISHED"]))
    if os.environ.get("ECHO4O_SHARED_DIR"):
        candidates.append(Path(os.environ["ECHO4O_SHARED_DIR"]) / "published" / "README.md")
    if os.environ.get("ECHO4O_DATA_DIR"):
        candidates.append(Path(os.environ["ECHO4O_DATA_DIR"]).parent / "published" / "README.md")
    return next((c for c in candidates if c.is_file()), None)


def _entry(model: str, benchmark: str, version: str, metrics, per_tag, source: str, date: str = "") -> Entry:
    result = BenchmarkResult(benchmark, version, metrics, per_tag, 0, 0, 0)
    return Entry(f"published: {model}", model, "published (not measured)", date, result,
                 published=True, source=source)


def parse_markdown(text: str, path: str) -> list[Entry]:
    """Entries from Markdown tables of benchmarks (rows) by models (columns)."""
    before_tables = text.split("\n|")[0]
    paragraph = next((p for p in before_tables.split("\n\n") if re.search(r"https?://|commit", p)), "")
    source = re.sub(r"\s+", " ", paragraph).strip()[:400] or path
    source += f" (read from {path})"
    entries: dict[tuple[str, str], Entry] = {}
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        if all(set(c) <= set("-: ") for c in cells):
            continue
        label = cells[0]
        mapped = next(((b, m) for prefix, b, m in ROW_LABELS if label.split(" (")[0].split(",")[0] == prefix), None)
        if mapped is None:
            continue
        for model, raw in zip(header[1:], cells[1:]):
            try:
                value = float(raw)
            except ValueError:
                continue  # "n/a", "–": not published
            key = (model, mapped[0])
            if key not in entries:
                entries[key] = _entry(model, mapped[0], "", {mapped[1]: MetricValue(value, 0, 0)}, {}, source)
    return list(entries.values())


def load_published(path: str | Path) -> list[Entry]:
    """Reference rows from a JSON list or a Markdown file of published figures (errors name the
    file and the item)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read published figures: {exc}") from exc
    if path.suffix.lower() in (".md", ".markdown"):
        return parse_markdown(text, str(path))
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: cannot read published figures: {exc}") from exc
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a JSON list of published figures")
    entries = []
    for i, item in enumerate(items):
        try:
            metrics = {k: MetricValue(float(v), 0, 0) for k, v in item.get("metrics", {}).items()}
            per_tag = {t: {k: MetricValue(float(v), 0, 0) for k, v in m.items()}
                       for t, m in item.get("per_tag", {}).items()}
            entries.append(_entry(str(item["model"]), str(item["benchmark"]), str(item.get("version", "")),
                                  metrics, per_tag, str(item["source"]), str(item.get("date", ""))))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{path}: item {i} is malformed ({exc!r}); need model, benchmark, "
                             "metrics, source") from exc
    return entries
