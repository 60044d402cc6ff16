"""Typed settings from YAML files and ``KEY=VALUE`` overrides, checked against a dataclass.

One loader serves ``run``/``score`` (``--config FILE.yaml``), ``synth`` and ``train``:

* :func:`load_config` fills a (possibly nested) dataclass from, in increasing priority, the
  dataclass defaults, ``base``, the YAML file, ``values`` and ``a.b=VALUE`` overrides;
* :func:`typed_options` turns a flat option mapping (``--eval-option k=v``) into an options
  dataclass;
* :func:`dump_config` writes a resolved configuration back as YAML (``--print-config``).

Unknown keys are a :class:`ConfigError` naming the file (or option) and the key, with a
did-you-mean; values of the wrong type are a ConfigError saying what was expected. YAML is read
with the YAML 1.2 booleans only (``true``/``false``), so ``no``, ``on`` or ``off`` stay strings.
A value given as text (an override, a CLI option) is parsed to the field's type: ``"0.9"`` for a
float field, ``"[1, 2]"`` for a list; for a ``str`` field the text is kept as typed.

Example:
    >>> from dataclasses import dataclass, field
    >>> @dataclass
    ... class Optim:
    ...     lr: float = 1e-4
    ...     betas: tuple[float, ...] = (0.9, 0.999)
    >>> @dataclass
    ... class Train:
    ...     steps: int = 100
    ...     name: str = "run"
    ...     optim: Optim = field(default_factory=Optim)
    >>> config = load_config(Train, overrides=["optim.lr=3e-5", "name=no"])
    >>> config.optim.lr, config.name
    (3e-05, 'no')
    >>> print(dump_config(config), end="")
    steps: 100
    name: 'no'
    optim:
      lr: 3.0e-05
      betas:
      - 0.9
      - 0.999
    >>> load_config(Train, overrides=["stpes=5"])
    Traceback (most recent call last):
    ...
    echo4o_eval.config.ConfigError: overrides: unknown key 'stpes'; did you mean 'steps'? (known: steps, name, optim)
"""

from __future__ import annotations

import collections.abc
import copy
import dataclasses
import difflib
import enum
import re
import types
import typing
from pathlib import Path, PurePath
from typing import Any, Mapping, Sequence

import yaml

__all__ = ["ConfigError", "load_config", "typed_options", "dump_config", "read_config_file",
           "parse_value", "to_plain"]


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the source, the key and the problem."""


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false, never yes/no/on/off."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(  # YAML 1.2 floats that 1.1 misses: 3e-5, 1.0e5
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def parse_value(text: str) -> Any:
    """One value written as text, read as a YAML scalar or flow collection (YAML 1.2 booleans).

    >>> parse_value("3"), parse_value("0.5"), parse_value("[1, 2]"), parse_value("no"), parse_value("")
    (3, 0.5, [1, 2], 'no', '')
    """
    if text == "":
        return ""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        return text


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping a YAML config file holds; a missing, unreadable or non-mapping file is a ConfigError."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the config file ({exc.strerror or exc})") from exc
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: a config file must hold a mapping of settings, not a {type(data).__name__}")
    return data


def _merge(into: dict[str, Any], data: Mapping[str, Any]) -> None:
    """Deep-merge ``data`` into ``into`` (mappings merge key by key; anything else replaces)."""
    for key, value in data.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(dict(value) if isinstance(value, Mapping) else value)


def _set_override(data: dict[str, Any], text: str, source: str) -> None:
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"{source}: expected KEY=VALUE (KEY may be dotted, a.b=VALUE), got {text!r}")
    *parents, last = key.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = _Text(value)


class _Text(str):
    """Text typed by a person (override, CLI option): parsed to the field's type when it is built."""


def _hints(cls) -> dict[str, Any]:
    """Field types of ``cls``; annotations that do not resolve (a class defined inside a
    function) fall back to the type of a dataclass default, else are taken as Any."""
    try:
        return typing.get_type_hints(cls)
    except Exception:
        pass
    import sys

    namespace = {**vars(typing), **vars(sys.modules.get(cls.__module__, typing))}
    hints = {}
    for f in dataclasses.fields(cls):
        hint = f.type
        if isinstance(hint, str):
            try:
                hint = eval(hint, namespace)  # noqa: S307 - a type annotation of the caller's class
            except Exception:
                default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
                hint = type(default) if dataclasses.is_dataclass(default) else Any
        hints[f.name] = hint
    return hints


