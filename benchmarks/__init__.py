"""Built-in benchmarks: one folder each with benchmark.yaml, loader, scorer and README.

Installed as ``echo4o_eval.benchmarks`` (see pyproject.toml), never as a top-level
``benchmarks`` package.
"""
