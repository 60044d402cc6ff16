"""The samples that survive every stage, joined from the indexed records, one at a time.

A final sample: ``id``, ``subset``, ``task`` ("t2i" or "edit"), ``prompt`` (the rewritten one
when the check rewrote it), ``original_prompt``, ``rewritten``, ``captions`` (the alternatives
written to Bagel's ``captions``), ``image_path``, ``references`` (paths, in order), ``spec``,
``note``, ``check_reason``.

Example:
    >>> captions_for({"prompt": "Two cats.", "original_prompt": "Three cats."}, include_original=True)
    ['Two cats.', 'Three cats.']
    >>> captions_for({"prompt": "A cat.", "original_prompt": "A cat."}, include_original=True)
    ['A cat.']
"""

from __future__ import annotations

from typing import Any, Iterator

from echo4o_eval.data_gen.records import RecordStore


def captions_for(sample: dict[str, Any], include_original: bool) -> list[str]:
    """The final prompt first, then the original (when asked for and different)."""
    out = [sample["prompt"]]
    if include_original and sample.get("original_prompt") and sample["original_prompt"] != sample["prompt"]:
        out.append(sample["original_prompt"])
    return out


def final_samples(store: RecordStore, include_original: bool = True) -> Iterator[dict[str, Any]]:
    """Every sample whose filter record is ``kept``, in filter order (bounded memory)."""
    for row in store.joined("filter", ("plan", "generate", "check")):
        kept, plan, gen, check = row["filter"], row["plan"], row["generate"], row["check"]
        if kept.get("status") != "kept":
            continue
        if plan is None or gen is None or check is None:
            raise RuntimeError(f"sample {kept['id']} has a filter record but no plan/generate/check "
                               "record; the work directory is inconsistent")
        sample = {"id": plan["id"], "subset": plan["subset"], "task": plan["task"],
                  "prompt": check["prompt"], "original_prompt": plan["prompt"],
                  "rewritten": check["status"] == "rewritten", "image_path": gen["image_path"],
                  "references": list(gen.get("references") or []), "spec": plan.get("spec"),
                  "note": plan.get("note") or {}, "check_reason": check.get("reason") or "",
                  "verdict": check.get("verdict")}
        sample["captions"] = captions_for(sample, include_original)
        yield sample


def count_final(store: RecordStore) -> dict[str, int]:
    """``{subset: kept samples}`` without reading the samples."""
    counts: dict[str, int] = {}
    for record in store.iterate("filter"):
        if record.get("status") == "kept":
            counts[record["subset"]] = counts.get(record["subset"], 0) + 1
    return counts
