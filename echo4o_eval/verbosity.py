"""``-q``: silence everything but errors, the libraries' own loading bars and warnings included.

Our progress bars are switched off by the caller (``progress=False``); this module quiets the
rest: transformers' and diffusers' loggers and progress bars ("Loading weights", "Loading
pipeline components"), huggingface_hub's download bars, any other tqdm bar, Python warnings and
every logger below ERROR. Environment variables cover libraries imported later (subprocesses
included); libraries already imported are set directly.

Example:
    >>> import logging
    >>> silence_libraries()
    >>> logging.getLogger("some.library").isEnabledFor(logging.WARNING)
    False
    >>> logging.getLogger().setLevel(logging.WARNING)  # undo for the other doctests
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

QUIET_ENVIRONMENT = {
    "TRANSFORMERS_VERBOSITY": "error",
    "DIFFUSERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}


def silence_libraries() -> None:
    """Quiet every library logger, progress bar and warning below ERROR for this process."""
    os.environ.update(QUIET_ENVIRONMENT)
    logging.getLogger().setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    for name in ("transformers", "diffusers"):
        module = sys.modules.get(f"{name}.utils.logging") or (
            sys.modules.get(f"{name}.utils") and getattr(sys.modules[f"{name}.utils"], "logging", None))
        if module is not None:
            module.set_verbosity_error()
            module.disable_progress_bar()
    hub = sys.modules.get("huggingface_hub.utils")
    if hub is not None and hasattr(hub, "disable_progress_bars"):
        hub.disable_progress_bars()
    for name in list(logging.root.manager.loggerDict):  # loggers made before this call
        logging.getLogger(name).setLevel(logging.ERROR)
