"""GenEval scorer entry points: sample loading and the detector-judged evaluator."""

from __future__ import annotations

from typing import Any, Mapping

from echo4o_eval.benchmarks.geneval.loader import load_samples

__all__ = ["load_samples", "make_evaluator"]


def make_evaluator(judge_kind: str, options: Mapping[str, Any]):
    """Evaluator for ``judge_kind`` ("detector")."""
    if judge_kind == "detector":
        from echo4o_eval.benchmarks.geneval.detector import GenEvalEvaluator

        return GenEvalEvaluator(options)
    raise ValueError(f"geneval supports judge kind 'detector', not {judge_kind!r}")
