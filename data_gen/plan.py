"""Stage 1, plan: the prompt specs of the three subsets (and the reference subjects), with the
structured spec kept beside the text. Resumable: planned ids are skipped, failed ones
(``plan_error``) retried in their next retry round (new cache slots: an unparsable reply is
asked again, not replayed). A chat model that refuses to write a sample's prompt (OpenAI's
structured refusal) makes it ``refused`` with the model's text in ``error``: final, not asked
again, not generated.

A plan record::

    {"id": "fantasy-000003", "subset": "fantasy", "task": "t2i", "status": "ok",
     "prompt": "...", "spec": {...}, "note": {"must_change": ..., "must_stay": ...},
     "references": [],                 # multi-reference: subject ids or image paths, in order
     "writer": "template" | "<chat model>", "cost_usd": 0.0002,
     "unanswered": 0}                  # chat requests sent that got no reply (may have been billed)

Example:
    >>> import tempfile
    >>> from echo4o_eval.data_gen.config import load_synth_config
    >>> from echo4o_eval.data_gen.records import RecordStore
    >>> config = load_synth_config(None, [f"work_dir={tempfile.mkdtemp()}", "plan.fantasy.count=2",
    ...     "plan.instruction.count=2", "plan.multi_reference.count=1", "plan.multi_reference.subjects=4"])
    >>> summary = run_plan(config, RecordStore(config.work_dir))
    >>> summary["planned"], summary["by_subset"]
    (9, {'fantasy': 2, 'instruction': 2, 'multi_reference': 1, 'subject': 4})
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from echo4o_eval.config import to_plain

from echo4o_eval.data_gen import specs, vocabulary
from echo4o_eval.data_gen.chat import PARAPHRASE_SYSTEM, WRITER_SYSTEM, chat_call, needs_text, refusal_of
from echo4o_eval.data_gen.config import SynthConfig, engine_config
from echo4o_eval.data_gen.records import RecordStore, retry_round
from echo4o_eval.data_gen.references import reference_pool

CHAT_BATCH = 64


class PlanMismatchError(ValueError):
    """The work directory was planned with other settings."""


def sample_id(subset: str, index: int) -> str:
    """``subset-000123``.

    >>> sample_id("fantasy", 3)
    'fantasy-000003'
    """
    return f"{subset}-{index:06d}"


def _guard_settings(config: SynthConfig) -> None:
    """Refuse a work dir planned with other plan settings (ids would mean other samples)."""
    settings = {"plan": to_plain(config.plan), "chat_model": config.chat.model}
    path = config.work_path / "plan_settings.json"
    if path.exists():
        before = json.loads(path.read_text(encoding="utf-8"))
        if before != settings:
            raise PlanMismatchError(
                f"{config.work_dir} was planned with other settings ({path}); use a new work_dir "
                "or restore the plan: section")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2, sort_keys=True), encoding="utf-8")


def planned_items(config: SynthConfig) -> list[dict[str, Any]]:
    """Every sample the config plans, before any chat model has written text (deterministic)."""
    plan, seed = config.plan, config.plan.seed
    items: list[dict[str, Any]] = []
    objects = plan.fantasy.objects or list(vocabulary.COCO_OBJECTS + vocabulary.EVERYDAY_OBJECTS)
    kinds = plan.fantasy.kinds or list(vocabulary.FANTASY_KINDS)
    unknown = sorted(set(kinds) - set(vocabulary.FANTASY_KINDS))
    if unknown:
        raise ValueError(f"plan.fantasy.kinds: unknown kind(s) {unknown}; known: {sorted(vocabulary.FANTASY_KINDS)}")
    for index in range(plan.fantasy.count):
        spec = specs.fantasy_spec(seed, index, objects, kinds)
        template = specs.render_fantasy(spec)
        items.append({"id": sample_id("fantasy", index), "subset": "fantasy", "task": "t2i",
                      "spec": spec, "prompt": template["prompt"], "references": [],
                      "note": {"must_change": template["must_change"], "must_stay": template["must_stay"]}})
    for index in range(plan.instruction.count):
        spec = specs.instruction_spec(seed, index, plan.instruction.max_objects, plan.instruction.dense_fraction)
        text = specs.render_instruction(spec)
        items.append({"id": sample_id("instruction", index), "subset": "instruction", "task": "t2i",
                      "spec": spec, "prompt": text, "rendered_prompt": text, "references": [], "note": {}})
    multi = plan.multi_reference
    if multi.count:
        if not 2 <= multi.min_references <= multi.max_references <= 4:
            raise ValueError("plan.multi_reference: need 2 <= min_references <= max_references <= 4")
        subjects = []
        if multi.reference_source == "generate":
            for index, spec in enumerate(specs.subject_specs(seed, multi.subjects)):
                subjects.append({"id": sample_id("subject", index), "subset": "subject", "task": "t2i",
                                 "spec": spec, "prompt": spec["prompt"], "references": [], "note": {}})
        pool = reference_pool(multi.reference_source, config.work_dir, subjects)
        for index in range(multi.count):
            spec = specs.multi_reference_spec(seed, index, pool, multi.min_references, multi.max_references)
            items.append({"id": sample_id("multi_reference", index), "subset": "multi_reference",
                          "task": "edit", "spec": spec, "prompt": specs.render_multi_reference(spec),
                          "references": [r["ref"] for r in spec["references"]], "note": {}})
        items = subjects + items
    return items


def _writer_brief(item: dict[str, Any]) -> str:
    spec = item["spec"]
    second = f"\nSecond object: {spec['second']}" if spec.get("second") else ""
    return (f"Base object: {spec['object']}\nTransformation: {spec['kind']} ({spec['family']})\n"
            f"Value: {spec['value']}{second}\nA plain version: {item['prompt']}")


def _chat_call(item: dict[str, Any], config: SynthConfig, round_: int = 0):
    if not config.chat.model:
        return None
    if item["subset"] == "fantasy":
        return chat_call("fantasy-writer", WRITER_SYSTEM, _writer_brief(item),
                         validate=needs_text("prompt", "must_change", "must_stay"), retry_round=round_)
    if item["subset"] == "instruction" and config.plan.instruction.paraphrase:
        return chat_call("paraphrase", PARAPHRASE_SYSTEM, item["prompt"], validate=needs_text("prompt"),
                         retry_round=round_)
    return None


def _finish(item: dict[str, Any], result, model: str | None) -> dict[str, Any]:
    record = {**item, "status": "ok", "writer": "template", "cost_usd": 0.0}
    if result is None:
        return record
    record["writer"] = model
    record["cost_usd"] = result.cost_usd
    record["chat_cached"] = result.cached
    record["unanswered"] = result.unanswered
    if result.status != "ok":
        return {**record, "status": "plan_error", "error": f"chat {result.status}: {result.error}"}
    refusal = refusal_of(result.value)
    if refusal is not None:
        return {**record, "status": "refused", "error": f"refused by the chat model: {refusal}"}
    record["prompt"] = result.value["prompt"].strip()
    if item["subset"] == "fantasy":
        record["note"] = {"must_change": result.value["must_change"], "must_stay": result.value["must_stay"]}
    return record


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def run_plan(config: SynthConfig, store: RecordStore, progress=None) -> dict[str, Any]:
    """Plan every sample not yet planned; returns counts (``planned``, ``errors``: plan_error,
    ``refused``, ``cost_usd``, ``unanswered``: chat requests sent that got no reply)."""
    _guard_settings(config)
    items = planned_items(config)
    done = store.ids("plan", ("ok", "refused"))  # refusals are final: asking again is paid again
    failed = store.ids("plan", ("plan_error",))
    pending = [item for item in items if item["id"] not in done]
    rounds = {sid: retry_round(store.get("plan", sid, refresh=False), "plan_error") for sid in failed}
    engine = None
    needs_chat = config.chat.model and any(
        i["subset"] == "fantasy" or (i["subset"] == "instruction" and config.plan.instruction.paraphrase)
        for i in pending)
    if needs_chat:
        from echo4o_eval.api.engine import ApiEngine

        engine = ApiEngine(engine_config(config.chat, config.work_path / "cache" / "chat.sqlite"))
    cost, errors, refused, unanswered = 0.0, 0, 0, 0
    try:
        with store.writer("plan") as write:
            for chunk in _chunks(pending, CHAT_BATCH):
                calls = [_chat_call(item, config, rounds.get(item["id"], 0)) for item in chunk]
                wanted = [c for c in calls if c is not None]
                results = iter(engine.run_all(wanted) if wanted and engine else [])
                for item, call in zip(chunk, calls):
                    record = _finish(item, next(results) if call is not None else None, config.chat.model)
                    record["retry_round"] = rounds.get(item["id"], 0)
                    errors += record["status"] == "plan_error"
                    refused += record["status"] == "refused"
                    unanswered += record.get("unanswered") or 0
                    cost += 0.0 if record.get("chat_cached") else (record.get("cost_usd") or 0.0)
                    write(record)
                if progress:
                    progress(len(chunk))
    finally:
        if engine is not None:
            engine.close()
    by_subset: dict[str, int] = {}
    for item in items:
        by_subset[item["subset"]] = by_subset.get(item["subset"], 0) + 1
    return {"planned": len(items), "new": len(pending), "errors": errors, "refused": refused,
            "cost_usd": round(cost, 6), "unanswered": unanswered, "by_subset": dict(sorted(by_subset.items()))}
