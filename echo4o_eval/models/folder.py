"""Read images people already have: the ``folder:DIR`` model.

Layouts, tried in this order for each (sample, image index) unless ``layout`` is given:

``ours``        ``DIR/<sample id>/<i>.png`` (what ``run`` writes under ``<run>/images``)
``geneval``     ``DIR/<00000>/samples/<0000>.png`` (GenEval; folder = 0-based prompt position)
``omnicontext`` ``DIR/<task_type>/<key>.png``
``flat``        ``DIR/<sample id>.(png|jpg|jpeg|webp)`` (Echo-4o scripts: 1-based line or id;
                DPG-Bench: ``<item_id>.png``, possibly a 2x2 grid); only image index 0

A missing file becomes ``missing_image``; a file that is not an image, declares zero size, or
declares more than ``max_image_pixels`` pixels (option; default Pillow's limit, about 179
million: a decompression bomb), ``bad_image``; neither stops the run. Finding an image reads
only its header (``check="header"``, the default: well under a millisecond per image), so a
file whose pixel data is truncated or corrupt is found here and becomes ``bad_image`` naming
the file when the judge decodes it; ``check="decode"`` decodes every image while finding it
(about 10 ms per 512 px image) to mark such files ``bad_image`` here. Every path stays inside
the folder: a sample id or tag that would lead elsewhere (``../x``, an absolute path) is not
looked up in that layout, and a sample found by no layout is ``missing_image`` saying why. In
the GenEval layout, a ``metadata.jsonl`` whose tag/include differ from the benchmark's sample
marks the image ``bad_image`` (wrong prompt order).

Example:
    >>> import tempfile
    >>> from echo4o_eval.records.types import GenerationRequest
    >>> model = FolderModel(tempfile.mkdtemp())
    >>> req = GenerationRequest("7", 6, "t", "a cat", 0, 1, "/unused.png")
    >>> model.generate([req])[0].status.value
    'missing_image'
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Sequence

from echo4o_eval.rundir.store import safe_name
from echo4o_eval.records.types import Generation, GenerationRequest, Status

LAYOUTS = ("ours", "geneval", "omnicontext", "flat")
FLAT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


CHECKS = ("header", "decode")


def check_image(path: Path, max_pixels: int | None = None, decode: bool = True) -> str | None:
    """None if the image is usable, else the reason (naming the file).

    ``decode=False`` reads the header only (format, size, the pixel limit); ``decode=True``
    also decodes the pixel data, so a truncated file is caught too.

    >>> check_image(Path("/nonexistent.png")).startswith("cannot open")
    True
    """
    from PIL import UnidentifiedImageError

    from echo4o_eval.judges.images import ImageLoadError, open_limited

    try:
        with open_limited(path, max_pixels) as image:
            if decode:
                image.load()
            if image.width == 0 or image.height == 0:
                return f"{path}: image has zero size"
    except ImageLoadError as exc:  # a decompression bomb
        return str(exc)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        return f"cannot open {path}: {exc}"
    return None


def inside(root: Path, *parts: str) -> Path | None:
    """``root/part/...`` if every part is a plain relative name that stays inside ``root``, else None.

    >>> inside(Path("/data"), "multi_object", "12.png")
    PosixPath('/data/multi_object/12.png')
    >>> inside(Path("/data"), "x", "../../etc/passwd.png"), inside(Path("/data"), "/etc/passwd.png")
    (None, None)
    """
    for part in parts:
        if not part or "\x00" in part or os.path.isabs(part) or Path(part).is_absolute():
            return None
        if any(piece in ("..", "") for piece in part.replace("\\", "/").split("/")):
            return None
    candidate = Path(os.path.normpath(root.joinpath(*parts)))
    return candidate if candidate.is_relative_to(root) else None


class FolderModel:
    """An ImageModel that finds existing images instead of generating them."""

    batch_size = 64
    generates = False  # the runner's `score` command accepts only models that do not generate

    def __init__(self, root: str | Path, layout: str = "auto", max_image_pixels: int | None = None,
                 check: str = "header") -> None:
        self.root = Path(root).expanduser().absolute()  # records stay valid from any directory
        if not self.root.is_dir():
            raise FileNotFoundError(f"image folder {self.root} does not exist")
        if (self.root / "manifest.json").exists() and (self.root / "images").is_dir():
            self.root = self.root / "images"  # a run directory: read its images
        if layout != "auto" and layout not in LAYOUTS:
            raise ValueError(f"unknown folder layout {layout!r}; choose auto or one of {LAYOUTS}")
        self.layout = layout
        if check not in CHECKS:
            raise ValueError(f"unknown folder check {check!r}; choose one of {CHECKS}")
        self.check = check
        self.max_image_pixels = None if max_image_pixels in (None, "") else int(max_image_pixels)
        self.id = f"folder:{self.root}"

    def candidates(self, request: GenerationRequest) -> list[tuple[str, Path]]:
        """Possible paths for a request, as (layout, path), in lookup order."""
        return list(self._candidates(request))

    def _candidates(self, request: GenerationRequest) -> Iterator[tuple[str, Path]]:
        """:meth:`candidates` one at a time (lookups stop at the first file found)."""
        index = request.image_index
        if self.layout in ("auto", "ours"):
            yield "ours", self.root / safe_name(request.sample_id) / f"{index}.png"
        if self.layout in ("auto", "geneval"):
            yield "geneval", self.root / f"{request.sample_index:05d}" / "samples" / f"{index:04d}.png"
        if self.layout in ("auto", "omnicontext") and index == 0 and request.tag:
            path = inside(self.root, request.tag, f"{request.sample_id}.png")
            if path is not None:
                yield "omnicontext", path
        if self.layout in ("auto", "flat") and index == 0:
            for suffix in FLAT_SUFFIXES:
                path = inside(self.root, f"{request.sample_id}{suffix}")
                if path is not None:
                    yield "flat", path

    def _refused(self, request: GenerationRequest) -> str:
        """Why some layouts were not looked up for this request ("" if none was refused)."""
        if request.image_index != 0:
            return ""
        refused = []
        if self.layout in ("auto", "omnicontext") and request.tag and \
                inside(self.root, request.tag, f"{request.sample_id}.png") is None:
            refused.append("omnicontext")
        if self.layout in ("auto", "flat") and inside(self.root, f"{request.sample_id}.png") is None:
            refused.append("flat")
        if not refused:
            return ""
        return (f"; sample id {request.sample_id!r} with tag {request.tag!r} would lead outside "
                f"{self.root}, so the {' and '.join(refused)} layout was not looked up")

    def _geneval_mismatch(self, path: Path, request: GenerationRequest) -> str | None:
        meta_path = path.parent.parent / "metadata.jsonl"
        expected = request.params.get("metadata")
        if not meta_path.exists() or not isinstance(expected, Mapping):
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8").splitlines()[0])
        except (OSError, ValueError, IndexError) as exc:
            return f"{meta_path}: unreadable metadata ({exc})"
        for key in ("tag", "include"):
            if key in expected and meta.get(key) != expected.get(key):
                return (
                    f"{meta_path}: {key} {meta.get(key)!r} differs from the benchmark's "
                    f"{expected.get(key)!r} for sample {request.sample_id} (folders out of order?)"
                )
        return None

    def _find(self, request: GenerationRequest) -> Generation:
        for layout, path in self._candidates(request):
            if not os.path.isfile(path):
                continue
            problem = check_image(path, self.max_image_pixels, decode=self.check == "decode")
            if problem is None and layout == "geneval":
                problem = self._geneval_mismatch(path, request)
            status = Status.OK if problem is None else Status.BAD_IMAGE
            return Generation(
                request.sample_id,
                request.image_index,
                None,  # found, not generated: no seed applies
                status,
                image_path=str(path),
                params={"layout": layout},
                error=problem,
            )
        tried = ", ".join(str(p) for _, p in self.candidates(request)[:3]) or "nothing"
        return Generation(
            request.sample_id,
            request.image_index,
            None,
            Status.MISSING_IMAGE,
            error=f"no image for sample {request.sample_id} #{request.image_index} (looked for "
                  f"{tried}){self._refused(request)}",
        )

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """One Generation per request, in order: the folder's image (OK, BAD_IMAGE) or MISSING_IMAGE."""
        return [self._find(r) for r in requests]

    def describe(self) -> Mapping[str, Any]:
        """Settings for the run manifest."""
        return {"type": "folder", "root": str(self.root), "layout": self.layout,
                "max_image_pixels": self.max_image_pixels, "check": self.check}

    def identity(self) -> dict[str, Any]:
        """The folder read from (its images are checked on every run, so the path names them)."""
        return {"kind": "folder", "root": str(self.root)}

    def close(self) -> None:
        """Nothing to release."""
        pass


@dataclass(frozen=True)
class FolderOptions:
    """The ``--model-option`` settings of ``folder:DIR`` (any other key is an error)."""

    layout: str = "auto"  # one of LAYOUTS, or auto (try them in order)
    max_image_pixels: int | None = None  # larger images are bad_image (decompression bombs)
    check: Literal["header", "decode"] = "header"  # decode: find truncated files before judging


def make_folder_model(argument: str, options: Mapping[str, Any]) -> FolderModel:
    """Registry factory for ``folder:DIR`` (options: :class:`FolderOptions`).

    >>> make_folder_model("/tmp", {"layot": "flat"})
    Traceback (most recent call last):
    ...
    echo4o_eval.config.ConfigError: folder model option: unknown folder model option 'layot'; did you mean 'layout'? (known: layout, max_image_pixels, check)
    """
    from echo4o_eval.config import typed_options

    settings = typed_options(FolderOptions, options, what="folder model option")
    if not argument:
        raise ValueError("folder model needs a directory: folder:DIR")
    return FolderModel(argument, layout=settings.layout, max_image_pixels=settings.max_image_pixels,
                       check=settings.check)
