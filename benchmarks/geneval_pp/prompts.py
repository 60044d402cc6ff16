"""GenEval++ judge prompts: the official checklist and reply parser (paper parity) and our
``echo4o`` pack (one verdict per checklist clause, JSON-schema output).

Official behaviour reproduced from the goldens (not from the script's code): the checklist
lists one line per ``include`` item (count, then plural ``s`` appended naively when count > 1,
``<color>-colored`` and the size word before the noun, region phrase or "present in the image")
and one line per ``exclude`` item ("No more than count-1 ..."). Malformed metadata raises
:class:`ChecklistError`.

Example:
    >>> meta = {"include": [{"class": "dog", "count": 2, "color": "red", "region": "left"}]}
    >>> print(official_checklist(meta))
    This image should contain:
    - red-colored 2 dogs located in the left part of the image.
    >>> official_parse('```json\\n{"correct": 1, "reason": "ok"}\\n```')
    {'correct': 1, 'reason': 'ok'}
    >>> clauses(meta)
    ['exactly 2 dogs, red in colour, placed in the left part of the picture']
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from echo4o_eval.prompts.replies import strip_fences
from echo4o_eval.prompts.official import Recipe, Script

#: The official GenEval++ judge script, pinned to a commit (parity prompts are read from it).
OFFICIAL_SCRIPT = Script("yejy53/Echo-4o", "28f36d76558e5f53b9deceda78bf025ef0d0ea24",
                         "test_scripts/Eval-gpt-4.1-geneval++.py")
#: name -> (script, recipe, sha256 of the UTF-8 text) of each official text parity mode sends.
OFFICIAL_TEXTS = {
    "geneval_pp_system": (
        OFFICIAL_SCRIPT, Recipe("assign", names=("SYSTEM_PROMPT",)),
        "819efd5edb91428f4f804edc5199782dff55d9c70630e603babdb1402556bcae"),
    "geneval_pp_user_template": (
        OFFICIAL_SCRIPT,
        Recipe("fstring", function="process_sample", startswith="Instruction:",
               fields={"instruction": "{instruction}", "explanation": "{checklist}"}),
        "25b0f47fe6609a020c8815d57e58706df5c85dbce6cb9b06a22de632d2266f5e"),
}


class ChecklistError(ValueError):
    """A GenEval++ metadata row cannot be turned into a checklist (names the problem)."""


def _count(item: Mapping[str, Any], where: str) -> Any:
    count = item.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, (int, float)):
        raise ChecklistError(f"{where}: count must be a number, got {count!r}")
    return count


def _class(item: Mapping[str, Any], where: str) -> str:
    if "class" not in item:
        raise ChecklistError(f"{where}: missing 'class' in {dict(item)!r}")
    return item["class"]


def official_checklist(metadata: Mapping[str, Any]) -> str:
    """The official checklist text for one row (exactly as the official script builds it)."""
    lines = []
    for i, item in enumerate(metadata.get("include", [])):
        where = f"include[{i}]"
        name, count = _class(item, where), _count(item, where)
        noun = f"{count} {name}s" if count > 1 else f"{count} {name}"
        words = [w for w in (f"{item['color']}-colored" if item.get("color") else None,
                             item.get("size") or None) if w]
        if words:
            noun = " ".join(words) + " " + noun
        place = (f"located in the {item['region']} part of the image" if item.get("region")
                 else "present in the image")
        lines.append(f"- {noun} {place}.")
    for i, item in enumerate(metadata.get("exclude", [])):
        where = f"exclude[{i}]"
        name, count = _class(item, where), _count(item, where)
        noun = f"{name}s" if count > 1 else name
        lines.append(f"- No more than {count - 1} {noun} should appear.")
    return "This image should contain:\n" + "\n".join(lines)


def official_user_text(template: str, metadata: Mapping[str, Any]) -> str:
    """Fill the official user template (plain replacement; the prompt is stripped)."""
    return template.replace("{instruction}", str(metadata.get("prompt", "")).strip()).replace(
        "{checklist}", official_checklist(metadata)
    )


_FENCE_OPEN = re.compile(r"^```json\s*")
_FENCE_CLOSE = re.compile(r"\s*```$")
_OBJECT = re.compile(r"\{[\s\S]*\}")


def official_parse(text: str) -> Any:
    """Official reply parsing: drop a leading ```json fence and a closing fence, take the span
    from the first ``{`` to the last ``}`` and json-decode it. ValueError when impossible."""
    text = _FENCE_CLOSE.sub("", _FENCE_OPEN.sub("", text.strip()))
    match = _OBJECT.search(text)
    if not match:
        raise ValueError("No JSON object found")
    return json.loads(match.group(0))  # JSONDecodeError is a ValueError


def official_verdict_problem(parsed: Any) -> str | None:
    """Why an official-format reply carries no usable verdict (None when ``correct`` is one of
    0, 1, True, False). The official script silently counts such replies as wrong; outside
    parity mode we treat them as unparsable instead.

        >>> official_verdict_problem({"correct": 1, "reason": "ok"}) is None
        True
        >>> official_verdict_problem({"correct": "1"})
        "'correct' must be 0, 1, true or false, got '1'"
    """
    if not isinstance(parsed, Mapping):
        return f"reply is not a JSON object: {str(parsed)[:80]!r}"
    if "correct" not in parsed:
        return "reply has no 'correct' field"
    value = parsed["correct"]
    if isinstance(value, bool) or (type(value) in (int, float) and value in (0, 1)):
        return None
    return f"'correct' must be 0, 1, true or false, got {value!r}"


def official_parse_strict(text: str) -> Any:
    """:func:`official_parse` plus a check that ``correct`` is 0, 1, True or False
    (ValueError otherwise, so the judge re-asks and finally reports a parse_error).

        >>> official_parse_strict('{"reason": "hmm"}')
        Traceback (most recent call last):
        ...
        ValueError: reply has no 'correct' field
    """
    parsed = official_parse(text)
    problem = official_verdict_problem(parsed)
    if problem:
        raise ValueError(problem)
    return parsed


def official_counts_as_correct(parsed: Any) -> bool:
    """As the official summary: ``correct == 1`` (True and 1.0 count; "1" does not)."""
    return isinstance(parsed, Mapping) and parsed.get("correct", 0) == 1


# ---------------------------------------------------------------------------------------
# Our pack ("echo4o"): same criteria, written by us, one verdict per clause.

ECHO4O_SYSTEM = (
    "You check generated images against a list of requirements. Look at the picture carefully "
    "and judge every requirement on its own.\n"
    "Judge by what is actually visible: count every instance of each named object, read its "
    "colour as a person would name it, and judge positions by where the object sits in the "
    "frame (left, right, above/top, below/bottom, centre). For size, compare apparent sizes "
    "of the named objects.\n"
    "A requirement is satisfied only if it clearly holds; when in doubt, it is not satisfied. "
    "The last requirement is always about the picture as a whole: it must look like one "
    "natural photograph of a single scene - not a cartoon, drawing, painting or 3D render, "
    "and not a collage, grid or several panels.\n"
    "For each requirement, first write a short observation, then the verdict."
)

ECHO4O_USER = (
    "The image was generated for this text:\n{instruction}\n\n"
    "Requirements:\n{clauses}\n\n"
    "Answer in JSON with one entry per requirement, in order."
)

_REGION_WORDS = {"above": "upper", "top": "upper", "below": "lower", "bottom": "lower",
                 "center": "central", "centre": "central", "middle": "central"}

WHOLE_IMAGE_CLAUSE = "the picture is one natural, photo-like scene (no cartoon style, no collage or panels)"


def _plural(name: str, count: Any) -> str:
    if count == 1:
        return name
    if name.endswith(("s", "sh", "ch", "x")):
        return name if name.endswith("s") else name + "es"
    return name + "s"


def clauses(metadata: Mapping[str, Any]) -> list[str]:
    """Our wording of the row's requirements, one per include/exclude item."""
    out = []
    for i, item in enumerate(metadata.get("include", [])):
        where = f"include[{i}]"
        name, count = _class(item, where), _count(item, where)
        text = f"exactly {count} {_plural(name, count)}"
        if item.get("color"):
            text += f", {item['color']} in colour"
        if item.get("size"):
            text += f", clearly {item['size']} than the other listed objects"
        if item.get("region"):
            region = _REGION_WORDS.get(item["region"], item["region"])
            text += f", placed in the {region} part of the picture"
        out.append(text)
    for i, item in enumerate(metadata.get("exclude", [])):
        where = f"exclude[{i}]"
        name, count = _class(item, where), _count(item, where)
        out.append(f"at most {count - 1} {_plural(name, 2)} in total")
    return out


def echo4o_user_text(metadata: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(user text, clause list incl. the whole-image clause) for our pack."""
    items = clauses(metadata) + [WHOLE_IMAGE_CLAUSE]
    listing = "\n".join(f"{i}. {c}" for i, c in enumerate(items, 1))
    text = ECHO4O_USER.replace("{instruction}", str(metadata.get("prompt", "")).strip())
    return text.replace("{clauses}", listing), items


ECHO4O_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "checks": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "requirement": {"type": "integer"},
                    "observation": {"type": "string"},
                    "satisfied": {"type": "boolean"},
                },
                "required": ["requirement", "observation", "satisfied"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["checks"],
    "additionalProperties": False,
}


def echo4o_parser(n_clauses: int):
    """Parser for our pack: returns ``[{"requirement", "observation", "satisfied"}...]`` ordered
    by requirement; ValueError unless every requirement 1..n has exactly one boolean verdict."""

    def parse(text: str) -> list[dict[str, Any]]:
        """The ordered verdicts from ``text``; ValueError for a reply that is unusable."""
        try:
            data = json.loads(strip_fences(text))
        except ValueError as exc:
            raise ValueError(f"reply is not JSON: {exc}") from exc
        checks = data.get("checks") if isinstance(data, dict) else None
        if not isinstance(checks, list):
            raise ValueError("reply lacks a 'checks' list")
        by_index = {}
        for check in checks:
            if not isinstance(check, dict) or not isinstance(check.get("satisfied"), bool):
                raise ValueError(f"check without a boolean verdict: {check!r}")
            by_index[check.get("requirement")] = check
        if sorted(k for k in by_index if isinstance(k, int)) != list(range(1, n_clauses + 1)) \
                or len(checks) != n_clauses:
            raise ValueError(f"expected verdicts for requirements 1..{n_clauses}, got {sorted(map(str, by_index))}")
        return [{"requirement": i, "observation": str(by_index[i].get("observation", "")),
                 "satisfied": by_index[i]["satisfied"]} for i in range(1, n_clauses + 1)]

    return parse
