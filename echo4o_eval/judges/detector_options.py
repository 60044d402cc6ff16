"""Options of the detector judges (``--judge-option key=value``) as typed dataclasses, read once.

:class:`DetectorOptions` holds the settings every detector judge shares; each backend has its
own subclass (:class:`Mask2FormerOptions`, :class:`Owlv2Options`, :class:`MmdetOptions`).
Every field has a default; an unknown name is refused with a did-you-mean naming the judge, and
a value of the wrong type is an error, so a typo never silently changes nothing.

Example:
    >>> opts = parse_detector_options({"batch_size": "4", "crop": "0"}, backend="mask2former")
    >>> opts.batch_size, opts.crop, opts.background
    (4, False, '#999')
    >>> parse_detector_options({"bach_size": "4"}, backend="mask2former")
    Traceback (most recent call last):
    ...
    echo4o_eval.config.ConfigError: mask2former-clip judge option: unknown mask2former-clip judge option 'bach_size'; did you mean 'batch_size'? (known: detector_model, clip_model, clip_pretrained, device, dtype, clip_dtype, batch_size, clip_batch_size, min_score, color_min_score, color_max_per_class, background, crop, prefetch, workers, input_size, max_per_image)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from echo4o_eval.adapter_options import adapter_options


@dataclass(frozen=True)
class DetectorOptions:
    """Settings shared by the detector + CLIP judges (``--judge-option KEY=VALUE``)."""

    detector_model: str | None = None  # local dir / hub id / config; default per backend or env var
    clip_model: str = "ViT-L-14"  # open_clip architecture (GenEval: ViT-L-14)
    clip_pretrained: str | None = None  # "openai" (HF cache) or a weights file; env ECHO4O_CLIP_PRETRAINED
    device: str = "auto"  # "auto" = this rank's GPU when available, else cpu
    dtype: str = "float32"  # detector dtype: float32 | float16 | bfloat16
    clip_dtype: str | None = None  # CLIP dtype; default = dtype
    batch_size: int = 8  # images per detector forward pass
    clip_batch_size: int = 64  # object crops per CLIP forward pass
    min_score: float = 0.3  # detections below are not returned (GenEval never uses them)
    color_min_score: float = 0.3  # instances below get no colour
    color_max_per_class: int = 16  # colour at most this many instances per class and image
    background: str = "#999"  # colour crops: "#999" (GenEval) or "original"
    crop: bool = True  # colour crops cut to the object's box (GenEval default)
    prefetch: bool = True  # prepare the next batches and colour crops on host threads
    workers: int | None = None  # size of that thread pool; default min(8, CPU count)

    def __post_init__(self) -> None:
        if not self.background.strip():
            raise ValueError("background must be a colour such as '#999' or 'original'")


@dataclass(frozen=True)
class Mask2FormerOptions(DetectorOptions):
    """``mask2former-clip`` settings: the shared ones plus the detector's input size and cap."""

    input_size: int | None = None  # shorter side the detector sees; default the checkpoint's
    max_per_image: int = 100  # instances kept per image (highest scores first)


@dataclass(frozen=True)
class Owlv2Options(DetectorOptions):
    """``owlv2-clip`` settings: the shared ones, with a lower default score threshold."""

    min_score: float = 0.1  # open-vocabulary scores run lower than closed-set ones


@dataclass(frozen=True)
class MmdetOptions(DetectorOptions):
    """``mmdet-clip`` settings: the shared ones plus the mmdet checkpoint file."""

    checkpoint: str | None = None  # GenEval's .pth; "random" for random weights (tests only)


BACKEND_OPTIONS: dict[str, type[DetectorOptions]] = {
    "mask2former": Mask2FormerOptions, "owlv2": Owlv2Options, "mmdet": MmdetOptions,
}


def parse_detector_options(options: Mapping[str, Any] | None, backend: str) -> DetectorOptions:
    """The options dataclass of ``backend`` ("mask2former", "owlv2" or "mmdet") from
    ``options`` (CLI text read for each field's type; 1/0, yes/no, on/off for true/false)."""
    return adapter_options(BACKEND_OPTIONS[backend], options, f"{backend}-clip judge option")


def resolve_device(device: str) -> str:
    """"auto" -> this rank's GPU (``cuda:<LOCAL_RANK>``) when torch sees one, else "cpu";
    other values unchanged, so under torchrun/accelerate each rank judges on its own GPU."""
    from echo4o_eval.distributed import select_device

    return select_device(requested=device)


def torch_dtype(name: str):
    """torch dtype for "float32" | "float16" | "bfloat16" (also fp32/fp16/bf16)."""
    import torch

    table = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
             "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}  # fmt: skip
    if name not in table:
        raise ValueError(f"dtype must be one of float32, float16, bfloat16; not {name!r}")
    return table[name]
