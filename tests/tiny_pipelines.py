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
The tiny pipeline is the demo's own (:mod:`echo4o_eval.demo.tiny_models`); only diffusers,
transformers and open_clip's bundled BPE vocabulary are needed (no network).
"""

from __future__ import annotations

from pathlib import Path

from echo4o_eval.demo.tiny_models import IMAGE_SIZE, build_tiny_generator, clip_tokenizer, tiny_text_encoder

TINY_IMAGE_SIZE = IMAGE_SIZE  # pixels; a multiple of vae scale (8) x patch size (2)
TINY_STEPS = 2


def build_tiny_sd3(image_to_image: bool = False, seed: int = 0):
    """The demo's random-weight StableDiffusion3 pipeline
    (:func:`echo4o_eval.demo.tiny_models.build_tiny_generator`), text-to-image or image-to-image.

    >>> pipe = build_tiny_sd3()  # doctest: +SKIP
    >>> type(pipe).__name__      # doctest: +SKIP
    'StableDiffusion3Pipeline'
    """
    pipeline = build_tiny_generator(seed)
    if not image_to_image:
        return pipeline
    from diffusers import StableDiffusion3Img2ImgPipeline

    return StableDiffusion3Img2ImgPipeline(**pipeline.components)


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
        text_encoder = tiny_text_encoder(768, seed + 2, heads=12)
        text_encoder_2 = tiny_text_encoder(1280, seed + 3, heads=20)
    tokenizer = clip_tokenizer()
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
