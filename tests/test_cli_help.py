"""Every command's --help ends with examples, and every option an example uses exists."""

from __future__ import annotations

import shlex

import click
import pytest
from click.testing import CliRunner

from echo4o_eval.cli import main
from echo4o_eval.help_examples import EXAMPLES


def _options(command: click.Command) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_help_shows_examples(name):
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.output
    assert EXAMPLES[name].strip().splitlines()[0].strip() in result.output


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples_use_real_commands_and_options(name):
    lines = [line.split("  #")[0].strip() for line in EXAMPLES[name].splitlines()]
    commands = [line for line in lines if line.startswith("echo4o-eval ")]
    assert commands, f"{name}: no example command"
    for line in commands:
        words = shlex.split(line)[1:]
        command = main.commands[words[0]]
        assert words[0] == name, line
        rest = words[1:]
        if isinstance(command, click.Group):
            command, rest = command.commands[rest[0]], rest[1:]
        unknown = [w.split("=")[0] for w in rest if w.startswith("-") and w.split("=")[0] not in _options(command)]
        assert not unknown, f"{line!r}: {unknown} are not options of {command.name}"


def test_demo_help_names_the_real_checkpoints():
    output = CliRunner().invoke(main, ["demo", "--help"]).output
    for repo in ("segmind/tiny-sd", "facebook/mask2former-swin-tiny-coco-instance",
                 "timm/vit_base_patch32_clip_224.openai"):
        assert repo in output
    assert "MEANINGLESS" in output


def test_missing_benchmark_lists_the_benchmarks(tmp_path):
    result = CliRunner().invoke(main, ["run", "-m", f"folder:{tmp_path}"])
    assert result.exit_code == 2
    assert "--benchmark" in result.output and "geneval_pp" in result.output and "imagine_bench" in result.output
