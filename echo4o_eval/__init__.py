"""echo4o-eval: measure and improve text-to-image and multi-reference image generators.

Importing the package is cheap: no torch, diffusers, transformers or open_clip.

Example:
    >>> import echo4o_eval
    >>> echo4o_eval.__version__
    '0.1.0'
"""

__version__ = "0.1.0"

from echo4o_eval import checkout as _checkout  # noqa: E402 - a source checkout maps benchmarks/ etc.

_checkout.install()

__all__ = ["__version__", "evaluate"]


def __getattr__(name: str):
    """``echo4o_eval.evaluate`` is imported on first use, so importing the package stays light."""
    if name == "evaluate":
        from echo4o_eval.evaluation import evaluate

        return evaluate
    raise AttributeError(f"module 'echo4o_eval' has no attribute {name!r}")
