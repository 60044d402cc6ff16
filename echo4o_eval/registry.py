"""A small generic registry for pluggable models, judges and benchmarks.

Entries are either objects registered with the decorator or lazy ``"module:attr"``
strings that are imported only when first looked up, so importing the package never
pulls in torch, diffusers or open_clip. Third-party packages add entries through the
entry-point group given to the registry (e.g. ``echo4o_eval.models``).

Example:
    >>> colours = Registry("colour", entry_point_group=None)
    >>> @colours.register("red")
    ... def make_red():
    ...     return "#f00"
    >>> colours.register_lazy("blue", "colorsys:rgb_to_hsv")
    >>> colours.get("red")()
    '#f00'
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
    """Named objects of one kind, with lazy entries and plugin discovery."""

    def __init__(self, kind: str, entry_point_group: str | None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, T | str] = {}
        self._plugins_loaded = entry_point_group is None

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the decorated object under ``name``."""

        def decorator(obj: T) -> T:
            """Register ``obj`` under ``name`` and return it unchanged."""
            self._add(name, obj)
            return obj

        return decorator

    def register_lazy(self, name: str, target: str) -> None:
        """Register ``"module:attr"``, imported on first :meth:`get`."""
        self._add(name, target)

    def _add(self, name: str, obj: T | str) -> None:
        if name in self._entries:
            raise DuplicateNameError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = obj

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.entry_point_group):
            if ep.name in self._entries:
                raise DuplicateNameError(
                    f"plugin {ep.value!r} registers {self.kind} {ep.name!r}, which already exists"
                )
            self._entries[ep.name] = ep.value

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
            entry = import_object(entry)
            self._entries[name] = entry
        return entry

    def names(self) -> list[str]:
        """All registered names, sorted (plugins included)."""
        self._load_plugins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
