"""The thin protocols behind which models, judges and benchmark evaluators sit.

Tests inject fakes that satisfy these protocols; nothing here imports heavy libraries.

Example:
    >>> from echo4o_eval.records.types import Generation, Status
    >>> class Blank:
    ...     id = "blank"
    ...     batch_size = 1
    ...     def generate(self, requests):
    ...         return [Generation(r.sample_id, r.image_index, r.seed, Status.MISSING_IMAGE,
    ...                            error="blank model makes nothing") for r in requests]
    ...     def describe(self):
    ...         return {"id": self.id}
    ...     def close(self):
    ...         pass
    >>> isinstance(Blank(), ImageModel)
    True
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from echo4o_eval.records.types import (
    BenchmarkResult,
    Generation,
    GenerationRequest,
    JudgeRequest,
    Judgement,
    Sample,
    SampleScore,
)


@runtime_checkable
class ImageModel(Protocol):
    """Produces (or finds) images. Never sees benchmark names."""

    id: str  # e.g. "folder:/data/imgs", "diffusers:stabilityai/sd3"
    batch_size: int  # how many requests the runner should pass per generate() call

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Return one Generation per request, same order. Failures are statuses, not raises."""

    def describe(self) -> Mapping[str, Any]:
        """Settings for the run manifest (never secrets)."""

    def close(self) -> None:
        """Release weights / connections."""


@runtime_checkable
class Judge(Protocol):
    """Answers JudgeRequests. Detector judges fill ``detections``; VLM judges ``replies``."""

    id: str  # e.g. "mask2former-clip", "openai:gpt-4.1"
    kind: str  # "detector" or "vlm"

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Judgement]:
        """Return one Judgement per request, same order. Failures are statuses, not raises."""

    def describe(self) -> Mapping[str, Any]:
        """Settings for the run manifest (never secrets)."""

    def close(self) -> None:
        """Release models / connections."""


@runtime_checkable
class Evaluator(Protocol):
    """Benchmark-specific glue: builds judge requests, applies the scoring rules, aggregates.

    Built by ``Benchmark.make_evaluator(judge_kind, options)`` (see echo4o_eval.spec), which
    passes the benchmark's spec; ``options`` is the typed options dataclass as a plain dict.
    """

    judge_kind: str  # the Judge.kind it needs
    options: Mapping[str, Any]  # every threshold / mode, recorded in the manifest

    def requests(self, sample: Sample, generation: Generation) -> list[JudgeRequest]:
        """Judge requests for one generated image (empty if nothing needs judging)."""

    def score(
        self, sample: Sample, generation: Generation, judgements: Sequence[Judgement]
    ) -> SampleScore:
        """Pure scoring rules over the judgements of one image."""

    def aggregate(
        self, samples: Sequence[Sample], scores: Sequence[SampleScore]
    ) -> BenchmarkResult:
        """Per-tag and overall metrics, with coverage."""