def _unknown(key: str, known: Sequence[str], where: str, what: str = "key") -> ConfigError:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listing = ", ".join(known) if known else "none"
    return ConfigError(f"{where}: unknown {what} {key!r}{hint} (known: {listing})")


def _build(cls, data: Mapping[str, Any], where: str, prefix: str = "", what: str = "key"):
    fields = [f for f in dataclasses.fields(cls) if f.init]
    names = [f.name for f in fields]
    hints = _hints(cls)
    for key in data:
        if key not in names:
            raise _unknown(f"{prefix}{key}", [f"{prefix}{n}" for n in names], where, what)
    kwargs = {}
    for f in fields:
        dotted = f"{prefix}{f.name}"
        if f.name in data:
            kwargs[f.name] = _coerce(data[f.name], hints.get(f.name, Any), where, dotted)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing required setting {dotted!r}")
        elif dataclasses.is_dataclass(hints.get(f.name)) and f.default_factory is not dataclasses.MISSING:
            kwargs[f.name] = f.default_factory()
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where}: {prefix.rstrip('.') or cls.__name__}: {exc}") from exc


def _type_name(hint) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _coerce(value: Any, hint: Any, where: str, key: str) -> Any:
    """``value`` as an instance of ``hint``; text typed by a person is parsed first."""
    original = value
    if hint is Any or hint is object:
        return parse_value(value) if isinstance(value, _Text) else _plain_copy(value)
    origin = typing.get_origin(hint)
    arguments = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, _Text) and value.strip() in ("null", "None", "~")):
            if type(None) in arguments:
                return None
        errors = []
        for option in (a for a in arguments if a is not type(None)):
            try:
                return _coerce(value, option, where, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else
                          f"{where}: {key}: expected {_type_name(hint)}, got {_show(original)}")
    if origin is typing.Literal:
        parsed = parse_value(value) if isinstance(value, _Text) else value
        if parsed in arguments:
            return parsed
        if isinstance(value, str) and str(value) in arguments:
            return str(value)
        raise ConfigError(f"{where}: {key}: expected one of {', '.join(map(repr, arguments))}, got {_show(original)}")
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: {key}: expected a mapping of {hint.__name__} settings, got {_show(original)}")
        return _build(hint, value, where, prefix=f"{key}.")
    if isinstance(value, _Text) and hint not in (str, Path):
        value = parse_value(value)
    if hint is str:
        if isinstance(value, str):
            return str(value)
        raise ConfigError(f"{where}: {key}: expected a string, got {_show(original)} (quote it)")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: {key}: expected true or false, got {_show(original)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where}: {key}: expected an integer, got {_show(original)}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: {key}: expected a number, got {_show(original)}")
    if hint in (Path, PurePath):
        if isinstance(value, (str, PurePath)):
            return Path(value)
        raise ConfigError(f"{where}: {key}: expected a path, got {_show(original)}")
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            choices = ", ".join(repr(m.value) for m in hint)
            raise ConfigError(f"{where}: {key}: expected one of {choices}, got {_show(original)}") from None
    if origin in (list, tuple, set, frozenset, collections.abc.Sequence) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: {key}: expected a list, got {_show(original)}")
        if origin is tuple and arguments and arguments[-1] is not Ellipsis:
            if len(arguments) != len(value):
                raise ConfigError(f"{where}: {key}: expected {len(arguments)} values, got {len(value)}")
            items = [_coerce(v, a, where, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, arguments))]
        else:
            item = arguments[0] if arguments else Any
            items = [_coerce(v, item, where, f"{key}[{i}]") for i, v in enumerate(value)]
        container = origin if origin in (tuple, set, frozenset) else (tuple if hint is tuple else list)
        return container(items)
    if origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: {key}: expected a mapping, got {_show(original)}")
        item = arguments[1] if len(arguments) == 2 else Any
        return {str(k): _coerce(v, item, where, f"{key}.{k}") for k, v in value.items()}
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        raise ConfigError(f"{where}: {key}: expected {hint.__name__}, got {_show(original)}")
    return value  # an annotation we cannot check (a string that did not resolve): taken as given


