"""omnicontext scorer entry points: sample loading and the VLM-judged evaluator."""

from __future__ import annotations

from typing import Any, Mapping

from echo4o_eval.benchmarks.omnicontext.loader import load_samples

__all__ = ["load_samples", "make_evaluator"]


def make_evaluator(judge_kind: str, options: Mapping[str, Any]):
    """Evaluator for ``judge_kind`` ("vlm")."""
    if judge_kind == "vlm":
        from echo4o_eval.benchmarks.omnicontext.vlm import OmniContextEvaluator

        return OmniContextEvaluator(options)
    raise ValueError(f"omnicontext supports judge kind 'vlm', not {judge_kind!r}")
