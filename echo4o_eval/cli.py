"""The ``echo4o-eval`` command line: a thin click layer over library calls.

Exit codes:
    0  success
    1  an error (bad input, missing files, a failed run); the message says what and where.
       ``compare``: a significant regression beyond ``--max-drop``
    2  wrong usage (unknown option, missing argument); ``compare``, ``report``, ``agreement``:
       unusable input
    3  ``run``/``score``: the run finished but no image was scored (coverage 0) or coverage
       fell below ``--min-coverage``

Example:
    >>> from click.testing import CliRunner
    >>> CliRunner().invoke(main, ["ls"]).exit_code
    0
"""

from __future__ import annotations

import json
import sys

import click

from echo4o_eval import __version__

EXIT_ERROR, EXIT_COVERAGE = 1, 3

MODEL_HELP = """Model spec. A path or a Hub id (ORG/NAME[@REV]) is recognised by its contents
(Bagel checkpoint, diffusers pipeline with model_index.json, or a folder of images);
aliases echo4o and bagel name the official Hub repos; explicit forms: bagel:PATH_OR_HUB_ID,
diffusers:HUB_ID_OR_PATH, folder:PATH, openai:MODEL (image API), or a plugin prefix."""
JUDGE_HELP = """Judge spec (default: the benchmark's): openai:MODEL (any OpenAI-compatible
server with --judge-base-url), local-vlm:PATH, mask2former-clip, mmdet-clip, owlv2-clip,
detections:FILE.jsonl (precomputed detections)."""


def parse_key_values(pairs, option: str) -> dict:
    """``("a=1", "b=no", "c=[0.4, 1]")`` -> ``{"a": 1, "b": "no", "c": [0.4, 1]}``.

    Values that are JSON (numbers, true/false/null, lists, objects) are parsed as JSON; anything
    else stays the exact string typed (so ``no``, ``on`` or ``3.10abc`` are never reinterpreted).

    >>> parse_key_values(["steps=50", "negative_prompt=no", "cfg_interval=[0.4, 1.0]"], "--x")
    {'steps': 50, 'negative_prompt': 'no', 'cfg_interval': [0.4, 1.0]}
    """
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint=option)
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


class CliError(click.ClickException):
    """A command failure: printed as ``error: MESSAGE``, exit status EXIT_ERROR (1)."""

    exit_code = EXIT_ERROR

    def show(self, file=None) -> None:
        """Print ``error: MESSAGE`` to stderr (``file`` is ignored)."""
        click.echo(f"error: {self.format_message()}", err=True)


def _fail(exc: BaseException) -> None:
    raise CliError(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="echo4o-eval")
def main() -> None:
    """Evaluate text-to-image and multi-reference image generators.

    Benchmarks: GenEval, GenEval++, Imagine-Bench, DPG-Bench, OmniContext. Official benchmark
    files are downloaded on first use (pinned commit + sha256) or read from --data-dir /
    ECHO4O_DATA_DIR. Results go to runs/<benchmark>/<model>__<judge>/ and are resumable.

    Exit codes: 0 ok; 1 error, or a significant regression (compare); 2 usage or unusable
    input (compare, report, agreement); 3 no image scored, or coverage below --min-coverage
    (run, score).

    New here? `echo4o-eval demo` runs everything offline on a CPU in about a minute.
    """


@main.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def list_command(as_json: bool) -> None:
    """List benchmarks, models and judges that are available."""
    from echo4o_eval.catalog import JUDGES, MODELS
    from echo4o_eval.spec import benchmark_names, get_benchmark

    specs = [get_benchmark(n) for n in benchmark_names()]
    if as_json:
        click.echo(json.dumps({
            "benchmarks": [{"id": s.id, "version": s.version, "task": s.task, "default_judge": s.default_judge,
                            "judge_kinds": list(s.judge_kinds), "images_per_prompt": s.images_per_prompt}
                           for s in specs],
            "models": MODELS.names(), "judges": JUDGES.names()}, indent=2))
        return
    click.echo("Benchmarks:")
    for s in specs:
        click.echo(f"  {s.id:<14} v{s.version:<5} {s.task:<16} judges: {', '.join(s.judge_kinds):<14} "
                   f"default: {s.default_judge}")
    click.echo(f"Models: {', '.join(MODELS.names())}")
    click.echo(f"Judges: {', '.join(JUDGES.names())}")


