"""``echo4o-eval synth``: the data pipeline's commands (thin; the work is in the stage modules).

Every command takes the job's YAML file and optional ``a.b=VALUE`` overrides::

    echo4o-eval synth plan job.yaml plan.fantasy.count=100
    echo4o-eval synth generate job.yaml --max-images 50
    echo4o-eval synth all job.yaml            # plan, generate, check, filter, export

Each stage resumes from its own records in ``work_dir``. Exit status: 0 when done (a budget stop
is done; so are samples a model refused, ``refused``: final, never asked again), 1 for bad input,
2 when samples were left in an error status (rerun to retry them).
"""

from __future__ import annotations

import json

import click

from echo4o_eval.config import ConfigError

_ARGS = [click.argument("config_file", type=click.Path(dir_okay=False)),
         click.argument("overrides", nargs=-1),
         click.option("--print-config", is_flag=True, help="Print the resolved settings as YAML and exit.")]


def _with_config(function):
    """The shared arguments, and bad input (a ValueError such as an unknown setting, a work dir
    planned with other settings, a missing API key) shown as one error line, not a traceback."""
    import functools

    @functools.wraps(function)
    def run(*args, **kwargs):
        from echo4o_eval.api.engine import MissingApiKey

        try:
            return function(*args, **kwargs)
        except (ValueError, MissingApiKey) as exc:
            raise click.ClickException(str(exc)) from exc

    for decorator in reversed(_ARGS):
        run = decorator(run)
    return run


def _load(config_file, overrides, print_config):
    from echo4o_eval.data_gen.config import load_synth_config, show_config

    try:
        config = load_synth_config(config_file, overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if print_config:
        click.echo(show_config(config), nl=False)
        raise SystemExit(0)
    return config


def _show(title: str, data) -> None:
    click.echo(f"{title}: {json.dumps(data, sort_keys=True)}")
    if isinstance(data, dict) and data.get("unanswered"):
        from echo4o_eval.data_gen.status import unanswered_note

        click.echo(f"note: {unanswered_note({'unanswered_requests': data['unanswered']})}", err=True)


FAILED = {"generate": ("generation_error", "missing_reference"), "check": ("check_error",)}  # plan: "errors"


def _failures(stage: str, summary) -> int:
    """Samples a stage left in a retryable error status (rerunning the command retries them)."""
    if stage == "plan":
        return int(summary.get("errors", 0))
    return sum(int(summary.get("by_status", {}).get(status, 0)) for status in FAILED.get(stage, ()))


def _exit_for(failed: dict[str, int]) -> None:
    """Exit 2 when samples were left in an error status, naming them; 0 otherwise."""
    failed = {stage: n for stage, n in failed.items() if n}
    if failed:
        click.echo("incomplete: " + ", ".join(f"{stage} {n} failed" for stage, n in failed.items())
                   + "; rerun the command to retry them (see `synth status`)", err=True)
        raise SystemExit(2)


@click.group("synth")
def synth() -> None:
    """Make Echo-4o-style training data: plan, generate, check and rewrite, filter, export.

    CONFIG_FILE is the job's YAML (see docs/data_gen.md); OVERRIDES are KEY=VALUE settings such
    as plan.fantasy.count=100. All files go under work_dir; rerunning a command resumes it.
    Exit status: 0 done (a budget stop included; a sample a model refused is final, not an
    error), 1 bad input, 2 samples left in an error status (plan_error, generation_error,
    missing_reference, check_error; rerun to retry).
    """


@synth.command("plan")
@_with_config
def plan_command(config_file, overrides, print_config) -> None:
    """Plan the prompt specs of the three subsets (chat model optional)."""
    from echo4o_eval.data_gen.plan import run_plan
    from echo4o_eval.data_gen.records import RecordStore

    config = _load(config_file, overrides, print_config)
    summary = run_plan(config, RecordStore(config.work_dir))
    _show("plan", summary)
    _exit_for({"plan": _failures("plan", summary)})


@synth.command("generate")
@_with_config
@click.option("--max-images", type=int, default=None, help="Stop after paying for this many images.")
@click.option("--max-cost", type=float, default=None, help="Stop before the estimated cost passes this (USD).")
def generate_command(config_file, overrides, print_config, max_images, max_cost) -> None:
    """Generate the planned images with generate.model (sharded under torchrun/accelerate)."""
    from echo4o_eval.data_gen.generate import run_generate

    config = _load(config_file, overrides, print_config)
    if max_images is not None:
        config.generate.max_images = max_images
    if max_cost is not None:
        config.generate.max_cost = max_cost
    summary = run_generate(config)
    _show("generate", summary)
    if summary["stopped"]:
        click.echo(f"stopped cleanly: {summary['stopped']}; rerun with a larger budget to continue")
    _exit_for({"generate": _failures("generate", summary)})


@synth.command("check")
@_with_config
def check_command(config_file, overrides, print_config) -> None:
    """Check each image against its prompt with the VLM; keep, rewrite or drop."""
    from echo4o_eval.data_gen.check import run_check

    summary = run_check(_load(config_file, overrides, print_config))
    _show("check", summary)
    _exit_for({"check": _failures("check", summary)})


@synth.command("filter")
@_with_config
def filter_command(config_file, overrides, print_config) -> None:
    """Drop corrupt/small images, duplicates and benchmark-contaminated prompts."""
    from echo4o_eval.data_gen.filter import run_filter

    summary = run_filter(_load(config_file, overrides, print_config))
    _show("filter", {k: summary[k] for k in ("filtered", "by_reason", "contamination_by_benchmark")})
    for name, info in summary["benchmarks"].items():
        if "error" in info:
            click.echo(f"warning: contamination not checked against {name}: {info['error'][:300]}", err=True)


@synth.command("export")
@_with_config
def export_command(config_file, overrides, print_config) -> None:
    """Write Bagel parquet, OmniGen2 jsonl and a Hugging Face folder, each with a dataset card.

    The Bagel folder also holds the lines registering it in Bagel's DATASET_INFO and a data
    YAML, under the names `echo4o-eval bagel-recipe` uses (echo4o_synth_t2i,
    echo4o_synth_multi_reference).
    """
    from echo4o_eval.data_gen.export import run_export

    summary = run_export(_load(config_file, overrides, print_config))
    _show("export", {k: v for k, v in summary.items() if k != "bagel"})
    if "bagel" in summary:
        _show("bagel", {k: summary["bagel"][k] for k in ("rows", "files", "row_groups", "over_token_limit",
                                                   "dataset_names")})
        for warning in summary["bagel"]["warnings"]:
            click.echo(f"warning: {warning}", err=True)


@synth.command("status")
@_with_config
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def status_command(config_file, overrides, print_config, as_json) -> None:
    """Counts and cost per stage."""
    from echo4o_eval.data_gen.status import format_summary, stage_summary

    summary = stage_summary(_load(config_file, overrides, print_config))
    click.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))


