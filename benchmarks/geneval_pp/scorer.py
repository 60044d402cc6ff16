"""GenEval++ scorer entry points: VLM-judged (paper) and detector-judged (offline) modes."""

from __future__ import annotations

from typing import Any, Mapping

from echo4o_eval.benchmarks.geneval_pp.loader import load_samples

__all__ = ["load_samples", "make_evaluator"]


def make_evaluator(judge_kind: str, options: Mapping[str, Any]):
    """Evaluator for ``judge_kind`` ("vlm" or "detector")."""
    if judge_kind == "vlm":
        from echo4o_eval.benchmarks.geneval_pp.vlm import GenEvalPlusPlusVLMEvaluator

        return GenEvalPlusPlusVLMEvaluator(options)
    if judge_kind == "detector":
        from echo4o_eval.benchmarks.geneval_pp.detector import GenEvalPlusPlusDetectorEvaluator

        return GenEvalPlusPlusDetectorEvaluator(options)
    raise ValueError(f"geneval_pp supports judge kinds 'vlm' and 'detector', not {judge_kind!r}")
