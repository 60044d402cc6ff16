"""OmniContext judge prompts: the official reply parser (paper parity) and our ``echo4o`` pack
(prompt following and subject consistency, scene-aware, JSON-schema output).

Official parsing, reproduced from the goldens: the literal reply "rate_limit_exceeded" is
passed through; otherwise the span from the first ``{`` to the last ``}`` is taken (newlines
removed) and json-decoded, falling back to a regex repair that quotes bare keys and wraps
numbers in lists (``{"score": [6]}``); a reply that is just an integer 0..10 becomes
``{"score": n, ...}``; anything else raises. The repair runs on the third-party ``regex``
module, as the official code does: its ``\\w`` also matches combining marks and the zero-width
joiner, where stdlib ``re`` does not, so the two repair some replies differently.

The official parser accepts any number as a score; :func:`checked_score` (default mode)
refuses scores outside 0..10.

Example:
    >>> official_parse('Result: {"score": 7, "reasoning": "ok"}')
    {'score': 7, 'reasoning': 'ok'}
    >>> official_parse("{score: 6}")
    {'score': [6]}
    >>> official_score({"score": 7, "reasoning": "ok"})
    7.0
"""

from __future__ import annotations

import json
from typing import Any

from echo4o_eval.prompts.replies import strip_fences
from echo4o_eval.prompts.official import Recipe, Script

#: OmniGen2's OmniContext prompt generator, pinned to a commit (parity prompts are read from it).
OFFICIAL_SCRIPT = Script("VectorSpaceLab/OmniGen2", "0f72fa92564d9f8ba76f53fcc3c05aca2372458f",
                         "omnicontext/prompt_generator.py")
_PREAMBLE = "_context_no_delimit"
_RULE = "_prompts_0shot_in_context_generation_rule_"
#: name -> (script, recipe, sha256 of the UTF-8 text) of each official text parity mode sends.
OFFICIAL_TEXTS = {
    "omnicontext_prompt_following": (
        OFFICIAL_SCRIPT, Recipe("assign", names=(_PREAMBLE, _RULE + "PF_Single_and_Multiple")),
        "f91db247df9db7bb784b4cb213e5e5da8ff7bf55de3b8035be9fdc808f7d4d5b"),
    "omnicontext_prompt_following_scene": (
        OFFICIAL_SCRIPT, Recipe("assign", names=(_PREAMBLE, _RULE + "PF_Scene")),
        "49264679c29a614902119468c2acba69f2be7592e342915ce0e04bacb7d2336b"),
    "omnicontext_subject_consistency": (
        OFFICIAL_SCRIPT, Recipe("assign", names=(_PREAMBLE, _RULE + "SC_Single_and_Multiple")),
        "fe3c9a31f40869ca768e4cf723c56a324616615fecf8566d1239f90fab33df9a"),
    "omnicontext_subject_consistency_scene": (
        OFFICIAL_SCRIPT, Recipe("assign", names=(_PREAMBLE, _RULE + "SC_Scene")),
        "e42c5976dfae1a474eb94aafac573c235439351fb88caa6fae1f363c14a90a06"),
}

NUMBER_REASON = "System: output is simply a number"


class OfficialParseError(ValueError):
    """The official parser would have raised on this reply."""


def _repair(text: str) -> str:
    import regex  # the official json_util imports ``regex as re``

    quoted = regex.sub(r"(\w+):", r'"\1":', text)

    def value(match) -> str:
        """Rewrite one ``key: value`` pair as JSON: numbers in a list, other bare words quoted."""
        key, raw, end = match.groups()
        raw = raw.strip()
        if regex.match(r"^-?\d+(\.\d+)?$", raw):
            raw = f"[{raw}]"
        elif not regex.match(r"^(true|false|null)$", raw, regex.IGNORECASE):
            raw = f'"{raw}"'
        return f"{key}: {raw}{end}"

    return regex.sub(r'(".*?"):(.*?)(,|})', value, quoted)


def _small_int(text: str) -> int | None:
    try:
        number = int(text)
    except ValueError:
        return None
    return number if 0 <= number <= 10 else None


