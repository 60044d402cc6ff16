"""echo4o-eval: measure and improve text-to-image and multi-reference image generators.

Importing the package is cheap: no torch, diffusers, transformers or open_clip.

Example:
    >>> import echo4o_eval
    >>> echo4o_eval.__version__
    '0.1.0'
"""

__version__ = "0.1.0"
