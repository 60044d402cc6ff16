"""Built-in benchmarks: one folder each with benchmark.yaml, ``__init__.py`` (its ``benchmark``
object: spec, sample loader, evaluator factory), loader, prompts, evaluator(s) and README.
A folder holding a benchmark.yaml is found without being listed anywhere.

Installed as ``echo4o_eval.benchmarks`` (see pyproject.toml), never as a top-level
``benchmarks`` package.
"""