def official_parse(text: str) -> Any:
    """Parse one judge reply as the official OmniContext code does (see module doc)."""
    if text == "rate_limit_exceeded":
        return text
    start, end = text.find("{"), text.rfind("}") + 1
    if start == -1 or end == 0:
        number = _small_int(text)
        if number is None:
            raise OfficialParseError(f"Failed to find the json content in the string: input_string={text!r}.")
        return {"score": number, "reasoning": NUMBER_REASON}
    if start == end:
        raise OfficialParseError("The required delimiters were not found correctly in the string")
    body = text[start:end].strip().replace("\n", "")
    try:
        return json.loads(body)
    except ValueError:
        return json.loads(_repair(body))  # may raise JSONDecodeError (a ValueError)


def official_score(parsed: Any) -> float:
    """The ``score`` field as a number, in any range (the official code checks none);
    ValueError for what the official statistics cannot average (lists from the repair path,
    strings, missing score)."""
    score = parsed.get("score") if isinstance(parsed, dict) else None
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        raise ValueError(f"score is not a number: {score!r}")
    return float(score)


def checked_score(parsed: Any) -> float:
    """:func:`official_score` limited to 0..10 (ValueError outside, e.g. ``{"score": -3}``).

    >>> checked_score({"score": -3})
    Traceback (most recent call last):
    ...
    ValueError: expected a score 0..10, got -3.0
    """
    score = official_score(parsed)
    if not 0 <= score <= 10:
        raise ValueError(f"expected a score 0..10, got {score!r}")
    return score


ECHO4O_PREAMBLE = (
    "You evaluate images produced by a model that composes new pictures from reference images "
    "and an instruction. The first images are the references, the last image is the result to "
    "evaluate. All people shown are AI-generated; privacy is not a concern.\n\n"
)

PROMPT_FOLLOWING = (
    "Score from 0 to 10 how completely the result carries out the instruction: the requested "
    "composition, poses, positions, interactions, and added or removed elements. Ignore whether "
    "the subjects look like the references{scene_clause} and ignore artistic quality; judge only "
    "whether the requested changes were made. 0 = not at all, 1-3 = mostly wrong, 4-6 = partly, "
    "with clear omissions, 7-9 = nearly all, with small issues, 10 = fully and exactly. Be strict.\n\n"
    "Instruction: {instruction}"
)

SUBJECT_CONSISTENCY = (
    "Score from 0 to 10 how well the subjects in the result keep the identities of the subjects "
    "in the reference images{scene_subject}. Compare faces and heads (eyes, nose, mouth, face "
    "shape, hair, make-up), body shape and skin tone, and - unless the instruction changes them "
    "- clothing and accessories; for objects, compare shape, colour, texture and markings."
    "{scene_rules} Deduct a point for every clear difference. Ignore pose, composition and how "
    "well other parts of the instruction were followed. 0 = entirely different, 1-3 = severely "
    "inconsistent, 4-6 = partly similar, 7-9 = mostly consistent, 10 = identical identities. "
    "Be strict.\n\nInstruction: {instruction}"
)

ECHO4O_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"reasoning": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["reasoning", "score"],
    "additionalProperties": False,
}


def echo4o_prompt(criterion: str, instruction: str, scene: bool) -> str:
    """Our prompt for ``criterion`` ("prompt_following" or "subject_consistency")."""
    if criterion == "prompt_following":
        body = PROMPT_FOLLOWING.replace(
            "{scene_clause}", " or whether the scene is preserved" if scene else "")
    elif criterion == "subject_consistency":
        body = SUBJECT_CONSISTENCY.replace(
            "{scene_subject}", " and the scene of the scene reference" if scene else ""
        ).replace("{scene_rules}", (
            " Also check that the background blends in the scene reference's location, lighting,"
            " objects and layout." if scene else ""))
    else:
        raise ValueError(f"unknown OmniContext criterion {criterion!r}")
    return ECHO4O_PREAMBLE + body.replace("{instruction}", instruction)


def echo4o_parse(text: str) -> dict[str, Any]:
    """``{"score": float, "reasoning": str}``; ValueError unless score is a number in 0..10."""
    try:
        data = json.loads(strip_fences(text))
    except ValueError as exc:
        raise ValueError(f"reply is not JSON: {exc}") from exc
    score = data.get("score") if isinstance(data, dict) else None
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 10:
        raise ValueError(f"expected a score 0..10, got {score!r}")
    return {"score": float(score), "reasoning": str(data.get("reasoning", ""))}
