"""Counts and cost per stage of a work directory (``synth status``, the card and the report).

Statuses are counted by name over each sample's latest record (a sample a model refused is
``refused``, apart from errors). Money is counted over every record ever written (the store's
spend ledger, :mod:`~echo4o_eval.data_gen.spend`): failed attempts that a retry replaced were
sent too. The generate stage's cost and ``paid_images`` count every image the server billed,
an unusable one too; a call or image with no known price is counted in ``cost_unknown``, never
as $0. ``unanswered`` counts requests that reached the server but got no reply (timeout,
broken connection): they may have been billed and are in no cost; ``unanswered_requests`` is
their total over the stages.

Example:
    >>> import tempfile
    >>> from echo4o_eval.data_gen.config import load_synth_config
    >>> summary = stage_summary(load_synth_config(None, [f"work_dir={tempfile.mkdtemp()}"]))
    >>> summary["plan"]["samples"], summary["final"], summary["unanswered_requests"]
    (0, {}, 0)
"""

from __future__ import annotations

import json
from typing import Any

from echo4o_eval.data_gen.config import SynthConfig
from echo4o_eval.data_gen.final import count_final
from echo4o_eval.data_gen.records import RecordStore


def _stage(store: RecordStore, stage: str) -> dict[str, Any]:
    by_subset: dict[str, dict[str, int]] = {}
    cached, agree, disagree = 0, 0, 0
    for record in store.iterate(stage):
        subset = by_subset.setdefault(record.get("subset", "?"), {})
        status = str(record.get("status"))
        subset[status] = subset.get(status, 0) + 1
        if record.get("chat_cached") if stage == "plan" else record.get("cached"):
            cached += 1  # the latest record was replayed from the cache
        if record.get("agreement") is True:
            agree += 1
        elif record.get("agreement") is False:
            disagree += 1
    totals: dict[str, int] = {}
    for statuses in by_subset.values():
        for status, n in statuses.items():
            totals[status] = totals.get(status, 0) + n
    out: dict[str, Any] = {"samples": sum(totals.values()), "by_status": dict(sorted(totals.items())),
                           "by_subset": {k: dict(sorted(v.items())) for k, v in sorted(by_subset.items())}}
    if stage != "filter":
        spent = store.spend(stage)  # every attempt ever recorded, not only the latest
        out.update(cost_usd=round(spent["cost_usd"], 6), cost_unknown=spent["unpriced"], cached=cached,
                   unanswered=spent["unanswered"])
    if stage == "generate":
        out["paid_images"] = spent["billed"]
    if stage == "check":
        out["detector_agreement"] = {"agree": agree, "disagree": disagree}
    return out


def stage_summary(config: SynthConfig) -> dict[str, Any]:
    """``{stage: counts and cost}`` plus ``final`` (kept samples per subset) and ``total_cost_usd``."""
    store = RecordStore(config.work_dir)
    try:
        summary: dict[str, Any] = {stage: _stage(store, stage) for stage in ("plan", "generate", "check", "filter")}
        summary["final"] = count_final(store)
    finally:
        store.close()
    filter_file = config.work_path / "filter_summary.json"
    if filter_file.exists():
        summary["filter"]["details"] = json.loads(filter_file.read_text(encoding="utf-8"))
    summary["total_cost_usd"] = round(sum(summary[s].get("cost_usd", 0.0) for s in ("plan", "generate", "check")), 6)
    summary["unanswered_requests"] = sum(summary[s].get("unanswered", 0) for s in ("plan", "generate", "check"))
    return summary


def unanswered_note(summary: dict[str, Any]) -> str | None:
    """The line saying how many requests got no reply, or None when every request got one.

    >>> unanswered_note({"unanswered_requests": 2})
    '2 request(s) got no reply (timeout or broken connection); they may have been billed and are not in the costs'
    """
    count = summary.get("unanswered_requests") or 0
    if not count:
        return None
    return (f"{count} request(s) got no reply (timeout or broken connection); they may have been "
            "billed and are not in the costs")


def format_summary(summary: dict[str, Any]) -> str:
    """Plain-text lines for the terminal.

    >>> print(format_summary({"plan": {"samples": 2, "by_status": {"ok": 2}, "cost_usd": 0.0},
    ...                       "final": {"fantasy": 2}, "total_cost_usd": 0.0}))
    plan: 2 samples (ok 2), cost $0.0000
    final: fantasy 2
    total cost: $0.0000
    """
    lines = []
    for stage in ("plan", "generate", "check", "filter"):
        if stage not in summary:
            continue
        info = summary[stage]
        statuses = ", ".join(f"{k} {v}" for k, v in info["by_status"].items())
        line = f"{stage}: {info['samples']} samples ({statuses})"
        if "cost_usd" in info:
            line += f", cost ${info['cost_usd']:.4f}"
            if info.get("cost_unknown"):
                line += f" + {info['cost_unknown']} of unknown price"
        lines.append(line)
    lines.append("final: " + (", ".join(f"{k} {v}" for k, v in summary.get("final", {}).items()) or "none"))
    lines.append(f"total cost: ${summary.get('total_cost_usd', 0.0):.4f}")
    note = unanswered_note(summary)
    if note:
        lines.append(f"note: {note}")
    return "\n".join(lines)
