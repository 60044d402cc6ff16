"""What one stage record cost: the spend ledger's rule, shared by the budget, ``synth status``,
the report and the card.

Every record ever written counts, not only a sample's latest one: a failed attempt that a retry
replaced was still sent, and possibly billed. :class:`~echo4o_eval.data_gen.records.RecordStore`
keeps one ledger row per record line (:func:`line_spend`) as it indexes the files, so totals
cover the whole history without rereading it.

- generate: :func:`billed_images` (images the server billed, whatever became of them; cache
  replays are free), their cost when known; ``unpriced`` images have no price (never $0).
- plan and check (chat/VLM): a record whose call went to the server now (not all replayed from
  the cache) is one ``billed`` call; its ``cost_usd`` covers the replies fetched now.
- every stage: ``unanswered``, requests that reached the server and got no reply (timeout,
  broken connection): they may have been billed and have no price.

Example:
    >>> line_spend("generate", {"status": "generation_error", "cached": False, "cost_usd": 0.0039,
    ...                         "usage": {"api_calls": 3, "replies": 3}})
    {'billed': 3, 'cost_usd': 0.0039, 'unpriced': 0, 'unanswered': 0}
    >>> line_spend("check", {"status": "refused", "cached": False, "cost_usd": None, "unanswered": 1})
    {'billed': 1, 'cost_usd': None, 'unpriced': 1, 'unanswered': 1}
    >>> line_spend("plan", {"status": "ok", "writer": "template", "cost_usd": 0.0}) is None
    True
"""

from __future__ import annotations

from typing import Any


def billed_images(record: dict[str, Any]) -> int:
    """How many images the server billed for one generate record, whatever became of them
    (0: none; replays from the cache are free). An adapter that reports ``usage["replies"]``
    (replies fetched now, re-asks of unusable images included; the image API adapter does) is
    taken at its word. Otherwise an ``ok`` image fetched now is one, and so is a failed
    request with a reply the server priced (``cost_usd`` > 0) or a reply of unknown price
    (``cost_usd`` None after API calls).

    >>> billed_images({"status": "ok", "cached": False, "paid": True})
    1
    >>> billed_images({"status": "ok", "cached": True, "paid": False})
    0
    >>> billed_images({"status": "generation_error", "cached": False, "cost_usd": None,
    ...                "usage": {"api_calls": 3, "replies": 3}})  # three unusable, unpriced
    3
    >>> billed_images({"status": "generation_error", "cached": False, "cost_usd": 0.0,
    ...                "usage": {"api_calls": 7}})  # HTTP errors only: nothing billed
    0
    """
    if record.get("cached"):
        return 0
    usage = record.get("usage") or {}
    replies = usage.get("replies")
    if isinstance(replies, int) and not isinstance(replies, bool):
        return max(0, replies)
    if record.get("status") == "ok":
        return 1 if record.get("paid", True) else 0
    calls = usage.get("api_calls") or 0
    cost = record.get("cost_usd")
    return 1 if calls and (cost is None or cost > 0) else 0


def unanswered(record: dict[str, Any]) -> int:
    """Requests of this record that reached the server and got no reply."""
    value = record.get("unanswered") or (record.get("usage") or {}).get("unanswered") or 0
    return int(value)


def line_spend(stage: str, record: dict[str, Any]) -> dict[str, Any] | None:
    """The ledger row of one record line (``billed``, ``cost_usd``: None when unknown,
    ``unpriced``, ``unanswered``), or None when it spent nothing and sent nothing."""
    missed = unanswered(record)
    if stage == "generate":
        billed = billed_images(record)
    elif stage in ("plan", "check"):
        replayed = record.get("chat_cached") if stage == "plan" else record.get("cached")
        billed = 1 if replayed is False else 0  # None: no chat model was asked
    else:
        return None
    if not billed and not missed:
        return None
    cost = record.get("cost_usd") if billed else 0.0
    return {"billed": billed, "cost_usd": cost, "unpriced": billed if cost is None else 0,
            "unanswered": missed}
