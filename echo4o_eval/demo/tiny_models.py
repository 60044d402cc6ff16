"""Tiny random-weight models for the demo, built on the fly and saved to disk.

Real model classes with toy sizes: a Stable Diffusion 3 pipeline (diffusers), a Mask2Former
detector (transformers) and a CLIP model (open_clip). Each is saved with its library's own
``save_pretrained``/``torch.save`` and then loaded by the demo through the same
``--model``/``--judge-option`` specs a user passes for real weights. Their outputs are
meaningless; the plumbing is real. Everything is seeded, so two builds are identical.

Example (needs the ``gen`` and ``detect`` extras; about 10 s on a CPU)::

    from echo4o_eval.demo.tiny_models import save_tiny_models
    paths = save_tiny_models(Path("/tmp/tiny"))
    paths.generator, paths.detector, paths.clip_config, paths.clip_weights
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass
from pathlib import Path

from echo4o_eval.optional import require_module

IMAGE_SIZE = 64  # pixels of the tiny generator's images: vae scale (8) x patch size (2) x 4
GENERATION_OPTIONS = {"width": IMAGE_SIZE, "height": IMAGE_SIZE, "num_inference_steps": 2,
                      "guidance_scale": 2.0, "device": "cpu", "dtype": "float32"}
"""``--model-option`` settings for the tiny generator: 64x64 pixels, 2 denoising steps, CPU."""
CLIP_NAME = "echo4o-demo-tiny-clip"


@dataclass(frozen=True)
class TinyModelPaths:
    """Where :func:`save_tiny_models` put each model."""

    generator: Path  # diffusers pipeline folder (model_index.json)
    detector: Path  # transformers Mask2Former folder
    clip_config: Path  # open_clip model config NAME.json
    clip_weights: Path  # open_clip state dict


def _require_extras() -> None:
    require_module("torch", extra="gen,detect")
    require_module("diffusers", extra="gen")
    require_module("transformers", extra="detect")
    require_module("open_clip", extra="detect")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    characters = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            characters.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, characters)))


def clip_tokenizer(max_length: int = 77, **options):
    """A transformers CLIPTokenizer from the CLIP BPE vocabulary that open_clip ships (offline);
    ``options`` go to ``CLIPTokenizer`` (e.g. ``pad_token``)."""
    import open_clip
    from transformers import CLIPTokenizer

    bpe = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.open(bpe, "rt", encoding="utf-8").read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    vocab = list(_bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=merges,
                         model_max_length=max_length, **options)


def tiny_text_encoder(hidden: int, seed: int, heads: int = 2):
    """A random-weight 1-layer CLIPTextModelWithProjection of width ``hidden`` (CLIP's vocabulary),
    seeded with ``seed``; created on torch's current default device."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    return CLIPTextModelWithProjection(CLIPTextConfig(
        vocab_size=49408, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=1,
        num_attention_heads=heads, projection_dim=hidden, max_position_embeddings=77,
        bos_token_id=49406, eos_token_id=49407, pad_token_id=49407))


def save_tiny_generator(directory: Path, seed: int = 0) -> Path:
    """:func:`build_tiny_generator` saved with ``save_pretrained`` into ``directory``."""
    directory = Path(directory)
    build_tiny_generator(seed).save_pretrained(directory)
    return directory


def build_tiny_generator(seed: int = 0):
    """A random-weight StableDiffusion3Pipeline (2-layer transformer, 4-channel VAE, two 1-layer
    CLIP text encoders) for ``IMAGE_SIZE`` pixels, in memory."""
    import torch
    from diffusers import (AutoencoderKL, FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel,
                           StableDiffusion3Pipeline)

    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(
        sample_size=IMAGE_SIZE // 8, patch_size=2, in_channels=4, num_layers=2, attention_head_dim=8,
        num_attention_heads=2, joint_attention_dim=32, caption_projection_dim=16,
        pooled_projection_dim=64, out_channels=4, pos_embed_max_size=32)
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
        latent_channels=4, norm_num_groups=4, sample_size=IMAGE_SIZE, use_quant_conv=False,
        use_post_quant_conv=False, shift_factor=0.0609, scaling_factor=1.5035)
    tokenizer = clip_tokenizer()
    return StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=vae,
        text_encoder=tiny_text_encoder(32, seed + 2), tokenizer=tokenizer,
        text_encoder_2=tiny_text_encoder(32, seed + 3), tokenizer_2=tokenizer,
        text_encoder_3=None, tokenizer_3=None)


def save_tiny_detector(directory: Path, seed: int = 0, input_size: int = 128) -> Path:
    """A ~0.4M-parameter Mask2Former with the 80 COCO labels GenEval uses, saved in ``directory``
    with a ``preprocessor_config.json`` that sets its input size (as real checkpoints do)."""
    import torch
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, SwinConfig

    from echo4o_eval.judges.labels import GENEVAL_OBJECT_NAMES

    torch.manual_seed(seed)
    backbone = SwinConfig(image_size=input_size, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1],
                          num_heads=[1, 1, 2, 2], window_size=4,
                          out_features=["stage1", "stage2", "stage3", "stage4"])
    names = list(GENEVAL_OBJECT_NAMES)
    random.Random(seed).shuffle(names)
    labels = dict(enumerate(names))
    config = Mask2FormerConfig(
        backbone_config=backbone, hidden_dim=32, mask_feature_size=32, feature_size=32,
        encoder_layers=1, decoder_layers=2, num_attention_heads=2, dim_feedforward=64,
        encoder_feedforward_dim=64, num_queries=20, num_labels=len(labels),
        use_pretrained_backbone=False, id2label=labels, label2id={v: k for k, v in labels.items()})
    model = Mask2FormerForUniversalSegmentation(config).eval()
    with torch.no_grad():  # confident class predictions (scores ~0.5, far from GenEval's 0.3 cut) and
        model.class_predictor.weight.mul_(100.0)  # no "no object" class: the rules get real detections
        model.class_predictor.bias[-1] = -100.0
    directory = Path(directory)
    model.save_pretrained(directory)
    processor = {"image_processor_type": "Mask2FormerImageProcessor",
                 "size": {"height": input_size, "width": input_size},
                 "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
    (directory / "preprocessor_config.json").write_text(json.dumps(processor))
    return directory


def save_tiny_clip(directory: Path, seed: int = 0) -> tuple[Path, Path]:
    """An open_clip config ``CLIP_NAME.json`` (32-px images, 1-layer towers) and random weights
    for it, in ``directory``; returns (config path, weights path)."""
    import open_clip
    import torch

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {"embed_dim": 32,
              "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
              "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    config_path = directory / f"{CLIP_NAME}.json"
    config_path.write_text(json.dumps(config))
    open_clip.add_model_config(config_path)
    torch.manual_seed(seed)
    model = open_clip.create_model(CLIP_NAME, pretrained=None)
    weights = directory / "tiny_clip.pt"
    torch.save(model.state_dict(), weights)
    return config_path, weights


def save_tiny_models(directory: Path, seed: int = 0) -> TinyModelPaths:
    """Build and save the three tiny models under ``directory`` (generator/, detector/, clip/)."""
    _require_extras()
    directory = Path(directory)
    clip_config, clip_weights = save_tiny_clip(directory / "clip", seed)
    return TinyModelPaths(generator=save_tiny_generator(directory / "generator", seed),
                          detector=save_tiny_detector(directory / "detector", seed),
                          clip_config=clip_config, clip_weights=clip_weights)
