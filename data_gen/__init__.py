"""Synthetic data pipeline (installed as ``echo4o_eval.data_gen``); see data_gen/README.md."""
