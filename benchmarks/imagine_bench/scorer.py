"""imagine_bench scorer entry points: sample loading and the VLM-judged evaluator."""

from __future__ import annotations

from typing import Any, Mapping

from echo4o_eval.benchmarks.imagine_bench.loader import load_samples

__all__ = ["load_samples", "make_evaluator"]


def make_evaluator(judge_kind: str, options: Mapping[str, Any]):
    """Evaluator for ``judge_kind`` ("vlm")."""
    if judge_kind == "vlm":
        from echo4o_eval.benchmarks.imagine_bench.vlm import ImagineBenchEvaluator

        return ImagineBenchEvaluator(options)
    raise ValueError(f"imagine_bench supports judge kind 'vlm', not {judge_kind!r}")
