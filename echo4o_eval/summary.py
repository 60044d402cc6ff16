"""Plain-text summaries of a run outcome for the terminal, and the exit status they imply.

Every run ends with the same block: statuses, metrics, the most common failure causes with
their counts (``judge_error ×7: APIConnectionError: Connection error.``), a loud warning when
fewer than half of the images were scored, and one final line with the primary metric and the
coverage. :func:`exit_status` turns the outcome into the exit code: a run that scored no image
at all (empty folder, every judgement failed) is a failure, whatever ``--min-coverage`` says.

Example:
    >>> from echo4o_eval.records.types import MetricValue
    >>> format_metric(MetricValue(0.5, 10, 12, 0.2, 0.8), "fraction")
    '50.0% [20.0, 80.0] (n=10/12)'
    >>> normalise_cause("main: missing image /tmp/run/images/00001/0.png")
    'main: missing image <image file>'
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from echo4o_eval.records.types import MetricValue

LOW_COVERAGE = 0.5  # below this share of scored images the summary warns loudly
EXIT_OK, EXIT_COVERAGE = 0, 3
MAX_CAUSES = 3
_IMAGE_FILE = re.compile(r"\S+\.(?:png|jpe?g|webp|bmp|gif|tiff?)\b", re.IGNORECASE)


def format_number(value: float | None, unit: str) -> str:
    """``value`` for display: a fraction as a percent with one decimal, others with three
    decimals, None as n/a."""
    if value is None:
        return "n/a"
    return f"{value * 100:.1f}" if unit == "fraction" else f"{value:.3f}"


def format_metric(metric: MetricValue, unit: str = "fraction") -> str:
    """One metric as ``value [ci] (n=scored/total)``."""
    suffix = "%" if unit == "fraction" and metric.value is not None else ""
    text = format_number(metric.value, unit) + suffix
    if metric.ci_low is not None and metric.ci_high is not None:
        text += f" [{format_number(metric.ci_low, unit)}, {format_number(metric.ci_high, unit)}]"
    return text + f" (n={metric.n}/{metric.n_total})"


def normalise_cause(reason: str) -> str:
    """The grouping key of a failure reason: image paths and numbers masked, so the same cause
    on many images (other sample ids, other files) is counted once.

    >>> normalise_cause("no image for sample 12 #0 (looked for /r/12.png)")
    'no image for sample # ## (looked for <image file>)'
    """
    text = _IMAGE_FILE.sub("<image file>", " ".join(str(reason).split()))
    return re.sub(r"\d+", "#", text)


def _shorten(text: str, width: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def failure_causes(scores, limit: int = MAX_CAUSES) -> list[tuple[str, str, int]]:
    """The ``limit`` most common ``(status, example reason, count)`` among scores that are not
    ok; reasons that differ only in numbers and image paths count as one cause.

    >>> from echo4o_eval.records.types import SampleScore, Status
    >>> bad = [SampleScore(str(i), 0, "t", Status.MISSING_IMAGE, reason=f"no image for sample {i}")
    ...        for i in range(7)]
    >>> failure_causes(bad + [SampleScore("9", 0, "t", Status.OK)])
    [('missing_image', 'no image for sample 0', 7)]
    """
    counts: Counter = Counter()
    examples: dict = {}
    for score in scores:
        if score.status.value == "ok":
            continue
        reason = score.reason or "(no reason recorded)"
        key = (score.status.value, normalise_cause(reason))
        counts[key] += 1
        examples.setdefault(key, _shorten(reason))
    return [(status, examples[(status, cause)], n) for (status, cause), n in counts.most_common(limit)]


def _run_failure_causes(run_dir) -> list[tuple[str, str, int]]:
    from echo4o_eval.rundir.store import StoreError, load_run

    try:
        data = load_run(Path(run_dir))
    except (StoreError, OSError):
        return []
    causes = failure_causes(data.ordered_scores())
    options = data.manifest.get("judge_options") or {}
    judge = data.manifest.get("judge")
    judge = judge.get("spec", "") if isinstance(judge, dict) else ""
    if str(judge).startswith("openai:"):  # say which server the API errors came from
        server = options.get("base_url") or "the OpenAI API"
        causes = [(status, f"{cause} (judge {judge} at {server})" if status == "judge_error" else cause, n)
                  for status, cause, n in causes]
    return causes


def format_outcome(outcome) -> str:
    """Multi-line summary: where the run is, statuses, every metric, failure causes, a warning
    when coverage is low, and a final line with the primary metric and the coverage."""
    from echo4o_eval.spec import get_benchmark

    lines = [f"run: {outcome.run_dir}", f"this invocation: {outcome.generated} images generated/found, "
             f"{outcome.scored} scored"]
    result = outcome.result
    if result is None:
        return "\n".join(lines)
    spec = get_benchmark(result.benchmark)
    units = {m.name: m.unit for m in spec.metrics}
    lines.append(f"{spec.display_name} ({result.mode} mode): coverage {result.coverage:.1%} "
                 f"({result.n_ok}/{result.n_images} images scored)")
    if result.status_counts:
        lines.append("statuses: " + ", ".join(f"{k}={v}" for k, v in sorted(result.status_counts.items())))
    for name, metric in result.metrics.items():
        lines.append(f"  {name:<22} {format_metric(metric, units.get(name, 'fraction'))}")
    for tag, metrics in result.per_tag.items():
        parts = [f"{n}={format_metric(m, units.get(n, 'fraction'))}" for n, m in metrics.items()]
        lines.append(f"    {tag:<20} " + "; ".join(parts))
    for note in result.notes:
        lines.append(f"note: {note}")
    lines += _usage_lines(outcome.extra.get("usage") or {})
    if result.n_ok < result.n_images:
        causes = _run_failure_causes(outcome.run_dir)
        if causes:
            lines.append("most common failures:")
            lines += [f"  {status} ×{count}: {cause}" for status, cause, count in causes]
    if result.n_images and result.coverage < LOW_COVERAGE:
        lines.append(f"WARNING: only {result.n_ok} of {result.n_images} images ({result.coverage:.1%}) were "
                     "scored; the metrics describe those alone. See the failures above.")
    primary = result.metrics.get(spec.primary_metric)
    headline = (f"{spec.primary_metric} {format_metric(primary, units.get(spec.primary_metric, 'fraction'))}"
                if primary is not None else "no primary metric")
    lines.append(f"summary: {spec.id} {headline}; coverage {result.coverage:.1%} "
                 f"({result.n_ok}/{result.n_images} images scored)")
    return "\n".join(lines)


def _usage_lines(usage) -> list[str]:
    lines = []
    if usage.get("judge_calls") or usage.get("judge_cached"):
        unpriced = usage.get("unpriced_judgements", 0)
        cost = f"~${usage['judge_cost_usd']:.4f}" + (
            f" + {unpriced} judgement(s) with no known price (set prices in --judge-option)" if unpriced else ""
        )
        lines.append(
            f"judge: {usage['judge_calls']} API calls, {usage['judge_cached']} cached judgements, "
            f"{usage['prompt_tokens']}+{usage['completion_tokens']} tokens, {cost}"
        )
    if usage.get("generation_cost_usd") or usage.get("unpriced_generations"):
        unpriced = usage.get("unpriced_generations", 0)
        lines.append(f"image API: ~${usage['generation_cost_usd']:.4f}" + (
            f" + {unpriced} image(s) with no known price" if unpriced else ""))
    if usage.get("unanswered_requests"):
        lines.append(f"note: {usage['unanswered_requests']} request(s) reached the API but got no reply "
                     "(timeout or broken connection); they may have been billed and are not in the costs above")
    return lines


def exit_status(outcome, min_coverage: float = 0.0) -> tuple[int, str | None]:
    """``(exit code, message for stderr)`` of a finished run: EXIT_COVERAGE when no image was
    scored (coverage 0: nothing found, every generation or judgement failed) or coverage is
    below ``min_coverage``; EXIT_OK otherwise (also for --generate-only and non-zero ranks).

    >>> from types import SimpleNamespace
    >>> from echo4o_eval.records.types import BenchmarkResult
    >>> empty = BenchmarkResult("geneval_pp", "1.0", {}, {}, 280, 280, 0, {"missing_image": 280})
    >>> exit_status(SimpleNamespace(result=empty))[0]
    3
    """
    result = outcome.result
    if result is None:
        return EXIT_OK, None
    if result.n_ok == 0:
        what = f"none of the {result.n_images} images" if result.n_images else "no image (the run has none)"
        return EXIT_COVERAGE, f"error: {what} could be scored (coverage 0%); the causes are listed above"
    if result.coverage < min_coverage:
        return EXIT_COVERAGE, f"coverage {result.coverage:.1%} is below --min-coverage {min_coverage:.1%}"
    return EXIT_OK, None
