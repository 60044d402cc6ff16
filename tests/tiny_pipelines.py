"""Tiny random-weight diffusers pipelines for offline tests and the throughput bench.

The pipelines are real diffusers classes (Stable Diffusion 3 transformer, VAE, two CLIP text
encoders) with toy sizes and random weights, saved with ``save_pretrained`` so that tests load
them through the same ``DiffusionPipeline.from_pretrained(path)`` code users run. Their images
are meaningless noise; the plumbing is real. A 64x64 image in 2 steps takes ~0.1 s on a CPU.

Reusable by any test (the end-to-end tests use it through a session-scoped fixture)::

    from tests.tiny_pipelines import save_tiny_sd3
    path = save_tiny_sd3(tmp_path / "sd3")                     # text-to-image pipeline
    path = save_tiny_sd3(tmp_path / "sd3i2i", image_to_image=True)  # takes an input image

Then ``echo4o-eval run --model diffusers:<path> ...`` or ``resolve_model(str(path), {})``.
Only diffusers, transformers and open_clip's bundled BPE vocabulary are needed (no network).
"""

from __future__ import annotations

import gzip
from pathlib import Path

TINY_IMAGE_SIZE = 64  # pixels; a multiple of vae scale (8) x patch size (2)
TINY_STEPS = 2


def _clip_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's BPE vocabulary as shipped inside open_clip (the same ids CLIP uses)."""
    import open_clip

    path = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.open(path, "rt", encoding="utf-8").read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    from open_clip.tokenizer import bytes_to_unicode

    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab.extend("".join(merge) for merge in merges)
    vocab.extend(["<|startoftext|>", "<|endoftext|>"])
    return {token: index for index, token in enumerate(vocab)}, merges


def _clip_tokenizer():
    from transformers import CLIPTokenizer

    vocab, merges = _clip_vocab_and_merges()
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def _tiny_clip_text_encoder(hidden: int, seed: int):
    import torch
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=1,
        num_attention_heads=2,
        projection_dim=hidden,
        max_position_embeddings=77,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )
    return CLIPTextModelWithProjection(config)


def build_tiny_sd3(image_to_image: bool = False, seed: int = 0):
    """A random-weight StableDiffusion3 pipeline object (text-to-image or image-to-image).

    >>> pipe = build_tiny_sd3()  # doctest: +SKIP
    >>> type(pipe).__name__      # doctest: +SKIP
    'StableDiffusion3Pipeline'
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Img2ImgPipeline,
        StableDiffusion3Pipeline,
    )

    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(
        sample_size=TINY_IMAGE_SIZE // 8,
        patch_size=2,
        in_channels=4,
        num_layers=2,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=32,
        caption_projection_dim=16,
        pooled_projection_dim=64,  # the two text encoders' pooled outputs concatenated
        out_channels=4,
        pos_embed_max_size=32,
    )
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=TINY_IMAGE_SIZE,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )
    tokenizer = _clip_tokenizer()
    pipeline_class = StableDiffusion3Img2ImgPipeline if image_to_image else StableDiffusion3Pipeline
    return pipeline_class(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=vae,
        text_encoder=_tiny_clip_text_encoder(32, seed + 2),
        tokenizer=tokenizer,
        text_encoder_2=_tiny_clip_text_encoder(32, seed + 3),
        tokenizer_2=tokenizer,
        text_encoder_3=None,
        tokenizer_3=None,
    )


def save_tiny_sd3(directory: str | Path, image_to_image: bool = False, seed: int = 0) -> Path:
    """Build a tiny SD3 pipeline and ``save_pretrained`` it into ``directory``; returns the path.

    The folder holds ``model_index.json``, so ``resolve_model(str(path), {})`` recognises it as a
    diffusers pipeline. Generation settings that suit it: 64x64 pixels, 2 steps.
    """
    directory = Path(directory)
    build_tiny_sd3(image_to_image=image_to_image, seed=seed).save_pretrained(directory)
    return directory


TINY_GENERATION_PARAMS = {
    "width": TINY_IMAGE_SIZE,
    "height": TINY_IMAGE_SIZE,
    "num_inference_steps": TINY_STEPS,
    "guidance_scale": 2.0,
}
"""Model options that keep the tiny pipeline at 64x64 and 2 steps."""
