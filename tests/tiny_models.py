"""Tiny random-weight detector and CLIP models for offline tests and bench/ scripts.

Real model classes with toy sizes, saved to disk and loaded back through the same
``from_pretrained(path)`` / open_clip ``pretrained=PATH`` code users run. Outputs are
meaningless; the plumbing is real. Reusable by any test::

    from tests.tiny_models import save_tiny_mask2former, save_tiny_clip, save_tiny_owlv2
    m2f_dir = save_tiny_mask2former(tmp / "m2f")            # COCO labels, shuffled ids
    clip_name, clip_file = save_tiny_clip(tmp / "clip")     # registers an open_clip config
    owl_dir = save_tiny_owlv2(tmp / "owl")
    judge = make_mask2former_clip_judge("", {"detector_model": str(m2f_dir),
            "clip_model": clip_name, "clip_pretrained": str(clip_file), "min_score": "0"})

:func:`write_test_images` writes small images in awkward formats (RGB, RGBA, L, CMYK, EXIF-rotated,
odd sizes) for end-to-end tests.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from echo4o_eval.judges.labels import GENEVAL_OBJECT_NAMES

TINY_CLIP_NAME = "echo4o-tiny-clip"

# COCO spellings the checkpoints use, so tests exercise the by-name mapping.
_COCO_SPELLING = {"computer mouse": "mouse", "tv remote": "remote", "computer keyboard": "keyboard"}


def coco_labels(shuffle_seed: int | None = 0) -> dict[int, str]:
    """80 COCO labels as a checkpoint spells them; ids shuffled (seeded) unless seed is None."""
    names = [_COCO_SPELLING.get(n, n) for n in GENEVAL_OBJECT_NAMES]
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(names)
    return dict(enumerate(names))


def save_tiny_mask2former(path: Path, input_size: int = 128, seed: int = 0) -> Path:
    """A ~0.4M-parameter Mask2Former (tiny Swin backbone, 20 queries) saved at ``path``.

    ``preprocessor_config.json`` sets the input size, as real checkpoints do (384).
    """
    import torch
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, SwinConfig

    torch.manual_seed(seed)
    backbone = SwinConfig(
        image_size=input_size, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1],
        num_heads=[1, 1, 2, 2], window_size=4,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )  # fmt: skip
    labels = coco_labels(seed) | {80: "wall-other-merged"}  # one non-GenEval label
    config = Mask2FormerConfig(
        backbone_config=backbone, hidden_dim=32, mask_feature_size=32, feature_size=32,
        encoder_layers=1, decoder_layers=2, num_attention_heads=2, dim_feedforward=64,
        encoder_feedforward_dim=64, num_queries=20, num_labels=81, use_pretrained_backbone=False,
        id2label=labels, label2id={v: k for k, v in labels.items()},
    )  # fmt: skip
    model = Mask2FormerForUniversalSegmentation(config).eval()
    path = Path(path)
    model.save_pretrained(path)
    prep = {"image_processor_type": "Mask2FormerImageProcessor",
            "size": {"height": input_size, "width": input_size},
            "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}  # fmt: skip
    (path / "preprocessor_config.json").write_text(json.dumps(prep))
    return path


def tiny_clip_config() -> dict:
    """An open_clip model config with toy sizes (32-px images, 1-layer towers)."""
    return {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2,
                     "layers": 1},
    }  # fmt: skip


def register_tiny_clip(directory: Path) -> str:
    """Register :func:`tiny_clip_config` with open_clip under TINY_CLIP_NAME; return the name."""
    import open_clip

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config_file = directory / f"{TINY_CLIP_NAME}.json"
    config_file.write_text(json.dumps(tiny_clip_config()))
    if TINY_CLIP_NAME not in open_clip.list_models():
        open_clip.add_model_config(config_file)
    return TINY_CLIP_NAME


def save_tiny_clip(directory: Path, seed: int = 0) -> tuple[str, Path]:
    """Random tiny open_clip weights saved as a file; returns (model name, weights path)."""
    import open_clip
    import torch

    name = register_tiny_clip(directory)
    torch.manual_seed(seed)
    model = open_clip.create_model(name, pretrained=None)
    weights = Path(directory) / "tiny_clip.pt"
    torch.save(model.state_dict(), weights)
    return name, weights


def _clip_tokenizer():
    """The demo's CLIPTokenizer (open_clip's BPE vocabulary), cut to OWLv2's 16 positions."""
    from echo4o_eval.demo.tiny_models import clip_tokenizer

    return clip_tokenizer(max_length=16, pad_token="!")


def save_tiny_owlv2(path: Path, image_size: int = 64, seed: int = 0) -> Path:
    """A tiny OWLv2 (text-queried open-vocabulary detector) with its processor at ``path``."""
    import torch
    from transformers import (Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor,
                              Owlv2Processor)  # fmt: skip

    torch.manual_seed(seed)
    config = Owlv2Config(
        text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "max_position_embeddings": 16},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": image_size, "patch_size": 16},
        projection_dim=32,
    )  # fmt: skip
    model = Owlv2ForObjectDetection(config).eval()
    path = Path(path)
    model.save_pretrained(path)
    processor = Owlv2Processor(
        image_processor=Owlv2ImageProcessor(size={"height": image_size, "width": image_size}),
        tokenizer=_clip_tokenizer(),
    )
    processor.save_pretrained(path)
    return path


def write_test_images(directory: Path) -> list[Path]:
    """Six small images: RGB, RGBA, L, CMYK, an EXIF-rotated JPEG, and an odd-sized PNG."""
    from PIL import Image

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(1)

    def noise(mode: str, size: tuple[int, int]) -> Image.Image:
        image = Image.new("RGB", size)
        image.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(size[0] * size[1])])
        return image.convert(mode)

    paths = []
    for name, mode, size in [("rgb.png", "RGB", (64, 48)), ("rgba.png", "RGBA", (50, 50)),
                             ("gray.png", "L", (40, 56)), ("cmyk.jpg", "CMYK", (48, 48)),
                             ("odd.png", "RGB", (37, 23))]:  # fmt: skip
        paths.append(directory / name)
        noise(mode, size).save(paths[-1])
    rotated = noise("RGB", (60, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees on display
    paths.append(directory / "exif_rotated.jpg")
    rotated.save(paths[-1], exif=exif)
    return paths
