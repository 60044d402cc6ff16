"""Optional caches: VAE latents (``data.cache_latents``) and text-encoder outputs (``data.cache_text``).

Each sample's latents are computed once at its bucket size (the crop is deterministic) and
saved as ``<cache_dir>/<fingerprint>/latents/<index>.pt`` with its caption alternatives; each
caption alternative's conditioning as ``text/<index>.pt``, plus ``text/empty.pt`` for caption
dropout. The fingerprint covers the model, the data sources and the image settings, so a
changed setting builds a new cache instead of reusing a stale one. Processes split the work
(sample ``i`` on process ``i % processes``); files are written atomically, so an interrupted
build resumes where it stopped. Entries read during training stay in memory (up to 4096 per
cache, per data-loader worker).

Example (what ``train`` does when a cache is switched on)::

    latent_cache, text_cache = prepare_caches(config, backend, data, bucket_keys, accelerator)
    entry = latent_cache.load(0)      # {"target": (C, h, w), "references": [...], "captions": (...)}
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["LatentCache", "TextCache", "prepare_caches", "cache_fingerprint"]


def cache_fingerprint(config) -> str:
    """A short hash of everything a cached tensor depends on."""
    data, model = config.data, config.model
    inputs = {"pretrained": model.pretrained, "revision": model.revision, "backend": model.backend,
              "max_text_tokens": model.max_text_tokens, "sources": list(data.sources), "format": data.format,
              "split": data.split, "limit": data.limit, "resolution": data.resolution, "buckets": data.buckets,
              "aspect": [data.min_aspect, data.max_aspect], "columns": [data.image_column, data.caption_column]}
    stamps = [[s, os.path.getmtime(s), os.path.getsize(s)] for s in data.sources if os.path.isfile(s)]
    inputs["stamps"] = stamps
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def _save_atomic(value: Any, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(value, temporary)
    os.replace(temporary, path)


class _Memory:
    """Entries already read from disk, kept in memory up to ``limit`` (oldest dropped first)."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit, self.entries = limit, {}

    def get(self, key, read):
        if key not in self.entries:
            if len(self.entries) >= self.limit:
                self.entries.pop(next(iter(self.entries)))
            self.entries[key] = read()
        return self.entries[key]


class LatentCache:
    """Per-sample latents (target, references) and caption alternatives."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._memory = _Memory()

    def path(self, index: int) -> Path:
        return self.folder / "latents" / f"{index:09d}.pt"

    def load(self, index: int) -> dict[str, Any]:
        import torch

        return self._memory.get(index, lambda: torch.load(self.path(index), map_location="cpu", weights_only=True))

    def build(self, backend, data, keys, rank: int, processes: int, device) -> int:
        """Encode this process's missing samples; returns how many it encoded."""
        import torch

        from echo4o_eval.training.batches import fit_image, to_tensor

        made = 0
        for index in range(rank, len(data), processes):
            if self.path(index).is_file():
                continue
            width, height, _ = keys[index]
            raw = data.load(index)
            pixels = torch.stack([to_tensor(fit_image(image, width, height)) for image in [raw.target, *raw.references]])
            with torch.no_grad():
                latents = backend.encode_images(pixels.to(device)).float().cpu()
            _save_atomic({"target": latents[0], "references": list(latents[1:]), "captions": tuple(raw.captions)},
                         self.path(index))
            made += 1
        return made


class TextCache:
    """Per-sample, per-alternative text conditioning; ``alternative=-1`` is the empty caption."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._empty: dict[str, Any] | None = None
        self._memory = _Memory()

    def path(self, index: int) -> Path:
        return self.folder / "text" / f"{index:09d}.pt"

    def load(self, index: int, alternative: int) -> dict[str, Any]:
        import torch

        if alternative < 0:
            if self._empty is None:
                self._empty = torch.load(self.folder / "text" / "empty.pt", map_location="cpu", weights_only=True)
            return self._empty
        entries = self._memory.get(index, lambda: torch.load(self.path(index), map_location="cpu", weights_only=True))
        return entries[alternative]

    def build(self, backend, data, latent_cache, rank: int, processes: int, device) -> int:
        import torch

        made = 0
        if rank == 0 and not (self.folder / "text" / "empty.pt").is_file():
            with torch.no_grad():
                empty = backend.encode_text([""], device)
            _save_atomic({k: v[0].float().cpu() for k, v in empty.items()}, self.folder / "text" / "empty.pt")
        for index in range(rank, len(data), processes):
            if self.path(index).is_file():
                continue
            captions = latent_cache.load(index)["captions"] if latent_cache else data.load(index).captions
            with torch.no_grad():
                encoded = backend.encode_text(list(captions), device)
            entries = [{k: v[i].float().cpu() for k, v in encoded.items()} for i in range(len(captions))]
            _save_atomic(entries, self.path(index))
            made += 1
        return made


def prepare_caches(config, backend, data, keys, accelerator):
    """Build (or complete) the caches the config asks for; returns (latent_cache, text_cache)."""
    settings = config.data
    if not (settings.cache_latents or settings.cache_text):
        return None, None
    if settings.cache_text and config.model.train_text_encoders:
        raise ValueError("data.cache_text cannot be used with model.train_text_encoders (the encoders change)")
    root = Path(settings.cache_dir or Path(config.run.output_dir) / "cache") / cache_fingerprint(config)
    rank, processes, device = accelerator.process_index, accelerator.num_processes, accelerator.device
    latent_cache = LatentCache(root) if settings.cache_latents else None
    text_cache = TextCache(root) if settings.cache_text else None
    if latent_cache is not None:
        made = latent_cache.build(backend, data, keys, rank, processes, device)
        accelerator.print(f"latent cache {root}: {made} sample(s) encoded by process 0")
        accelerator.wait_for_everyone()
    if text_cache is not None:
        text_cache.build(backend, data, latent_cache, rank, processes, device)
        accelerator.wait_for_everyone()
    return latent_cache, text_cache
