"""Rectified-flow training maths: timestep sampling, noising, the masked loss.

With clean latents ``x0``, noise ``eps`` and ``sigma`` in (0, 1)::

    x_t = (1 - sigma) * x0 + sigma * eps        target = eps - x0

The model predicts the velocity at ``x_t``; the loss is the mean squared error over the
positions where ``mask`` is true (the output image's tokens; reference tokens concatenated into
the sequence carry mask 0 and so get no gradient), averaged per sample, then over the batch.

Example:
    >>> import torch
    >>> x0, eps = torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2, 2)
    >>> x_t, target = noised(x0, eps, torch.tensor([0.25]))
    >>> float(x_t.mean()), float(target.mean())
    (0.25, 1.0)
    >>> mask = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])  # left column is the output image
    >>> float(masked_mse(torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2, 2) * mask, mask)[0])
    1.0
"""

from __future__ import annotations

import math

__all__ = ["sample_sigmas", "shift_sigmas", "loss_weights", "noised", "masked_mse"]


def sample_sigmas(generator, count: int, method: str = "logit_normal", *, logit_mean: float = 0.0,
                  logit_std: float = 1.0, mode_scale: float = 1.29, shift: float = 1.0):
    """``count`` noise levels in (0, 1) drawn with ``generator`` (a CPU torch.Generator).

    ``logit_normal``: sigmoid(N(mean, std)) (SD3's default); ``mode``: SD3's mode sampling with
    heavier middle (``mode_scale``); ``uniform``. ``shift`` > 1 moves mass to high noise.

    >>> import torch
    >>> s = sample_sigmas(torch.Generator().manual_seed(0), 1000, "uniform")
    >>> bool(((s > 0) & (s < 1)).all()), round(float(s.mean()), 1)
    (True, 0.5)
    """
    import torch

    if method == "logit_normal":
        u = torch.sigmoid(torch.randn(count, generator=generator) * logit_std + logit_mean)
    elif method == "mode":
        u = torch.rand(count, generator=generator)
        u = 1 - u - mode_scale * (torch.cos(math.pi * u / 2) ** 2 - 1 + u)
    elif method == "uniform":
        u = torch.rand(count, generator=generator)
    else:
        raise ValueError(f"timestep sampling must be logit_normal, mode or uniform, not {method!r}")
    return shift_sigmas(u.clamp(1e-5, 1 - 1e-5), shift)


def shift_sigmas(sigmas, shift: float):
    """The resolution shift used by SD3/FLUX schedulers: ``shift*s / (1 + (shift-1)*s)``.

    >>> import torch
    >>> shift_sigmas(torch.tensor([0.5]), 3.0).tolist()
    [0.75]
    """
    if shift == 1.0:
        return sigmas
    return shift * sigmas / (1 + (shift - 1) * sigmas)


def loss_weights(sigmas, scheme: str = "none"):
    """Per-sample loss weights: ``none`` (ones), ``sigma_sqrt`` (1/s^2) or ``cosmap`` (SD3 paper).

    >>> import torch
    >>> loss_weights(torch.tensor([0.5]), "sigma_sqrt").tolist()
    [4.0]
    """
    import torch

    if scheme == "none":
        return torch.ones_like(sigmas)
    if scheme == "sigma_sqrt":
        return (sigmas**-2.0).float()
    if scheme == "cosmap":
        bottom = 1 - 2 * sigmas + 2 * sigmas**2
        return 2 / (math.pi * bottom)
    raise ValueError(f"loss weighting must be none, sigma_sqrt or cosmap, not {scheme!r}")


def _expand(values, like):
    return values.reshape(values.shape[0], *([1] * (like.dim() - 1))).to(like.dtype)


def noised(x0, noise, sigmas):
    """``(x_t, target)`` for clean latents ``x0``, ``noise`` of the same shape and per-sample ``sigmas``."""
    s = _expand(sigmas, x0)
    return (1 - s) * x0 + s * noise, noise - x0


def masked_mse(prediction, target, mask, weights=None):
    """Per-sample mean squared error over the positions where ``mask`` is 1.

    ``mask`` broadcasts against ``prediction`` (e.g. (B, N, 1) for token sequences or
    (B, 1, H, W) for latent grids). Masked-out positions contribute exactly zero, so their
    predictions receive zero gradient. Returns a (B,) tensor (times ``weights`` when given).
    """
    mask = mask.to(prediction.dtype)
    squared = (prediction.float() - target.float()) ** 2 * mask
    counted = mask.expand_as(prediction).flatten(1).sum(1).clamp_min(1)
    per_sample = squared.flatten(1).sum(1) / counted
    if weights is not None:
        per_sample = per_sample * weights.to(per_sample.dtype)
    return per_sample
