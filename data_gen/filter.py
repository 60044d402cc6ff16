"""Stage 4, filter: every sample the check kept or rewrote goes through, in order,

1. image quality: an image that cannot be decoded is ``corrupt_image``; one whose shorter side
   is below ``filter.min_side`` is ``too_small``;
2. duplicates: perceptual hashes (imagehash pHash) searched with multi-index hashing
   (:mod:`echo4o_eval.data_gen.dedupe`); an identical hash is ``duplicate``, one within
   ``near_duplicate_distance`` bits ``near_duplicate`` (the first in plan order is kept);
3. contamination: the final and the original prompt against GenEval, GenEval++, Imagine-Bench,
   DPG-Bench and OmniContext prompts (:mod:`echo4o_eval.data_gen.contamination`).

The stage is recomputed as a whole (it is local and cheap) but hashes are reused from the
previous filter records when the image file is unchanged. Each record says why a sample was
dropped; ``WORK/filter_summary.json`` holds the counts and which benchmarks were checked.

Example:
    >>> quality("/nonexistent.png", 64)[0]
    'corrupt_image'
"""

from __future__ import annotations

import json
import os
from typing import Any

from echo4o_eval.data_gen.config import SynthConfig
from echo4o_eval.data_gen.contamination import ContaminationIndex, benchmark_prompts
from echo4o_eval.data_gen.dedupe import find_duplicates, perceptual_hash
from echo4o_eval.data_gen.records import RecordStore


def quality(path: str, min_side: int) -> tuple[str | None, str, tuple[int, int] | None]:
    """(drop reason or None, detail, (width, height)) for one image file."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            size = image.size
    except Exception as exc:  # any decoder failure means the file is unusable
        return "corrupt_image", f"{type(exc).__name__}: {exc}"[:300], None
    if min(size) < min_side:
        return "too_small", f"{size[0]}x{size[1]} < {min_side}", size
    return None, "", size


def _stamp(path: str) -> str:
    try:
        stat = os.stat(path)
    except OSError:
        return ""
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def run_filter(config: SynthConfig, index: ContaminationIndex | None = None) -> dict[str, Any]:
    """Filter the checked samples; returns the counts written to filter_summary.json."""
    settings = config.filter
    store = RecordStore(config.work_dir)
    try:
        store.refresh("generate")
        previous = {r["id"]: (r.get("stamp"), r.get("phash")) for r in store.iterate("filter")}
        loaded: dict[str, Any] = {}
        if index is None:
            prompts, loaded = benchmark_prompts(settings.benchmarks, settings.data_dir,
                                                settings.allow_download, settings.require_benchmarks)
            index = ContaminationIndex(prompts, settings.ngram, settings.overlap)
        if settings.hash_size > 8:
            raise ValueError("filter.hash_size must be at most 8 (hashes of up to 64 bits)")
        counts: dict[str, int] = {}
        contamination: dict[str, int] = {}
        entries: list[dict[str, Any]] = []
        hashes: list[int] = []
        hashed: list[int] = []  # entry positions of the hashes
        for check in store.iterate("check"):
            if check.get("status") not in ("kept", "rewritten"):
                continue
            gen = store.get("generate", check["id"], refresh=False) or {}
            path = gen.get("image_path") or ""
            record = {"id": check["id"], "subset": check["subset"], "status": "kept", "reason": None,
                      "detail": "", "stamp": _stamp(path), "phash": None, "size": None,
                      "prompts": (check.get("prompt") or "", check.get("original_prompt") or "")}
            reason, detail, size = quality(path, settings.min_side)
            record["size"] = list(size) if size else None
            if reason is None:
                stamp, cached = previous.get(check["id"], (None, None))
                value = int(cached, 16) if cached and stamp == record["stamp"] else perceptual_hash(
                    path, settings.hash_size)
                record["phash"] = f"{value:0{settings.hash_size ** 2 // 4}x}"
                hashes.append(value)
                hashed.append(len(entries))
            else:
                record.update(status="dropped", reason=reason, detail=detail)
            entries.append(record)
        duplicates = find_duplicates(hashes, settings.near_duplicate_distance, bits=settings.hash_size ** 2)
        for position, (original, gap) in duplicates.items():
            entries[hashed[position]].update(
                status="dropped", reason="duplicate" if gap == 0 else "near_duplicate",
                detail=f"of {entries[hashed[original]]['id']} (distance {gap})")

        def records():
            for record in entries:
                final, original = record.pop("prompts")
                if record["status"] == "kept":
                    for which, text in (("prompt", final), ("original_prompt", original)):
                        hit = index.match(text)
                        if hit is not None:
                            record.update(status="dropped", reason="contamination", contamination=hit,
                                          detail=(f"{which} {hit['kind']} overlap ({hit['score']}) with "
                                                  f"{hit['benchmark']} prompt {hit['prompt_id']}: "
                                                  f"{hit['benchmark_prompt'][:200]}"))
                            contamination[hit["benchmark"]] = contamination.get(hit["benchmark"], 0) + 1
                            break
                key = record["reason"] or "kept"
                counts[key] = counts.get(key, 0) + 1
                yield record

        total = store.replace("filter", records())
    finally:
        store.close()
    summary = {"filtered": total, "by_reason": dict(sorted(counts.items())),
               "contamination_by_benchmark": dict(sorted(contamination.items())),
               "benchmarks": loaded, "benchmark_prompts": len(index),
               "settings": {"min_side": settings.min_side, "hash_size": settings.hash_size,
                            "near_duplicate_distance": settings.near_duplicate_distance,
                            "ngram": settings.ngram, "overlap": settings.overlap}}
    (config.work_path / "filter_summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
