"""Reading judged images: any PIL mode to RGB, EXIF orientation applied, optional crop.

Failures are values: :func:`load_rgb` raises :class:`ImageLoadError` carrying the Status
(MISSING_IMAGE, BAD_IMAGE or JUDGE_ERROR for a bad crop) and a message naming the file, which
judges turn into a Judgement instead of stopping the run.

Decompression bombs (a tiny file declaring e.g. 30000x30000 pixels) are BAD_IMAGE too:
:func:`open_limited` refuses an image whose header declares more than ``max_pixels`` pixels
(default :data:`DEFAULT_MAX_PIXELS`, Pillow's own limit) before decoding anything, and turns
Pillow's ``DecompressionBombWarning``/``DecompressionBombError`` into the same status. A larger
limit (the folder model's ``max_image_pixels`` option) also raises Pillow's process-wide limit
to match, and the default limit of later reads follows it, so real large images accepted by
the folder model are readable by the judges too.

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

import contextlib
import os
import warnings
from typing import Iterator, Sequence

from PIL import Image, ImageOps, UnidentifiedImageError

from echo4o_eval.records.types import Status


class ImageLoadError(Exception):
    """An image could not be used; ``status`` says how, the message names the file."""

    def __init__(self, status: Status, message: str):
        super().__init__(message)
        self.status = status


DEFAULT_MAX_PIXELS = 178_956_970  # Pillow's default Image.MAX_IMAGE_PIXELS (about 13377 x 13377)


def allow_pixels(max_pixels: int) -> None:
    """Raise Pillow's process-wide pixel limit to ``max_pixels`` if it is lower (never lowers it)."""
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and max_pixels > current:
        Image.MAX_IMAGE_PIXELS = int(max_pixels)


@contextlib.contextmanager
def open_limited(path: str | os.PathLike, max_pixels: int | None = None) -> Iterator[Image.Image]:
    """``Image.open`` that refuses images declaring more than ``max_pixels`` pixels.

    Raises ImageLoadError(BAD_IMAGE) naming the file for a decompression bomb; other open
    errors (unreadable, not an image) propagate as Pillow raises them.

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "big.png")
    >>> Image.new("L", (100, 100)).save(path)
    >>> try:
    ...     with open_limited(path, max_pixels=5000):
    ...         pass
    ... except ImageLoadError as err:
    ...     err.status.value, "100x100 = 10000 pixels, over the limit of 5000" in str(err)
    ('bad_image', True)
    """
    # default: Pillow's current limit (DEFAULT_MAX_PIXELS unless a larger max_image_pixels raised it)
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else int(max_pixels)
    if limit is not None:
        allow_pixels(limit)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageLoadError(
            Status.BAD_IMAGE,
            f"{os.fspath(path)}: refused as a possible decompression bomb ({err}); if it is a "
            "real image, raise the pixel limit (max_image_pixels)") from None
    with image:
        pixels = image.width * image.height
        if limit is not None and pixels > limit:
            raise ImageLoadError(
                Status.BAD_IMAGE,
                f"{os.fspath(path)}: declares {image.width}x{image.height} = {pixels} pixels, over "
                f"the limit of {limit} (a possible decompression bomb; raise max_image_pixels if "
                "it is a real image)")
        yield image


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


def load_rgb(path: str | os.PathLike, crop: Sequence[int] | None = None,
             max_pixels: int | None = None) -> Image.Image:
    """Open ``path`` as RGB with EXIF rotation applied, then crop to ``(left, top, right, bottom)``.

    Raises ImageLoadError (MISSING_IMAGE, BAD_IMAGE - also for more than ``max_pixels`` pixels -,
    or JUDGE_ERROR for an invalid crop).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageLoadError(Status.MISSING_IMAGE, f"{path}: no such image file")
    try:
        with open_limited(path, max_pixels) as opened:
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
