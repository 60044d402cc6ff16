"""The ``echo4o-eval demo`` click command (added to the CLI group by :mod:`echo4o_eval.cli`).

Example:
    >>> from click.testing import CliRunner
    >>> "--check-baseline" in CliRunner().invoke(demo_command, ["--help"]).output
    True
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from echo4o_eval.demo.real_models import describe_checkpoints

UPDATE_HINT = "update it with `echo4o-eval demo --write-baseline reports/baselines/demo` and commit the files"

EPILOG = f"""\b
Examples:
  echo4o-eval demo                         # offline, CPU, about a minute; prints the report path
  echo4o-eval demo --out /tmp/demo -q      # errors and the report path only
  echo4o-eval demo --check-baseline reports/baselines/demo   # what CI runs: exit 1 on any change
  echo4o-eval demo --write-baseline reports/baselines/demo   # accept the current output
  echo4o-eval demo --real                  # small real checkpoints from the Hub (online)

\b
--real downloads (once, into the Hugging Face cache; about 1.9 GB):
{describe_checkpoints()}
The VLM judge stays the local scripted server in both modes (no API key, no cost).
"""


@click.command("demo", epilog=EPILOG)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("echo4o-demo"),
              show_default=True,
              help="Folder for the models, runs and report. A folder an earlier demo made is replaced; "
                   "any other non-empty folder is refused.")
@click.option("--real", is_flag=True,
              help="Use small real checkpoints from the Hugging Face Hub instead of tiny random ones "
                   "(needs network once; made for a GPU). The checkpoints are listed below.")
@click.option("--check-baseline", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="After the demo, compare each run with DIR/<run>.json (`compare` with no tolerated "
                   "drop, then every image's score must be identical); exit 1 on any difference.")
@click.option("--write-baseline", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="After the demo, write each run as a baseline JSON into DIR (replacing the old ones).")
@click.option("--quiet", "-q", is_flag=True, help="Errors and the report path only.")
def demo_command(out_dir, real, check_baseline, write_baseline, quiet) -> None:
    """Run the whole pipeline offline on a CPU with tiny random-weight models; print the report path.

    Builds a tiny Stable Diffusion 3 pipeline, Mask2Former and CLIP with random weights, then
    runs GenEval (detector judge, 12 prompts x 2 images), GenEval++ with the detector judge and
    GenEval++ with the `openai:` VLM judge against a scripted OpenAI-compatible server on
    127.0.0.1 (7 prompts each), and writes an HTML report. The prompts are the demo's own, in
    the official formats, so nothing is downloaded. THE SCORES ARE MEANINGLESS; the pipeline is
    real: the same loaders, judges, scoring rules, run store and report as `echo4o-eval run`.
    Seeded end to end: two runs give identical results, which CI checks with --check-baseline.
    """
    from echo4o_eval.demo.run import DISCLAIMER, DemoError, run_demo
    from echo4o_eval.optional import MissingDependencyError
    from echo4o_eval.summary import format_outcome

    if check_baseline and write_baseline:
        raise click.UsageError("give --check-baseline or --write-baseline, not both")
    from echo4o_eval.verbosity import quiet_libraries

    say = (lambda line: None) if quiet else click.echo
    say(f"echo4o-eval demo: {DISCLAIMER}")
    try:  # loading bars and warnings about random weights are noise here; --real shows its downloads
        with quiet_libraries(quiet or not real):
            result = run_demo(out_dir, real=real, progress=False, echo=say)
    except (DemoError, MissingDependencyError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for outcome in result.outcomes:
        say("")
        say(format_outcome(outcome))
    say("")
    say(f"local judge server: {result.judge_calls} chat completions answered")
    say(f"REMINDER: {DISCLAIMER}")
    click.echo(f"report: {result.report}")
    if write_baseline:
        from echo4o_eval.demo.baseline import write_baselines

        for path in write_baselines(result.run_dirs, write_baseline):
            click.echo(f"baseline: {path}")
    if check_baseline:
        from echo4o_eval.demo.baseline import check_baselines

        check = check_baselines(result.run_dirs, check_baseline, UPDATE_HINT)
        stream = sys.stderr if check.failed else sys.stdout
        for line in check.lines if not quiet or check.failed else check.lines[-1:]:
            click.echo(line, file=stream)
        if check.failed:
            sys.exit(1)
