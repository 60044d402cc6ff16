"""Click commands ``report``, ``compare`` and ``agreement`` (thin over library calls; added to
the CLI group).

Exit codes: ``report`` and ``agreement`` 0 ok, 2 unusable input; ``compare`` see its --help
(0 pass, 1 regression, 2 unusable input).

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
        "Exit codes: 0 = no regression; 1 = regression: the primary metric dropped by more than "
        "--max-drop with one-sided paired p < --alpha (or a tag did, with --gate-tags and Holm), "
        "or coverage fell by more than --max-coverage-drop; 2 = unusable input (missing or "
        "malformed run or baseline, different benchmark, version, variant or prompt set, no "
        "shared images, bad options). 1 never means anything but a regression."
    ),
)
@click.argument("baseline", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--max-drop", type=float, default=None,
              help="Largest tolerated drop of the primary metric, in its own unit (GenEval 0.02 = "
                   "2 points; Imagine-Bench 0.2 on its 0-10 scale). Default: 2% of the metric's "
                   "full scale.")
@click.option("--max-coverage-drop", type=float, default=0.02, show_default=True,
              help="Largest tolerated fall of coverage (ok images / images) from baseline to new, "
                   "as a fraction (0.02 = 2 points); a larger fall is a regression.")
@click.option("--alpha", type=float, default=0.05, show_default=True,
              help="Significance level of the one-sided paired test for a drop.")
@click.option("--power", type=float, default=0.8, show_default=True,
              help="Power at which the minimum detectable drop is reported.")
@click.option("--intersect", is_flag=True,
              help="Runs with different prompt sets: compare on the prompts both hold (the output "
                   "says how many were dropped) instead of refusing.")
@click.option("--gate-tags", is_flag=True,
              help="Let per-tag values of the primary metric fail the gate too (Holm-adjusted).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the prompt groups of the paired jackknife.")
@click.option("--n-boot", type=int, default=None, hidden=True,
              help="Ignored (the paired test is analytic now); kept so old CI scripts run.")
@click.option("--format", "output_format", type=click.Choice(["text", "github", "json"]),
              default="text", show_default=True,
              help="text: aligned table; github: Markdown for $GITHUB_STEP_SUMMARY; json: "
                   "machine-readable.")
@click.option("--summary-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also append the Markdown summary to this file (e.g. \"$GITHUB_STEP_SUMMARY\").")
def compare_command(baseline, new, max_drop, max_coverage_drop, alpha, power, intersect, gate_tags,
                    seed, n_boot, output_format, summary_file):
    """Compare run NEW against BASELINE and fail on a significant drop.

    BASELINE and NEW are run directories or baseline JSON files (written by `echo4o-eval report
    --baseline`). They must be of the same benchmark, version, variant and prompt set (else exit
    2 saying what differs; --intersect compares the shared prompts). The benchmark's primary
    metric decides: its change on the images both runs scored, paired by prompt, is tested
    one-sided for a drop. The output states max drop in the metric's unit, the minimum
    detectable drop of these runs at --alpha and --power, and warns when the runs are too small
    to detect --max-drop. Per-tag rows carry Holm-adjusted p-values; other metrics are shown.
    Coverage (ok images / images) is printed and gated by --max-coverage-drop.
    """
    from echo4o_eval.statistics.compare import EXIT_INPUT_ERROR, EXIT_REGRESSION, compare_runs
    from echo4o_eval.statistics.compare_format import format_github, format_json, format_text
    from echo4o_eval.report.runs import load_view

    def unusable(message: str):
        """Print ``error: MESSAGE`` (one line) and exit 2."""
        click.echo("error: " + " ".join(str(message).split()), err=True)
        sys.exit(EXIT_INPUT_ERROR)

    if (max_drop is not None and max_drop < 0) or max_coverage_drop < 0 or not 0 < alpha < 1 \
            or not 0 < power < 1:
        unusable("need --max-drop >= 0, --max-coverage-drop >= 0, 0 < --alpha < 1, 0 < --power < 1")
    if n_boot is not None:
        click.echo("note: --n-boot is ignored: the paired test is analytic (jackknife over prompts)",
                   err=True)
    try:
        comparison = compare_runs(load_view(baseline), load_view(new), max_drop=max_drop,
                                  alpha=alpha, power=power, max_coverage_drop=max_coverage_drop,
                                  intersect=intersect, gate_tags=gate_tags, seed=seed)
    except RunInputError as exc:
        unusable(str(exc))
    except Exception as exc:  # noqa: BLE001 - unusable input must never read as a regression (1)
        unusable(f"cannot compare {baseline} and {new}: {type(exc).__name__}: {exc}")
    formatter = {"text": format_text, "github": format_github, "json": format_json}[output_format]
    click.echo(formatter(comparison))
    if summary_file is not None:
        try:
            with open(summary_file, "a", encoding="utf-8") as handle:
                handle.write(format_github(comparison) + "\n")
        except OSError as exc:
            unusable(f"cannot write --summary-file {summary_file}: {exc}")
    sys.exit(EXIT_REGRESSION if comparison.regressed else 0)


def _rater(view) -> dict:
    return {"run": view.name, "benchmark": view.benchmark_key, "model": view.model, "judge": view.judge}


@click.command(
    "agreement",
    epilog="Exit codes: 0 = agreement computed; 2 = unusable input (missing run, different "
           "benchmarks, no image with a pass/fail verdict in both, annotation file not found) or "
           "wrong usage, one line on stderr.",
)
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--annotations", type=click.Choice(["geneval"]), default=None,
              help="Compare RUN against human annotations instead of a second run: GenEval's "
                   "MTurk labels (official files, resolved like every benchmark asset).")
@click.option("--annotated-model", type=click.Choice(["clip", "if-xl", "sdv2"]), default=None,
              help="Whose images RUN judged: the annotation set to use (annotations_<model>.csv). "
                   "Required with --annotations.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Local copy of the official files (else ECHO4O_DATA_DIR, cache, download).")
@click.option("--offline", is_flag=True, help="Never download official files.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def agreement_command(runs, annotations, annotated_model, data_dir, offline, output_format):
    """Cohen's kappa and confusion matrix of pass/fail verdicts, overall and per tag.

    \b
    echo4o-eval agreement RUN_A RUN_B
        two judges on the same images (e.g. GenEval++ detector vs VLM judge); images that
        both runs scored OK are compared, the rest is counted in the notes.
    echo4o-eval agreement RUN --annotations geneval --annotated-model sdv2
        a GenEval run of the images the MTurk workers saw (download them from the CSV's
        Input.image_url into a GenEval-layout folder and score it with -m folder:DIR)
        against the majority human verdict per image.
    """
    import json

    from echo4o_eval.statistics.agreement import (
        agreement_between, agreement_json, agreement_with_humans, annotations_path, format_agreement,
    )
    from echo4o_eval.assets import AssetError
    from echo4o_eval.report.runs import load_view

    def fail(message: str):
        """Print ``error: MESSAGE`` to stderr and exit with status 2 (unusable input)."""
        click.echo(f"error: {message}", err=True)
        sys.exit(2)

    expected = 1 if annotations else 2
    if len(runs) != expected:
        fail(f"agreement takes {'one run with --annotations' if annotations else 'two runs'}, "
             f"got {len(runs)}")
    try:
        views = [load_view(path) for path in runs]
        if annotations:
            if annotated_model is None:
                fail("--annotations geneval needs --annotated-model (clip, if-xl or sdv2): the "
                     "model whose images the run judged")
            view = views[0]
            if view.benchmark_id != "geneval":
                fail(f"{view.name}: human annotations exist for GenEval runs, this run is "
                     f"{view.benchmark_key or 'of an unknown benchmark'}")
            from echo4o_eval.spec import load_benchmark
            from echo4o_eval.assets import Assets

            csv_path = annotations_path(annotated_model, data_dir, allow_download=not offline)
            benchmark = load_benchmark("geneval")
            samples = benchmark.load_samples(Assets(benchmark.spec, data_dir=data_dir,
                                                    allow_download=not offline), None)
            known = {s.id for s in samples}
            strangers = sorted({s.sample_id for s in view.scores} - known)
            if strangers:
                fail(f"{view.name}: sample ids not in GenEval's prompts: {', '.join(strangers[:5])}")
            result = agreement_with_humans(samples, view.scores, csv_path)
            rater_a = _rater(view)
            rater_b = {"annotations": f"geneval/{csv_path.name}", "rule": "majority of MTurk workers"}
            label_b = f"humans ({csv_path.name}, majority vote)"
        else:
            first, second = views
            if first.benchmark_id != second.benchmark_id:
                fail(f"{first.name} is {first.benchmark_key}, {second.name} is "
                     f"{second.benchmark_key}: agreement needs the same benchmark")
            result = agreement_between(first.scores, second.scores)
            rater_a, rater_b = _rater(first), _rater(second)
            label_b = f"{second.name} ({second.judge})"
    except (RunInputError, AssetError, ValueError, OSError) as exc:
        fail(str(exc))
    if result.n == 0:
        fail("no image has an OK pass/fail verdict (values['correct']) from both raters"
             + (f"; {'; '.join(result.notes)}" if result.notes else ""))
    if output_format == "json":
        click.echo(json.dumps(agreement_json(result, rater_a, rater_b), indent=2))
    else:
        label_a = f"{views[0].name} ({views[0].judge})"
        click.echo(format_agreement(result, label_a, label_b))


@click.command(
    "report",
    epilog="Exit codes: 0 = report written; 2 = unusable input (missing or malformed run or "
           "baseline, bad --diff, a baseline file that exists with other content), one line on "
           "stderr.",
)
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports/latest"), show_default=True,
              help="Folder for index.html, thumbs/ and leaderboard.{json,csv,md,tex}.")
@click.option("--published", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Published reference figures (a JSON list or the shared published/README.md). "
                   "Default: $ECHO4O_PUBLISHED, else $ECHO4O_SHARED_DIR/published/README.md, else "
                   "none. Rows are labelled 'published' with their source; never shipped with "
                   "the package.")
@click.option("--no-published", is_flag=True, help="Show no published reference rows.")
@click.option("--full-images", type=click.Choice(["link", "copy", "none"]), default="link",
              show_default=True,
              help="Full-size image links: link into the run folders (absent when only the "
                   "report folder is uploaded; the page says so), copy them into the report "
                   "folder's images/ (hard links where possible), or none.")
@click.option("--thumb-size", type=int, default=256, show_default=True,
              help="Longest side of gallery thumbnails, in pixels (thumbnails are reused across "
                   "builds, keyed by image hash and size).")
@click.option("--page-size", type=int, default=48, show_default=True,
              help="Gallery images per page (pages render on demand, so large runs stay fast).")
@click.option("--title", default="echo4o-eval report", show_default=True, help="Page title.")
@click.option("--baseline", is_flag=True,
              help="Also write each run as a baseline JSON (manifest, samples, per-image scores, "
                   "result; no images) into --baseline-dir, for `echo4o-eval compare`.")
@click.option("--baseline-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports/baselines"), show_default=True,
              help="Where --baseline writes <benchmark>[-<variant>]__<model>[@step-K]__<judge>.json.")
@click.option("--overwrite-baseline", is_flag=True,
              help="Replace a baseline file that exists with different content (otherwise exit 2).")
@click.option("--diff", "diff_pairs", multiple=True, metavar="BASE:OTHER",
              help="Diff these two runs (names or 1-based positions in the RUNS given, e.g. "
                   "ckpt-100:ckpt-300 or 1:3). Repeatable. Default: every run against the "
                   "first run of the same benchmark.")
def report_command(runs, out_dir, published, no_published, full_images, thumb_size, page_size, title,
                   baseline, baseline_dir, overwrite_baseline, diff_pairs):
    """Write an HTML report of one or more RUNS (run directories or baseline JSON files).

    One self-contained index.html (works offline from file://): a leaderboard with one row per
    model and judge (runs of different benchmarks join one row), one column per benchmark's
    primary metric (tag columns behind a toggle), 95% intervals and ranks with ties; plots
    (radar across benchmarks, per-tag bars with intervals, score-vs-step curves, histograms of
    0-10 scores, per-prompt scatter in the diff view); a section per run with a gallery grouped
    by prompt, worst first, filterable by tag, status, verdict, failed requirement and score;
    and a diff view. Exports leaderboard.json (versioned schema), .csv, .md and .tex beside it.
    """
    from echo4o_eval.report.html import build_report
    from echo4o_eval.report.runs import load_view

    def unusable(message: str):
        """Print ``error: MESSAGE`` (one line) and exit 2."""
        click.echo("error: " + " ".join(str(message).split()), err=True)
        sys.exit(2)

    try:
        views = [load_view(path) for path in runs]
        targets = baseline_targets(views, baseline_dir, overwrite_baseline) if baseline else []
        path = build_report(views, out_dir, published=False if no_published else published,
                            thumb_px=thumb_size, page_size=page_size, title=title,
                            diff=list(diff_pairs) or None, full_images=full_images)
    except (RunInputError, ValueError, OSError) as exc:
        unusable(str(exc))
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        unusable(f"cannot build the report: {type(exc).__name__}: {exc}")
    click.echo(f"report: {path}")
    for target, text, state in targets:
        if state != "unchanged":
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        click.echo(f"baseline: {target} ({state})")


def baseline_name(view) -> str:
    """File name of a run's baseline: ``<benchmark>[-<variant>]__<model>[@step-K]__<judge>.json``.

    >>> from echo4o_eval.report.runs import RunView
    >>> baseline_name(RunView("r", {"benchmark": "geneval@1.0", "variant": "long",
    ...     "model": {"spec": "folder:/x/y"}, "judge": {"spec": "mask2former-clip"}}, [], []))
    'geneval-long__folder__x_y-00bde7fa__mask2former-clip.json'
    """
    from echo4o_eval.rundir.store import safe_name

    bench = view.benchmark_id + (f"-{view.variant}" if view.variant else "")
    return f"{safe_name(bench)}__{safe_name(view.model_label)}__{safe_name(view.judge or 'no-judge')}.json"


def baseline_targets(views, directory: Path, overwrite: bool) -> list[tuple[Path, str, str]]:
    """(path, text, state) of each baseline to write; state: new, unchanged or replaced.

    Raises RunInputError when two runs would share a file, or a file exists with other content
    and ``overwrite`` is False: nothing is written silently over another baseline.
    """
    import json

    out, seen = [], {}
    for view in views:
        target = directory / baseline_name(view)
        if target in seen:
            raise RunInputError(f"--baseline: runs {seen[target]} and {view.name} would both be written to "
                                f"{target} (same benchmark, variant, model and judge); report them separately")
        seen[target] = view.name
        text = json.dumps(view.to_baseline(), ensure_ascii=False) + "\n"
        state = "new"
        if target.exists():
            written = json.loads(text)
            try:
                old = json.loads(target.read_text(encoding="utf-8"))
                same = (old.get("scores") == written["scores"]
                        and old.get("manifest") == written["manifest"])
            except (OSError, ValueError, AttributeError):
                same = False
            if same:
                state = "unchanged"
            elif not overwrite:
                raise RunInputError(f"--baseline: {target} exists with other content (from another run "
                                    f"or an earlier one); pass --overwrite-baseline to replace it")
            else:
                state = "replaced"
        out.append((target, text, state))
    return out
