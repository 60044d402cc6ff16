"""Scripted replies and images for the synth tests and bench/synth_scale.py (fake OpenAI server).

* :func:`patterned_png` - a PNG whose content (and perceptual hash) follows the prompt, so
  different prompts give different images and a repeated prompt an identical one;
* :func:`chat_responder` - answers the pipeline's chat tasks by their ``[synth:<task>]`` tag:
  the fantasy writer and paraphraser echo a prompt; the checker says ``aligned`` for most
  samples, ``misaligned`` (with a rewrite) for prompts whose hash is 1 mod 5 and ``broken`` for
  2 mod 7.
"""

from __future__ import annotations

import hashlib
import io
import json
import re


def patterned_png(kind: str, body: dict, size: int = 320) -> bytes:
    """A blocky random PNG seeded by the request's prompt (same prompt, same picture)."""
    import numpy as np
    from PIL import Image

    prompt = str(body.get("prompt", ""))
    seed = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:4], "big")
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    image = Image.fromarray(blocks).resize((size, size), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _bucket(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def _user_text(body: dict) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if part.get("type") == "text")
    return content


def chat_responder(body: dict) -> str:
    """The reply to one of the pipeline's chat requests."""
    system = body["messages"][0]["content"]
    task = re.match(r"\[synth:([\w-]+)\]", system).group(1)
    text = _user_text(body)
    if task == "fantasy-writer":
        plain = text.split("A plain version: ", 1)[-1].strip()
        return json.dumps({"prompt": "Vivid: " + plain, "must_change": "the transformation",
                           "must_stay": "the object's identity"})
    if task == "paraphrase":
        return json.dumps({"prompt": "Reworded: " + text})
    if task == "check":
        prompt = text.split("\n", 1)[0].removeprefix("Prompt: ")
        bucket = _bucket(prompt)
        if bucket % 7 == 2:
            return json.dumps({"verdict": "broken", "reason": "the image is noise", "rewritten_prompt": None})
        if bucket % 5 == 1:
            return "```json\n" + json.dumps({"verdict": "misaligned", "reason": "a different scene",
                                              "rewritten_prompt": "Rewritten: " + prompt}) + "\n```"
        return json.dumps({"verdict": "aligned", "reason": "matches", "rewritten_prompt": None})
    raise AssertionError(f"unexpected chat task {task!r}")
