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


def write_job(folder, base_url: str | None, counts=(4, 4, 4), subjects: int = 6, extra: dict | None = None):
    """A job YAML under ``folder`` using the fake server at ``base_url`` for everything.

    ``counts``: fantasy, instruction, multi_reference samples. Returns the file's path.
    """
    from pathlib import Path

    import yaml

    fantasy, instruction, multi = counts
    job = {
        "work_dir": str(Path(folder) / "work"),
        "plan": {"seed": 0, "fantasy": {"count": fantasy},
                 "instruction": {"count": instruction, "paraphrase": True},
                 "multi_reference": {"count": multi, "subjects": subjects}},
        "filter": {"min_side": 64, "allow_download": False, "benchmarks": ["geneval", "geneval_pp", "imagine_bench"]},
        "export": {"bagel": {"gpus": 2, "workers": 2, "rows_per_file": 4}},
    }
    if base_url:
        job["chat"] = {"model": "gpt-4.1-mini", "base_url": base_url, "api_key_env": "SYNTH_FAKE_KEY"}
        job["check"] = {"vlm": {"model": "gpt-4.1-mini", "base_url": base_url, "api_key_env": "SYNTH_FAKE_KEY"},
                        "batch_size": 4}
        job["generate"] = {"model": "openai:gpt-image-1", "batch_size": 4,
                           "options": {"base_url": base_url, "api_key_env": "SYNTH_FAKE_KEY", "concurrency": 4}}
    for key, value in (extra or {}).items():
        node = job
        *parents, last = key.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[last] = value
    path = Path(folder) / "job.yaml"
    path.write_text(yaml.safe_dump(job), encoding="utf-8")
    return path
