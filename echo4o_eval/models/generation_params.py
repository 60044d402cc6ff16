"""The generation-parameter vocabulary shared by the model adapters, and how layers merge.

Three layers decide one image's settings, later layers winning:

1. the adapter's per-task defaults (picked by ``params["task"]``: ``"text_to_image"`` or
   ``"multi_reference"``; adapters never see benchmark names),
2. the request's ``GenerationRequest.params`` (the runner puts the task and the benchmark
   spec's ``generation`` defaults there),
3. the user's explicit model options (``--model-option guidance_scale=5``), which always win.

Canonical names: ``width``, ``height``, ``num_inference_steps``, ``guidance_scale``,
``negative_prompt``, ``task``. Accepted aliases: ``steps`` -> ``num_inference_steps``,
``guidance`` -> ``guidance_scale``, ``resolution`` -> ``width`` and ``height``.

Example:
    >>> merge_params({"guidance_scale": 4.0, "width": 1024},
    ...              {"task": "text_to_image", "steps": 50},
    ...              {"guidance": 7.5})
    {'guidance_scale': 7.5, 'width': 1024, 'task': 'text_to_image', 'num_inference_steps': 50}
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping

TASKS = ("text_to_image", "multi_reference")

ALIASES = {"steps": "num_inference_steps", "guidance": "guidance_scale"}


def normalize_params(params: Mapping[str, Any], source: str = "params") -> dict[str, Any]:
    """Rewrite aliases to canonical names; a name given twice with different values is an error.

    >>> normalize_params({"resolution": 512, "steps": 4})
    {'width': 512, 'height': 512, 'num_inference_steps': 4}
    >>> normalize_params({"steps": 4, "num_inference_steps": 8})
    Traceback (most recent call last):
    ...
    ValueError: params: 'steps' and 'num_inference_steps' disagree (4 vs 8)
    """
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, value in params.items():
        targets = ["width", "height"] if name == "resolution" else [ALIASES.get(name, name)]
        for target in targets:
            if target in out and out[target] != value:
                raise ValueError(
                    f"{source}: {origin[target]!r} and {name!r} disagree ({out[target]!r} vs {value!r})"
                )
            out[target] = value
            origin[target] = name
    task = out.get("task")
    if task is not None and task not in TASKS:
        raise ValueError(f"{source}: task must be one of {', '.join(TASKS)}, not {task!r}")
    return out


def merge_params(
    defaults: Mapping[str, Any], request_params: Mapping[str, Any], overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """Merge the three layers (see module docstring); later layers win, aliases normalised."""
    merged = normalize_params(defaults, "adapter defaults")
    merged.update(normalize_params(request_params, "request params"))
    merged.update(normalize_params(overrides, "model options"))
    return merged


def task_of(params: Mapping[str, Any], reference_images: tuple[str, ...] = ()) -> str:
    """The request's task: ``params["task"]`` when given, else inferred from reference images.

    >>> task_of({}, ("a.png",))
    'multi_reference'
    >>> task_of({"task": "text_to_image"})
    'text_to_image'
    """
    task = params.get("task")
    if task is None:
        return "multi_reference" if reference_images else "text_to_image"
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    return str(task)


def check_generation_params(model, params: Mapping[str, Any], allow_unknown: bool) -> None:
    """Refuse ``--gen-param`` names the model does not use (did-you-mean), unless allowed.

    Models that do not list their parameters (no ``accepted_params()``) or do not generate
    (folders) are not checked.
    """
    if allow_unknown or not params or not getattr(model, "generates", True):
        return
    accepted = getattr(model, "accepted_params", None)  # a deferred model is loaded here
    if not callable(accepted):
        return
    known = set(accepted())
    unknown = [name for name in params if name not in known]
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(
            f"unknown --gen-param {', '.join(hints)} for {model.id}; it takes: "
            f"{', '.join(sorted(known))}. Pass --allow-unknown-params (allow_unknown_params=True) "
            "to send it anyway"
        )
