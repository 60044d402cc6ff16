"""Turn a JudgeRequest into chat messages (OpenAI format) and combine n-sample votes.

Shared by the OpenAI-compatible judge and the local transformers VLM judge. Images are read
with Pillow, converted to RGB, cropped when ``request.crop`` is set (applies to the last
image, the generated one), optionally downscaled to ``max_side`` and encoded as JPEG (Pillow's
default quality, as the official scripts) or PNG.

Example:
    >>> from echo4o_eval.records.types import JudgeRequest
    >>> messages = build_messages(JudgeRequest(key="main", images=(), text="Rate it", system="Be strict"))
    >>> [m["role"] for m in messages], messages[1]["content"][0]["text"]
    (['system', 'user'], 'Rate it')
    >>> combine_votes([{"ok": 1, "why": "a"}, {"ok": 0, "why": "b"}, {"ok": 1, "why": "c"}], "majority")
    {'ok': 1, 'why': 'a'}
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import statistics
from collections import Counter
from typing import Any, Sequence

from echo4o_eval.records.types import JudgeRequest


def load_image(path: str, crop=None, max_side: int | None = None):
    """Open ``path`` as RGB, crop ``(left, top, right, bottom)``, shrink to ``max_side``."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
    if crop is not None:
        img = img.crop(tuple(int(v) for v in crop))
    if max_side and max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
    return img


def encode_image(path: str, crop=None, image_format: str = "jpeg", max_side: int | None = None):
    """(mime type, encoded bytes) of one image."""
    fmt = image_format.lower()
    if fmt not in ("jpeg", "jpg", "png"):
        raise ValueError(f"image_format must be jpeg or png, not {image_format!r}")
    buffer = io.BytesIO()
    load_image(path, crop, max_side).save(buffer, format="PNG" if fmt == "png" else "JPEG")
    return ("image/png" if fmt == "png" else "image/jpeg"), buffer.getvalue()


def build_messages(
    request: JudgeRequest,
    image_urls: Sequence[str] = (),
    detail: str | None = None,
) -> list[dict[str, Any]]:
    """System message (a string, or one text part when ``system_as_parts``) and one user
    message: the text first, then the images in request order (references, generated last)."""
    messages: list[dict[str, Any]] = []
    if request.system is not None:
        content: Any = request.system
        if request.system_as_parts:
            content = [{"type": "text", "text": request.system}]
        messages.append({"role": "system", "content": content})
    parts: list[dict[str, Any]] = [{"type": "text", "text": request.text}]
    for url in image_urls:
        image_url = {"url": url}
        if detail:
            image_url["detail"] = detail
        parts.append({"type": "image_url", "image_url": image_url})
    messages.append({"role": "user", "content": parts})
    return messages


def data_url(mime: str, data: bytes) -> str:
    """A ``data:`` URL holding ``data`` base64-encoded with type ``mime``."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def prompt_hash(request: JudgeRequest, params: dict[str, Any]) -> str:
    """sha256 of everything in the request except the image bytes (audit / snapshot key)."""
    body = {
        "system": request.system, "system_as_parts": request.system_as_parts,
        "text": request.text, "n_images": len(request.images), "crop": request.crop,
        "schema": request.response_schema, "params": params,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=list).encode()).hexdigest()


def _combine(values: list[Any], rule: str) -> Any:
    first = values[0]
    if all(isinstance(v, dict) for v in values):
        keys = list(first)
        return {k: _combine([v[k] for v in values if k in v], rule) if all(k in v for v in values)
                else first[k] for k in keys}
    if all(isinstance(v, list) for v in values) and len({len(v) for v in values}) == 1:
        return [_combine([v[i] for v in values], rule) for i in range(len(first))]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    binary = all(isinstance(v, bool) or v in (0, 1) for v in values if v is not None)
    if numbers and not binary and rule in ("mean", "median"):
        return statistics.fmean(values) if rule == "mean" else statistics.median(values)
    if numbers or binary or all(isinstance(v, str) for v in values) and rule != "first":
        if all(isinstance(v, str) for v in values) and not binary:
            return first  # free text (reasons): keep the first vote's
        counts = Counter(json.dumps(v) for v in values)
        top = max(counts.values())
        # most common value; ties go to the lowest (the conservative verdict)
        winners = sorted((json.loads(k) for k, c in counts.items() if c == top),
                         key=lambda v: (v is None, float(v) if v is not None else 0.0))
        return winners[0]
    return first


def combine_votes(values: Sequence[Any], rule: str = "majority") -> Any:
    """Combine parsed replies of n votes: per key of dicts / item of lists, binary and
    categorical numbers by majority (ties to the lower value), other numbers by ``mean`` or
    ``median`` when that rule is chosen, free text from the first vote."""
    if rule not in ("majority", "mean", "median"):
        raise ValueError(f"vote_rule must be majority, mean or median, not {rule!r}")
    if not values:
        raise ValueError("no votes to combine")
    return values[0] if len(values) == 1 else _combine(list(values), rule)
