"""Reading judged images: any PIL mode to RGB, EXIF orientation applied, optional crop.

Failures are values: :func:`load_rgb` raises :class:`ImageLoadError` carrying the Status
(MISSING_IMAGE, BAD_IMAGE or JUDGE_ERROR for a bad crop) and a message naming the file, which
judges turn into a Judgement instead of stopping the run.

Example:
    >>> import tempfile, os
    >>> from PIL import Image
    >>> path = os.path.join(tempfile.mkdtemp(), "a.png")
    >>> Image.new("RGBA", (30, 20)).save(path)
    >>> image = load_rgb(path, crop=(0, 0, 10, 20))
    >>> image.mode, image.size
    ('RGB', (10, 20))
    >>> try:
    ...     load_rgb(path + ".missing")
    ... except ImageLoadError as err:
    ...     err.status.value
    'missing_image'
"""

from __future__ import annotations

import os
from typing import Sequence

from PIL import Image, ImageOps, UnidentifiedImageError

from echo4o_eval.types import Status


class ImageLoadError(Exception):
    """An image could not be used; ``status`` says how, the message names the file."""

    def __init__(self, status: Status, message: str):
        super().__init__(message)
        self.status = status


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB (alpha dropped, 16-bit/float rescaled to 0..255).

    >>> to_rgb(Image.new("CMYK", (2, 2))).mode
    'RGB'
    """
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        import numpy as np

        array = np.asarray(image, dtype=np.float64)
        high = float(array.max()) if array.size else 0.0
        scale = 255.0 / 65535.0 if high > 255 else 1.0
        image = Image.fromarray(np.clip(array * scale, 0, 255).astype("uint8"), mode="L")
    return image.convert("RGB")


def load_rgb(path: str | os.PathLike, crop: Sequence[int] | None = None) -> Image.Image:
    """Open ``path`` as RGB with EXIF rotation applied, then crop to ``(left, top, right, bottom)``.

    Raises ImageLoadError (MISSING_IMAGE, BAD_IMAGE, or JUDGE_ERROR for an invalid crop).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageLoadError(Status.MISSING_IMAGE, f"{path}: no such image file")
    try:
        with Image.open(path) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
            image = to_rgb(image)
            image.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise ImageLoadError(Status.BAD_IMAGE, f"{path}: cannot read image ({err})") from None
    if image.width < 1 or image.height < 1:
        raise ImageLoadError(Status.BAD_IMAGE, f"{path}: empty image {image.size}")
    if crop is not None:
        left, top, right, bottom = (int(v) for v in crop)
        if not (0 <= left < right <= image.width and 0 <= top < bottom <= image.height):
            raise ImageLoadError(
                Status.JUDGE_ERROR,
                f"{path}: crop {tuple(crop)} is outside the {image.width}x{image.height} image",
            )
        image = image.crop((left, top, right, bottom))
    return image
