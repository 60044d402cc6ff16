"""Load Imagine-Bench's 270 fantasy prompts; ids come from the file's ``id`` field.

``Sample.tag`` is the raw type (COLOR, SHAPE, ...); the evaluator merges raw types into
the four reported groups.

Example:
    >>> from echo4o_eval.spec import get_benchmark
    >>> from echo4o_eval.assets import Assets
    >>> load_samples(Assets(get_benchmark("imagine_bench")))[0].tag  # doctest: +SKIP
    'COLOR'
"""

from __future__ import annotations

from echo4o_eval.loading import BenchmarkFileError, read_jsonl, require
from echo4o_eval.records.types import Sample


def load_samples(assets, variant: str | None = None) -> list[Sample]:
    """Samples of Imagine-Bench (no variants); duplicate ids are an error."""
    if variant not in (None, "default"):
        raise ValueError(f"imagine_bench has no variant {variant!r}")
    path = assets.path("prompts")
    samples, seen = [], {}
    for index, (line, row) in enumerate(read_jsonl(path)):
        sample_id = str(require(row, "id", path, line, (int, str)))
        if sample_id in seen:
            raise BenchmarkFileError(f"{path}:{line}: id {sample_id} repeats line {seen[sample_id]}")
        seen[sample_id] = line
        instruction = require(row, "instruction", path, line, str)
        require(row, "note", path, line, str)
        tag = require(row, "type", path, line, str)
        samples.append(
            Sample(id=sample_id, index=index, prompt=instruction, tag=tag, metadata=row)
        )
    if not samples:
        raise BenchmarkFileError(f"{path}: no prompts")
    return samples
