"""DPG-Bench VQA prompts. The official scorer asks mPLUG each question verbatim and counts only
the exact answer "yes"; there is no official chat prompt. The ``official`` pack therefore sends
the bare question; our ``echo4o`` pack adds a short instruction and a yes/no JSON schema.

Parity mode keeps each reply exactly as the official comparison ``answer == 'yes'`` sees it
(:func:`official_parse`), so "Yes", "yes " and "yes." count as no. Default mode normalises
the reply to its first word ("Yes." -> "yes") and refuses replies that are neither yes nor no.

Example:
    >>> normalise_answer(" Yes. ")
    'yes'
    >>> official_parse("Yes."), official_parse("yes")
    ('Yes.', 'yes')
    >>> echo4o_parse('{"answer": "no"}')
    'no'
"""

from __future__ import annotations

import json
import re

from echo4o_eval.prompts.replies import strip_fences

ECHO4O_SYSTEM = (
    "Answer a question about the image with yes or no. Say yes only when the image clearly "
    "shows what is asked."
)
ECHO4O_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["answer"],
    "additionalProperties": False,
}


def normalise_answer(text: str) -> str:
    """Lower-case first word without punctuation ("Yes." -> "yes"); the stripped text otherwise."""
    words = re.findall(r"[A-Za-z]+", text)
    first = words[0].lower() if words else ""
    return first if first in ("yes", "no") else text.strip()


def official_parse(text: str) -> str:
    """The reply unchanged: the official script scores 1 only when ``answer == 'yes'``."""
    return text


def strict_parse(text: str) -> str:
    """The reply's first word when it is yes or no (normalised); ValueError otherwise."""
    answer = normalise_answer(text)
    if answer not in ("yes", "no"):
        raise ValueError(f"not a yes/no answer: {text[:80]!r}")
    return answer


def echo4o_parse(text: str) -> str:
    """The "answer" of a JSON reply (ValueError unless yes or no); non-JSON goes to strict_parse."""
    try:
        data = json.loads(strip_fences(text))
    except ValueError:
        return strict_parse(text)
    answer = data.get("answer") if isinstance(data, dict) else None
    if answer not in ("yes", "no"):
        raise ValueError(f"answer must be yes or no, got {answer!r}")
    return answer
