"""Make the heavy optional dependencies unimportable, as in a core-only install
(``pip install echo4o-eval`` without extras): ``install()`` puts a finder first on
``sys.meta_path`` that raises ModuleNotFoundError for torch, torchvision, diffusers, transformers,
open_clip, accelerate, timm and safetensors.

Used by tests/test_core_only.py in subprocesses (the test process itself keeps torch)::

    python -c "import heavy_blocker; heavy_blocker.install(); ..."
"""

from __future__ import annotations

import importlib.abc
import sys

BLOCKED = ("torch", "torchvision", "diffusers", "transformers", "open_clip", "accelerate", "timm",
           "safetensors")


class HeavyBlocker(importlib.abc.MetaPathFinder):
    """Refuses the BLOCKED packages and their submodules."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked: core-only install)",
                                      name=fullname)
        return None


def install() -> None:
    """Block the heavy packages for the rest of this process."""
    for name in list(sys.modules):
        if name.split(".")[0] in BLOCKED:
            raise RuntimeError(f"{name} was imported before the blocker was installed")
    sys.meta_path.insert(0, HeavyBlocker())
