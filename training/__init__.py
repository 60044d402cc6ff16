"""Flow-matching fine-tuning (installed as ``echo4o_eval.training``); see training/README.md."""
