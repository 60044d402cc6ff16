"""Shared API engine for OpenAI-compatible servers (judges, image APIs, data generation).

Example:
    >>> from echo4o_eval.api import ApiCall, ApiEngine, EngineConfig
    >>> ApiCall(kind="chat", payload={"messages": []}).slot
    'v0'
"""

from echo4o_eval.api.cache import ResponseCache, request_hash
from echo4o_eval.api.engine import (
    ApiCall, ApiEngine, CallResult, EngineConfig, cache_path_from, default_cache_path,
)
from echo4o_eval.api.prices import estimate_cost, load_prices

__all__ = [
    "ApiCall", "ApiEngine", "CallResult", "EngineConfig", "ResponseCache", "cache_path_from",
    "default_cache_path",
    "estimate_cost", "load_prices", "request_hash",
]
