"""`-q`: the libraries' own loading bars, warnings and log lines are silenced too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SCRIPT = """
import logging, warnings
from echo4o_eval.verbosity import silence_libraries
import transformers
silence_libraries()
import diffusers
from tqdm import tqdm
assert transformers.utils.logging.get_verbosity() == logging.ERROR
assert not transformers.utils.logging.is_progress_bar_enabled()
assert diffusers.utils.logging.get_verbosity() == logging.ERROR  # imported after: set by environment
for bar in (tqdm, transformers.utils.logging.tqdm, diffusers.utils.logging.tqdm):
    for _ in bar(range(3), desc="a library bar"):
        pass
diffusers.utils.logging.get_logger("diffusers.pipelines").warning("a diffusers warning")
logging.getLogger("some.library").warning("a library warning")
logging.warning("a root warning")
warnings.warn("a python warning")
logging.getLogger("some.library").error("an error still shows")
"""


def test_silence_libraries_leaves_only_errors():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == ["ERROR:some.library:an error still shows"], done.stderr


def test_quiet_libraries_puts_everything_back():
    import logging
    import os

    from tqdm import tqdm

    from echo4o_eval.verbosity import quiet_libraries

    before = (logging.getLogger().level, os.environ.get("TQDM_DISABLE"), tqdm(range(1), disable=None).disable)
    with quiet_libraries():
        assert logging.getLogger().level == logging.ERROR
        assert tqdm(range(1)).disable
    assert (logging.getLogger().level, os.environ.get("TQDM_DISABLE"), tqdm(range(1), disable=None).disable) == before
