"""``-q``: silence everything but errors, the libraries' own loading bars and warnings included.

Our progress bars are switched off by the caller (``progress=False``); this module quiets the
rest: transformers' and diffusers' loggers and progress bars ("Loading weights", "Loading
pipeline components"), huggingface_hub's download bars, any other tqdm bar (tqdm's constructor
defaults to ``disable=True``; :func:`restore_progress_bars` undoes it), Python warnings and
every logger below ERROR. Environment variables cover libraries imported later (subprocesses
included); libraries already imported are set directly.

Example (process-wide, so not run here: ``silence_libraries()`` then load models quietly)::

    >>> sorted(QUIET_ENVIRONMENT)[:2]
    ['DIFFUSERS_VERBOSITY', 'HF_HUB_DISABLE_PROGRESS_BARS']
"""

from __future__ import annotations

import contextlib
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
    _disable_tqdm()
    hub = sys.modules.get("huggingface_hub.utils")
    if hub is not None and hasattr(hub, "disable_progress_bars"):
        hub.disable_progress_bars()
    for name in list(logging.root.manager.loggerDict):  # loggers made before this call
        logging.getLogger(name).setLevel(logging.ERROR)


_TQDM_INIT = None  # tqdm's own __init__ while bars are disabled


def _disable_tqdm() -> None:
    """Every tqdm bar made from now on is disabled (TQDM_DISABLE only counts before tqdm's import)."""
    global _TQDM_INIT
    from functools import partialmethod

    import tqdm.std

    if _TQDM_INIT is None:
        _TQDM_INIT = tqdm.std.tqdm.__init__
        tqdm.std.tqdm.__init__ = partialmethod(_TQDM_INIT, disable=True)


def restore_progress_bars() -> None:
    """Undo the tqdm part of :func:`silence_libraries` (tests and long-lived processes)."""
    global _TQDM_INIT
    if _TQDM_INIT is not None:
        import tqdm.std

        tqdm.std.tqdm.__init__ = _TQDM_INIT
        _TQDM_INIT = None


@contextlib.contextmanager
def quiet_libraries(enabled: bool = True):
    """:func:`silence_libraries` for the duration of a ``with`` block, then everything it changed
    (environment, logger levels, warning filters, tqdm, the libraries' own switches) is put back,
    so a command run in-process (tests, notebooks) leaves its caller as it was."""
    if not enabled:
        yield
        return
    environ = {name: os.environ.get(name) for name in QUIET_ENVIRONMENT}
    levels = {name: logging.getLogger(name).level for name in list(logging.root.manager.loggerDict)}
    root = logging.getLogger().level
    switches = {}
    for name in ("transformers", "diffusers"):
        module = sys.modules.get(f"{name}.utils.logging")
        if module is not None:
            switches[name] = (module, module.get_verbosity(), module.is_progress_bar_enabled())
    with warnings.catch_warnings():
        silence_libraries()
        try:
            yield
        finally:
            restore_progress_bars()
            for name, value in environ.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            logging.getLogger().setLevel(root)
            for name in list(logging.root.manager.loggerDict):
                logging.getLogger(name).setLevel(levels.get(name, logging.NOTSET))
            for module, verbosity, bars in switches.values():
                module.set_verbosity(verbosity)
                (module.enable_progress_bar if bars else module.disable_progress_bar)()
