"""Exponential moving average of the trained parameters (float32 shadow copies).

Registered with accelerate's checkpointing (``state_dict``/``load_state_dict``), so a resumed run
continues the same average. ``swapped_in(module)`` puts the averaged weights into the model for
evaluation or export and restores the live weights afterwards.

Example:
    >>> import torch
    >>> layer = torch.nn.Linear(1, 1, bias=False)
    >>> _ = layer.weight.data.fill_(0.0)
    >>> ema = EMA(layer.named_parameters(), decay=0.5)
    >>> _ = layer.weight.data.fill_(1.0); ema.update(layer.named_parameters())
    >>> round(float(ema.shadow["weight"]), 2)
    0.5
    >>> with ema.swapped_in(layer):
    ...     round(float(layer.weight.detach()), 2)
    0.5
    >>> float(layer.weight.detach())
    1.0
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterable

__all__ = ["EMA"]


class EMA:
    """shadow <- decay * shadow + (1 - decay) * parameter, for parameters that require grad."""

    def __init__(self, named_parameters: Iterable, decay: float) -> None:
        self.decay = decay
        self.shadow = {name: p.detach().float().clone() for name, p in named_parameters if p.requires_grad}

    def update(self, named_parameters: Iterable) -> None:
        import torch

        with torch.no_grad():
            for name, p in named_parameters:
                if name in self.shadow:
                    self.shadow[name].lerp_(p.detach().float().to(self.shadow[name].device), 1 - self.decay)

    @contextlib.contextmanager
    def swapped_in(self, module):
        """The module holds the averaged weights inside the block, its own weights after."""
        import torch

        params = dict(module.named_parameters())
        saved = {name: params[name].detach().clone() for name in self.shadow if name in params}
        with torch.no_grad():
            for name in saved:
                params[name].copy_(self.shadow[name])
        try:
            yield module
        finally:
            with torch.no_grad():
                for name, value in saved.items():
                    params[name].copy_(value)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "shadow": self.shadow}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = state["decay"]
        self.shadow = {k: v.float() for k, v in state["shadow"].items()}
