"""The reference pool of multi-reference samples: images with a label and a role (object/scene).

Sources (``plan.multi_reference.reference_source``):

* ``generate`` - subjects are planned as samples of the ``subject`` subset and generated first;
  a pool item's ``ref`` is the subject's sample id, resolved to its image at generation time;
* ``folder:PATH`` - the images in PATH; labels from ``PATH/labels.json``
  (``{"file.png": "red hat"}`` or ``{"file.png": {"label": ..., "role": "scene"}}``), else from the
  file name (``red_hat.png`` -> "red hat"; a name starting with ``scene_`` is a scene);
* ``hf:PATH`` - a Hugging Face ``save_to_disk`` folder with an ``image`` column and a ``label``
  column (``role`` optional); images are written once to WORK/references/.

Example:
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("RGB", (4, 4)).save(d / "red_hat.png"); Image.new("RGB", (4, 4)).save(d / "scene_park.png")
    >>> [(p["label"], p["role"]) for p in folder_pool(d)]
    [('red hat', 'object'), ('park', 'scene')]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


class ReferencePoolError(ValueError):
    """A reference source that cannot be used; the message names it and the problem."""


def _label_of(stem: str) -> tuple[str, str]:
    if stem.startswith("scene_"):
        return stem[len("scene_"):].replace("_", " ").strip(), "scene"
    return stem.replace("_", " ").replace("-", " ").strip(), "object"


def folder_pool(folder: str | Path) -> list[dict[str, Any]]:
    """Pool items of the images in ``folder`` (sorted by name)."""
    root = Path(folder)
    if not root.is_dir():
        raise ReferencePoolError(f"reference folder {root} does not exist")
    labels: dict[str, Any] = {}
    if (root / "labels.json").is_file():
        try:
            labels = json.loads((root / "labels.json").read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ReferencePoolError(f"{root / 'labels.json'}: not valid JSON: {exc}") from exc
    pool = []
    for path in sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        label, role = _label_of(path.stem)
        given = labels.get(path.name)
        if isinstance(given, str):
            label = given
        elif isinstance(given, dict):
            label, role = str(given.get("label", label)), str(given.get("role", role))
        pool.append({"ref": str(path.resolve()), "label": label, "role": role})
    if not pool:
        raise ReferencePoolError(f"reference folder {root} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return pool


def hf_pool(folder: str | Path, out_dir: str | Path) -> list[dict[str, Any]]:
    """Pool items of a ``save_to_disk`` dataset (columns ``image``, ``label``, optional ``role``)."""
    from echo4o_eval.optional import require_module

    datasets = require_module("datasets", extra="data")
    try:
        data = datasets.load_from_disk(str(folder))
    except Exception as exc:  # datasets raises several kinds for a wrong folder
        raise ReferencePoolError(f"reference dataset {folder}: cannot load: {exc}") from exc
    if hasattr(data, "keys") and "train" in data:
        data = data["train"]
    missing = [c for c in ("image", "label") if c not in data.column_names]
    if missing:
        raise ReferencePoolError(f"reference dataset {folder}: lacks column(s) {missing}")
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    pool = []
    for index, row in enumerate(data):
        path = target / f"{index:06d}.png"
        if not path.exists():
            tmp = path.with_suffix(".part.png")
            row["image"].convert("RGB").save(tmp)
            tmp.replace(path)
        pool.append({"ref": str(path.resolve()), "label": str(row["label"]),
                     "role": str(row.get("role") or "object")})
    return pool


def reference_pool(source: str, work_dir: str | Path, subjects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pool a source names; ``subjects`` are the planned subject samples (for ``generate``)."""
    kind, _, argument = source.partition(":")
    if kind == "generate":
        return [{"ref": s["id"], "label": s["spec"]["label"], "role": s["spec"]["role"]} for s in subjects]
    if kind == "folder" and argument:
        return folder_pool(argument)
    if kind == "hf" and argument:
        return hf_pool(argument, Path(work_dir) / "references" / "hf")
    raise ReferencePoolError(f"reference_source {source!r}: expected generate, folder:PATH or hf:PATH")
