"""GenEval benchmark: benchmark.yaml, loader, scorer and the detector-judged evaluator
(detector.py)."""
