"""dpg_bench scorer entry points: sample loading and the VLM-judged evaluator."""

from __future__ import annotations

from typing import Any, Mapping

from echo4o_eval.benchmarks.dpg_bench.loader import load_samples

__all__ = ["load_samples", "make_evaluator"]


def make_evaluator(judge_kind: str, options: Mapping[str, Any]):
    """Evaluator for ``judge_kind`` ("vlm")."""
    if judge_kind == "vlm":
        from echo4o_eval.benchmarks.dpg_bench.vlm import DPGBenchEvaluator

        return DPGBenchEvaluator(options)
    raise ValueError(f"dpg_bench supports judge kind 'vlm', not {judge_kind!r}")
