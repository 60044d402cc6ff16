"""Put back what `-q` and the demo change process-wide, for tests that run the CLI in-process."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings


@contextlib.contextmanager
def restored_verbosity():
    """Save the environment, logger levels, warning filters and tqdm's switch; restore them on exit."""
    environ = dict(os.environ)
    levels = {name: logging.getLogger(name).level for name in list(logging.root.manager.loggerDict)}
    root = logging.getLogger().level
    filters = list(warnings.filters)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(environ)
        logging.getLogger().setLevel(root)
        for name in list(logging.root.manager.loggerDict):
            logging.getLogger(name).setLevel(levels.get(name, logging.NOTSET))
        warnings.filters[:] = filters
        from echo4o_eval.verbosity import restore_progress_bars

        restore_progress_bars()
