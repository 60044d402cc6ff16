"""A plugin package built as a wheel in a temporary directory and installed outside the
checkout registers a benchmark, a judge and a model through entry points; the CLI's ls, run,
score, report and compare work on them. Also: name clashes, ``module:attr`` benchmarks and
docs/plugins.md showing the plugin file as it is."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "tests" / "plugin_example"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """The example plugin built as a wheel and installed into a fresh target folder."""
    source = tmp_path_factory.mktemp("plugin_src")
    for name in ("echo4o_toy_plugin.py", "pyproject.toml"):
        shutil.copy(EXAMPLE / name, source / name)
    dist = tmp_path_factory.mktemp("plugin_dist")
    build = tmp_path_factory.mktemp("plugin_build")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(dist), str(source)], check=True, capture_output=True,
                   env={**os.environ, "TMPDIR": str(build)})
    (wheel,) = dist.glob("echo4o_toy_plugin-*.whl")
    site = tmp_path_factory.mktemp("plugin_site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                    str(wheel)], check=True, capture_output=True)
    assert (site / "echo4o_toy_plugin.py").exists() and not (site / "echo4o_eval").exists()
    return site


def cli(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "echo4o_eval", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


@pytest.mark.slow
def test_installed_plugin_works_through_the_cli(plugin_site, tmp_path):
    listing = cli(plugin_site, tmp_path, "ls")
    assert listing.returncode == 0, listing.stderr
    assert "toy_colors" in listing.stdout and "toy-painter" in listing.stdout and "toy-colour" in listing.stdout

    good = cli(plugin_site, tmp_path, "run", "-b", "toy_colors", "-m", "toy-painter", "-j", "toy-colour",
               "--run-dir", "good", "--bootstrap", "0")
    assert good.returncode == 0, good.stderr
    assert "toy_colors overall 100.0%" in good.stdout

    made = cli(plugin_site, tmp_path, "run", "-b", "toy_colors", "-m", "toy-painter:off",
               "-j", "toy-colour", "--run-dir", "grey", "--generate-only", "--bootstrap", "0")
    assert made.returncode == 0, made.stderr
    scored = cli(plugin_site, tmp_path, "score", "-b", "toy_colors", "-m", "folder:grey/images",
                 "-j", "toy-colour", "--run-dir", "grey_scored", "--bootstrap", "0")
    assert scored.returncode == 0, scored.stderr
    assert "toy_colors overall 0.0%" in scored.stdout

    report = cli(plugin_site, tmp_path, "report", "good", "grey_scored", "-o", "report")
    assert report.returncode == 0, report.stderr
    assert "toy_colors" in (tmp_path / "report" / "leaderboard.csv").read_text()

    same = cli(plugin_site, tmp_path, "compare", "good", "good")
    assert same.returncode == 0, same.stdout + same.stderr
    worse = cli(plugin_site, tmp_path, "compare", "good", "grey_scored")
    assert worse.returncode == 1 and "FAIL" in worse.stdout, worse.stdout + worse.stderr


@pytest.mark.slow
def test_a_plugin_benchmark_can_be_named_by_module_and_attribute(plugin_site, tmp_path):
    code = ("from echo4o_eval.spec import load_benchmark; b = load_benchmark('echo4o_toy_plugin:benchmark');"
            "print(b.id, b.make_evaluator('colour', {}).spec.version)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(plugin_site)}, check=True)
    assert out.stdout.strip() == "toy_colors 1.0"


def test_docs_show_the_plugin_file_as_it_is():
    docs = (REPO / "docs" / "plugins.md").read_text()
    for name in ("echo4o_toy_plugin.py", "pyproject.toml"):
        assert (EXAMPLE / name).read_text().strip() in docs, name