def _plain_copy(value: Any) -> Any:
    if isinstance(value, _Text):
        return parse_value(value)
    if isinstance(value, Mapping):
        return {k: _plain_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_copy(v) for v in value]
    return value


def _show(value: Any) -> str:
    if isinstance(value, _Text):
        return repr(str(value))
    return f"{value!r} ({type(value).__name__})"


def load_config(cls, path: str | Path | None = None, overrides: Sequence[str] = (), *,
                base: Mapping[str, Any] | None = None, values: Mapping[str, Any] | None = None):
    """Build the dataclass ``cls`` from defaults < ``base`` < file ``path`` < ``values`` < ``overrides``.

    ``overrides`` are ``a.b=VALUE`` strings (the value read for the field's type); ``values`` a
    nested mapping that beats the file (e.g. the command-line flags a person typed).

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Job:
    ...     benchmark: str
    ...     seed: int | None = None
    >>> load_config(Job, overrides=["benchmark=geneval", "seed=7"])
    Job(benchmark='geneval', seed=7)
    >>> load_config(Job, overrides=["benchmark=geneval", "seed=seven"])
    Traceback (most recent call last):
    ...
    echo4o_eval.config.ConfigError: overrides: seed: expected an integer, got 'seven'
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"load_config needs a dataclass type, not {cls!r}")
    data: dict[str, Any] = {}
    layers: list[tuple[Mapping[str, Any], str]] = []
    if base:
        layers.append((base, "base settings"))
    if path is not None:
        layers.append((read_config_file(path), str(path)))
    if values:
        layers.append((values, "settings"))
    if overrides:
        typed: dict[str, Any] = {}
        for text in overrides:
            _set_override(typed, text, "overrides")
        layers.append((typed, "overrides"))
    for layer, source in layers:  # an unknown key is reported against the layer that has it
        _check_keys(cls, layer, source)
        _merge(data, layer)
    where = " + ".join(source for _, source in layers[-2:] if source != "base settings") or cls.__name__
    return _build(cls, data, where)


def _check_keys(cls, data: Mapping[str, Any], where: str, prefix: str = "") -> None:
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    hints = _hints(cls)
    for key, value in data.items():
        if key not in names:
            raise _unknown(f"{prefix}{key}", [f"{prefix}{n}" for n in names], where)
        hint = hints.get(key)
        if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
            _check_keys(hint, value, where, prefix=f"{prefix}{key}.")


def typed_options(cls, mapping: Mapping[str, Any] | None, what: str = "evaluator option"):
    """A flat option mapping (``--eval-option KEY=VALUE``) as the options dataclass ``cls``.

    String values are parsed to the field's type; unknown keys get a did-you-mean.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Options:
    ...     confidence_threshold: float = 0.3
    >>> typed_options(Options, {"confidence_threshold": "0.9"})
    Options(confidence_threshold=0.9)
    >>> typed_options(Options, {"confidence_treshold": 0.9})
    Traceback (most recent call last):
    ...
    echo4o_eval.config.ConfigError: evaluator option: unknown evaluator option 'confidence_treshold'; did you mean 'confidence_threshold'? (known: confidence_threshold)
    """
    data = {str(k): (_Text(v) if isinstance(v, str) else v) for k, v in (mapping or {}).items()}
    return _build(cls, data, what, what=what)


def to_plain(value: Any) -> Any:
    """Dataclasses, tuples, paths and enums as plain JSON/YAML-able values.

    >>> to_plain({"a": (1, Path("x"))})
    {'a': [1, 'x']}
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_plain(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, enum.Enum):
        return to_plain(value.value)
    return value


def dump_config(obj: Any) -> str:
    """YAML text of a resolved configuration (field order kept); reads back with :func:`load_config`."""
    return yaml.safe_dump(to_plain(obj), sort_keys=False, allow_unicode=True, default_flow_style=False)
