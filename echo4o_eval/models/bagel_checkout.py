"""Import Bagel's code from a checkout without letting its module names leak into ours.

Bagel (and Echo-4o, which shares its code) is not on PyPI; it runs from a clone of
https://github.com/ByteDance-Seed/Bagel whose top-level packages have generic names (``data``,
``modeling``, ``inferencer``, ``train``, ``eval``) that would shadow, or be shadowed by, same-named
modules of the user's project or other libraries.

Leak policy: the checkout is importable only inside :meth:`BagelCheckout.active`. Entering puts
the checkout first on ``sys.path``, sets aside any modules already loaded under the checkout's
top-level names and reinstates the checkout's own modules from earlier activations. Leaving
moves every module under those names back into the checkout's private table, restores the
set-aside modules and ``sys.path``. Objects built from Bagel's classes keep working outside
(their modules stay alive through references); the adapter re-enters ``active()`` around every
call into Bagel, so imports Bagel does lazily at call time resolve to the same module objects.

Example:
    >>> import sys, tempfile, pathlib
    >>> repo = pathlib.Path(tempfile.mkdtemp())
    >>> (repo / "modeling").mkdir(); _ = (repo / "modeling" / "__init__.py").write_text("X = 1")
    >>> (repo / "data").mkdir(); (repo / "modeling" / "bagel").mkdir()
    >>> _ = (repo / "inferencer.py").write_text("")
    >>> checkout = BagelCheckout(repo)
    >>> with checkout.active():
    ...     import modeling
    ...     modeling.X
    1
    >>> "modeling" in sys.modules
    False
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator, Mapping

REQUIRED_ENTRIES = ("inferencer.py", "modeling/bagel", "data")
REPO_URL = "https://github.com/ByteDance-Seed/Bagel"


class BagelSetupError(RuntimeError):
    """Bagel cannot run here (no checkout, no GPU, no flash-attn, incomplete checkpoint)."""


def find_checkout(options: Mapping[str, object], environ: Mapping[str, str] | None = None,
                  allow_download: bool = True) -> tuple[Path, dict]:
    """``(checkout folder, source)`` of Bagel's code, validated.

    From option ``bagel_repo`` or env ``ECHO4O_BAGEL_REPO`` when given (source
    ``{"bagel_repo": DIR}``), else the pinned archive fetched and cached by
    :func:`echo4o_eval.models.bagel_code.fetch_bagel_code` (source: url, sha256, pinned).

    >>> find_checkout({"bagel_repo": "/nonexistent"}, {})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    echo4o_eval.models.bagel_checkout.BagelSetupError: /nonexistent is not a Bagel code checkout: missing inferencer.py, modeling/bagel, data (clone https://github.com/ByteDance-Seed/Bagel...)
    """
    from echo4o_eval.models.bagel_code import BagelCodeError, fetch_bagel_code

    environ = os.environ if environ is None else environ
    value = options.get("bagel_repo") or environ.get("ECHO4O_BAGEL_REPO")
    if not value:
        try:
            return fetch_bagel_code(options, environ, allow_download=allow_download)
        except BagelCodeError as exc:
            raise BagelSetupError(str(exc)) from exc
    repo = Path(str(value)).expanduser().resolve()
    missing = [entry for entry in REQUIRED_ENTRIES if not (repo / entry).exists()]
    if missing:
        raise BagelSetupError(
            f"{repo} is not a Bagel code checkout: missing {', '.join(missing)} (clone {REPO_URL}, "
            "or leave bagel_repo unset to download Bagel's code at the pinned commit)"
        )
    return repo, {"bagel_repo": str(repo)}


def _top_level_names(repo: Path) -> frozenset[str]:
    names = set()
    for entry in repo.iterdir():
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_dir():
            names.add(entry.name)
        elif entry.suffix == ".py":
            names.add(entry.stem)
    return frozenset(names)


def _owned(module_name: str, names: frozenset[str]) -> bool:
    return module_name.split(".", 1)[0] in names


class BagelCheckout:
    """A Bagel code checkout whose modules live in a private table (see the module docstring)."""

    def __init__(self, repo: str | Path) -> None:
        self.repo = Path(repo).resolve()
        self.names = _top_level_names(self.repo)
        self._modules: dict[str, ModuleType] = {}

    @contextlib.contextmanager
    def active(self) -> Iterator["BagelCheckout"]:
        """Make the checkout importable for the duration of the block, then hide it again."""
        saved_path = list(sys.path)
        set_aside = {n: sys.modules.pop(n) for n in list(sys.modules) if _owned(n, self.names)}
        sys.modules.update(self._modules)
        sys.path.insert(0, str(self.repo))
        importlib.invalidate_caches()
        try:
            yield self
        finally:
            for name in [n for n in list(sys.modules) if _owned(n, self.names)]:
                self._modules[name] = sys.modules.pop(name)
            sys.modules.update(set_aside)
            sys.path[:] = saved_path
            importlib.invalidate_caches()

    def module(self, name: str) -> ModuleType:
        """Import ``name`` from the checkout (call inside :meth:`active`)."""
        if not _owned(name, self.names):
            raise ValueError(f"{name!r} is not a module of the Bagel checkout {self.repo}")
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.split(".")[0] == "flash_attn":
                raise BagelSetupError(
                    f"Bagel's code imports {exc.name}, which the PyTorch fallback for flash-attn "
                    "does not provide; install flash-attn (pip install flash-attn "
                    "--no-build-isolation; it needs a CUDA GPU)"
                ) from exc
            if exc.name and not _owned(exc.name, self.names):
                raise BagelSetupError(
                    f"Bagel's code needs the package {exc.name!r}, which is not installed; install "
                    f"the checkout's requirements.txt ({self.repo / 'requirements.txt'})"
                ) from exc
            raise
