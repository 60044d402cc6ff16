"""FLUX family (``FluxTransformer2DModel``): latents packed into 2x2 patches, rotary image ids.

The noisy target's packed tokens come first, clean reference tokens after them (FLUX Kontext's
order), so a model trained on single-reference samples runs in ``FluxKontextPipeline``. Image
ids are (index, row, column): 0 for the target, k for the k-th reference. The loss mask covers
the target's tokens. Guidance-distilled checkpoints (``guidance_embeds``) get
``model.guidance`` as their embedded guidance.

Example (a tiny random pipeline, see tests/train_fixtures.py)::

    backend = load_backend(ModelSettings(backend="flux", pretrained="/tmp/tiny_flux"))
    layout = backend.layout(noisy_target, [])
    velocity = backend.predict(backend.transformer, layout, sigmas, backend.encode_text(["a cat"], "cpu"))
"""

from __future__ import annotations

from typing import Any

from echo4o_eval.training.backends import Backend, Layout


def pack(latents):
    """(B, C, h, w) -> (B, h/2 * w/2, 4C), as FluxPipeline packs them."""
    b, c, h, w = latents.shape
    return latents.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // 2) * (w // 2), c * 4)


def image_ids(index: int, h: int, w: int, device):
    """(h/2 * w/2, 3) rotary ids of one packed latent: (index, row, column)."""
    import torch

    ids = torch.zeros(h // 2, w // 2, 3, device=device)
    ids[..., 0] = index
    ids[..., 1] = torch.arange(h // 2, device=device)[:, None]
    ids[..., 2] = torch.arange(w // 2, device=device)[None, :]
    return ids.reshape(-1, 3)


class FluxBackend(Backend):
    """FLUX.1 dev/schnell/Kontext-style pipelines; ``timestep`` is sigma as in FluxPipeline."""

    name = "flux"
    transformer_classes = ("FluxTransformer2DModel",)
    default_max_text_tokens = 512

    def encode_text(self, captions: list[str], device) -> dict[str, Any]:
        embeds, pooled, _ = self.pipeline.encode_prompt(prompt=list(captions), prompt_2=None, device=device,
                                                        max_sequence_length=self.max_text_tokens)
        return {"prompt_embeds": embeds, "pooled": pooled}

    def layout(self, target, references) -> Layout:
        import torch

        parts = [target, *references]
        hidden = torch.cat([pack(p) for p in parts], dim=1)
        ids = torch.cat([image_ids(i, *p.shape[-2:], device=target.device) for i, p in enumerate(parts)])
        mask = torch.zeros(hidden.shape[0], hidden.shape[1], 1, device=hidden.device, dtype=hidden.dtype)
        target_tokens = pack(target).shape[1]
        mask[:, :target_tokens] = 1
        return Layout(hidden=hidden, mask=mask, extras={"img_ids": ids})

    def predict(self, transformer, layout: Layout, sigmas, text: dict[str, Any]):
        import torch

        embeds = text["prompt_embeds"]
        txt_ids = torch.zeros(embeds.shape[1], 3, device=embeds.device, dtype=layout.extras["img_ids"].dtype)
        guidance = None
        if self.transformer.config.guidance_embeds:
            guidance = torch.full((layout.hidden.shape[0],), self.settings.guidance, device=layout.hidden.device)
        return transformer(hidden_states=layout.hidden, timestep=sigmas, guidance=guidance,
                           pooled_projections=text["pooled"], encoder_hidden_states=embeds,
                           txt_ids=txt_ids, img_ids=layout.extras["img_ids"], return_dict=False)[0]

    def tokens_per_sample(self, layout: Layout) -> int:
        return layout.hidden.shape[1] + layout.extras.get("text_tokens", 0)
