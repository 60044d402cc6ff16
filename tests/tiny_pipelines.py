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


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1))
    printable += list(range(ord("\u00ae"), ord("\u00ff") + 1))
    characters = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            characters.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, characters)))


def clip_vocab_path() -> Path:
    """open_clip's bundled CLIP BPE file, or ``$ECHO4O_CLIP_VOCAB`` where open_clip is absent."""
    import os

    if os.environ.get("ECHO4O_CLIP_VOCAB"):
        return Path(os.environ["ECHO4O_CLIP_VOCAB"])
    import open_clip

    return Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"


def _clip_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's BPE vocabulary as shipped inside open_clip (the same ids CLIP uses)."""
    lines = gzip.open(clip_vocab_path(), "rt", encoding="utf-8").read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    vocab = list(_bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab.extend("".join(merge) for merge in merges)
    vocab.extend(["<|startoftext|>", "<|endoftext|>"])
    return {token: index for index, token in enumerate(vocab)}, merges


def _clip_tokenizer():
    from transformers import CLIPTokenizer

    vocab, merges = _clip_vocab_and_merges()
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def _tiny_clip_text_encoder(hidden: int, seed: int, heads: int = 2):
    import torch
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=1,
        num_attention_heads=heads,
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


def build_real_size_sd3(device: str = "cuda", seed: int = 0):
    """A random-weight pipeline with Stable Diffusion 3 Medium's transformer and VAE sizes
    (2B-parameter MMDiT, 16-channel VAE, 1024x1024) for throughput measurements only.

    Its two CLIP text encoders have the real widths (768, 1280) but one layer each and there is
    no T5 encoder, so the time measured is almost all denoising and decoding. Weights are
    created directly on ``device``.
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )

    torch.manual_seed(seed)
    with torch.device(device):
        transformer = SD3Transformer2DModel(
            sample_size=128, patch_size=2, in_channels=16, num_layers=24, attention_head_dim=64,
            num_attention_heads=24, joint_attention_dim=4096, caption_projection_dim=1536,
            pooled_projection_dim=2048, out_channels=16, pos_embed_max_size=192,
        )
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(128, 256, 512, 512),
            layers_per_block=2, latent_channels=16, norm_num_groups=32, sample_size=1024,
            use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609,
            scaling_factor=1.5305,
        )
        text_encoder = _tiny_clip_text_encoder(768, seed + 2, heads=12)
        text_encoder_2 = _tiny_clip_text_encoder(1280, seed + 3, heads=20)
    tokenizer = _clip_tokenizer()
    return StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=vae,
        text_encoder=text_encoder, tokenizer=tokenizer, text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer, text_encoder_3=None, tokenizer_3=None,
    )


TINY_GENERATION_PARAMS = {
    "width": TINY_IMAGE_SIZE,
    "height": TINY_IMAGE_SIZE,
    "num_inference_steps": TINY_STEPS,
    "guidance_scale": 2.0,
}
"""Model options that keep the tiny pipeline at 64x64 and 2 steps."""