@main.command("validate")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Local copy of the official files.")
@click.option("--offline", is_flag=True, help="Do not download missing files.")
@click.option("--strict", is_flag=True, help="Also fail when user-provided data (OmniContext, DPG questions) is absent.")
@click.argument("benchmarks", nargs=-1)
def validate_command(data_dir, offline, strict, benchmarks) -> None:
    """Load every benchmark spec, verify its files and load its samples; fail loudly.

    A missing required file is a failure (with --offline; online it is downloaded). Only files
    marked optional (the OmniContext dataset, DPG-Bench's question CSV, GenEval's annotations)
    may be absent: they are listed as skipped, and --strict fails on them too.
    """
    from echo4o_eval.assets import MISSING, PASSED, SKIPPED, Assets, data_hint
    from echo4o_eval.spec import benchmark_names, get_benchmark, load_benchmark

    failures = 0
    for name in benchmarks or benchmark_names():
        try:
            spec = get_benchmark(name)
            assets = Assets(spec, data_dir=data_dir, allow_download=not offline)
            report = assets.verify()
            for asset, status in report:
                click.echo(f"  {spec.id}/{asset}: {'skipped (optional, not present)' if status == SKIPPED else status}")
            broken = [a for a, s in report if s not in (*PASSED, MISSING, SKIPPED)]
            if broken:
                raise ValueError(f"checksum or read errors in {', '.join(broken)}")
            missing = [a for a, s in report if s == MISSING]
            if missing and offline:
                raise ValueError(f"required file(s) missing: {', '.join(missing)}; {data_hint(spec.id)}")
            skipped = [a for a, s in report if s == SKIPPED]
            if skipped and strict:
                raise ValueError(f"--strict: optional file(s) absent: {', '.join(skipped)}")
            try:
                samples = load_benchmark(spec).load_samples(assets, None)
            except Exception as exc:  # an absent optional file the loader needs: skip, say so
                unfetched = [a for a in skipped if offline or not spec.asset(a).url]
                if not unfetched:
                    raise
                click.echo(f"{spec.id}: skipped sample check, absent: {', '.join(unfetched)} "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0]})")
                continue
            click.echo(f"{spec.id}: ok, {len(samples)} samples, {len({s.tag for s in samples})} tags")
        except Exception as exc:  # report every benchmark, then fail
            failures += 1
            click.echo(f"{name}: FAILED: {exc}", err=True)
    if failures:
        raise CliError(f"{failures} benchmark(s) failed validation")


@main.group("data")
def data_group() -> None:
    """Fetch, locate and verify the official benchmark files."""


@data_group.command("fetch")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Use this local copy where it has the files.")
@click.argument("benchmarks", nargs=-1)
def data_fetch(data_dir, benchmarks) -> None:
    """Download (pinned commit, sha256-checked) the official files of BENCHMARKS (default: all)."""
    from echo4o_eval.assets import AssetError, Assets
    from echo4o_eval.spec import benchmark_names, get_benchmark

    try:
        for name in benchmarks or benchmark_names():
            for path in Assets(get_benchmark(name), data_dir=data_dir).fetch_all():
                click.echo(f"{name}: {path}")
    except (AssetError, KeyError) as exc:
        _fail(exc)


@data_group.command("path")
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.argument("benchmark", required=False)
def data_path(data_dir, benchmark) -> None:
    """Print where files are read from (data dir, cache) and where each asset of BENCHMARK is."""
    from echo4o_eval.assets import Assets, default_cache_dir, default_data_dir
    from echo4o_eval.spec import get_benchmark

    click.echo(f"data dir: {data_dir or default_data_dir() or '(not set)'}")
    click.echo(f"cache:    {default_cache_dir() / 'data'}")
    if benchmark:
        assets = Assets(get_benchmark(benchmark), data_dir=data_dir)
        for asset in assets.spec.assets:
            click.echo(f"  {asset.name}: {assets.locate(asset.name) or '(absent)'}")


