"""GenEval: benchmark.yaml, the sample loader (loader.py), the official summary (summary.py)
and the detector-judged evaluator (detector.py); the rule engine it shares with GenEval++ is
:mod:`echo4o_eval.scoring.geneval_rules`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from echo4o_eval.benchmarks.geneval.loader import load_samples
from echo4o_eval.spec import Benchmark, BenchmarkSpec


def make_evaluator(spec: BenchmarkSpec, judge_kind: str, options: Mapping[str, Any]):
    """The detector-judged evaluator (GenEval's only judge kind)."""
    from echo4o_eval.benchmarks.geneval.detector import GenEvalEvaluator

    return GenEvalEvaluator(options, spec=spec)


benchmark = Benchmark.from_yaml(Path(__file__).with_name("benchmark.yaml"), load_samples, make_evaluator)
