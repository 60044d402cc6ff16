"""CLIP colour classification of detected objects, as GenEval does it, batched across images.

Each object is pasted through its mask onto a plain ``#999`` background (or kept on its
original background), cropped to its box, and classified among the colours its request names
(``JudgeRequest.params["colors"]``; GenEval sends its 10) with a zero-shot classifier built
per class name and colour list from three prompt templates ("a photo of a {colour}
{object}", "a photo of a {colour}-colored {object}", "a photo of a {colour} object"), whose
normalised text embeddings are averaged. Classifiers are cached per class and colours; the crops of
many images go through CLIP in one batch. open_clip is imported when a classifier is built.

Example (needs open_clip and weights, so not run as a doctest)::

    clf = ClipColorClassifier("ViT-L-14", "openai", device="cuda", dtype="float16")
    colours = clf.classify([ColorItem(image, mask, (10, 20, 200, 220), "car", ("red", "blue"))])
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from PIL import Image

from echo4o_eval.judges.weights import missing_weights, resolve_source
from echo4o_eval.optional import require_module

COLOR_TEMPLATES: tuple[str, ...] = (
    "a photo of a {color} {name}",
    "a photo of a {color}-colored {name}",
    "a photo of a {color} object",
)

_PRECISION = {"float32": "fp32", "fp32": "fp32", "float16": "fp16", "fp16": "fp16",
              "bfloat16": "bf16", "bf16": "bf16"}  # fmt: skip


@dataclass(frozen=True)
class ColorItem:
    """One object to colour: its image, optional boolean mask (H x W numpy), box, class and
    the colours to choose from (from the judge request)."""

    image: Image.Image
    mask: Any  # numpy bool array (H, W) or None
    box: tuple[float, float, float, float]
    class_name: str
    palette: tuple[str, ...] = ()


def object_crop(item: ColorItem, background: str = "#999", crop: bool = True) -> Image.Image:
    """The object on a plain background (``"original"`` keeps the picture), cut to its box.

    Cropping before compositing gives the same pixels as GenEval's composite-then-crop, faster.

    >>> import numpy as np
    >>> image = Image.new("RGB", (8, 8), (255, 0, 0))
    >>> mask = np.zeros((8, 8), bool); mask[2:4, 2:4] = True
    >>> out = object_crop(ColorItem(image, mask, (0, 0, 4, 4), "cup"))
    >>> out.size, out.getpixel((0, 0)), out.getpixel((3, 3))
    ((4, 4), (153, 153, 153), (255, 0, 0))
    """
    image, mask = item.image, item.mask
    if crop:
        box = _nonempty_box(item.box, image.size)
        region = image.crop(box)
        mask_image = Image.fromarray(mask).crop(box) if mask is not None else None
    else:
        region = image
        mask_image = Image.fromarray(mask) if mask is not None else None
    if mask_image is None or background == "original":
        return region
    blank = Image.new("RGB", region.size, color=background)
    return Image.composite(region, blank, mask_image)


def _nonempty_box(box, size) -> tuple[float, float, float, float]:
    """The box, widened to at least one pixel inside the image (CLIP cannot take an empty crop;
    GenEval's own loop crashes there). Degenerate boxes come from empty masks or OWL boxes.

    >>> _nonempty_box((64, 32, 64, 48), (64, 48))
    (63.0, 32.0, 64.0, 48.0)
    """
    width, height = size
    x1, y1, x2, y2 = (float(v) for v in box)
    if round(x2) - round(x1) < 1:
        x1 = float(min(max(round(x1), 0), width - 1))
        x2 = x1 + 1
    if round(y2) - round(y1) < 1:
        y1 = float(min(max(round(y1), 0), height - 1))
        y2 = y1 + 1
    return (x1, y1, x2, y2)


class ClipColorClassifier:
    """Zero-shot colour classifier over GenEval's palette with an open_clip model.

    Args:
        model_name: open_clip architecture ("ViT-L-14", GenEval's choice), or the path of an
            open_clip model config ``NAME.json`` (registered, then used as NAME).
        pretrained: open_clip tag ("openai", served from the HF cache) or a local weights file;
            default from $ECHO4O_CLIP_PRETRAINED, else "openai".
        device, dtype: torch device and "float32" | "float16" | "bfloat16".
        background: "#999" (GenEval default), any PIL colour, or "original".
        crop: cut the object to its box (GenEval default True).
        batch_size: crops per CLIP forward pass.
    """

    def __init__(
        self,
        model_name: str = "ViT-L-14",
        pretrained: str | None = None,
        device: str = "cpu",
        dtype: str = "float32",
        background: str = "#999",
        crop: bool = True,
        batch_size: int = 64,
    ):
        torch = require_module("torch", "detect")
        open_clip = require_module("open_clip", "detect")
        if dtype not in _PRECISION:
            raise ValueError(f"clip dtype must be one of {sorted(_PRECISION)}, not {dtype!r}")
        pretrained = resolve_source(pretrained, "ECHO4O_CLIP_PRETRAINED", "openai")
        if str(model_name).endswith(".json"):  # a custom open_clip config file: register it
            config_path = Path(model_name)
            if not config_path.is_file():
                raise ValueError(f"clip_model {model_name}: no such open_clip config file")
            open_clip.add_model_config(config_path)
            model_name = config_path.stem
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name, pretrained=pretrained, device=device, precision=_PRECISION[dtype]
            )
        except Exception as err:  # unknown tag, missing file, offline without cache
            raise missing_weights(
                f"CLIP model {model_name}", pretrained, "clip_pretrained",
                "ECHO4O_CLIP_PRETRAINED", err,
            ) from err  # fmt: skip
        self.torch = torch
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.device = device
        self.model_name, self.pretrained = model_name, pretrained
        self.background, self.crop, self.batch_size = background, crop, int(batch_size)
        self._classifiers: dict[str, Any] = {}

    def describe(self) -> dict[str, Any]:
        """Classifier settings for the run manifest."""
        return {
            "clip_model": self.model_name,
            "clip_pretrained": self.pretrained,
            "background": self.background,
            "crop": self.crop,
            "templates": list(COLOR_TEMPLATES),
        }

    def classifier(self, class_name: str, palette: Sequence[str]):
        """Normalised (len(palette), D) text classifier for ``class_name`` among the colours of
        ``palette`` (cached)."""
        palette = tuple(palette)
        if not palette:
            raise ValueError(f"no colours to choose from for {class_name!r} (the request names none)")
        cached = self._classifiers.get((class_name, palette))
        if cached is not None:
            return cached
        torch = self.torch
        texts = [t.format(color=c, name=class_name) for c in palette for t in COLOR_TEMPLATES]
        with torch.inference_mode():
            tokens = self.tokenizer(texts).to(self.device)
            emb = self.model.encode_text(tokens).float()
            emb = emb / emb.norm(dim=-1, keepdim=True)
            emb = emb.reshape(len(palette), len(COLOR_TEMPLATES), -1).mean(dim=1)
            emb = emb / emb.norm(dim=-1, keepdim=True)
        self._classifiers[(class_name, palette)] = emb
        return emb

    def prepare(self, item: ColorItem):
        """CLIP input tensor (3, S, S) of one object crop; thread-safe, host only (the detector
        judge runs it on its workers while the device is busy)."""
        return self.preprocess(object_crop(item, self.background, self.crop))

    def classify(self, items: Sequence[ColorItem], prepared: Sequence[Any] | None = None) -> list[str]:
        """Colour name per item, in order; items of any classes and images mix in one batch.
        ``prepared``: :meth:`prepare` of each item, when already made."""
        torch = self.torch
        colors: list[str] = []
        dtype = next(self.model.parameters()).dtype
        cuda = str(self.device).startswith("cuda")
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            if prepared is not None:
                tensors = list(prepared[start : start + self.batch_size])
            else:
                tensors = [self.prepare(i) for i in chunk]
            if cuda:  # pinned host batch, asynchronous copy
                host = torch.empty((len(tensors), *tensors[0].shape), dtype=tensors[0].dtype,
                                   pin_memory=True)  # fmt: skip
                pixels = torch.stack(tensors, out=host).to(self.device, non_blocking=True).to(dtype)
            else:
                pixels = torch.stack(tensors).to(self.device, dtype)
            classifiers = [self.classifier(i.class_name, i.palette) for i in chunk]
            with torch.inference_mode():
                feats = self.model.encode_image(pixels).float()
                feats = feats / feats.norm(dim=-1, keepdim=True)
                if len({i.palette for i in chunk}) == 1:  # one colour list (always, for GenEval)
                    logits = torch.einsum("nd,ncd->nc", feats, torch.stack(classifiers))
                    best = logits.argmax(dim=1).tolist()
                else:
                    best = [int((w @ f).argmax()) for w, f in zip(classifiers, feats)]
            colors += [item.palette[b] for item, b in zip(chunk, best)]
        return colors
