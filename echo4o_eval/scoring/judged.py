"""Helpers shared by the VLM-judged evaluators (GenEval++, Imagine-Bench, OmniContext,
DPG-Bench): their common typed options and failure propagation. Aggregation helpers are in
:mod:`echo4o_eval.scoring.aggregation`.

Example:
    >>> JudgedOptions(mode="parity").prompt_pack
    'official'
    >>> from echo4o_eval.config import typed_options
    >>> typed_options(JudgedOptions, {"prompt_pak": "official"})
    Traceback (most recent call last):
    ...
    echo4o_eval.config.ConfigError: evaluator option: unknown evaluator option 'prompt_pak'; did you mean 'prompt_pack'? (known: mode, prompt_pack, prompts_dir)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

from echo4o_eval.records.types import Generation, Judgement, Sample, SampleScore, Status

MODES = ("default", "parity")
PACKS = ("echo4o", "official")


@dataclass(frozen=True)
class JudgedOptions:
    """Options every VLM-judged evaluator takes.

    Attributes:
        mode: "default" (failures excluded, coverage reported) or "parity" (the official
            script's treatment reproduced, and said so in the notes).
        prompt_pack: "echo4o" (ours) or "official" (paper parity); None = "official" in
            parity mode, else "echo4o".
        prompts_dir: a folder of the official prompt texts (``<name>.txt``) instead of
            downloading the official scripts.
    """

    mode: Literal["default", "parity"] = "default"
    prompt_pack: Literal["echo4o", "official"] | None = None
    prompts_dir: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.prompt_pack is None:
            object.__setattr__(self, "prompt_pack", "official" if self.mode == "parity" else "echo4o")
        if self.prompt_pack not in PACKS:
            raise ValueError(f"prompt_pack must be one of {PACKS}, not {self.prompt_pack!r}")

    @property
    def parity(self) -> bool:
        """True in parity mode."""
        return self.mode == "parity"


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


def builtin_spec(benchmark_id: str, spec: Any = None):
    """``spec`` when given, else the registered spec of ``benchmark_id`` (evaluators built
    directly, e.g. in tests, get their own benchmark's spec)."""
    if spec is not None:
        return spec
    from echo4o_eval.spec import get_benchmark

    return get_benchmark(benchmark_id)


def options_dict(options: Any) -> dict[str, Any]:
    """The options dataclass as the plain dict recorded in the manifest and fingerprint."""
    from echo4o_eval.config import to_plain

    return to_plain(options)


def evaluator_options(cls, options: Mapping[str, Any] | Any | None):
    """``options`` as the options dataclass ``cls`` (an instance is kept as is); unknown keys
    are a ConfigError with a did-you-mean."""
    if isinstance(options, cls):
        return options
    from echo4o_eval.config import typed_options

    return typed_options(cls, options)
