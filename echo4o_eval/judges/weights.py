"""Where judge weights come from: an explicit option, an environment variable, or a default
hub id served from the user's Hugging Face cache. Nothing is downloaded at import time.

Example:
    >>> resolve_source(None, "ECHO4O_NO_SUCH_VAR", "facebook/mask2former-swin-small-coco-instance")
    'facebook/mask2former-swin-small-coco-instance'
    >>> resolve_source("/models/m2f", "ECHO4O_NO_SUCH_VAR", "x")
    '/models/m2f'
"""

from __future__ import annotations

import os


class MissingWeightsError(RuntimeError):
    """A judge model could not be loaded; the message says how to get it."""


def resolve_source(option: str | None, env_var: str, default: str) -> str:
    """The option if set, else ``$env_var`` if set, else ``default``."""
    if option:
        return str(option)
    return os.environ.get(env_var) or default


def missing_weights(what: str, source: str, option: str, env_var: str, error: Exception):
    """A MissingWeightsError explaining how to provide ``what`` (raise it ``from error``)."""
    first_line = (str(error).splitlines() or [""])[0]
    if len(first_line) > 200:
        first_line = first_line[:200] + "..."
    message = f"cannot load {what} from {source!r} ({type(error).__name__}: {first_line})."
    if os.path.exists(source):
        message += " The path exists but does not hold a loadable model."
    else:
        message += (
            " It is neither a local path nor in the Hugging Face cache; download it once with"
            f" `hf download {source}` (online, HF_HUB_OFFLINE unset)."
        )
    message += f" Or point at a local copy with `--judge-option {option}=PATH` or ${env_var}."
    return MissingWeightsError(message)
