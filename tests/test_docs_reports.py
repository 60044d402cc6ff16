"""Every `echo4o-eval` command in docs/reports.md runs as written (on run directories built by
tests/docs_demo_runs.py at the paths the document uses), exits as the document says, and the
output the document shows is what the command prints."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from docs_demo_runs import build

from echo4o_eval.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "reports.md"


def doc_examples() -> list[tuple[str, int, list[str]]]:
    """(command, expected exit code, output lines shown after it) in document order."""
    blocks = re.findall(r"```(\w*)\n(.*?)```", DOC.read_text(), flags=re.S)
    examples = []
    for language, body in blocks:
        if language == "bash":
            for command in body.replace("\\\n", " ").splitlines():
                if command.startswith("echo4o-eval "):
                    code = 1 if "# exits 1" in command else 0
                    examples.append((command.split("#")[0].strip(), code, []))
        elif examples:
            examples[-1][2].extend(line for line in body.splitlines() if line and "..." not in line)
    return examples


def test_document_has_examples():
    commands = [c for c, _, _ in doc_examples()]
    assert len(commands) == 7 and {c.split()[1] for c in commands} == {"report", "compare", "agreement"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("docs")
    build(root, data_dir)
    return root


@pytest.mark.slow  # builds five runs (~2,000 fsync'd records): 5-15 s on a busy 2-core machine
@pytest.mark.parametrize("command,code,shown", doc_examples(), ids=lambda v: v[:60] if isinstance(v, str) else None)
def test_example_runs(demo, data_dir, monkeypatch, command, code, shown):
    monkeypatch.chdir(demo)
    monkeypatch.setenv("ECHO4O_DATA_DIR", str(data_dir))
    result = CliRunner().invoke(main, shlex.split(command)[1:])
    assert result.exit_code == code, result.output
    printed = [line.rstrip() for line in result.output.splitlines()]
    for line in shown:
        assert line.rstrip() in printed, (line, result.output)
