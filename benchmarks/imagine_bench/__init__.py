"""Imagine-Bench: benchmark.yaml, the sample loader (loader.py), judge prompts and reply parsers
(prompts.py) and the VLM-judged evaluator (vlm.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from echo4o_eval.benchmarks.imagine_bench import prompts
from echo4o_eval.benchmarks.imagine_bench.loader import load_samples
from echo4o_eval.spec import Benchmark, BenchmarkSpec


def make_evaluator(spec: BenchmarkSpec, judge_kind: str, options: Mapping[str, Any]):
    """The VLM-judged evaluator (Imagine-Bench's only judge kind)."""
    from echo4o_eval.benchmarks.imagine_bench.vlm import ImagineBenchEvaluator

    return ImagineBenchEvaluator(options, spec=spec)


benchmark = Benchmark.from_yaml(Path(__file__).with_name("benchmark.yaml"), load_samples, make_evaluator,
                                official_texts=prompts.OFFICIAL_TEXTS)
