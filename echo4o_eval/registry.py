"""A small generic registry for pluggable models, judges and benchmarks.

Entries are either objects registered with the decorator or lazy ``"module:attr"``
strings that are imported only when first looked up, so importing the package never
pulls in torch, diffusers or open_clip. Third-party packages add entries through the
entry-point group given to the registry (e.g. ``echo4o_eval.models``).

Every entry remembers where it came from. A name registered twice is a
:class:`DuplicateNameError` naming both sources, with one exception: a plugin entry whose
object sets ``replaces_builtin = True`` may replace a built-in entry of the same name (never
another plugin's).

Example:
    >>> colours = Registry("colour", entry_point_group=None)
    >>> @colours.register("red")
    ... def make_red():
    ...     return "#f00"
    >>> colours.register_lazy("blue", "colorsys:rgb_to_hsv")
    >>> colours.get("red")()
    '#f00'
    >>> colours.source("blue")
    'colorsys:rgb_to_hsv'
    >>> colours.get("rde")
    Traceback (most recent call last):
    ...
    echo4o_eval.registry.UnknownNameError: unknown colour 'rde'; did you mean: red? (known: blue, red)
"""

from __future__ import annotations

import difflib
import importlib
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class RegistryError(Exception):
    """Base class for registry problems."""


class DuplicateNameError(RegistryError):
    """A name was registered twice."""


class UnknownNameError(RegistryError, KeyError):
    """A name is not registered; the message lists close matches."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def import_object(path: str):
    """Import ``"package.module:attr"`` and return the attribute.

    >>> import_object("os.path:join")("a", "b")
    'a/b'
    """
    module_name, _, attr = path.partition(":")
    if not attr:
        raise ValueError(f"lazy entry {path!r} must look like 'module:attr'")
    obj = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Named objects of one kind, with lazy entries and plugin discovery.

    ``builtins`` (optional) is called once, before the plugins are read, and returns
    ``{name: (lazy "module:attr" target, source description)}`` for built-in entries found
    at run time (e.g. one per folder of the built-in benchmarks).
    """

    def __init__(self, kind: str, entry_point_group: str | None,
                 builtins: Callable[[], dict[str, tuple[str, str]]] | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, T | str] = {}
        self._sources: dict[str, str] = {}
        self._plugin_names: set[str] = set()
        self._builtins = builtins
        self._plugins_loaded = entry_point_group is None and builtins is None

    def register(self, name: str, source: str | None = None) -> Callable[[T], T]:
        """Decorator: register the decorated object under ``name``."""

        def decorator(obj: T) -> T:
            """Register ``obj`` under ``name`` and return it unchanged."""
            where = source or f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', obj)!s}"
            self._add(name, obj, where)
            return obj

        return decorator

    def register_lazy(self, name: str, target: str, source: str | None = None) -> None:
        """Register ``"module:attr"``, imported on first :meth:`get`."""
        self._add(name, target, source or target)

    def _add(self, name: str, obj: T | str, source: str) -> None:
        if name in self._entries:
            raise DuplicateNameError(
                f"{self.kind} {name!r} is already registered by {self._sources[name]}; "
                f"{source} registers it again")
        self._entries[name] = obj
        self._sources[name] = source

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        if self._builtins is not None:
            for name, (target, source) in self._builtins().items():
                if name not in self._entries:
                    self._add(name, target, source)
        if self.entry_point_group is None:
            return
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.entry_point_group):
            dist = getattr(ep, "dist", None)
            source = (f"plugin entry point {ep.name!r} = {ep.value!r} (group {self.entry_point_group}"
                      + (f", distribution {dist.name} {dist.version})" if dist else ")"))
            if ep.name in self._entries:
                self._replace_or_refuse(ep.name, ep.value, source)
                continue
            self._entries[ep.name] = ep.value
            self._sources[ep.name] = source
            self._plugin_names.add(ep.name)

    def _replace_or_refuse(self, name: str, target: str, source: str) -> None:
        """A plugin entry named like an existing one: replace a built-in when the plugin's
        object opts in with ``replaces_builtin = True``, else refuse naming both sources."""
        existing = self._sources[name]
        if name not in self._plugin_names:
            obj = self._import(name, target, source)
            if getattr(obj, "replaces_builtin", False) is True:
                self._entries[name] = obj
                self._sources[name] = f"{source}, replacing {existing}"
                self._plugin_names.add(name)
                return
            hint = " (set replaces_builtin = True on the plugin object to replace it on purpose)"
        else:
            hint = ""
        raise DuplicateNameError(
            f"{self.kind} {name!r} is registered twice: by {existing} and by {source}{hint}")

    def _import(self, name: str, target: str, source: str):
        try:
            return import_object(target)
        except (ImportError, AttributeError, ValueError) as exc:
            raise RegistryError(f"cannot load {self.kind} {name!r} from {source}: "
                                f"{type(exc).__name__}: {exc}") from exc

    def get(self, name: str) -> T:
        """Return the entry, importing it if lazy; unknown names suggest close matches."""
        self._load_plugins()
        if name not in self._entries:
            known = sorted(self._entries)
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            hint = f"; did you mean: {', '.join(close)}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{hint} (known: {', '.join(known) or 'none'})"
            )
        entry = self._entries[name]
        if isinstance(entry, str):
            if name in self._plugin_names:
                entry = self._import(name, entry, self._sources[name])
            else:
                entry = import_object(entry)
            self._entries[name] = entry
        return entry

    def source(self, name: str) -> str:
        """Where the entry ``name`` comes from (built-in target or plugin entry point)."""
        self._load_plugins()
        if name not in self._sources:
            self.get(name)  # raises UnknownNameError with suggestions
        return self._sources[name]

    def names(self) -> list[str]:
        """All registered names, sorted (plugins included)."""
        self._load_plugins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
