"""Turn ``--model`` and ``--judge`` spec strings into model and judge objects.

Judges: ``PREFIX[:ARGUMENT]`` picks the JUDGES registry entry ``PREFIX`` and calls it with
``ARGUMENT`` and the judge options. Models go through the model grammar of
:mod:`echo4o_eval.models.resolve` (bare paths are recognised by their contents).

Example:
    >>> make_judge("no-such-judge", {})
    Traceback (most recent call last):
    ...
    echo4o_eval.registry.UnknownNameError: unknown judge 'no-such-judge'...
"""

from __future__ import annotations

from typing import Any, Mapping

from echo4o_eval.catalog import JUDGES, split_spec


def make_model(spec: str, options: Mapping[str, Any]):
    """An ImageModel for ``spec`` (see ``echo4o-eval run --help`` for the grammar)."""
    from echo4o_eval.models.resolve import resolve_model

    return resolve_model(spec, dict(options))


def make_judge(spec: str, options: Mapping[str, Any]):
    """A Judge for ``spec`` such as ``openai:gpt-4.1`` or ``mask2former-clip``."""
    from echo4o_eval.optional import check_judge_extras

    prefix, argument = split_spec(spec)
    check_judge_extras(prefix)  # names the extra before anything imports torch
    factory = JUDGES.get(prefix)
    return factory(argument, dict(options))
