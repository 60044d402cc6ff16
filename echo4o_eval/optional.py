"""Optional heavy dependencies, imported on demand with an error naming the extra to install.

:func:`require_module` imports one module or says which extra provides it.
:func:`check_judge_extras` runs before a judge is built: it looks the judge's packages up
without importing any (so a core-only install never reaches ``import torch``) and names the
extra, e.g. ``pip install "echo4o-eval[detect]"``.

Example:
    >>> require_module("json", extra="detect").dumps([1])
    '[1]'
    >>> require_module("no_such_module_xyz", extra="detect")
    Traceback (most recent call last):
    ...
    echo4o_eval.optional.MissingDependencyError: no_such_module_xyz is not installed; install it with: pip install "echo4o-eval[detect]" (from a clone: pip install ".[detect]")
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Sequence

MMCV_HINT = (
    "mmdet also needs mmcv, which has no wheel on PyPI: build it from source against your torch "
    "or install a prebuilt wheel that matches it (see benchmarks/geneval/README.md, section "
    "'mmdet / mmcv'; the project's CI uses the wheel described in shared/wheels/README.md)"
)
# judge registry name -> (extra, import names the judge needs)
JUDGE_EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "mask2former-clip": ("detect", ("torch", "torchvision", "transformers", "open_clip")),
    "owlv2-clip": ("detect", ("torch", "torchvision", "transformers", "open_clip")),
    "local-vlm": ("vlm", ("torch", "transformers", "accelerate")),
    "mmdet-clip": ("detect,mmdet", ("torch", "open_clip", "mmengine", "mmdet", "mmcv")),
}


class MissingDependencyError(ImportError):
    """An optional dependency is missing; the message names the extra."""


def install_hint(extra: str) -> str:
    """The pip command for ``extra``, from PyPI and from a clone.

    >>> install_hint("vlm")
    'pip install "echo4o-eval[vlm]" (from a clone: pip install ".[vlm]")'
    """
    return f'pip install "echo4o-eval[{extra}]" (from a clone: pip install ".[{extra}]")'


def _message(missing: Sequence[str], extra: str, what: str = "") -> str:
    names = ", ".join(missing)
    verb = "is" if len(missing) == 1 else "are"
    text = f"{names} {verb} not installed{what}; install it with: {install_hint(extra)}"
    if "mmdet" in extra.split(","):
        text += ". " + MMCV_HINT
    return text


def require_module(name: str, extra: str):
    """Import ``name`` or raise MissingDependencyError naming ``pip install echo4o-eval[extra]``."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing = (exc.name or name).split(".")[0]
        if missing == "mmcv" and "mmdet" in extra.split(","):  # mmdet installed, mmcv not
            raise MissingDependencyError(_message(["mmcv"], extra)) from exc
        if missing != name.split(".")[0]:
            raise
        raise MissingDependencyError(_message([name], extra)) from exc


def missing_modules(names: Sequence[str]) -> list[str]:
    """The top-level modules among ``names`` that cannot be found (nothing is imported).

    >>> missing_modules(["json", "no_such_module_xyz"])
    ['no_such_module_xyz']
    """
    missing = []
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def check_judge_extras(judge_name: str) -> None:
    """Raise MissingDependencyError naming the extra when judge ``judge_name`` cannot load here.

    Judges without heavy dependencies (``openai``, ``detections``, plugins) pass.

    >>> check_judge_extras("openai")
    """
    needs = JUDGE_EXTRAS.get(judge_name)
    if needs is None:
        return
    extra, modules = needs
    missing = missing_modules(modules)
    if missing:
        needs_them = "it" if len(missing) == 1 else "them"
        raise MissingDependencyError(
            _message(missing, extra, f" (the {judge_name} judge needs {needs_them})"))
