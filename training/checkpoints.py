"""Checkpoint folders: ``<output_dir>/checkpoints/step-0000100/``.

Each holds accelerate's ``save_state`` (model, optimiser, scheduler, EMA, every process's RNG
states) plus ``trainer_state.json`` (step, batches consumed, the configuration). The JSON is
written last: a folder without it (a save that was killed) is never resumed from.

Example:
    >>> checkpoint_name(100)
    'step-0000100'
    >>> latest_checkpoint("/nonexistent") is None
    True
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

__all__ = ["checkpoint_name", "latest_checkpoint", "resolve_resume", "write_trainer_state",
           "read_trainer_state", "prune_checkpoints"]

STATE_FILE = "trainer_state.json"


def checkpoint_name(step: int) -> str:
    return f"step-{step:07d}"


def _complete(folder: Path) -> bool:
    return (folder / STATE_FILE).is_file()


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The complete checkpoint with the highest step under ``output_dir/checkpoints``."""
    root = Path(output_dir) / "checkpoints"
    if not root.is_dir():
        return None
    found = sorted(p for p in root.glob("step-*") if _complete(p))
    return found[-1] if found else None


def resolve_resume(resume: str, output_dir: str | Path) -> Path | None:
    """``auto``: the latest checkpoint (or none); ``none``: start fresh; else a checkpoint folder."""
    if resume == "none":
        return None
    if resume == "auto":
        return latest_checkpoint(output_dir)
    folder = Path(resume)
    if not _complete(folder):
        raise FileNotFoundError(f"run.resume={resume}: not a complete checkpoint folder (no {STATE_FILE})")
    return folder


def write_trainer_state(folder: Path, state: dict[str, Any]) -> None:
    """Write ``trainer_state.json`` atomically (it marks the checkpoint complete)."""
    temporary = folder / (STATE_FILE + ".tmp")
    temporary.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(temporary, folder / STATE_FILE)


def read_trainer_state(folder: Path) -> dict[str, Any]:
    return json.loads((Path(folder) / STATE_FILE).read_text())


def prune_checkpoints(output_dir: str | Path, keep: int | None) -> list[Path]:
    """Delete all but the ``keep`` newest complete checkpoints; returns what was deleted."""
    if keep is None:
        return []
    root = Path(output_dir) / "checkpoints"
    found = sorted(p for p in root.glob("step-*") if _complete(p))
    removed = found[:-keep] if keep > 0 else found
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed
