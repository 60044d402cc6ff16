"""``echo4o-eval demo --real``: the same runs with small real checkpoints from the Hugging Face Hub.

The checkpoints (downloaded once into the Hugging Face cache; about 1.9 GB in all):

- generator ``segmind/tiny-sd`` (a distilled Stable Diffusion 1.5, diffusers format; the
  ``*.bin`` weights, about 1.1 GB), 512x512 pixels, 20 steps;
- detector ``facebook/mask2former-swin-tiny-coco-instance`` (Mask2Former, COCO instance
  segmentation, about 190 MB) instead of GenEval's Swin-S/L sized models;
- colour classifier open_clip ``ViT-B-32-quickgelu`` with OpenAI's weights from
  ``timm/vit_base_patch32_clip_224.openai`` (about 600 MB) instead of GenEval's ViT-L-14.

The VLM judge stays the local scripted server, so the demo never needs an API key or spends
money; use ``echo4o-eval run --judge openai:gpt-4.1`` for real judgements. Made for a GPU (a
CPU takes several minutes per image at 512 pixels). Offline, every download fails at once with
an error that says so; nothing is half-written.

Example:
    >>> [c.repo for c in REAL_CHECKPOINTS]
    ['segmind/tiny-sd', 'facebook/mask2former-swin-tiny-coco-instance', 'timm/vit_base_patch32_clip_224.openai']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RealCheckpoint:
    """One Hub checkpoint the real demo downloads."""

    role: str
    repo: str
    size: str  # approximate download size, for the help text
    allow_patterns: tuple[str, ...] = ()


REAL_CHECKPOINTS = (
    RealCheckpoint("generator", "segmind/tiny-sd", "~1.1 GB",
                   ("model_index.json", "*/config.json", "*/*.txt", "*/*.json", "*/*.bin")),
    RealCheckpoint("detector", "facebook/mask2former-swin-tiny-coco-instance", "~190 MB"),
    RealCheckpoint("colour classifier", "timm/vit_base_patch32_clip_224.openai", "~600 MB"),
)


def describe_checkpoints() -> str:
    """One line per checkpoint: role, Hub id, download size."""
    return "\n".join(f"  {c.role:<18} {c.repo} ({c.size})" for c in REAL_CHECKPOINTS)


class RealModels:
    """Local paths of the downloaded checkpoints plus the settings the runs pass with them."""

    detector_options: dict = {}
    model_id = REAL_CHECKPOINTS[0].repo

    def __init__(self, generator: Path, detector: Path, clip_weights: Path, device: str) -> None:
        self.generator, self.detector, self.clip_weights, self.device = generator, detector, clip_weights, device
        self.clip_config = "ViT-B-32-quickgelu"
        self.generation_options = {"width": 512, "height": 512, "num_inference_steps": 20,
                                   "guidance_scale": 7.0, "device": device}


def fetch_real_models() -> RealModels:
    """Download (or find in the Hub cache) every REAL_CHECKPOINTS entry; DemoError naming the
    checkpoint and the cause when the Hub cannot be reached."""
    from echo4o_eval.demo.run import DemoError
    from echo4o_eval.optional import require_module

    hub = require_module("huggingface_hub", extra="gen")
    require_module("open_clip", extra="detect")
    import os

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        cause = "HF_HUB_OFFLINE is set and the checkpoints are not all in the cache"
    else:
        cause = None
    paths = []
    for checkpoint in REAL_CHECKPOINTS[:2]:
        try:
            paths.append(Path(hub.snapshot_download(checkpoint.repo, allow_patterns=list(checkpoint.allow_patterns) or None)))
        except Exception as exc:  # offline, DNS, gated, 404: all end the demo with the cause
            raise DemoError(_fetch_message(checkpoint, cause or f"{type(exc).__name__}: {exc}")) from exc
    from open_clip.pretrained import download_pretrained_from_hf

    clip = REAL_CHECKPOINTS[2]
    try:
        clip_weights = Path(download_pretrained_from_hf(clip.repo))
    except Exception as exc:
        raise DemoError(_fetch_message(clip, cause or f"{type(exc).__name__}: {exc}")) from exc
    import torch

    return RealModels(paths[0], paths[1], clip_weights, "cuda" if torch.cuda.is_available() else "cpu")


def _fetch_message(checkpoint: RealCheckpoint, cause: str) -> str:
    return (f"demo --real could not download the {checkpoint.role} {checkpoint.repo} "
            f"({checkpoint.size}) from the Hugging Face Hub: {cause[:300]}. It needs network "
            f"access (or these checkpoints in the Hub cache):\n{describe_checkpoints()}\n"
            "Run `echo4o-eval demo` without --real for the offline demo with tiny random models.")
