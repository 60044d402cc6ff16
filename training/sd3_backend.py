"""Stable Diffusion 3 family (``SD3Transformer2DModel``): MMDiT on a latent grid.

Text: the pipeline's own ``encode_prompt`` (two CLIP encoders, T5 when present; zeros in its
place when the pipeline has none). References for multi-reference samples are clean latents
placed left of the noisy target on one wider grid (``[ref1 | ref2 | target]``); the loss mask
covers the target's columns only. SD3's position embedding caps the grid at
``pos_embed_max_size`` patches per side, so the number of references x width is limited.

Example (a tiny random pipeline, see tests/tiny_pipelines.py)::

    backend = load_backend(ModelSettings(backend="sd3", pretrained="/tmp/tiny_sd3"))
    layout = backend.layout(noisy_target, [reference])
    velocity = backend.predict(backend.transformer, layout, sigmas, backend.encode_text(["a cat"], "cpu"))
"""

from __future__ import annotations

from typing import Any

from echo4o_eval.training.backends import Backend, Layout


class SD3Backend(Backend):
    """SD3 / SD3.5 pipelines; ``timestep`` is sigma x 1000 as in the pipeline's scheduler."""

    name = "sd3"
    transformer_classes = ("SD3Transformer2DModel",)
    default_max_text_tokens = 256

    def encode_text(self, captions: list[str], device) -> dict[str, Any]:
        embeds, _, pooled, _ = self.pipeline.encode_prompt(
            prompt=list(captions), prompt_2=None, prompt_3=None, device=device,
            do_classifier_free_guidance=False, max_sequence_length=self.max_text_tokens)
        return {"prompt_embeds": embeds, "pooled": pooled}

    def layout(self, target, references) -> Layout:
        import torch

        parts = [*references, target]
        hidden = torch.cat(parts, dim=-1)
        mask = torch.zeros(hidden.shape[0], 1, *hidden.shape[-2:], device=hidden.device, dtype=hidden.dtype)
        mask[..., hidden.shape[-1] - target.shape[-1]:] = 1
        limit = self.transformer.config.pos_embed_max_size
        patch = self.transformer.config.patch_size
        if limit is not None and hidden.shape[-1] // patch > limit:
            raise ValueError(f"{len(references)} reference(s) + target are {hidden.shape[-1] // patch} patches wide; "
                             f"this SD3 transformer's position embedding covers {limit}: lower data.resolution "
                             "or the number of references")
        return Layout(hidden=hidden, mask=mask, extras={"target_width": target.shape[-1]})

    def predict(self, transformer, layout: Layout, sigmas, text: dict[str, Any]):
        return transformer(hidden_states=layout.hidden, timestep=sigmas * 1000,
                           encoder_hidden_states=text["prompt_embeds"], pooled_projections=text["pooled"],
                           return_dict=False)[0]

    def tokens_per_sample(self, layout: Layout) -> int:
        patch = self.transformer.config.patch_size
        return layout.hidden.shape[-1] * layout.hidden.shape[-2] // patch**2 + layout.extras.get("text_tokens", 0)
