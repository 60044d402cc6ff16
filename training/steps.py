"""From a planned batch to a loss: loading rows, conditioning, noising, the masked MSE.

:class:`PlannedBatches` is what the DataLoader reads: item ``n`` is this process's rows of global
batch ``n`` (see :mod:`.batches`), with each row's caption choice, caption dropout and noise seed
drawn from (seed, n, row). :func:`compute_loss` turns it into the rectified-flow loss on the
output image's tokens.

Example (what a training step does; ``backend`` from ``load_backend``)::

    batches = PlannedBatches(data, plan, rank=0, per_process=4, settings=config.data, seed=0)
    loss, prediction, layout = compute_loss(backend, backend.transformer, batches[0], config, "cpu")
    loss.backward()   # prediction at layout.mask == 0 (reference tokens) gets zero gradient
"""

from __future__ import annotations

from typing import Any

from echo4o_eval.training.batches import fit_image, sample_rng, to_tensor
from echo4o_eval.training.flow import loss_weights, masked_mse, noised, sample_sigmas

__all__ = ["PlannedBatches", "compute_loss", "text_conditioning", "identity_collate"]


def identity_collate(item):
    """The DataLoader's collate for items that are already batches."""
    return item


class PlannedBatches:
    """Item ``n``: this process's share of global batch ``n`` as tensors and row choices."""

    def __init__(self, data, plan, *, rank: int, per_process: int, settings, seed: int,
                 latent_cache=None) -> None:
        self.data, self.plan, self.rank, self.per_process = data, plan, rank, per_process
        self.settings, self.seed, self.latent_cache = settings, seed, latent_cache

    def __getitem__(self, number: int) -> dict[str, Any]:
        import torch

        key, indices = self.plan.batch(number)
        width, height, reference_count = key
        rows = range(self.rank * self.per_process, (self.rank + 1) * self.per_process)
        batch: dict[str, Any] = {"number": number, "indices": [], "captions": [], "text_keys": [],
                                 "noise_seeds": [], "size": (width, height)}
        targets, references = [], [[] for _ in range(reference_count)]
        for row in rows:
            index = indices[row]
            rng = sample_rng(self.seed, 2, number, row)
            choice, dropped, noise_seed = rng.random(), rng.random() < self.settings.caption_dropout, int(rng.integers(2**62))
            if self.latent_cache is not None:
                entry = self.latent_cache.load(index)
                captions = entry["captions"]
                targets.append(entry["target"])
                for slot, latent in enumerate(entry["references"]):
                    references[slot].append(latent)
            else:
                raw = self.data.load(index)
                captions = raw.captions
                targets.append(to_tensor(fit_image(raw.target, width, height)))
                for slot, image in enumerate(raw.references):
                    references[slot].append(to_tensor(fit_image(image, width, height)))
            alternative = min(int(choice * len(captions)), len(captions) - 1)
            batch["indices"].append(index)
            batch["captions"].append("" if dropped else captions[alternative])
            batch["text_keys"].append((index, -1 if dropped else alternative))
            batch["noise_seeds"].append(noise_seed)
        stacked_references = [torch.stack(slot) for slot in references]
        if self.latent_cache is not None:
            batch["latents"], batch["reference_latents"] = torch.stack(targets), stacked_references
        else:
            batch["pixels"], batch["references"] = torch.stack(targets), stacked_references
        return batch


def text_conditioning(backend, batch, device, text_cache=None, trainable: bool = False) -> dict[str, Any]:
    """The text-encoder outputs for the batch's chosen captions (from the cache when given)."""
    import torch

    if text_cache is not None:
        entries = [text_cache.load(index, alternative) for index, alternative in batch["text_keys"]]
        return {name: torch.stack([e[name] for e in entries]).to(device) for name in entries[0]}
    if trainable:
        return backend.encode_text(batch["captions"], device)
    with torch.no_grad():
        return backend.encode_text(batch["captions"], device)


def _latents(backend, batch, device):
    import torch

    if "latents" in batch:
        return batch["latents"].to(device).float(), [r.to(device).float() for r in batch["reference_latents"]]
    with torch.no_grad():
        target = backend.encode_images(batch["pixels"].to(device)).float()
        references = [backend.encode_images(r.to(device)).float() for r in batch["references"]]
    return target, references


def compute_loss(backend, transformer, batch, config, device, text_cache=None):
    """(mean loss, prediction, layout) for one micro-batch.

    Per row: noise and sigma drawn from the row's seed; x_t = (1-s) x0 + s eps; the target
    eps - x0 laid out like the input with zeros at reference positions; the loss is the masked
    MSE (times the optional SD3 weighting), averaged per row then over rows.
    """
    import torch

    target, references = _latents(backend, batch, device)
    noise, sigmas = [], []
    for seed in batch["noise_seeds"]:
        generator = torch.Generator().manual_seed(seed)
        noise.append(torch.randn(target.shape[1:], generator=generator))
        loss = config.loss
        sigmas.append(sample_sigmas(generator, 1, loss.timestep_sampling, logit_mean=loss.logit_mean,
                                    logit_std=loss.logit_std, mode_scale=loss.mode_scale, shift=loss.shift))
    noise = torch.stack(noise).to(device)
    sigmas = torch.cat(sigmas).to(device)
    noisy, velocity = noised(target, noise, sigmas)
    layout = backend.layout(noisy, references)
    target_layout = backend.layout(velocity, [torch.zeros_like(r) for r in references])
    text = text_conditioning(backend, batch, device, text_cache, trainable=config.model.train_text_encoders)
    layout.extras["text_tokens"] = int(text["prompt_embeds"].shape[1])
    prediction = backend.predict(transformer, layout, sigmas, text)
    per_row = masked_mse(prediction, target_layout.hidden, layout.mask, loss_weights(sigmas, config.loss.weighting))
    return per_row.mean(), prediction, layout
