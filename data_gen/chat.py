"""Chat/VLM requests of the pipeline (prompt writing, paraphrase, check and rewrite) as
:class:`~echo4o_eval.api.engine.ApiCall` records for the shared API engine, and the parser of
their JSON replies. Every system prompt starts with a ``[synth:<task>]`` tag (test servers and
logs can tell the tasks apart). The prompts were written for this project.

A reply with no content but a ``refusal`` (OpenAI's structured refusal) is not a parse failure:
the validators return it as a :class:`~echo4o_eval.judges.openai_judge.Refusal` (the judge's
own helper), so the engine does not ask again (asking again rarely changes a refusal and is
paid each time) and the stage records the sample as ``refused`` with the model's text
(:func:`refusal_of`).

Example:
    >>> parse_json_reply({"choices": [{"message": {"content": '```json\\n{"prompt": "x"}\\n```'}}]})
    {'prompt': 'x'}
    >>> call = chat_call("fantasy-writer", WRITER_SYSTEM, "brief")
    >>> call.payload["messages"][0]["content"].startswith("[synth:fantasy-writer]")
    True
    >>> refused = {"choices": [{"message": {"content": None, "refusal": "I can't help with that"}}]}
    >>> refusal_of(validate_check(refused)), refusal_of(needs_text("prompt")(refused))
    ("I can't help with that", "I can't help with that")
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Sequence

from echo4o_eval.api.engine import ApiCall
from echo4o_eval.judges.openai_judge import Refusal, reply_refusal, reply_text
from echo4o_eval.judges.vlm_messages import data_url, encode_image

WRITER_SYSTEM = (
    "You write prompts for a text-to-image model that must depict imaginative, physically "
    "impossible scenes. Given a base object, a transformation and its value, write one vivid but "
    "precise prompt (one or two sentences) and say what must change and what must stay the same. "
    'Reply with JSON only: {"prompt": "...", "must_change": "...", "must_stay": "..."}'
)
PARAPHRASE_SYSTEM = (
    "Reword the image description you are given so that it reads naturally, keeping every "
    "object, count, colour, position and size exactly as stated; add nothing. "
    'Reply with JSON only: {"prompt": "..."}'
)
CHECK_SYSTEM = (
    "You check training data for an image generator. You see a prompt (and, for multi-reference "
    "samples, the reference images first and the generated image last). Decide: "
    '"aligned" if the generated image shows everything the prompt asks for; "misaligned" if it is a '
    "good image that differs from the prompt - then write rewritten_prompt, a prompt in the same "
    'style that describes exactly what the image shows; "broken" if the image is unusable '
    "(corrupted, blank, distorted, unreadable). "
    'Reply with JSON only: {"verdict": "aligned|misaligned|broken", "reason": "...", '
    '"rewritten_prompt": "... or null"}'
)
VERDICTS = ("aligned", "misaligned", "broken")


def parse_json_reply(reply: dict) -> dict[str, Any]:
    """The JSON object in a chat reply (code fences allowed); ValueError when there is none."""
    text = reply_text(reply).strip()  # ValueError when there is no message or it is empty
    if text.startswith("```"):
        text = text.strip("`")
        text = text[4:] if text.lower().startswith("json") else text
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError(f"no JSON object in reply: {text[:120]!r}")
    try:
        value = json.loads(text[start:end + 1])
    except ValueError as exc:
        raise ValueError(f"reply JSON does not parse: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError("reply JSON is not an object")
    return value


def refusal_of(value: Any) -> str | None:
    """The model's refusal text when a validated value is a refusal; None otherwise."""
    return str(value) if isinstance(value, Refusal) else None


def needs_text(*keys: str) -> Callable[[dict], dict | Refusal]:
    """A validator: the reply's JSON must hold non-empty strings under ``keys`` (a refusal is
    returned as a :class:`Refusal`)."""

    def validate(reply: dict) -> dict | Refusal:
        refusal = reply_refusal(reply)
        if refusal is not None:
            return Refusal(refusal)
        value = parse_json_reply(reply)
        for key in keys:
            if not isinstance(value.get(key), str) or not value[key].strip():
                raise ValueError(f"reply lacks a non-empty {key!r}")
        return value

    return validate


def validate_check(reply: dict) -> dict | Refusal:
    """A check reply: a known verdict; a misaligned verdict may carry a rewritten prompt (a
    refusal is returned as a :class:`Refusal`)."""
    refusal = reply_refusal(reply)
    if refusal is not None:
        return Refusal(refusal)
    value = parse_json_reply(reply)
    verdict = str(value.get("verdict", "")).strip().lower()
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {value.get('verdict')!r}")
    rewritten = value.get("rewritten_prompt")
    rewritten = rewritten.strip() if isinstance(rewritten, str) and rewritten.strip().lower() != "null" else None
    return {"verdict": verdict, "reason": str(value.get("reason") or ""), "rewritten_prompt": rewritten or None}


def chat_call(task: str, system: str, text: str, images: Sequence[str] = (), max_side: int = 768,
              validate: Callable[[dict], Any] | None = None, max_tokens: int = 400,
              retry_round: int = 0) -> ApiCall:
    """One JSON-answering chat request; images are sent downscaled, hashed by content for the
    cache. ``retry_round`` n > 0 (the sample's n-th try after a failed record) asks in new cache
    slots, so unusable replies that were cached are not replayed but asked again."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    digests = []
    for path in images:
        mime, data = encode_image(str(path), max_side=max_side)
        parts.append({"type": "image_url", "image_url": {"url": data_url(mime, data)}})
        digests.append(hashlib.sha256(Path(path).read_bytes()).hexdigest())
    messages = [{"role": "system", "content": f"[synth:{task}] {system}"},
                {"role": "user", "content": parts if images else text}]
    payload = {"messages": messages, "temperature": 0, "max_tokens": max_tokens}
    key = {"task": task, "system": system, "text": text, "images": digests, "max_side": max_side,
           "max_tokens": max_tokens}
    return ApiCall(kind="chat", payload=payload, key_payload=key, validate=validate,
                   estimated_tokens=len(text) // 3 + 800 * len(images),
                   slot=f"r{retry_round}.v0" if retry_round else "v0")

