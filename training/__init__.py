"""Flow-matching fine-tuning (installed as ``echo4o_eval.training``); see training/README.md and
docs/training.md. Importing this package loads no torch; :func:`train` imports it when called.

Example:
    >>> from echo4o_eval.training import load_train_config
    >>> load_train_config(None, ["run.max_steps=10"]).run.max_steps
    10
"""

from echo4o_eval.training.config import TrainConfig, load_train_config

__all__ = ["TrainConfig", "load_train_config", "train"]


def train(config):
    """Run (or resume) a training job; see :func:`echo4o_eval.training.trainer.train`."""
    from echo4o_eval.training.trainer import train as run_training

    return run_training(config)