@data_group.command("verify")
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.argument("benchmarks", nargs=-1)
def data_verify(data_dir, benchmarks) -> None:
    """Check the sha256 of every local official file; exit 1 on a mismatch or a missing required
    file (absent optional files are listed as skipped). Nothing is downloaded."""
    from echo4o_eval.assets import MISSING, PASSED, SKIPPED, Assets, data_hint
    from echo4o_eval.spec import benchmark_names, get_benchmark

    bad = 0
    hints = []
    for name in benchmarks or benchmark_names():
        for asset, status in Assets(get_benchmark(name), data_dir=data_dir).verify():
            click.echo(f"{name}/{asset}: {'skipped (optional, not present)' if status == SKIPPED else status}")
            bad += status not in (*PASSED, SKIPPED)
            if status == MISSING and data_hint(name) not in hints:
                hints.append(data_hint(name))
    for hint in hints:
        click.echo(f"missing files: {hint}", err=True)
    if bad:
        raise CliError(f"{bad} file(s) failed verification (missing or not the official ones)")


def _run_options(func):
    options = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
                     help="YAML file of run settings (the RunConfig fields: benchmark, model, judge, "
                          "generation_params, ...); flags given on the command line win over it."),
        click.option("--print-config", is_flag=True,
                     help="Print the resolved configuration as YAML (usable as --config) and exit."),
        click.option("--benchmark", "-b", default=None, help="Benchmark id (see `echo4o-eval ls`)."),
        click.option("--model", "-m", default=None, help=MODEL_HELP),
        click.option("--model-id", default=None,
                     help="Name of the weights, recorded in the model identity (in-memory or unnamed models)."),
        click.option("--step", type=int, default=None,
                     help="Training step of the checkpoint: enters the model identity and the default run dir."),
        click.option("--judge", "-j", default=None, help=JUDGE_HELP),
        click.option("--judge-base-url", default=None, help="Base URL of an OpenAI-compatible judge server."),
        click.option("--judge-api-key-env", default=None,
                     help="NAME of the env var holding the judge API key (default OPENAI_API_KEY). The key is never stored."),
        click.option("--judge-option", multiple=True, metavar="KEY=VALUE",
                     help="Judge setting KEY=VALUE, e.g. concurrency=32; repeat the flag for each setting. "
                          "API judges cache every reply (on by default) in $ECHO4O_CACHE_DIR/api/responses.sqlite "
                          "(default ~/.cache/echo4o-eval/api), so nothing is paid for twice; cache_dir=DIR moves "
                          "it, cache=off disables it."),
        click.option("--model-option", multiple=True, metavar="KEY=VALUE",
                     help="Model setting KEY=VALUE, e.g. device=cuda; repeat the flag for each setting."),
        click.option("--eval-option", multiple=True, metavar="KEY=VALUE",
                     help="Scoring option KEY=VALUE, e.g. prompt_pack=official; repeat the flag for each option."),
        click.option("--gen-param", multiple=True, metavar="KEY=VALUE",
                     help="Generation parameter KEY=VALUE, e.g. steps=50; repeat the flag for each parameter. "
                          "A name the model does not use is an error."),
        click.option("--allow-unknown-params", is_flag=True,
                     help="Send --gen-param names the model does not list (it may ignore them)."),
        click.option("--mode", type=click.Choice(["default", "parity"]), default="default", show_default=True,
                     help="parity reproduces the official script's quirks (and says so in the result)."),
        click.option("--variant", default=None, help="Prompt variant, e.g. `long` for GenEval's rewritten prompts."),
        click.option("--images-per-prompt", type=int, default=None, help="Default: the benchmark's (GenEval 4)."),
        click.option("--seed", type=int, default=None, help="Base seed (default: the benchmark's, GenEval 42)."),
        click.option("--limit", type=int, default=None, help="Only the first N samples."),
        click.option("--run-dir", type=click.Path(file_okay=False), default=None,
                     help="Run directory (default runs/<benchmark>/<model>__<judge>)."),
        click.option("--runs-root", default="runs", show_default=True, type=click.Path(file_okay=False)),
        click.option("--new-run", is_flag=True, help="Start a fresh run dir instead of refusing a changed config."),
        click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                     help="Local copy of the official files (else ECHO4O_DATA_DIR, cache, download)."),
        click.option("--offline", is_flag=True, help="Never download official files."),
        click.option("--min-coverage", type=float, default=0.0, show_default=True,
                     help="Exit 3 when the share of scored images is below this (0..1). A run that "
                          "scored no image at all exits 3 whatever this is; below 50% the summary warns."),
        click.option("--bootstrap", type=int, default=1000, show_default=True,
                     help="0 = no confidence intervals; any other value = 95% intervals by the "
                          "delete-a-group jackknife over prompts (docs/statistics.md; the "
                          "number is no longer a resample count)."),
        click.option("--judge-batch", type=int, default=64, show_default=True,
                     help="Images per judge call for judges that take batches (detectors); API judges "
                          "stream instead, with as many requests in flight as their concurrency option."),
        click.option("--barrier-timeout", type=float, default=3600.0, show_default=True,
                     help="Seconds a rank waits for the others under torchrun/accelerate before failing."),
        click.option("--retry-failed/--keep-failed", default=True, show_default=True,
                     help="On resume, redo images that were missing/unreadable/failed to generate and "
                          "judgements that failed (API errors, unparseable replies).  Refusals "
                          "(moderation, or the judge model's own) and scoring-rule errors are kept."),
        click.option("--quiet", "-q", is_flag=True,
                     help="Errors and the final summary line only: no progress bars, no library loading bars or warnings."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


# CLI parameter -> RunConfig field, for flags whose value is the field's value as typed
RUN_FLAGS = {
    "benchmark": "benchmark", "model": "model", "judge": "judge", "run_dir": "run_dir",
    "runs_root": "runs_root", "new_run": "new_run", "variant": "variant", "mode": "mode",
    "images_per_prompt": "images_per_prompt", "seed": "seed", "limit": "limit", "data_dir": "data_dir",
    "judge_batch": "judge_batch_size", "bootstrap": "n_bootstrap", "barrier_timeout": "barrier_timeout_s",
    "retry_failed": "retry_failed", "allow_unknown_params": "allow_unknown_params",
    "model_id": "model_id", "step": "step",
}


def _config_from(kwargs, **overrides):
    """The RunConfig of a run/score invocation: defaults < --config file < flags typed.

    With --print-config, prints it as YAML and exits.
    """
    from click.core import ParameterSource

    from echo4o_eval.config import ConfigError, dump_config, load_config
    from echo4o_eval.rundir.manifest import check_config_secrets
    from echo4o_eval.runner import RunConfig

    context = click.get_current_context()
    typed = {ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.PROMPT}
    base: dict = {"progress": sys.stderr.isatty()}
    values: dict = {}
    for flag, field in RUN_FLAGS.items():
        if context.get_parameter_source(flag) in typed:
            values[field] = kwargs[flag]
        elif kwargs[flag] is not None:
            base[field] = kwargs[flag]
    if kwargs["offline"]:
        values["allow_download"] = False
    if kwargs["quiet"]:
        values["progress"] = False
    judge_options = parse_key_values(kwargs["judge_option"], "--judge-option")
    if kwargs["judge_base_url"]:
        judge_options["base_url"] = kwargs["judge_base_url"]
    if kwargs["judge_api_key_env"]:
        judge_options["api_key_env"] = kwargs["judge_api_key_env"]
    for field, parsed in (("judge_options", judge_options),
                          ("model_options", parse_key_values(kwargs["model_option"], "--model-option")),
                          ("evaluator_options", parse_key_values(kwargs["eval_option"], "--eval-option")),
                          ("generation_params", parse_key_values(kwargs["gen_param"], "--gen-param"))):
        if parsed:
            values[field] = parsed
    values.update(overrides)
    try:
        config = load_config(RunConfig, kwargs["config_file"], base=base, values=values)
    except ConfigError as exc:
        if "missing required setting 'benchmark'" in str(exc):
            from echo4o_eval.spec import benchmark_names

            raise click.UsageError("Missing option '--benchmark' / '-b' (or `benchmark:` in --config). "
                                   f"Benchmarks: {', '.join(benchmark_names())}") from exc
        if "missing required setting 'model'" in str(exc):
            raise click.UsageError("Missing option '--model' / '-m' (or `model:` in --config). "
                                   "See `--help` for the model forms.") from exc
        _fail(exc)
    if kwargs["print_config"]:
        try:
            check_config_secrets(config)
        except ValueError as exc:
            _fail(exc)
        click.echo(dump_config(config), nl=False)
        context.exit(0)
    return config


def _execute(config, min_coverage: float, quiet: bool = False) -> None:
    from echo4o_eval.summary import exit_status, format_outcome
    from echo4o_eval.runner import run

    from echo4o_eval.verbosity import quiet_libraries

    if not quiet:
        from echo4o_eval.paper import paper_note

        note = paper_note(str(config.benchmark), model=config.model, judge=config.judge, mode=config.mode,
                          variant=config.variant, images_per_prompt=config.images_per_prompt)
        if note:
            click.echo(note, err=True)
    try:
        with quiet_libraries(quiet):  # -q: errors only, the libraries' own loading bars and warnings included
            outcome = run(config)
    except click.ClickException:
        raise
    except Exception as exc:
        _fail(exc)
    code, message = exit_status(outcome, min_coverage)
    summary = format_outcome(outcome)
    click.echo(summary if code or not quiet else summary.splitlines()[-1])  # -q: the final line only
    if code:
        click.echo(message, err=True)
        sys.exit(code)


def _grammar_epilog() -> str:
    from echo4o_eval.models.resolve import describe_model_grammar

    return "\b\n" + describe_model_grammar()


@main.command("run", epilog=_grammar_epilog())
@_run_options
@click.option("--generate-only", is_flag=True, help="Generate images into the run dir; score later.")
def run_command(generate_only, **kwargs) -> None:
    """Generate (or read) images for a benchmark, judge them, score them, store everything.

    Re-running the same command resumes: finished images and judgements are skipped. A
    changed configuration is refused unless --new-run is given. Under torchrun/accelerate
    each rank takes a stable shard of the samples and rank 0 aggregates.
    """
    _execute(_config_from(kwargs, generate_only=generate_only), kwargs["min_coverage"], kwargs["quiet"])


@main.command("score", epilog=_grammar_epilog())
@_run_options
def score_command(**kwargs) -> None:
    """Score existing images (a folder, or the images/ of a --generate-only run); never generates."""
    _execute(_config_from(kwargs, require_existing_images=True), kwargs["min_coverage"], kwargs["quiet"])


def _add_report_commands() -> None:
    from echo4o_eval.report.commands import agreement_command, compare_command, report_command

    main.add_command(report_command, "report")
    main.add_command(compare_command, "compare")
    main.add_command(agreement_command, "agreement")


_add_report_commands()


def _add_demo_command() -> None:
    from echo4o_eval.demo.command import demo_command

    main.add_command(demo_command, "demo")


_add_demo_command()


def _add_synth_commands() -> None:
    from echo4o_eval.data_gen.cli import synth

    main.add_command(synth, "synth")


_add_synth_commands()


def _add_training_commands() -> None:
    from echo4o_eval.training.cli import bagel_recipe_command, train_command

    main.add_command(train_command, "train")
    main.add_command(bagel_recipe_command, "bagel-recipe")


_add_training_commands()


def _add_examples() -> None:
    """Examples at the end of each command's --help (echo4o_eval/help_examples.py)."""
    from echo4o_eval.help_examples import EXAMPLES, with_examples

    for name in EXAMPLES:
        command = main.commands[name]
        command.epilog = with_examples(name, command.epilog)


_add_examples()
