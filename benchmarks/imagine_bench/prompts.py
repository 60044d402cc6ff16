"""Imagine-Bench judge prompts: the official score extraction (paper parity) and our ``echo4o``
pack (three 0-10 scores with reasons, JSON-schema output).

Example:
    >>> official_parse("Fantasy Fulfillment: 7\\nIdentity Preservation: 9\\nAesthetic Quality: 8")
    {'Fantasy Fulfillment': 7.0, 'Identity Preservation': 9.0, 'Aesthetic Quality': 8.0}
    >>> weighted_score(7, 9, 8)
    7.2
    >>> echo4o_parse('{"fantasy_fulfillment": {"reason": "", "score": 6}, '
    ...              '"identity_preservation": {"reason": "", "score": 7}, '
    ...              '"aesthetic_quality": {"reason": "", "score": 9}}')
    {'Fantasy Fulfillment': 6.0, 'Identity Preservation': 7.0, 'Aesthetic Quality': 9.0}
"""

from __future__ import annotations

import json
import re
from typing import Any

from echo4o_eval.prompts.replies import strip_fences
from echo4o_eval.prompts.official import Recipe, Script

#: The official Imagine-Bench judge script, pinned to a commit (parity prompts are read from it).
OFFICIAL_SCRIPT = Script("yejy53/Echo-4o", "28f36d76558e5f53b9deceda78bf025ef0d0ea24",
                         "test_scripts/Eval-gpt-4.1-Imagine.py")
#: name -> (script, recipe, sha256 of the UTF-8 text) of each official text parity mode sends.
OFFICIAL_TEXTS = {
    "imagine_system": (
        OFFICIAL_SCRIPT, Recipe("dict_text", function="build_messages", index=0),
        "9fb639bc53419f2e75d920740bfc8876b780e63428d0a2dc96a29bfeb56d185e"),
    "imagine_user_template": (
        OFFICIAL_SCRIPT,
        Recipe("fstring", function="build_messages", startswith="Please evaluate",
               fields={"prompt_data['instruction']": "{instruction}",
                       "prompt_data['note']": "{note}"}),
        "d023bce57ea28d0c7e0132e0756582b9fec14a34d382272a1029f0460a27bef2"),
}

CRITERIA = ("Fantasy Fulfillment", "Identity Preservation", "Aesthetic Quality")
_SCORE = re.compile(r"(Fantasy Fulfillment|Identity Preservation|Aesthetic Quality)\s*[:：]?\s*(\d{1,2})")


def official_parse(text: str) -> dict[str, float]:
    """Official extraction: every "<criterion>[:] <1-2 digits>" match, clamped to 0..10, the
    last match winning; a criterion never matched stays -1 (case-sensitive labels)."""
    scores: dict[str, float] = {name: -1 for name in CRITERIA}
    for name, digits in _SCORE.findall(text):
        scores[name] = max(0.0, min(float(digits), 10.0))
    return scores


def weighted_score(fantasy: float, identity: float, aesthetic: float) -> float:
    """Per-image score: 0.8 * min(fantasy, identity) + 0.2 * aesthetic, rounded to 3 places."""
    return round(min(fantasy, identity) * 0.8 + aesthetic * 0.2, 3)


ECHO4O_SYSTEM = (
    "You grade images made by text-to-image models for imaginative prompts: a real object, "
    "animal or person is changed in a way that cannot happen in reality. Grade strictly; a top "
    "score means a flawless result."
)

ECHO4O_USER = (
    "Prompt given to the model:\n{instruction}\n\n"
    "What the prompt asks for, in more detail:\n{note}\n\n"
    "Give three integer scores from 0 to 10, each with a one-sentence reason written first:\n"
    "- fantasy_fulfillment: is the imagined change shown fully and precisely (material, shape, "
    "texture, how it is integrated)? 0 = absent or contradicted, 10 = exactly as described.\n"
    "- identity_preservation: is the original object, animal or person still clearly "
    "recognisable in realistic detail despite the change? Cartoon-like or merely symbolic "
    "renderings score lower. 0 = unrecognisable, 10 = faithful in all major traits.\n"
    "- aesthetic_quality: is the image clear, well composed, realistic and free of artefacts? "
    "0 = broken, 10 = excellent."
)

_ENTRY = {"type": "object", "properties": {"reason": {"type": "string"}, "score": {"type": "integer"}},
          "required": ["reason", "score"], "additionalProperties": False}
ECHO4O_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"fantasy_fulfillment": _ENTRY, "identity_preservation": _ENTRY,
                   "aesthetic_quality": _ENTRY},
    "required": ["fantasy_fulfillment", "identity_preservation", "aesthetic_quality"],
    "additionalProperties": False,
}
_KEYS = dict(zip(("fantasy_fulfillment", "identity_preservation", "aesthetic_quality"), CRITERIA))


def echo4o_user_text(instruction: str, note: str) -> str:
    """ECHO4O_USER with ``instruction`` and ``note`` filled in."""
    return ECHO4O_USER.replace("{instruction}", instruction).replace("{note}", note)


def echo4o_parse(text: str) -> dict[str, float]:
    """Scores keyed like the official ones; ValueError unless all three are numbers in 0..10."""
    try:
        data = json.loads(strip_fences(text))
    except ValueError as exc:
        raise ValueError(f"reply is not JSON: {exc}") from exc
    out = {}
    for key, name in _KEYS.items():
        entry = data.get(key) if isinstance(data, dict) else None
        score = entry.get("score") if isinstance(entry, dict) else None
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 10:
            raise ValueError(f"{key}: expected a score 0..10, got {score!r}")
        out[name] = float(score)
    return out
