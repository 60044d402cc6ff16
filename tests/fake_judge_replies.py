"""Deterministic fake judge replies for the fake OpenAI server (tests and bench/).

``geneval_pp_reply`` answers our echo4o GenEval++ requests: one verdict per numbered requirement, derived from a
hash of the request text, so every run gets the same answers; every third reply is wrapped in a
markdown fence, as real models sometimes do.
"""

from __future__ import annotations

import hashlib
import json
import re


def user_text(body: dict) -> str:
    for message in body.get("messages", []):
        if message.get("role") == "user":
            content = message["content"]
            return content if isinstance(content, str) else content[0]["text"]
    return ""


def geneval_pp_reply(body: dict) -> str:
    text = user_text(body)
    digest = hashlib.sha256(text.encode()).digest()
    n = len(re.findall(r"^\d+\. ", text, flags=re.M))
    checks = [{"requirement": i, "observation": "seen", "satisfied": digest[i % 32] % 4 != 0}
              for i in range(1, n + 1)]
    reply = json.dumps({"checks": checks})
    return f"```json\n{reply}\n```" if digest[0] % 3 == 0 else reply


def any_benchmark_reply(body: dict) -> str:
    """A plausible reply for any of our echo4o-pack requests, chosen by the JSON schema sent."""
    schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema", {})
    props = schema.get("properties", {})
    digest = hashlib.sha256(user_text(body).encode()).digest()
    if "checks" in props:
        return geneval_pp_reply(body)
    if "fantasy_fulfillment" in props:
        return json.dumps({k: {"reason": "fine", "score": digest[i] % 11} for i, k in enumerate(
            ("fantasy_fulfillment", "identity_preservation", "aesthetic_quality"))})
    if "answer" in props:
        return json.dumps({"answer": "yes" if digest[0] % 3 else "no"})
    return json.dumps({"reasoning": "fine", "score": digest[0] % 11})
