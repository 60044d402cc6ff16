"""Shared test fixtures: offline settings and the location of ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]


def _shared() -> Path:
    env = os.environ.get("ECHO4O_SHARED_DIR")
    return Path(env) if env else REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ../shared folder (benchmarks, goldens, judge_prompts, wheels)."""
    path = _shared()
    if not path.is_dir():
        pytest.fail(f"shared folder not found at {path}; set ECHO4O_SHARED_DIR")
    return path


@pytest.fixture(scope="session")
def data_dir(shared_dir: Path) -> Path:
    """Official benchmark files laid out as ECHO4O_DATA_DIR expects."""
    return shared_dir / "benchmarks"


@pytest.fixture(scope="session")
def goldens_dir(shared_dir: Path) -> Path:
    return shared_dir / "goldens"


@pytest.fixture(scope="session")
def judge_prompts_dir(shared_dir: Path) -> Path:
    return shared_dir / "judge_prompts"


@pytest.fixture(autouse=True)
def _own_cache_dir(tmp_path_factory, monkeypatch):
    """Each test gets its own ECHO4O_CACHE_DIR: the API response cache is on by default, and
    replies cached by one test must not answer another's requests."""
    monkeypatch.setenv("ECHO4O_CACHE_DIR", str(tmp_path_factory.mktemp("echo4o-cache")))


pytest_plugins = ["conftest_fake_server"]  # the fake_openai fixture (tests/conftest_fake_server.py)
