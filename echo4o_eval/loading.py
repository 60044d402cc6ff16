"""Helpers for benchmark loaders: read official files with errors that name file and line.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.jsonl"
    >>> _ = p.write_text('{"a": 1}\\n\\n{"a": 2}\\n')
    >>> [(line, row["a"]) for line, row in read_jsonl(p)]
    [(1, 1), (3, 2)]
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterator


class BenchmarkFileError(ValueError):
    """An official benchmark file is malformed; the message names file and line."""


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(1-based line number, object)`` for each non-empty line of a JSONL file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchmarkFileError(f"{path}: cannot read: {exc}") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BenchmarkFileError(f"{path}:{number}: not valid JSON: {exc.msg}") from exc
        if not isinstance(row, dict):
            raise BenchmarkFileError(f"{path}:{number}: expected a JSON object")
        yield number, row


def require(row: dict[str, Any], key: str, path: Path, line: int, kind: type | tuple = object):
    """``row[key]`` checked for presence and type, else an error naming file and line."""
    if key not in row:
        raise BenchmarkFileError(f"{path}:{line}: missing field {key!r}")
    value = row[key]
    if not isinstance(value, kind):
        raise BenchmarkFileError(f"{path}:{line}: field {key!r} has type {type(value).__name__}")
    return value


def read_csv_rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV as dicts, checking the header has ``columns``."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise BenchmarkFileError(f"{path}: missing CSV columns {missing}")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BenchmarkFileError(f"{path}: cannot read CSV: {exc}") from exc
