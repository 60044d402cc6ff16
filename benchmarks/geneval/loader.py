"""Load GenEval's 553 prompts (or the 553 long rewritten prompts of Bagel/Echo-4o).

Sample ids are the 5-digit 0-based positions used by GenEval's image folders ("00000").

Example:
    >>> from echo4o_eval.spec import get_benchmark
    >>> from echo4o_eval.assets import Assets
    >>> samples = load_samples(Assets(get_benchmark("geneval"), allow_download=False))  # doctest: +SKIP
    >>> samples[0].id, samples[0].tag  # doctest: +SKIP
    ('00000', 'single_object')
"""

from __future__ import annotations

from echo4o_eval.loading import BenchmarkFileError, read_jsonl, require
from echo4o_eval.records.types import Sample

VARIANT_ASSETS = {None: "prompts", "default": "prompts", "long": "prompts_long"}


def load_samples(assets, variant: str | None = None) -> list[Sample]:
    """Samples of GenEval; ``variant="long"`` swaps in the rewritten long prompts.

    The long variant keeps the official metadata (tag, include, exclude) of each line, so
    scoring is unchanged; only the generation prompt differs.
    """
    if variant not in VARIANT_ASSETS:
        raise ValueError(f"geneval has variants default, long; not {variant!r}")
    path = assets.path(VARIANT_ASSETS[variant])
    samples = []
    for index, (line, row) in enumerate(read_jsonl(path)):
        tag = require(row, "tag", path, line, str)
        require(row, "include", path, line, list)
        prompt = require(row, "prompt", path, line, str)
        samples.append(
            Sample(id=f"{index:05d}", index=index, prompt=prompt, tag=tag, metadata=row)
        )
    if not samples:
        raise BenchmarkFileError(f"{path}: no prompts")
    return samples