@synth.command("report")
@_with_config
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write (default: WORK_DIR/report.html).")
def report_command(config_file, overrides, print_config, out_file) -> None:
    """A self-contained HTML page: counts and cost per stage and a filterable gallery."""
    from echo4o_eval.data_gen.report import write_report

    config = _load(config_file, overrides, print_config)
    click.echo(f"report: {write_report(config, out_file)}")


@synth.command("evaluate")
@_with_config
@click.option("--judge", default=None, help="Detector judge spec (default: check.detector, else mask2former-clip).")
@click.option("--judge-option", multiple=True, help="Judge option KEY=VALUE (repeatable).")
@click.option("--run-dir", default=None, type=click.Path(file_okay=False),
              help="Run directory (default: WORK_DIR/eval/<judge>).")
def evaluate_command(config_file, overrides, print_config, judge, judge_option, run_dir) -> None:
    """Score the kept instruction samples against their specs (GenEval rules, via evaluate())."""
    from echo4o_eval.data_gen.evaluate_set import evaluate_set

    options = None
    if judge_option:
        from echo4o_eval.config import parse_value

        options = {}
        for item in judge_option:
            key, sep, value = item.partition("=")
            if not sep:
                raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--judge-option")
            options[key] = parse_value(value)
    summary = evaluate_set(_load(config_file, overrides, print_config), judge, run_dir, options)
    _show("evaluate", summary)
    click.echo(f"see: echo4o-eval report {summary['run_dir']}")


@synth.command("all")
@_with_config
def all_command(config_file, overrides, print_config) -> None:
    """Run plan, generate, check, filter and export in order (each resumes)."""
    from echo4o_eval.data_gen.pipeline import run_all

    failed = {}
    for stage, summary in run_all(_load(config_file, overrides, print_config)):
        _show(stage, summary if stage != "export" else {k: v for k, v in summary.items() if k != "bagel"})
        failed[stage] = _failures(stage, summary)
    _exit_for(failed)
