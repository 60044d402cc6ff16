"""Stage 3, check and rewrite (the paper's key step): a VLM compares each generated image with its
prompt. Aligned -> ``kept``. Misaligned but a good image -> ``rewritten``: the prompt is replaced
by one describing what the image shows (original, rewritten and the reason are kept). Broken ->
``dropped``. A failed or unparsable check is ``check_error`` and is asked again on resume, in
its next retry round (``retry_round`` in the record: new cache slots, so an unparsable reply is
asked again, not replayed); the VLM's replies are cached in ``WORK/cache/check.sqlite``, so no
check is paid twice. A VLM that refuses to answer (OpenAI's structured refusal: no content, a
``refusal`` text) makes the check ``refused`` with the model's text in ``reason``, as the
evaluation judge does: it is final (not asked again, now or on resume) and the sample is not
kept.

Instruction-following samples are also checked by the GenEval rule engine against their spec
(counts, colours, left/right/above/below) when ``check.detector`` names a detector judge;
the record says whether the two checks agree and what the rules could not check.

A check record::

    {"id": ..., "status": "kept" | "rewritten" | "dropped" | "refused" | "check_error",
     "verdict": "aligned" | "misaligned" | "broken" | "not_checked", "reason": "...",
     "original_prompt": "...", "prompt": "<final prompt>", "rewritten_prompt": null | "...",
     "detector": null | {"correct": true, "reason": "...", "unchecked": [...]},
     "agreement": null | true | false, "cost_usd": 0.0001, "cached": false,
     "unanswered": 0}                  # requests sent that got no reply (may have been billed)

Example:
    >>> decide({"verdict": "misaligned", "reason": "two cats, not three",
    ...         "rewritten_prompt": "Two cats."}, "Three cats.")
    ('rewritten', 'Two cats.')
    >>> decide({"verdict": "misaligned", "reason": "x", "rewritten_prompt": None}, "Three cats.")
    ('dropped', 'Three cats.')
"""

from __future__ import annotations

import itertools
from typing import Any

from echo4o_eval.data_gen.chat import CHECK_SYSTEM, chat_call, refusal_of, validate_check
from echo4o_eval.data_gen.config import SynthConfig, engine_config
from echo4o_eval.data_gen.records import RecordStore, retry_round
from echo4o_eval.data_gen.specs import geneval_metadata

DONE = ("kept", "rewritten", "dropped", "refused")  # final: not asked again on resume


def decide(verdict: dict[str, Any], prompt: str) -> tuple[str, str]:
    """(status, final prompt) for a parsed VLM verdict."""
    if verdict["verdict"] == "aligned":
        return "kept", prompt
    if verdict["verdict"] == "misaligned" and verdict.get("rewritten_prompt"):
        return "rewritten", verdict["rewritten_prompt"]
    return "dropped", prompt


def check_text(plan: dict[str, Any]) -> str:
    """What the VLM is told about one sample."""
    lines = [f"Prompt: {plan['prompt']}"]
    note = plan.get("note") or {}
    if note.get("must_change"):
        lines.append(f"Must change: {note['must_change']}")
    if note.get("must_stay"):
        lines.append(f"Must stay: {note['must_stay']}")
    if plan.get("references"):
        count = len(plan["references"])
        lines.append(f"Images 1-{count} are the references; the last image is the generated one.")
    return "\n".join(lines)


class DetectorCheck:
    """The GenEval rule engine on a detector judge's detections, for instruction specs."""

    def __init__(self, spec: str, options: dict[str, Any]) -> None:
        from echo4o_eval.factories import make_judge

        self.judge = make_judge(spec, options)

    def run(self, items: list[tuple[dict, dict]]) -> list[dict[str, Any]]:
        """One result per (plan record, generate record)."""
        from echo4o_eval.scoring.geneval_rules import evaluate_geneval
        from echo4o_eval.records.types import JudgeRequest, Status

        metas = [geneval_metadata(plan["spec"], plan["prompt"]) for plan, _ in items]
        requests = [JudgeRequest(key="main", images=(gen["image_path"],),
                                 color_classes=tuple(c["class"] for c in meta["include"] if c.get("color")))
                    for meta, (_, gen) in zip(metas, items)]
        out = []
        for meta, judgement in zip(metas, self.judge.judge(requests)):
            if judgement.status != Status.OK:
                out.append({"correct": None, "status": judgement.status.value, "reason": judgement.error or "",
                            "unchecked": meta["unchecked"]})
                continue
            outcome = evaluate_geneval(judgement.detections or (), meta)
            out.append({"correct": outcome.correct, "status": outcome.status.value,
                        "reason": outcome.reason, "unchecked": meta["unchecked"]})
        return out

    def close(self) -> None:
        """Release the detector."""
        self.judge.close()


