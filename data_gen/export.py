"""Stage 5, export: Bagel parquet (:mod:`echo4o_eval.data_gen.export_bagel`), OmniGen2 jsonl and
a Hugging Face ``datasets`` folder, each with a dataset card (README.md). Streaming: samples are
read from the indexed records one at a time and written as they come.

* ``omnigen2/data.jsonl``: ``{"task_type": "t2i" | "in_context_generation", "instruction",
  "output_image", "input_images"}`` with absolute image paths into the work directory;
* ``hf/``: ``Dataset.save_to_disk``; load with ``datasets.load_from_disk``; publish with
  ``load_from_disk(path).push_to_hub("user/name")``.

Example:
    >>> omnigen2_row({"task": "edit", "prompt": "p", "image_path": "/t.png", "references": ["/a.png"],
    ...               "id": "x", "subset": "multi_reference"})["task_type"]
    'in_context_generation'
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from echo4o_eval.data_gen.config import SynthConfig
from echo4o_eval.data_gen.export_bagel import export_bagel
from echo4o_eval.data_gen.final import count_final, final_samples
from echo4o_eval.data_gen.records import RecordStore

FORMATS = ("bagel", "omnigen2", "hf")


def omnigen2_row(sample: dict[str, Any]) -> dict[str, Any]:
    """One OmniGen2 training line."""
    return {"task_type": "in_context_generation" if sample["task"] == "edit" else "t2i",
            "instruction": sample["prompt"], "output_image": os.path.abspath(sample["image_path"]),
            "input_images": [os.path.abspath(p) for p in sample["references"]],
            "id": sample["id"], "subset": sample["subset"]}


def export_omnigen2(samples, out_dir: Path) -> dict[str, Any]:
    """Write omnigen2/data.jsonl; returns the row count."""
    folder = out_dir / "omnigen2"
    folder.mkdir(parents=True, exist_ok=True)
    rows = 0
    with open(folder / "data.jsonl", "w", encoding="utf-8") as handle:
        for sample in samples:
            handle.write(json.dumps(omnigen2_row(sample)) + "\n")
            rows += 1
    return {"rows": rows}


def _hf_rows(work_dir: str, include_original: bool):
    """The HF export's rows, read from the records (module level, so datasets can hash it)."""
    store = RecordStore(work_dir)
    try:
        for sample in final_samples(store, include_original=include_original):
            yield {"id": sample["id"], "subset": sample["subset"], "task": sample["task"],
                   "prompt": sample["prompt"], "original_prompt": sample["original_prompt"],
                   "rewritten": sample["rewritten"], "check_reason": sample["check_reason"],
                   "image": {"bytes": Path(sample["image_path"]).read_bytes(), "path": None},
                   "references": [{"bytes": Path(p).read_bytes(), "path": None} for p in sample["references"]],
                   "spec": json.dumps(sample["spec"], sort_keys=True)}
    finally:
        store.close()


def export_hf(work_dir: str, include_original: bool, out_dir: Path) -> dict[str, Any]:
    """Write a ``save_to_disk`` folder (images embedded) through an Arrow cache on disk."""
    from echo4o_eval.optional import require_module

    datasets = require_module("datasets", extra="data")
    features = datasets.Features({
        "id": datasets.Value("string"), "subset": datasets.Value("string"), "task": datasets.Value("string"),
        "prompt": datasets.Value("string"), "original_prompt": datasets.Value("string"),
        "rewritten": datasets.Value("bool"), "check_reason": datasets.Value("string"),
        "image": datasets.Image(), "references": datasets.Sequence(datasets.Image()),
        "spec": datasets.Value("string"),
    })
    cache = out_dir / ".hf_cache"
    target = out_dir / "hf"
    if target.exists():
        shutil.rmtree(target)
    dataset = datasets.Dataset.from_generator(
        _hf_rows, features=features, cache_dir=str(cache), writer_batch_size=256,
        gen_kwargs={"work_dir": str(Path(work_dir).resolve()), "include_original": include_original})
    dataset.save_to_disk(str(target))
    count = len(dataset)
    del dataset
    shutil.rmtree(cache, ignore_errors=True)
    return {"rows": count}


def run_export(config: SynthConfig) -> dict[str, Any]:
    """Write every configured export and its dataset card; returns what was written."""
    from echo4o_eval.data_gen.card import write_card
    from echo4o_eval.data_gen.status import stage_summary

    unknown = sorted(set(config.export.formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"export.formats: unknown format(s) {unknown}; known: {list(FORMATS)}")
    out_dir = Path(config.export.out_dir or config.work_path / "export")
    out_dir.mkdir(parents=True, exist_ok=True)
    store = RecordStore(config.work_dir)
    summary: dict[str, Any] = {"out_dir": str(out_dir.resolve())}
    try:
        counts = count_final(store)
        summary["samples"] = counts

        def samples():
            return final_samples(store, include_original=config.export.original_as_caption)

        for name in config.export.formats:
            if name == "bagel":
                summary["bagel"] = export_bagel(samples(), counts, out_dir, config.export.bagel)
            elif name == "omnigen2":
                summary["omnigen2"] = export_omnigen2(samples(), out_dir)
            else:
                summary["hf"] = export_hf(config.work_dir, config.export.original_as_caption, out_dir)
    finally:
        store.close()
    stages = stage_summary(config)
    for name in config.export.formats:
        write_card(config, out_dir / name, name, summary, stages)
    (out_dir / "export_summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
