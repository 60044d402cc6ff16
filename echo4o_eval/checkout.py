"""Run from a source checkout without installing: ``benchmarks/``, ``training/`` and
``data_gen/`` import as ``echo4o_eval.benchmarks``, ``echo4o_eval.training`` and
``echo4o_eval.data_gen``, the names the wheel gives them (pyproject.toml's package-dir).

:func:`install` (called by ``echo4o_eval/__init__.py``) appends one finder to
``sys.meta_path`` for exactly those three names; it acts only in a checkout (a
``pyproject.toml`` beside the package) and only when no other finder (an installed or
editable package) answered first. Nothing is patched into ``sys.modules``.

Example:
    >>> import importlib.util
    >>> importlib.util.find_spec("echo4o_eval.benchmarks") is not None
    True
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

MAPPED = {"echo4o_eval.benchmarks": "benchmarks", "echo4o_eval.training": "training",
          "echo4o_eval.data_gen": "data_gen"}


class CheckoutFinder:
    """Finds the three mapped packages in the checkout at ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(self, fullname, path=None, target=None):
        """The spec of a mapped package from its checkout folder; None for any other name."""
        folder = MAPPED.get(fullname)
        if folder is None:
            return None
        init = self.root / folder / "__init__.py"
        if not init.is_file():
            return None
        return importlib.util.spec_from_file_location(fullname, init,
                                                      submodule_search_locations=[str(init.parent)])


def install() -> None:
    """Append the finder when the package runs from a checkout (idempotent)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file() or not (root / "benchmarks" / "__init__.py").is_file():
        return  # an installed wheel: the mapped packages are real subpackages
    if not any(isinstance(f, CheckoutFinder) for f in sys.meta_path):
        sys.meta_path.append(CheckoutFinder(root))
