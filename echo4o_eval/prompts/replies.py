"""Helpers for reading judge replies, shared by every benchmark's reply parsers.

Example:
    >>> strip_fences('```json\\n{"a": 1}\\n```')
    '{"a": 1}'
"""

from __future__ import annotations

import re


def strip_fences(text: str) -> str:
    """Remove a surrounding markdown code fence (```json ... ```), if any."""
    text = text.strip().lstrip("\ufeff")
    match = re.match(r"^```[A-Za-z]*\s*([\s\S]*?)\s*```$", text)
    return match.group(1) if match else text
