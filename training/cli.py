"""``echo4o-eval train`` and ``echo4o-eval bagel-recipe``: thin click commands over
:func:`~.trainer.train` and :func:`~.bagel_recipe.write_bagel_recipe`.

Example:
    >>> from click.testing import CliRunner
    >>> result = CliRunner().invoke(train_command, ["run.max_steps=5", "--print-config"])
    >>> "max_steps: 5" in result.output
    True
"""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["train_command", "bagel_recipe_command"]


class TrainError(click.ClickException):
    """Printed as ``error: MESSAGE`` with exit status 1."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def _split(config_file: str | None, overrides: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """The first argument is the config file unless it is KEY=VALUE and no such file exists."""
    if config_file and "=" in config_file and not Path(config_file).exists():
        return None, [config_file, *overrides]
    return config_file, list(overrides)


@click.command("train", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("config_file", required=False)
@click.argument("overrides", nargs=-1)
@click.option("--print-config", is_flag=True, help="Print the resolved configuration as YAML and exit.")
def train_command(config_file, overrides, print_config) -> None:
    """Fine-tune a diffusers SD3/FLUX pipeline with the Echo-4o flow-matching recipe.

    CONFIG_FILE is a YAML file (examples: training/configs/); OVERRIDES are KEY=VALUE settings
    such as run.max_steps=2000 or data.sources=[exports/bagel]. Re-running the same command
    resumes from the latest checkpoint in run.output_dir. Several GPUs or nodes: launch with
    `accelerate launch [--config_file training/configs/accelerate_ddp.yaml] -m echo4o_eval train ...`.
    Every eval.every steps the current weights are scored on eval.benchmark; then
    `echo4o-eval report OUTPUT_DIR/eval/BENCHMARK/*` shows the score-vs-step curve.
    """
    from echo4o_eval.config import ConfigError, dump_config
    from echo4o_eval.training.config import load_train_config

    path, settings = _split(config_file, overrides)
    try:
        config = load_train_config(path, settings)
    except ConfigError as exc:
        raise TrainError(str(exc)) from exc
    if print_config:
        click.echo(dump_config(config), nl=False)
        return
    from echo4o_eval.training.data import DataError
    from echo4o_eval.training.trainer import train

    try:
        result = train(config)
    except (DataError, ValueError, FileNotFoundError, RuntimeError) as exc:
        raise TrainError(str(exc)) from exc
    if result.is_main_process:
        _summary(result, config)


def _summary(result, config) -> None:
    from echo4o_eval.training.monitor import read_log

    log = read_log(result.output_dir / "train_log.jsonl")
    ran = result.final_step - result.start_step
    if ran:
        click.echo(f"trained steps {result.start_step + 1}-{result.final_step} ({ran} this run) in {result.output_dir}")
    else:
        click.echo(f"nothing to do: {result.output_dir} is already at step {result.final_step} (run.max_steps)")
    if log:
        first, last = log[0], log[-1]
        click.echo(f"loss: step {first['step']} {first['loss']:.4f} -> step {last['step']} {last['loss']:.4f}")
    for record in read_log(result.output_dir / "train_log.jsonl", "eval"):
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in record.get("metrics", {}).items() if v is not None)
        coverage = record.get("coverage")
        shown = f"coverage {coverage:.0%}" if coverage is not None else record.get("error", "")
        click.echo(f"eval step {record['step']}: {metrics or 'no score'} ({shown}) -> {record.get('run_dir')}")
    if result.final_pipeline:
        click.echo(f"final pipeline: {result.final_pipeline}")
    if config.eval.every:
        runs = Path(config.eval.runs_dir or result.output_dir / "eval") / config.eval.benchmark
        click.echo(f"curve: echo4o-eval report {runs}/* -o {result.output_dir}/report")


@click.command("bagel-recipe", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("export_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the dataset YAML, the DATASET_INFO registration, the command and notes.")
@click.option("--model-path", default="models/BAGEL-7B-MoT", show_default=True,
              help="The Bagel checkpoint to fine-tune (the Hugging Face download).")
@click.option("--gpus", default=8, show_default=True, help="GPUs per node.")
@click.option("--nodes", default=1, show_default=True, help="Number of nodes.")
@click.option("--num-workers", default=1, show_default=True, help="Data-loader workers per GPU.")
@click.option("--results-dir", default="results/echo4o", show_default=True, help="Bagel's --results_dir.")
def bagel_recipe_command(export_dir, out_dir, model_path, gpus, nodes, num_workers, results_dir) -> None:
    """Write what Bagel's own trainer needs to fine-tune on a data_gen export (the paper's recipe).

    EXPORT_DIR is a `synth export` folder (its bagel/ subfolder) or a folder holding t2i/ and
    multi_reference/ parquet. Writes the dataset YAML, the DATASET_INFO registration (the
    names `synth export` uses: echo4o_synth_t2i, echo4o_synth_multi_reference), the exact
    torchrun command (lr 2e-5, 24K steps, EMA, finetune from the HF checkpoint) and notes
    on Bagel's known pitfalls, then prints the command.
    """
    from echo4o_eval.training.bagel_recipe import RecipeError, write_bagel_recipe

    try:
        recipe = write_bagel_recipe(export_dir, out_dir, model_path=model_path, gpus=gpus, nodes=nodes,
                                    num_workers=num_workers, results_dir=results_dir)
    except RecipeError as exc:
        raise TrainError(str(exc)) from exc
    for name, path in recipe.files.items():
        click.echo(f"wrote {name}: {path}")
    for warning in recipe.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo("\n" + recipe.command)
