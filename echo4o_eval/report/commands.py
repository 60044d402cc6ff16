"""Click commands ``report`` and ``compare`` (thin over library calls; added to the CLI group).

Exit codes: ``report`` 0 ok, 1 unusable input; ``compare`` see its --help (0 pass, 1 regression,
2 unusable input).

Example:
    >>> from click.testing import CliRunner
    >>> CliRunner().invoke(compare_command, ["--help"]).exit_code
    0
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from echo4o_eval.report.runs import RunInputError


@click.command(
    "compare",
    epilog=(
        "Exit codes: 0 = no regression; 1 = at least one metric regressed (dropped by more than "
        "--max-drop AND Holm-adjusted paired p < --alpha); 2 = unusable input (missing run, "
        "different benchmark or version, no shared images, bad options)."
    ),
)
@click.argument("baseline", type=click.Path(exists=True, path_type=Path))
@click.argument("new", type=click.Path(exists=True, path_type=Path))
@click.option("--max-drop", type=float, default=0.02, show_default=True,
              help="Largest tolerated worsening of a metric, in the metric's units "
                   "(0.02 = 2 points of a fraction metric).")
@click.option("--alpha", type=float, default=0.05, show_default=True,
              help="Significance level of the paired test, after Holm correction across "
                   "every compared metric (overall and per tag).")
@click.option("--n-boot", type=int, default=1000, show_default=True,
              help="Paired bootstrap resamples (prompts resampled within tags, images within "
                   "prompts, the same draw for both runs).")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--format", "output_format", type=click.Choice(["text", "github", "json"]),
              default="text", show_default=True,
              help="text: aligned table; github: Markdown for $GITHUB_STEP_SUMMARY; json: "
                   "machine-readable.")
@click.option("--summary-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also append the Markdown summary to this file (e.g. \"$GITHUB_STEP_SUMMARY\").")
def compare_command(baseline, new, max_drop, alpha, n_boot, seed, output_format, summary_file):
    """Compare run NEW against BASELINE and fail on significant regressions.

    BASELINE is a run directory or a baseline JSON (reports/baselines/*.json, written by
    `echo4o-eval report --baseline`); NEW is a run directory or baseline JSON. Every metric
    both share, overall and per tag, is checked in its benchmark's direction (higher or lower
    is better, from benchmark.yaml) on the images both runs scored, with a paired clustered
    bootstrap of the benchmark's own aggregate. The table lists baseline, new, delta, its 95%
    CI, the p-value and the Holm-adjusted p-value of every metric.
    """
    from echo4o_eval.compare import (
        EXIT_INPUT_ERROR,
        EXIT_REGRESSION,
        compare_runs,
        format_github,
        format_json,
        format_text,
    )
    from echo4o_eval.report.runs import load_view

    if max_drop < 0 or not 0 < alpha < 1 or n_boot < 1:
        click.echo("error: need --max-drop >= 0, 0 < --alpha < 1 and --n-boot >= 1", err=True)
        sys.exit(EXIT_INPUT_ERROR)
    try:
        comparison = compare_runs(load_view(baseline), load_view(new), max_drop=max_drop,
                                  alpha=alpha, n_boot=n_boot, seed=seed)
    except (RunInputError, KeyError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INPUT_ERROR)
    formatter = {"text": format_text, "github": format_github, "json": format_json}[output_format]
    click.echo(formatter(comparison))
    if summary_file is not None:
        with open(summary_file, "a", encoding="utf-8") as handle:
            handle.write(format_github(comparison) + "\n")
    sys.exit(EXIT_REGRESSION if comparison.regressed else 0)




@click.command("report")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports/latest"), show_default=True,
              help="Folder for index.html, thumbs/ and leaderboard.{json,csv,md,tex}.")
@click.option("--published", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None,
              help="JSON list of published figures to show as reference rows, marked "
                   "'published (not measured)': [{\"model\", \"benchmark\", \"version\", "
                   "\"metrics\": {name: value}, \"per_tag\": {tag: {name: value}}, \"source\"}].")
@click.option("--thumb-size", type=int, default=256, show_default=True,
              help="Longest side of gallery thumbnails, in pixels.")
@click.option("--page-size", type=int, default=48, show_default=True,
              help="Gallery images per page (pages render on demand, so large runs stay fast).")
@click.option("--title", default="echo4o-eval report", show_default=True, help="Page title.")
@click.option("--baseline", is_flag=True,
              help="Also write each run as a baseline JSON (manifest, samples, per-image scores, "
                   "result; no images) into --baseline-dir, for `echo4o-eval compare`.")
@click.option("--baseline-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports/baselines"), show_default=True,
              help="Where --baseline writes <run name>.json.")
def report_command(runs, out_dir, published, thumb_size, page_size, title, baseline, baseline_dir):
    """Write an HTML report of one or more RUNS (run directories or baseline JSON files).

    The report is one self-contained index.html (works offline from file://) with a sortable
    leaderboard (one row per run, one column per benchmark and per tag, 95% CIs as ± and as
    bars, coverage warnings), a section per run (per-tag table, failures, a filterable
    paginated gallery with prompts, checklists, verdicts, judge replies and detector boxes)
    and a diff view of samples whose verdict flipped against the first run of the same
    benchmark. Exports leaderboard.json (versioned schema), .csv, .md and .tex beside it.
    """
    import json

    from echo4o_eval.report.html import build_report
    from echo4o_eval.report.runs import load_view
    from echo4o_eval.store import safe_name

    try:
        views = [load_view(path) for path in runs]
        path = build_report(views, out_dir, published=published, thumb_px=thumb_size,
                            page_size=page_size, title=title)
    except (RunInputError, ValueError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"report: {path}")
    if baseline:
        baseline_dir.mkdir(parents=True, exist_ok=True)
        for view in views:
            target = baseline_dir / f"{safe_name(view.name)}.json"
            target.write_text(json.dumps(view.to_baseline(), ensure_ascii=False) + "\n",
                              encoding="utf-8")
            click.echo(f"baseline: {target}")
