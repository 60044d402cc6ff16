"""Options of the detector judges (``--judge-option key=value``), parsed and checked once.

Every key has a default here; unknown keys are refused with the list of known ones, so a typo
never silently changes nothing.

Example:
    >>> opts = parse_detector_options({"batch_size": "4", "crop": "0"}, backend="mask2former")
    >>> opts["batch_size"], opts["crop"], opts["background"]
    (4, False, '#999')
    >>> parse_detector_options({"bach_size": "4"}, backend="mask2former")
    Traceback (most recent call last):
    ...
    ValueError: unknown detector judge option 'bach_size' (did you mean batch_size?); known: background, batch_size, clip_batch_size, clip_dtype, clip_model, clip_pretrained, color_max_per_class, color_min_score, crop, detector_model, device, dtype, input_size, max_per_image, min_score, prefetch, workers
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping

COMMON: dict[str, Any] = {
    "detector_model": None,  # local dir / hub id / config; default per backend or env var
    "clip_model": "ViT-L-14",  # open_clip architecture (GenEval: ViT-L-14)
    "clip_pretrained": None,  # "openai" (HF cache) or a weights file; env ECHO4O_CLIP_PRETRAINED
    "device": "auto",  # "auto" = cuda when available, else cpu
    "dtype": "float32",  # detector dtype: float32 | float16 | bfloat16
    "clip_dtype": None,  # CLIP dtype; default = dtype
    "batch_size": 8,  # images per detector forward pass
    "clip_batch_size": 64,  # object crops per CLIP forward pass
    "min_score": 0.3,  # detections below are not returned (GenEval never uses them)
    "color_min_score": 0.3,  # instances below get no colour
    "color_max_per_class": 16,  # colour at most this many instances per class and image
    "background": "#999",  # colour crops: "#999" (GenEval) or "original"
    "crop": True,  # colour crops cut to the object's box (GenEval default)
    "prefetch": True,  # prepare the next batches and colour crops on host threads
    "workers": None,  # size of that thread pool; default min(8, CPU count)
}

BACKEND_OPTIONS: dict[str, dict[str, Any]] = {
    "mask2former": {"input_size": None, "max_per_image": 100},
    "owlv2": {"min_score": 0.1},
    "mmdet": {"checkpoint": None},
}


_BOOLS = {"crop", "prefetch"}
_INTS = {"batch_size", "clip_batch_size", "color_max_per_class", "input_size", "max_per_image", "workers"}
_FLOATS = {"min_score", "color_min_score"}


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a boolean (1/0, true/false), got {value!r}")


def parse_detector_options(options: Mapping[str, Any] | None, backend: str) -> dict[str, Any]:
    """Defaults for ``backend`` overridden by ``options`` (CLI strings converted)."""
    defaults = {**COMMON, **BACKEND_OPTIONS[backend]}
    out = dict(defaults)
    for key, value in (options or {}).items():
        if key not in defaults:
            close = difflib.get_close_matches(key, defaults, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(
                f"unknown detector judge option {key!r}{hint}; known: {', '.join(sorted(defaults))}"
            )
        if value is None:
            out[key] = None
        elif key in _BOOLS:
            out[key] = _boolean(value)
        elif key in _INTS:
            out[key] = int(value)
        elif key in _FLOATS:
            out[key] = float(value)
        else:
            out[key] = str(value)
    if out["background"] not in ("original",) and not str(out["background"]).strip():
        raise ValueError("background must be a colour such as '#999' or 'original'")
    return out


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
