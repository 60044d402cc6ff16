"""Thumbnails and full-size images for the report: built in parallel, reused across builds.

A thumbnail is named by the sha256 of its source image's bytes and the thumbnail size
(``thumbs/<aa>/<hash>_<px>.jpg``), so the same image is thumbnailed once however many runs or
reports show it, and a changed image gets a new thumbnail. ``thumbs/index.json`` remembers the
hash of each source path with its size and mtime, so a second build does not even re-read
unchanged images. Thumbnails are made by a thread pool (Pillow releases the GIL while decoding,
resizing and encoding).

Full-size images (``full_images``): ``link`` points at the run folder (relative path; absent
when only the report folder is uploaded, and the page says so), ``copy`` puts them under
``images/`` inside the report folder (a hard link when the file system allows, else a copy),
``none`` leaves them out (the thumbnail is the link).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> d = Path(tempfile.mkdtemp()); Image.new("RGB", (64, 64)).save(d / "a.png")
    >>> maker = Thumbnails(d / "out", 32)
    >>> made = maker.build([d / "a.png"])
    >>> made[d / "a.png"].startswith("thumbs/")
    True
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

from echo4o_eval.assets import sha256_file

FULL_IMAGE_MODES = ("link", "copy", "none")


class Thumbnails:
    """Makes (or finds) thumbnails of ``size`` px under ``out_dir/thumbs``."""

    def __init__(self, out_dir: Path, size: int, workers: int | None = None):
        self.out_dir = Path(out_dir)
        self.size = size
        self.workers = workers or min(16, (os.cpu_count() or 2) * 2)
        self.index_path = self.out_dir / "thumbs" / "index.json"
        try:
            self.index = json.loads(self.index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.index = {}
        self.hashes: dict[Path, str] = {}

    def _hash(self, source: Path) -> str | None:
        try:
            stat = source.stat()
        except OSError:
            return None
        key = str(source.resolve())
        stamp = [stat.st_size, stat.st_mtime_ns]
        known = self.index.get(key)
        if isinstance(known, list) and len(known) == 3 and known[:2] == stamp:
            return known[2]
        try:
            digest = sha256_file(source)
        except OSError:
            return None
        self.index[key] = [*stamp, digest]
        return digest

    def _one(self, source: Path) -> str | None:
        from PIL import Image, UnidentifiedImageError

        digest = self._hash(source)
        if digest is None:
            return None
        self.hashes[source] = digest
        relative = Path("thumbs") / digest[:2] / f"{digest}_{self.size}.jpg"
        target = self.out_dir / relative
        if target.is_file():
            return relative.as_posix()
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with Image.open(source) as image:
                image.draft("RGB", (self.size, self.size))  # JPEG sources decode at a lower scale
                image = image.convert("RGB")
                image.thumbnail((self.size, self.size))
                partial = target.with_suffix(f".{os.getpid()}.part")
                image.save(partial, "JPEG", quality=82)
                os.replace(partial, target)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
            return None
        return relative.as_posix()

    def build(self, sources: Iterable[Path]) -> dict[Path, str | None]:
        """Thumbnail path (relative to the report folder, or None if unreadable) per source."""
        unique = list(dict.fromkeys(Path(s) for s in sources))
        with ThreadPoolExecutor(self.workers) as pool:
            made = dict(zip(unique, pool.map(self._one, unique)))
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        self.index_path.write_text(json.dumps(self.index), encoding="utf-8")
        return made


def full_image(source: Path, out_dir: Path, mode: str, digest: str | None) -> str | None:
    """Link target of a full-size image for ``mode`` (relative to the report folder)."""
    if mode == "none":
        return None
    if mode == "link":
        return Path(os.path.relpath(source, out_dir)).as_posix()
    name = f"{digest or sha256_file(source)}{source.suffix.lower()}"
    relative = Path("images") / name[:2] / name
    target = out_dir / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)
    return relative.as_posix()
