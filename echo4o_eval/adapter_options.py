"""Options of judges and model adapters (``--judge-option`` / ``--model-option KEY=VALUE``)
read into a typed options dataclass.

:func:`adapter_options` is :func:`echo4o_eval.config.typed_options` (unknown key: a
ConfigError with a did-you-mean that names the adapter; a value of the wrong type: a
ConfigError saying what was expected) plus the spellings these options have always accepted:

* the CLI reads ``KEY=VALUE`` values as JSON, so ``device=0`` arrives as the number 0: a
  number (or true/false) given for a text option is taken as the text typed;
* a path (``pathlib.Path``) given for a text option is taken as its text;
* a true/false option also takes 1/0, yes/no and on/off (any case);
* ``None`` (YAML ``null``) for an option that cannot be None means "the default".

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class ToyOptions:
    ...     device: str = "auto"
    ...     batch_size: int = 8
    ...     crop: bool = True
    >>> adapter_options(ToyOptions, {"device": 0, "batch_size": "4", "crop": "off"}, "toy judge option")
    ToyOptions(device='0', batch_size=4, crop=False)
    >>> adapter_options(ToyOptions, {"bach_size": 4}, "toy judge option")
    Traceback (most recent call last):
    ...
    echo4o_eval.config.ConfigError: toy judge option: unknown toy judge option 'bach_size'; did you mean 'batch_size'? (known: device, batch_size, crop)
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import PurePath
from typing import Any, Mapping

from echo4o_eval.config import _hints, typed_options

__all__ = ["adapter_options", "given_options"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _kinds(hint: Any) -> tuple[set[Any], bool]:
    """The plain types a field accepts and whether it accepts None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        arguments = typing.get_args(hint)
        return set(arguments) - {type(None)}, type(None) in arguments
    return {hint}, hint is Any


def _usual_spelling(value: Any, kinds: set[Any]) -> Any:
    if bool in kinds:
        if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
    if str in kinds and isinstance(value, (int, float)) and not kinds & {int, float}:
        return json.dumps(value)  # the text the CLI read as a number (or true/false)
    if str in kinds and isinstance(value, PurePath):
        return str(value)
    return value


def adapter_options(cls, options: Mapping[str, Any] | None, what: str):
    """``options`` as the options dataclass ``cls``; ``what`` names them in errors
    (e.g. ``"openai judge option"``). See the module docstring for the accepted spellings."""
    hints = _hints(cls)  # the field types, as typed_options reads them
    data: dict[str, Any] = {}
    for key, value in (options or {}).items():
        if key not in hints:  # typed_options reports it, with a did-you-mean
            data[key] = value
            continue
        kinds, nullable = _kinds(hints[key])
        if value is None and not nullable:
            continue
        data[key] = _usual_spelling(value, kinds)
    return typed_options(cls, data, what=what)


def given_options(settings: Any, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The typed values of the options a caller set explicitly (not None), by name.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class ToyOptions:
    ...     seed: int | None = None
    ...     votes: int = 1
    >>> given_options(ToyOptions(votes=3), {"votes": "3", "seed": None})
    {'votes': 3}
    """
    names = {f.name for f in dataclasses.fields(settings)}
    return {k: getattr(settings, k) for k, v in (options or {}).items()
            if k in names and v is not None and getattr(settings, k) is not None}
