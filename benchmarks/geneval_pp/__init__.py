"""GenEval++: benchmark.yaml, the sample loader (loader.py), judge prompts and reply parsers
(prompts.py), the VLM-judged evaluator (vlm.py, the paper's) and the detector-judged one
(detector.py with its rules in rules.py, offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from echo4o_eval.benchmarks.geneval_pp import prompts
from echo4o_eval.benchmarks.geneval_pp.loader import load_samples
from echo4o_eval.spec import Benchmark, BenchmarkSpec


def make_evaluator(spec: BenchmarkSpec, judge_kind: str, options: Mapping[str, Any]):
    """The evaluator for ``judge_kind``: "vlm" or "detector"."""
    if judge_kind == "detector":
        from echo4o_eval.benchmarks.geneval_pp.detector import GenEvalPlusPlusDetectorEvaluator

        return GenEvalPlusPlusDetectorEvaluator(options, spec=spec)
    from echo4o_eval.benchmarks.geneval_pp.vlm import GenEvalPlusPlusVLMEvaluator

    return GenEvalPlusPlusVLMEvaluator(options, spec=spec)


def checklist_text(sample) -> str:
    """The official checklist of a sample (what the judge is asked to verify)."""
    from echo4o_eval.benchmarks.geneval_pp.prompts import official_checklist

    return official_checklist(sample.metadata)


def checklist_items(sample) -> list[str]:
    """Wording of the numbered requirements our prompt pack asks the judge about."""
    from echo4o_eval.benchmarks.geneval_pp.prompts import echo4o_user_text

    return echo4o_user_text(sample.metadata)[1]


benchmark = Benchmark.from_yaml(Path(__file__).with_name("benchmark.yaml"), load_samples, make_evaluator,
                                checklist_text=checklist_text, checklist_items=checklist_items,
                                official_texts=prompts.OFFICIAL_TEXTS)
