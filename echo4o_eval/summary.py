"""Plain-text summaries of a run outcome for the terminal.

Example:
    >>> from echo4o_eval.types import MetricValue
    >>> format_metric(MetricValue(0.5, 10, 12, 0.2, 0.8), "fraction")
    '50.0% [20.0, 80.0] (n=10/12)'
"""

from __future__ import annotations

from echo4o_eval.types import MetricValue


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


def format_outcome(outcome) -> str:
    """Multi-line summary: where the run is, coverage, statuses and every metric."""
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
    usage = outcome.extra.get("usage") or {}
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
    return "\n".join(lines)
