"""Gallery items of a run: one JSON-ready dict per scored image, grouped by prompt in the page.

Each item carries its thumbnail and full-size link (see :mod:`echo4o_eval.report.thumbs`), the
verdict or main score, the failed requirements (short labels read from the reason, for the
"failed requirement" filter), the judge's answers as tables and the raw replies.

Example:
    >>> failed_requirements("expected dog>=2, found 1\\nexpected red car, found 0 red")
    ['colour', 'count']
    >>> verdict({"correct": True}), primary_number({"score": 4.0})
    (True, 4.0)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from echo4o_eval.report.runs import RunView
from echo4o_eval.rundir.store import RunStore
from echo4o_eval.records.types import Status

MAX_TEXT = 4000  # characters of a judge reply / metadata kept per item
MAX_JUDGE_REPLIES = 12  # raw judge replies kept per image (the tables hold every parsed answer)
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white",
           "gray", "grey")
REQUIREMENTS = (  # (label, pattern) checked in order on each failed clause of a reason
    ("position", r"\b(left|right|above|below|top|bottom|behind|front|target|position|spatial)\b"),
    ("colour", r"\b(colou?r|" + "|".join(COLOURS) + r")\b"),
    ("size", r"\b(size|bigger|smaller|larger|tall|small|large)\b"),
    ("extra objects", r"<\s*\d|too many|extra"),
    ("count", r">=|\bcount|\bnumber|exactly|\bfound \d"),
)


def verdict(values) -> bool | None:
    """The pass/fail of one image: its boolean ``correct`` value (None when it has none)."""
    value = values.get("correct") if values else None
    return value if isinstance(value, bool) else None


def primary_number(values) -> float | None:
    """The ``score`` value, else the first numeric, non-boolean value (for graded benchmarks)."""
    values = values or {}
    score = values.get("score")
    if isinstance(score, (int, float)) and not isinstance(score, bool):
        return float(score)
    for value in values.values():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def failed_requirements(reason: str) -> list[str]:
    """Short labels of what a failed image missed, read from its reason (sorted, unique)."""
    text = (reason or "").lower()
    text = text[len("failed:"):] if text.startswith("failed:") else text
    labels = set()
    for clause in re.split(r"[\n;]+", text):
        clause = clause.strip()
        if not clause or clause == "all requirements met":
            continue
        labels.add(next((label for label, pattern in REQUIREMENTS if re.search(pattern, clause)), "other"))
    return sorted(labels)


def clip(text: Any) -> str:
    """Text (JSON for non-strings) cut to MAX_TEXT characters with a note of what was cut."""
    text = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"… [{len(text) - MAX_TEXT} more]"


def image_file(view: RunView, sample_id: str, index: int) -> Path | None:
    """The image file of (sample, index), also when the run directory was moved."""
    generation = view.generations.get((sample_id, index))
    if generation is None or not generation.image_path:
        return None
    path = Path(generation.image_path)
    candidates = [path]
    if view.run_dir is not None:
        if not path.is_absolute():
            candidates.append(view.run_dir / path)
        candidates.append(RunStore(view.run_dir).image_path(sample_id, index))
    return next((c for c in candidates if c.is_file()), None)


def reference_files(view: RunView, sample) -> list[Path]:
    """Input images of a multi-reference sample (absolute paths, existing or not)."""
    out = []
    for raw in (sample.reference_images if sample is not None else ()) or ():
        source = Path(raw)
        if not source.is_absolute() and view.run_dir is not None:
            source = view.run_dir / source
        out.append(source)
    return out


def gallery_items(view: RunView, links) -> list[dict]:
    """One item per scored image; ``links(path, reference=False)`` gives (thumb, full) paths."""
    from echo4o_eval.report.details import checklist_text, judge_sections, values_section

    samples = {s.id: s for s in view.samples}
    benchmark = view.benchmark_id
    items = []
    for score in view.scores:
        sample = samples.get(score.sample_id)
        key = (score.sample_id, score.image_index)
        source = image_file(view, *key)
        thumb, full = links(source) if source is not None else (None, None)
        refs = []
        for ref in reference_files(view, sample):
            r_thumb, r_full = links(ref, True) if ref.is_file() else (None, None)
            refs.append({"thumb": r_thumb, "full": r_full,
                         "name": ref.name if r_thumb else f"{ref.name} (not found)"})
        judges, detections, size = [], [], None
        judgements = view.judgements.get(key, [])
        sections = []
        values = values_section(score.values)
        if values:
            sections.append(values)
        if sample is not None:
            sections += judge_sections(benchmark, sample, judgements)
        for n, j in enumerate(judgements):
            if n < MAX_JUDGE_REPLIES:
                judges.append({"key": j.key, "status": j.status.value,
                               "replies": [clip(r) for r in j.replies[-2:]],
                               "parsed": clip(list(j.parsed)) if j.parsed else "", "error": clip(j.error or "")})
            if j.detections:
                size = list(j.image_size) if j.image_size else size
                detections += [{"c": d.class_name, "b": list(d.box), "s": round(d.score, 3),
                                "col": d.color or ""} for d in j.detections]
        generation = view.generations.get(key)
        v = verdict(score.values)
        items.append({
            "sid": score.sample_id, "i": score.image_index, "tag": score.tag,
            "prompt": sample.prompt if sample else "", "status": score.status.value,
            "verdict": v, "main": primary_number(score.values), "reason": clip(score.reason),
            "req": failed_requirements(score.reason) if v is False else [],
            "checklist": clip(checklist_text(benchmark, sample)) if sample else "",
            "sections": sections, "n_judgements": len(judgements), "refs": refs,
            "thumb": thumb, "full": full, "judges": judges, "dets": detections, "size": size,
            "gen_error": clip(generation.error or "") if generation else "",
        })
    return items


def item_value(item: dict) -> float | None:
    """An image's number for plots: 1/0 for pass/fail, else its main score; None if not ok."""
    if item["status"] != Status.OK.value:
        return None
    if item["verdict"] is not None:
        return 1.0 if item["verdict"] else 0.0
    return item["main"]


def prompt_means(items: list[dict]) -> dict[str, float]:
    """Mean image value per prompt (ok images only)."""
    sums: dict[str, list[float]] = {}
    for item in items:
        value = item_value(item)
        if value is not None:
            sums.setdefault(item["sid"], []).append(value)
    return {sid: sum(v) / len(v) for sid, v in sums.items()}


def diff_rows(base: list[dict], other: list[dict]) -> list[dict]:
    """Images whose verdict flipped (or whose main score moved by >= 1) from base to other,
    sorted by tag then sample id."""
    by_key = {(it["sid"], it["i"]): it for it in base}
    rows = []
    for item in other:
        old = by_key.get((item["sid"], item["i"]))
        if old is None or old["status"] != Status.OK.value or item["status"] != Status.OK.value:
            continue
        if old["verdict"] is not None and item["verdict"] is not None:
            if old["verdict"] != item["verdict"]:
                rows.append({"old": old, "new": item, "change": "fixed" if item["verdict"] else "broken"})
            continue
        a, b = old["main"], item["main"]
        if a is not None and b is not None and abs(b - a) >= 1:
            rows.append({"old": old, "new": item, "change": f"{a:g} → {b:g}"})
    return sorted(rows, key=lambda r: (r["new"]["tag"], r["new"]["sid"], r["new"]["i"]))
