"""Imagine-Bench benchmark: benchmark.yaml, loader, scorer and the VLM-judged evaluator (vlm.py)."""
