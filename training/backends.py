"""The seam between the trainer and a model family: one :class:`Backend` subclass per family.

A backend wraps a loaded diffusers pipeline and answers five questions the trainer asks:
which module is trained (``transformer``), which are frozen (``frozen_modules``), how text
becomes conditioning (``encode_text``), how pixels become latents (``encode_images``), and how
a noisy target plus clean reference latents become one model input and one prediction
(``layout`` + ``predict``). Everything else (data, loss, optimiser, accelerate, checkpoints,
evaluation) is shared. Built in: ``sd3`` (:mod:`.sd3_backend`) and ``flux``
(:mod:`.flux_backend`); ``module:Class`` loads any other subclass, so Sana or Lumina is one
file (docs/training.md, "Adding a backend").

Example:
    >>> backend_class("sd3").__name__, backend_class("flux").__name__
    ('SD3Backend', 'FluxBackend')
    >>> backend_class("sdxl")
    Traceback (most recent call last):
    ...
    ValueError: unknown training backend 'sdxl'; built in: sd3, flux (or module:Class)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Backend", "Layout", "backend_class", "load_backend", "BUILT_IN"]

BUILT_IN = {"sd3": "echo4o_eval.training.sd3_backend:SD3Backend",
            "flux": "echo4o_eval.training.flux_backend:FluxBackend"}


@dataclass
class Layout:
    """One batch arranged as the transformer reads it.

    ``hidden``: the model input (noisy target and clean references, in the backend's order);
    ``mask``: 1 where a position belongs to the output image (the loss positions), 0 on
    reference positions, broadcastable against ``hidden``; ``extras``: whatever ``predict``
    needs besides (image position ids, the target's shape).
    """

    hidden: Any
    mask: Any
    extras: dict[str, Any] = field(default_factory=dict)


class Backend:
    """Base class: subclasses set ``pipeline_classes`` and implement the methods below."""

    name = "base"
    transformer_classes: tuple[str, ...] = ()  # diffusers transformer class names it trains
    default_max_text_tokens = 256

    def __init__(self, pipeline, settings) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.max_text_tokens = settings.max_text_tokens or self.default_max_text_tokens

    # --- the parts -------------------------------------------------------------------------
    @property
    def transformer(self):
        return self.pipeline.transformer

    @property
    def vae(self):
        return self.pipeline.vae

    def text_encoders(self) -> dict[str, Any]:
        """The text encoders by component name (frozen unless model.train_text_encoders)."""
        names = ("text_encoder", "text_encoder_2", "text_encoder_3")
        return {n: getattr(self.pipeline, n) for n in names if getattr(self.pipeline, n, None) is not None}

    @property
    def latent_multiple(self) -> int:
        """Image sides must be multiples of this many pixels (VAE factor x patch size)."""
        return self.pipeline.vae_scale_factor * 2

    # --- what subclasses implement ---------------------------------------------------------
    def encode_text(self, captions: list[str], device) -> dict[str, Any]:
        """Batch-first conditioning tensors for ``captions`` (each of length B)."""
        raise NotImplementedError

    def encode_images(self, pixels):
        """Normalised VAE latents (B, C, h, w) of pixels in [-1, 1] (the posterior mean)."""
        vae = self.vae
        latents = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode()
        shift = getattr(vae.config, "shift_factor", None) or 0.0
        return (latents - shift) * vae.config.scaling_factor

    def layout(self, target, references) -> Layout:
        """Arrange a (B, C, h, w) target and a list of (B, C, h, w) references as one input."""
        raise NotImplementedError

    def predict(self, transformer, layout: Layout, sigmas, text: dict[str, Any]):
        """The transformer's velocity prediction, arranged like ``layout.hidden``."""
        raise NotImplementedError

    def tokens_per_sample(self, layout: Layout) -> int:
        """Image + text tokens one sample sends through the transformer (for MFU); the text
        length is ``layout.extras["text_tokens"]`` (set by the training step)."""
        raise NotImplementedError


def backend_class(name: str) -> type[Backend]:
    """The Backend subclass for a built-in name (``sd3``, ``flux``) or ``module:Class``."""
    target = BUILT_IN.get(name, name)
    if ":" not in target:
        raise ValueError(f"unknown training backend {name!r}; built in: {', '.join(BUILT_IN)} (or module:Class)")
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"training backend {name!r} cannot be loaded: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise ValueError(f"training backend {name!r} is not a subclass of training.backends.Backend")
    return cls


def load_backend(settings, device=None, weight_dtype=None) -> Backend:
    """Load ``settings.pretrained`` with diffusers and wrap it in its backend.

    Components the pipeline was saved without (e.g. SD3 without its T5) stay absent.
    """
    from echo4o_eval.optional import require_module

    diffusers = require_module("diffusers", "train")
    cls = backend_class(settings.backend)
    if not settings.pretrained:
        raise ValueError("model.pretrained is empty: give a diffusers pipeline folder or Hub id")
    pipeline = diffusers.DiffusionPipeline.from_pretrained(settings.pretrained, revision=settings.revision,
                                                           **_absent_components(settings.pretrained))
    found = type(getattr(pipeline, "transformer", None)).__name__
    if cls.transformer_classes and found not in cls.transformer_classes:
        raise ValueError(f"{settings.pretrained}: its transformer is a {found}, but backend {settings.backend!r} "
                         f"trains {', '.join(cls.transformer_classes)}")
    pipeline.set_progress_bar_config(disable=True)
    backend = cls(pipeline, settings)
    if device is not None:
        for module in [backend.vae, *backend.text_encoders().values()]:
            module.to(device, dtype=weight_dtype)
        backend.transformer.to(device)
    return backend


def _absent_components(path: str) -> dict[str, Any]:
    """Components saved as null in model_index.json are passed as None again (diffusers asks)."""
    import json
    from pathlib import Path

    index = Path(path) / "model_index.json"
    if not index.is_file():
        return {}
    data = json.loads(index.read_text())
    return {k: None for k, v in data.items() if not k.startswith("_") and isinstance(v, list) and v[0] is None}
