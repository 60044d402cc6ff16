"""Load GenEval++'s 280 prompts; sample ids are 1-based line numbers as in the official script.

Example:
    >>> from echo4o_eval.spec import get_benchmark
    >>> from echo4o_eval.assets import Assets
    >>> samples = load_samples(Assets(get_benchmark("geneval_pp")))  # doctest: +SKIP
    >>> samples[0].id  # doctest: +SKIP
    '1'
"""

from __future__ import annotations

from echo4o_eval.loading import BenchmarkFileError, read_jsonl, require
from echo4o_eval.records.types import Sample


def load_samples(assets, variant: str | None = None) -> list[Sample]:
    """Samples of GenEval++ (no variants)."""
    if variant not in (None, "default"):
        raise ValueError(f"geneval_pp has no variant {variant!r}")
    path = assets.path("prompts")
    samples = []
    for index, (line, row) in enumerate(read_jsonl(path)):
        tag = require(row, "tag", path, line, str)
        require(row, "include", path, line, list)
        prompt = require(row, "prompt", path, line, str)
        samples.append(Sample(id=str(line), index=index, prompt=prompt, tag=tag, metadata=row))
    if not samples:
        raise BenchmarkFileError(f"{path}: no prompts")
    return samples
