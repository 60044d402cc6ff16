"""Estimated API cost from a price table the user can override.

Prices are US dollars per one million tokens (``input``, ``cached_input``, ``output``) and,
for image models that bill per picture, ``per_image``. The built-in table is a dated estimate
(see ``PRICES_AS_OF``); pass ``prices={...}`` or a JSON/YAML file path to override or extend it.
A model missing from the table gives cost ``None`` (unknown), never 0.

Example:
    >>> table = load_prices({"my-vlm": {"input": 1.0, "output": 2.0}})
    >>> estimate_cost(table, "my-vlm", {"prompt_tokens": 1_000_000, "completion_tokens": 500_000})
    2.0
    >>> estimate_cost(table, "unknown-model", {"prompt_tokens": 10}) is None
    True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

PRICES_AS_OF = "2025-06 list prices (estimate; override with the `prices` option)"

DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "gpt-4.1": {"input": 2.00, "cached_input": 0.50, "output": 8.00},
    "gpt-4.1-mini": {"input": 0.40, "cached_input": 0.10, "output": 1.60},
    "gpt-4.1-nano": {"input": 0.10, "cached_input": 0.025, "output": 0.40},
    "gpt-4o": {"input": 2.50, "cached_input": 1.25, "output": 10.00},
    "gpt-4o-mini": {"input": 0.15, "cached_input": 0.075, "output": 0.60},
    # image models bill text/image input and image output tokens
    "gpt-image-1": {"input": 5.00, "image_input": 10.00, "output": 40.00},
}


def load_prices(override: Mapping[str, Any] | str | Path | None = None) -> dict[str, dict]:
    """Default table updated with ``override`` (a mapping or a .json/.yaml file path).

    Raises ValueError naming the file when it cannot be read.
    """
    table = {k: dict(v) for k, v in DEFAULT_PRICES.items()}
    if override is None:
        return table
    if isinstance(override, (str, Path)):
        path = Path(override)
        try:
            text = path.read_text(encoding="utf-8")
            if path.suffix in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
        except (OSError, ValueError) as exc:
            raise ValueError(f"price table {path}: cannot read: {exc}") from exc
        override = data
    if not isinstance(override, Mapping):
        raise ValueError(f"price table must map model name -> prices, got {type(override).__name__}")
    for model, prices in override.items():
        if not isinstance(prices, Mapping):
            raise ValueError(f"price table entry {model!r} must be a mapping of price fields")
        table.setdefault(str(model), {}).update({k: float(v) for k, v in prices.items()})
    return table


def _lookup(table: Mapping[str, Mapping[str, float]], model: str) -> Mapping[str, float] | None:
    if model in table:
        return table[model]
    # dated snapshots such as "gpt-4.1-2025-04-14" use their family's price
    best = max((name for name in table if model.startswith(name + "-")), key=len, default=None)
    return table[best] if best else None


def estimate_cost(
    table: Mapping[str, Mapping[str, float]], model: str, usage: Mapping[str, Any]
) -> float | None:
    """Estimated USD for one reply's usage (chat or image usage fields); None if unpriced."""
    prices = _lookup(table, model)
    if prices is None:
        return None
    prompt = usage.get("prompt_tokens", usage.get("input_tokens", 0)) or 0
    completion = usage.get("completion_tokens", usage.get("output_tokens", 0)) or 0
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    cached = (details.get("cached_tokens") or 0) if isinstance(details, Mapping) else 0
    image_in = (details.get("image_tokens") or 0) if isinstance(details, Mapping) else 0
    cost = 0.0
    cost += (prompt - cached - image_in) * prices.get("input", 0.0) / 1e6
    cost += cached * prices.get("cached_input", prices.get("input", 0.0)) / 1e6
    cost += image_in * prices.get("image_input", prices.get("input", 0.0)) / 1e6
    cost += completion * prices.get("output", 0.0) / 1e6
    cost += (usage.get("images", 0) or 0) * prices.get("per_image", 0.0)
    return round(cost, 10)
