"""Load OmniContext (Hugging Face dataset ``OmniGen2/OmniContext``, split ``train``).

A local copy under ``<data-dir>/omnicontext`` may be a ``save_to_disk`` folder or a folder of
parquet files; without one, the dataset is loaded from the hub (your HF cache). Input images
are written once to ``<cache>/omnicontext_inputs/<key>/<i>.png`` so that models and judges
get file paths.

Example:
    >>> from echo4o_eval.spec import get_benchmark
    >>> from echo4o_eval.assets import Assets
    >>> s = load_samples(Assets(get_benchmark("omnicontext")))  # doctest: +SKIP
    >>> s[0].tag, len(s[0].reference_images)  # doctest: +SKIP
    ('single_character', 1)
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from echo4o_eval.loading import BenchmarkFileError
from echo4o_eval.optional import require_module
from echo4o_eval.records.types import Sample

FIELDS = ("key", "task_type", "instruction", "instruction_language", "input_images")
HUB_ID = "OmniGen2/OmniContext"


def _open_dataset(local: Path | None):
    datasets = require_module("datasets", extra="data")
    if local is None:
        try:
            return datasets.load_dataset(HUB_ID, split="train")
        except Exception as exc:  # hub errors vary by version; report one clear message
            raise BenchmarkFileError(
                f"OmniContext: no local copy under <data-dir>/omnicontext and loading {HUB_ID} "
                f"from the hub failed: {exc}"
            ) from exc
    if (local / "dataset_info.json").exists() or (local / "state.json").exists():
        data = datasets.load_from_disk(str(local))
    elif (local / "train").is_dir() and (local / "dataset_dict.json").exists():
        data = datasets.load_from_disk(str(local))
    else:
        files = sorted(str(p) for p in local.rglob("*.parquet"))
        if not files:
            raise BenchmarkFileError(f"{local}: neither a save_to_disk folder nor parquet files")
        data = datasets.load_dataset("parquet", data_files={"train": files}, split="train")
    if hasattr(data, "keys") and "train" in data:
        data = data["train"]
    return data


def _save_inputs(images, key: str, out_dir: Path) -> tuple[str, ...]:
    safe = hashlib.sha256(key.encode()).hexdigest()[:16]
    folder = out_dir / safe
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        path = folder / f"{i}.png"
        if not path.exists():  # several ranks may load at once: private temp name per process
            tmp = path.with_name(f".{i}.{os.getpid()}.tmp.png")
            image.save(tmp)
            os.replace(tmp, path)
        paths.append(str(path))
    return tuple(paths)


def load_samples(assets, variant: str | None = None) -> list[Sample]:
    """Samples of OmniContext; ``tag`` is the task type, references are written as PNGs."""
    if variant not in (None, "default"):
        raise ValueError(f"omnicontext has no variant {variant!r}")
    local = assets.locate("dataset")
    data = _open_dataset(local)
    missing = [f for f in FIELDS if f not in data.column_names]
    if missing:
        raise BenchmarkFileError(f"{local or HUB_ID}: dataset lacks fields {missing}")
    out_dir = Path(assets.cache_dir) / "omnicontext_inputs"
    samples, seen = [], set()
    for index, row in enumerate(data):
        key = str(row["key"])
        if key in seen:
            raise BenchmarkFileError(f"{local or HUB_ID}: key {key!r} appears twice")
        seen.add(key)
        samples.append(
            Sample(
                id=key,
                index=index,
                prompt=row["instruction"],
                tag=row["task_type"],
                metadata={
                    "instruction": row["instruction"],
                    "instruction_language": row["instruction_language"],
                    "task_type": row["task_type"],
                },
                reference_images=_save_inputs(row["input_images"] or [], key, out_dir),
            )
        )
    return samples
