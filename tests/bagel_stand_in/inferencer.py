"""TEST DOUBLE for Bagel's inferencer.InterleaveInferencer (same constructor and call signature).

The "generated" image is a flat colour computed from the global torch RNG (so seeding matters),
the loaded LLM weights (so loading matters), the prompt and the input images; its size follows
Bagel's rule: image_shapes (height, width), or the last input image's resized size. Every call's
inputs and settings are appended to ``self.calls`` for tests to inspect.
"""

import hashlib

import torch
from PIL import Image

from data.data_utils import pil_img2rgb


class InterleaveInferencer:
    def __init__(self, model, vae_model, tokenizer, vae_transform, vit_transform, new_token_ids):
        self.model = model
        self.vae_model = vae_model
        self.tokenizer = tokenizer
        self.vae_transform = vae_transform
        self.vit_transform = vit_transform
        self.new_token_ids = new_token_ids
        self.calls = []

    @torch.no_grad()
    def interleave_inference(self, input_lists, think=False, understanding_output=False,
                             max_think_token_n=1000, do_sample=False, text_temperature=0.3,
                             cfg_text_scale=3.0, cfg_img_scale=1.5, cfg_interval=[0.4, 1.0],
                             timestep_shift=3.0, num_timesteps=50, cfg_renorm_min=0.0,
                             cfg_renorm_type="global", image_shapes=(1024, 1024)):
        settings = dict(think=think, cfg_text_scale=cfg_text_scale, cfg_img_scale=cfg_img_scale,
                        cfg_interval=cfg_interval, timestep_shift=timestep_shift,
                        num_timesteps=num_timesteps, cfg_renorm_min=cfg_renorm_min,
                        cfg_renorm_type=cfg_renorm_type, image_shapes=image_shapes)
        described = []
        colour = torch.rand(3) * 128
        colour += self.model.language_model.proj.weight.float().mean().abs() * 100
        for term in input_lists:
            if isinstance(term, str):
                described.append(("text", term))
                colour[0] += int(hashlib.sha256(term.encode()).hexdigest()[:2], 16) / 8
            elif isinstance(term, Image.Image):
                term = self.vae_transform.resize_transform(pil_img2rgb(term))
                described.append(("image", term.size))
                colour[1] += sum(term.resize((1, 1)).getpixel((0, 0))) / 12
                image_shapes = term.size[::-1]
            else:
                raise ValueError(f"Unsupported input type: {type(term)}")
        attended = self.model.attend(torch.ones(4, 2, 8))  # Bagel's packed attention path
        settings["attention_ok"] = bool(torch.allclose(attended, torch.ones(4, 2, 8)))
        self.calls.append({"inputs": described, **settings})
        if "FAIL" in str(described):
            raise RuntimeError("stand-in failure requested by the prompt")
        height, width = image_shapes
        rgb = tuple(int(v) % 256 for v in colour.tolist())
        outputs = ["stand-in plan"] if think else []
        return outputs + [Image.new("RGB", (width, height), rgb)]
