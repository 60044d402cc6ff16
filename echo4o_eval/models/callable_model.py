"""A plain Python callable ``prompts -> images`` as an ImageModel.

The simplest way to evaluate a model from Python (see :func:`echo4o_eval.evaluate`): pass a
function taking a list of prompts and returning one PIL image per prompt. If the function also
takes a ``seeds`` argument, it receives one seed per prompt (use them for reproducible images).
Images are written as PNG to each request's output path; a call that raises, or returns the
wrong number of images, becomes a GENERATION_ERROR for its batch and the run goes on.

A callable cannot tell which weights it runs, so ``evaluate`` needs ``model_id=`` and/or
``step=`` with it.

Example:
    >>> import tempfile
    >>> from PIL import Image
    >>> from echo4o_eval.records.types import GenerationRequest
    >>> model = CallableModel(lambda prompts: [Image.new("RGB", (8, 8)) for _ in prompts])
    >>> request = GenerationRequest("1", 0, "t", "a cat", 0, 7, tempfile.mkdtemp() + "/0.png")
    >>> model.generate([request])[0].status.value
    'ok'
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from echo4o_eval.records.types import Generation, GenerationRequest, Status


def _takes_seeds(function: Callable) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return "seeds" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


class CallableModel:
    """ImageModel over ``function(prompts: list[str][, seeds=list[int]]) -> list[PIL.Image]``."""

    generates = True

    def __init__(self, function: Callable[..., Sequence[Any]], batch_size: int = 1,
                 name: str | None = None) -> None:
        if not callable(function):
            raise TypeError(f"expected a callable prompts -> images, got {function!r}")
        self.function = function
        self.batch_size = max(1, int(batch_size))
        label = name or getattr(function, "__qualname__", None) or type(function).__name__
        self.id = f"callable:{label}"
        self._seeds = _takes_seeds(function)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """One Generation per request; a failing call fails its batch's requests, not the run."""
        prompts = [r.prompt for r in requests]
        started = time.perf_counter()
        try:
            if self._seeds:
                images = list(self.function(prompts, seeds=[int(r.seed) for r in requests]))
            else:
                images = list(self.function(prompts))
            if len(images) != len(requests):
                raise RuntimeError(f"returned {len(images)} images for {len(requests)} prompts")
            for request, image in zip(requests, images):
                target = Path(request.output_path)
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(f".{target.name}.partial")
                image.save(partial, format="PNG")
                partial.replace(target)
        except Exception as exc:  # a failure is a per-sample status, not a crashed run
            return [Generation(r.sample_id, r.image_index, r.seed, Status.GENERATION_ERROR,
                               error=f"{type(exc).__name__}: {exc}") for r in requests]
        seconds = (time.perf_counter() - started) / max(1, len(requests))
        return [Generation(r.sample_id, r.image_index, r.seed, Status.OK, image_path=r.output_path,
                           params={"seed_used": self._seeds}, usage={"seconds": seconds})
                for r in requests]

    def describe(self) -> Mapping[str, Any]:
        """Settings for the run manifest."""
        return {"adapter": "callable", "id": self.id, "batch_size": self.batch_size,
                "takes_seeds": self._seeds}

    def identity(self) -> None:
        """A callable cannot name its weights: the caller passes model_id/step."""
        return None

    def close(self) -> None:
        """Nothing to release (the callable belongs to the caller)."""
