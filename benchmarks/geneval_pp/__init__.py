"""GenEval++ benchmark: benchmark.yaml, loader, scorer and the VLM-judged (vlm.py) and
detector-judged (detector.py) evaluators."""