def _record(plan, gen, result, detector) -> dict[str, Any]:
    record: dict[str, Any] = {"id": plan["id"], "subset": plan["subset"], "original_prompt": plan["prompt"],
                              "rewritten_prompt": None, "detector": detector, "agreement": None,
                              "cost_usd": None, "cached": None}
    if result is None:
        record.update(status="kept", verdict="not_checked", reason="no VLM configured (check.vlm.model)",
                      prompt=plan["prompt"])
    else:
        record.update(cost_usd=result.cost_usd, cached=result.cached, unanswered=result.unanswered)
        if result.status != "ok":
            record.update(status="check_error", verdict=None, reason=f"{result.status}: {result.error}",
                          prompt=plan["prompt"])
            return record
        refusal = refusal_of(result.value)
        if refusal is not None:
            record.update(status="refused", verdict=None, reason=f"refused by the check model: {refusal}",
                          prompt=plan["prompt"])
            return record
        value = result.value
        status, prompt = decide(value, plan["prompt"])
        record.update(status=status, verdict=value["verdict"], reason=value["reason"], prompt=prompt,
                      rewritten_prompt=prompt if status == "rewritten" else None)
        if status == "dropped":
            record["drop_reason"] = "broken" if value["verdict"] == "broken" else "misaligned_without_rewrite"
    if detector is not None and detector.get("correct") is not None and record["verdict"] in (
            "aligned", "misaligned", "broken"):
        record["agreement"] = (record["verdict"] == "aligned") == bool(detector["correct"])
    return record


def run_check(config: SynthConfig, progress=None) -> dict[str, Any]:
    """Check every generated sample without a final check record; returns counts, cost and
    ``unanswered`` (requests sent that got no reply: they may have been billed)."""
    store = RecordStore(config.work_dir)
    engine = detector = None
    counts: dict[str, int] = {}
    cost, unanswered = 0.0, 0
    try:
        done = store.ids("check", DONE)
        failed = store.ids("check", ("check_error",))
        store.refresh("plan")
        pending = (g for g in store.iterate("generate")  # streamed, a batch at a time
                   if g.get("status") == "ok" and g["subset"] != "subject" and g["id"] not in done)
        size = max(1, config.check.batch_size)
        with store.writer("check") as write:
            while True:
                gens = list(itertools.islice(pending, size))
                if not gens:
                    break
                if engine is None and config.check.vlm.model:
                    from echo4o_eval.api.engine import ApiEngine

                    engine = ApiEngine(engine_config(config.check.vlm, config.work_path / "cache" / "check.sqlite"))
                if detector is None and config.check.detector:
                    detector = DetectorCheck(config.check.detector, dict(config.check.detector_options))
                plans = [store.get("plan", g["id"], refresh=False) for g in gens]
                rounds = [retry_round(store.get("check", g["id"], refresh=False), "check_error")
                          if g["id"] in failed else 0 for g in gens]
                calls = [chat_call("check", CHECK_SYSTEM, check_text(p), images=[*g.get("references", []),
                                   g["image_path"]], max_side=config.check.max_side, validate=validate_check,
                                   retry_round=r)
                         for p, g, r in zip(plans, gens, rounds)] if engine else []
                results = engine.run_all(calls) if engine else [None] * len(gens)
                found = [(p, g) for p, g in zip(plans, gens) if p["subset"] == "instruction"]
                detections = iter(detector.run(found) if detector and found else [])
                for plan, gen, result, round_ in zip(plans, gens, results, rounds):
                    det = next(detections) if detector and plan["subset"] == "instruction" else None
                    record = _record(plan, gen, result, det)
                    record["retry_round"] = round_
                    write(record)
                    counts[record["status"]] = counts.get(record["status"], 0) + 1
                    cost += 0.0 if record.get("cached") else (record.get("cost_usd") or 0.0)
                    unanswered += record.get("unanswered") or 0
                if progress:
                    progress(len(gens))
    finally:
        if engine is not None:
            engine.close()
        if detector is not None:
            detector.close()
        store.close()
    return {"checked": sum(counts.values()), "by_status": dict(sorted(counts.items())),
            "cost_usd": round(cost, 6), "unanswered": unanswered}
