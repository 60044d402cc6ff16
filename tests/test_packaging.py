"""The wheel ships everything inside `echo4o_eval` and works without the source tree."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# every folder of benchmarks/ with a benchmark.yaml: a new one is checked without editing this test
BENCHMARKS = sorted(p.parent.name for p in (REPO / "benchmarks").glob("*/benchmark.yaml"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        check=True, capture_output=True, env={**os.environ, "TMPDIR": str(build)},
    )
    (found,) = out.glob("echo4o_eval-*.whl")
    return found


@pytest.mark.slow
def test_wheel_has_one_top_level_package_and_the_specs(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"echo4o_eval"}
    assert len(BENCHMARKS) >= 5
    for bench in BENCHMARKS:
        folder = REPO / "benchmarks" / bench
        shipped = [f"echo4o_eval/benchmarks/{bench}/{f.relative_to(folder)}"
                   for f in folder.rglob("*") if f.suffix in (".py", ".yaml", ".md")
                   and "__pycache__" not in f.parts]
        assert f"echo4o_eval/benchmarks/{bench}/__init__.py" in shipped
        assert [f for f in shipped if f not in names] == [], bench
    for package in ("echo4o_eval", "training", "data_gen"):  # every module of every subpackage
        root = REPO / package
        expected = {f"echo4o_eval/{f.relative_to(REPO)}" if package != "echo4o_eval"
                    else str(f.relative_to(REPO)) for f in root.rglob("*.py")
                    if "__pycache__" not in f.parts and (f.parent / "__init__.py").exists()}
        assert sorted(expected - set(names)) == [], package
    assert "echo4o_eval/training/__init__.py" in names and "echo4o_eval/data_gen/__init__.py" in names
    assert not [n for n in names if n.endswith((".jsonl", ".csv"))], "official data must not be shipped"


@pytest.mark.slow
def test_installed_wheel_works_outside_the_checkout(wheel, tmp_path, data_dir):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    code = (
        "import echo4o_eval, echo4o_eval.benchmarks.geneval, echo4o_eval.training;"
        "from echo4o_eval.spec import benchmark_names, get_benchmark;"
        "print(echo4o_eval.__file__); print(benchmark_names());"
        "print(get_benchmark('geneval').directory)"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, check=True)
    lines = out.stdout.splitlines()
    assert lines[0].startswith(str(target))
    assert lines[1] == str(BENCHMARKS)
    assert lines[2].startswith(str(target))
    cli = subprocess.run([sys.executable, "-m", "echo4o_eval", "validate", "--offline", "--data-dir", str(data_dir),
                          "geneval_pp"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert cli.returncode == 0 and "geneval_pp: ok, 280 samples" in cli.stdout, cli.stderr


def test_a_bare_checkout_imports_the_mapped_packages(tmp_path):
    """Without any install (no .pth, no editable finder: python -S), the checkout's
    benchmarks/, training/ and data_gen/ import under their wheel names, and no bench script
    patches sys.modules to get there."""
    import sysconfig

    code = (f"import sys; sys.path[:0] = [{str(REPO)!r}, {sysconfig.get_paths()['purelib']!r}];"
            "import echo4o_eval.benchmarks.geneval as g, echo4o_eval.training, echo4o_eval.data_gen;"
            "from echo4o_eval.spec import benchmark_names;"
            "print(g.__file__); print(benchmark_names())")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == str(REPO / "benchmarks" / "geneval" / "__init__.py")
    assert lines[1] == str(BENCHMARKS)
    for script in (REPO / "bench").glob("*.py"):
        assert "sys.modules[" not in script.read_text(), script.name
