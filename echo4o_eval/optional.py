"""Optional heavy dependencies, imported on demand with an error naming the extra to install.

Example:
    >>> require_module("json", extra="detect").dumps([1])
    '[1]'
    >>> require_module("no_such_module_xyz", extra="detect")
    Traceback (most recent call last):
    ...
    echo4o_eval.optional.MissingDependencyError: no_such_module_xyz is not installed; install it with: pip install 'echo4o-eval[detect]'
"""

from __future__ import annotations

import importlib


class MissingDependencyError(ImportError):
    """An optional dependency is missing; the message names the extra."""


def require_module(name: str, extra: str):
    """Import ``name`` or raise MissingDependencyError naming ``pip install echo4o-eval[extra]``."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] != name.split(".")[0]:
            raise
        raise MissingDependencyError(
            f"{name} is not installed; install it with: pip install 'echo4o-eval[{extra}]'"
        ) from exc
