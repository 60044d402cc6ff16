"""Fixtures for the training tests and bench/train_throughput.py: a tiny random FLUX pipeline and
small datasets in the data_gen export formats (Bagel parquet, OmniGen2 jsonl, HF folder).

    from tests.train_fixtures import save_tiny_flux, write_bagel_parquet, tiny_train_config
    flux = save_tiny_flux(tmp / "flux")
    export = write_bagel_parquet(tmp / "export", count=8, multi_reference=2)
    config = tiny_train_config(sd3_path, [export], tmp / "out", max_steps=4)
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from echo4o_eval.demo.tiny_models import clip_tokenizer
from tests.tiny_pipelines import TINY_IMAGE_SIZE


def build_tiny_flux(seed: int = 0):
    """A random-weight FluxPipeline: 1+1 transformer blocks, 4-channel VAE, tiny CLIP + T5."""
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1,
                                         attention_head_dim=8, num_attention_heads=2, joint_attention_dim=32,
                                         pooled_projection_dim=32, axes_dims_rope=(2, 2, 4))
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 8, 8),
                        layers_per_block=1, latent_channels=4, norm_num_groups=4, sample_size=TINY_IMAGE_SIZE,
                        use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.1159, scaling_factor=0.3611)
    torch.manual_seed(seed + 2)
    clip = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                        num_attention_heads=2, projection_dim=32, max_position_embeddings=77,
                                        bos_token_id=49406, eos_token_id=49407, pad_token_id=49407))
    t5 = T5EncoderModel(T5Config(vocab_size=49408, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=2))
    tokenizer = clip_tokenizer()  # stands in for T5's tokenizer too (same ids, offline)
    return FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=clip, tokenizer=tokenizer,
                        text_encoder_2=t5, tokenizer_2=tokenizer, transformer=transformer)


def save_tiny_flux(directory: str | Path, seed: int = 0) -> Path:
    directory = Path(directory)
    build_tiny_flux(seed).save_pretrained(directory)
    return directory


COLOURS = [(220, 40, 40), (40, 200, 60), (30, 60, 220), (240, 220, 30), (200, 40, 200), (30, 210, 210),
           (250, 140, 20), (120, 120, 120)]


def pattern_image(index: int, size: tuple[int, int] = (TINY_IMAGE_SIZE, TINY_IMAGE_SIZE)):
    """A distinct, simple image per index (colour + stripe): easy to overfit."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, COLOURS[index % len(COLOURS)])
    draw = ImageDraw.Draw(image)
    width, height = size
    stripe = (index * 7) % max(1, width - 8)
    draw.rectangle([stripe, 0, stripe + 8, height], fill=(255 - COLOURS[index % 8][0], 255, 255))
    return image


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_bagel_parquet(directory: str | Path, count: int = 8, multi_reference: int = 0,
                        sizes: list[tuple[int, int]] | None = None) -> Path:
    """Bagel/Echo-4o parquet: ``t2i/part-0.parquet`` (image, captions) with ``count`` rows and,
    when ``multi_reference`` > 0, ``multi_reference/part-0.parquet`` (image_list, instruction_list)
    with that many rows of 2 references + target, plus parquet_info JSON."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory = Path(directory)
    (directory / "t2i").mkdir(parents=True, exist_ok=True)
    rows = {"image": [], "captions": []}
    for i in range(count):
        size = sizes[i % len(sizes)] if sizes else (TINY_IMAGE_SIZE, TINY_IMAGE_SIZE)
        rows["image"].append(_png(pattern_image(i, size)))
        rows["captions"].append(json.dumps({"original": f"pattern number {i}", "rewritten": f"a striped picture {i}"}))
    pq.write_table(pa.table(rows), directory / "t2i" / "part-0.parquet", row_group_size=4)
    if multi_reference:
        (directory / "multi_reference").mkdir(exist_ok=True)
        multi = {"image_list": [], "instruction_list": []}
        for i in range(multi_reference):
            images = [pattern_image(i + 1), pattern_image(i + 2), pattern_image(i)]
            multi["image_list"].append([_png(x) for x in images])
            multi["instruction_list"].append([[f"the stripe from image 1 on the colour of image 2, {i}"]])
        pq.write_table(pa.table(multi), directory / "multi_reference" / "part-0.parquet")
    return directory


def write_omnigen2_jsonl(directory: str | Path, count: int = 4, references: int = 1) -> Path:
    """OmniGen2 jsonl with images in ``images/`` (relative paths)."""
    directory = Path(directory)
    (directory / "images").mkdir(parents=True, exist_ok=True)
    with open(directory / "data.jsonl", "w") as handle:
        for i in range(count):
            pattern_image(i).save(directory / "images" / f"{i}.png")
            inputs = []
            for k in range(references):
                pattern_image(i + k + 1).save(directory / "images" / f"{i}_ref{k}.png")
                inputs.append(f"images/{i}_ref{k}.png")
            handle.write(json.dumps({"task_type": "in_context_generation" if inputs else "t2i",
                                     "instruction": f"make pattern {i}", "output_image": f"images/{i}.png",
                                     "input_images": inputs}) + "\n")
    return directory / "data.jsonl"


def write_hf_folder(directory: str | Path, count: int = 4) -> Path:
    """A ``datasets.save_to_disk`` folder with an Image column and a text column."""
    import datasets

    data = datasets.Dataset.from_dict({"image": [pattern_image(i) for i in range(count)],
                                       "text": [f"pattern {i}" for i in range(count)]},
                                      features=datasets.Features({"image": datasets.Image(), "text": datasets.Value("string")}))
    data.save_to_disk(str(directory))
    return Path(directory)


def tiny_train_config(pretrained: str | Path, sources: list, output_dir: str | Path, backend: str = "sd3",
                      overrides: list[str] | None = None):
    """A TrainConfig for the tiny pipelines on CPU: 64 px, fp32, no trackers, no eval, no progress bar."""
    from echo4o_eval.training.config import load_train_config

    base = [f"model.backend={backend}", f"model.pretrained={pretrained}", f"data.sources={json.dumps([str(s) for s in sources])}",
            f"run.output_dir={output_dir}", "data.resolution=64", "run.mixed_precision=no", "run.report_to=none",
            "run.progress=false", "eval.at_end=false", "model.max_text_tokens=16", "run.batch_size=4",
            "run.save_every=1000", "run.save_final=false", "data.caption_dropout=0.0"]
    return load_train_config(None, base + list(overrides or []))
