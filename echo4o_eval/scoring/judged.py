"""Small helpers shared by the VLM-judged evaluators (GenEval++, Imagine-Bench, OmniContext,
DPG-Bench): option handling, failure propagation and coverage-aware means.

Example:
    >>> resolve_options({"mode": "parity"})["prompt_pack"]
    'official'
    >>> mean_metric([1.0, 0.0, 1.0], n_total=4)
    MetricValue(value=0.6666666666666666, n=3, n_total=4, ci_low=None, ci_high=None)
    >>> mean_metric([], n_total=2).value is None
    True
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Sequence

from echo4o_eval.types import Generation, Judgement, MetricValue, Sample, SampleScore, Status

MODES = ("default", "parity")
PACKS = ("echo4o", "official")


def resolve_options(options: Mapping[str, Any] | None, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Options with defaults: mode "default", prompt_pack "echo4o" (parity: "official")."""
    out = dict(extra or {})
    out.update(options or {})
    out.setdefault("mode", "default")
    if out["mode"] not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {out['mode']!r}")
    out.setdefault("prompt_pack", "official" if out["mode"] == "parity" else "echo4o")
    if out["prompt_pack"] not in PACKS:
        raise ValueError(f"prompt_pack must be one of {PACKS}, not {out['prompt_pack']!r}")
    out.setdefault("prompts_dir", None)
    return out


def generation_failure(sample: Sample, generation: Generation) -> SampleScore | None:
    """A SampleScore carrying the generation's status when it failed, else None."""
    if generation.status is Status.OK:
        return None
    return SampleScore(sample.id, generation.image_index, sample.tag, generation.status,
                       reason=generation.error or generation.status.value)


def judgement_failure(sample: Sample, generation: Generation, judgements: Sequence[Judgement],
                      expected_keys: Sequence[str]) -> SampleScore | None:
    """SampleScore for the first missing or failed judgement among ``expected_keys``."""
    by_key = {j.key: j for j in judgements}
    for key in expected_keys:
        judgement = by_key.get(key)
        if judgement is None:
            return SampleScore(sample.id, generation.image_index, sample.tag, Status.JUDGE_ERROR,
                               reason=f"no judgement for {key}")
        if judgement.status is not Status.OK:
            reply = judgement.replies[-1] if judgement.replies else ""
            return SampleScore(sample.id, generation.image_index, sample.tag, judgement.status,
                               values={"raw_reply": reply[:2000]},
                               reason=f"{key}: {judgement.error or judgement.status.value}")
    return None


def mean_metric(values: Sequence[float], n_total: int) -> MetricValue:
    """Mean of ``values`` (None when empty) with its coverage."""
    values = list(values)
    return MetricValue(sum(values) / len(values) if values else None, len(values), n_total)


def status_counts(scores: Sequence[SampleScore]) -> dict[str, int]:
    """Number of scores per status value."""
    return dict(Counter(s.status.value for s in scores))


def tags_in_order(samples: Sequence[Sample], scores: Sequence[SampleScore]) -> list[str]:
    """Tags in first-seen order over the samples, then the scores."""
    seen: dict[str, None] = {}
    for item in list(samples) + list(scores):
        seen.setdefault(item.tag, None)
    return list(seen)


def benchmark_version(benchmark: str) -> str:
    """The version of ``benchmark`` from its spec."""
    from echo4o_eval.spec import get_benchmark

    return get_benchmark(benchmark).version
