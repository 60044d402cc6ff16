"""The typed config loader: files, overrides, unknown keys, wrong types, dump and reload."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import pytest

from echo4o_eval.config import ConfigError, dump_config, load_config, parse_value, typed_options


@dataclass(frozen=True)
class Optimizer:
    learning_rate: float = 1e-4
    betas: tuple[float, ...] = (0.9, 0.999)


@dataclass(frozen=True)
class Job:
    benchmark: str
    seed: int | None = None
    mode: Literal["default", "parity"] = "default"
    negative_prompt: str = ""
    enabled: bool = True
    output: Path | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    optimizer: Optimizer = field(default_factory=Optimizer)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return path


def test_file_then_values_then_overrides_win_in_that_order(tmp_path):
    path = write(tmp_path, "benchmark: geneval\nseed: 1\noptimizer:\n  learning_rate: 0.5\n")
    job = load_config(Job, path, ["seed=3"], base={"seed": 0, "negative_prompt": "blurry"},
                      values={"seed": 2, "benchmark": "dpg_bench"})
    assert job == Job(benchmark="dpg_bench", seed=3, negative_prompt="blurry",
                      optimizer=Optimizer(learning_rate=0.5))


def test_unknown_key_in_a_file_names_the_file_and_suggests(tmp_path):
    path = write(tmp_path, "benchmark: geneval\noptimizer:\n  learning_rat: 0.1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(Job, path)
    message = str(caught.value)
    assert str(path) in message and "'optimizer.learning_rat'" in message
    assert "did you mean 'optimizer.learning_rate'" in message


def test_unknown_override_is_reported_against_the_overrides(tmp_path):
    path = write(tmp_path, "benchmark: geneval\n")
    with pytest.raises(ConfigError, match=r"^overrides: unknown key 'sed'; did you mean 'seed'"):
        load_config(Job, path, ["sed=1"])


def test_wrong_types_are_errors_that_say_what_was_expected(tmp_path):
    with pytest.raises(ConfigError, match=r"seed: expected an integer, got 'x' \(str\)"):
        load_config(Job, write(tmp_path, "benchmark: g\nseed: x\n"))
    with pytest.raises(ConfigError, match=r"mode: expected one of 'default', 'parity', got 'paritty'"):
        load_config(Job, overrides=["benchmark=g", "mode=paritty"])
    with pytest.raises(ConfigError, match=r"optimizer.betas\[1\]: expected a number"):
        load_config(Job, overrides=["benchmark=g", "optimizer.betas=[0.9, fast]"])
    with pytest.raises(ConfigError, match="enabled: expected true or false"):
        load_config(Job, overrides=["benchmark=g", "enabled=yes"])
    with pytest.raises(ConfigError, match="benchmark: expected a string, got 5"):
        load_config(Job, write(tmp_path, "benchmark: 5\n"))


def test_missing_required_setting(tmp_path):
    with pytest.raises(ConfigError, match="missing required setting 'benchmark'"):
        load_config(Job, write(tmp_path, "seed: 3\n"))


def test_yaml_1_2_booleans_and_strings_kept_as_typed(tmp_path):
    job = load_config(Job, write(tmp_path, "benchmark: geneval\nnegative_prompt: no\nparams: {a: on}\n"),
                      ["params.steps=50", "params.guidance=1e-1", "params.sampler=off", "output=runs/x"])
    assert job.negative_prompt == "no"
    assert job.params == {"a": "on", "steps": 50, "guidance": 0.1, "sampler": "off"}
    assert job.output == Path("runs/x")
    assert parse_value("null") is None and parse_value("true") is True and parse_value("yes") == "yes"


def test_none_for_optional_fields():
    assert load_config(Job, overrides=["benchmark=g", "seed=null"]).seed is None


def test_bad_files_are_errors_naming_the_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(Job, tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Job, write(tmp_path, "benchmark: [unclosed\n"))
    with pytest.raises(ConfigError, match="must hold a mapping of settings, not a list"):
        load_config(Job, write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(Job, overrides=["benchmark"])


def test_dump_reads_back_to_the_same_config(tmp_path):
    job = load_config(Job, overrides=["benchmark=geneval", "negative_prompt=no", "seed=4",
                                      "params.cfg=[0.4, 1.0]", "optimizer.learning_rate=3e-5"])
    text = dump_config(job)
    assert "negative_prompt: 'no'" in text
    assert load_config(Job, write(tmp_path, text)) == job


def test_typed_options_parses_strings_and_refuses_typos():
    @dataclass(frozen=True)
    class Options:
        confidence_threshold: float = 0.3
        prompt_pack: str = "ours"
        max_objects: int = 10

    options = typed_options(Options, {"confidence_threshold": "0.9", "prompt_pack": "official", "max_objects": 4})
    assert options == Options(0.9, "official", 4)
    with pytest.raises(ConfigError) as caught:
        typed_options(Options, {"prompt_pak": "official"}, what="--eval-option")
    assert "unknown --eval-option 'prompt_pak'; did you mean 'prompt_pack'?" in str(caught.value)
    with pytest.raises(ConfigError, match="max_objects: expected an integer, got 'many'"):
        typed_options(Options, {"max_objects": "many"})
    assert typed_options(Options, None) == Options()


def test_post_init_validation_becomes_a_config_error():
    @dataclass(frozen=True)
    class Positive:
        steps: int = 1

        def __post_init__(self):
            if self.steps < 1:
                raise ValueError(f"steps must be at least 1, not {self.steps}")

    with pytest.raises(ConfigError, match="steps must be at least 1, not 0"):
        load_config(Positive, overrides=["steps=0"])


# ---- run/score: --config FILE.yaml, flags win, --print-config ----

def invoke(*args):
    from click.testing import CliRunner

    from echo4o_eval.cli import main

    return CliRunner().invoke(main, list(args))


def test_cli_config_file_with_flags_winning_and_print_config(tmp_path):
    from echo4o_eval.runner import RunConfig

    path = write(tmp_path, "benchmark: geneval\nmodel: folder:imgs\nseed: 1\nlimit: 5\n"
                           "generation_params: {steps: 20, guidance: 4}\n")
    result = invoke("run", "--config", str(path), "--seed", "7", "--gen-param", "steps=30", "--print-config")
    assert result.exit_code == 0, result.output
    printed = write(tmp_path, result.output)
    config = load_config(RunConfig, printed)
    assert (config.benchmark, config.model, config.seed, config.limit) == ("geneval", "folder:imgs", 7, 5)
    assert config.generation_params == {"steps": 30, "guidance": 4}
    assert config.runs_root == "runs" and config.n_bootstrap == 1000  # CLI defaults fill the rest
    score = invoke("score", "--config", str(printed), "--print-config")
    assert "require_existing_images: true" in score.output


def test_cli_config_errors_name_the_file_and_the_key(tmp_path):
    path = write(tmp_path, "benchmark: geneval\nmodel: folder:imgs\ngen_params: {steps: 2}\n")
    result = invoke("run", "--config", str(path), "--print-config")
    assert result.exit_code == 1
    assert f"{path}: unknown key 'gen_params'" in result.output
    assert "did you mean 'generation_params'" in result.output


def test_cli_missing_benchmark_lists_the_benchmarks():
    result = invoke("run", "--model", "folder:imgs")
    assert result.exit_code == 2
    assert "Missing option '--benchmark'" in result.output and "geneval_pp" in result.output
