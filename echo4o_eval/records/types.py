"""Typed records that flow between the stages of an evaluation.

One frozen dataclass per arrow of the pipeline::

    Sample -> GenerationRequest -> Generation -> JudgeRequest -> Judgement -> SampleScore
                                                                   -> BenchmarkResult

Every record converts to and from plain JSON with :func:`to_json` / ``Class.from_json``
so the run store can persist it. Mapping fields hold plain JSON values only and are
never mutated after construction.

Example:
    >>> s = Sample(id="1", index=0, prompt="a photo of a cat", tag="single_object")
    >>> Sample.from_json(to_json(s)) == s
    True
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


class Status(str, enum.Enum):
    """Outcome of one per-sample stage. Only ``OK`` results enter means; all others count
    against coverage and are reported, never guessed or zero-filled."""

    OK = "ok"
    MISSING_IMAGE = "missing_image"  # no image file where the model/folder should have one
    BAD_IMAGE = "bad_image"  # file exists but cannot be decoded
    GENERATION_ERROR = "generation_error"  # the model raised while generating
    REFUSED = "refused"  # an image API refused the prompt (moderation)
    JUDGE_ERROR = "judge_error"  # judge call failed (network, API error, detector crash)
    PARSE_ERROR = "parse_error"  # judge replied but the reply could not be parsed
    SCORE_ERROR = "score_error"  # scoring rule could not be applied (e.g. malformed metadata)
    NOT_SCORED = "not_scored"  # the run holds no score for an image it should cover (interrupted)


def _json_default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value):
        return to_json(value)
    if isinstance(value, tuple):
        return list(value)
    return value


_PLAIN = frozenset({str, int, float, bool})


def to_json(record: Any) -> Any:
    """Convert a record (or nested records, tuples, enums) into plain JSON values.

    >>> to_json(Detection(class_name="cat", box=(0, 0, 1, 1), score=0.5))["box"]
    [0, 0, 1, 1]
    """
    if record is None or type(record) in _PLAIN:  # most leaves: nothing to convert
        return record
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        out = {}
        for f in dataclasses.fields(record):
            if f.metadata.get("transient"):
                continue
            out[f.name] = to_json(getattr(record, f.name))
        return out
    if isinstance(record, enum.Enum):
        return record.value
    if isinstance(record, (list, tuple)):
        return [to_json(v) for v in record]
    if isinstance(record, Mapping):
        return {str(k): to_json(v) for k, v in record.items()}
    return record


def _tuple(value: Any) -> tuple:
    return tuple(value) if value is not None else ()


@dataclass(frozen=True)
class Sample:
    """One benchmark item, as loaded from the benchmark's official files."""

    id: str  # stable id within the benchmark (e.g. GenEval++ 1-based line number, DPG item_id)
    index: int  # 0-based position in the official file (GenEval folder layout uses it)
    prompt: str  # the text given to the generator
    tag: str  # category used for per-tag aggregation (GenEval tag, Imagine type, task_type...)
    metadata: Mapping[str, Any] = field(default_factory=dict)  # benchmark-specific structure
    reference_images: tuple[str, ...] = ()  # input image paths for multi-reference tasks

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Sample":
        """Inverse of to_json."""
        return cls(**{**data, "reference_images": _tuple(data.get("reference_images"))})


@dataclass(frozen=True)
class GenerationRequest:
    """What a model adapter is asked to produce: one image for one sample.

    Adapters never see the benchmark name; per-benchmark settings arrive in ``params``.
    """

    sample_id: str
    sample_index: int
    tag: str
    prompt: str
    image_index: int  # 0..images_per_prompt-1
    seed: int
    output_path: str  # where a generating adapter must write the image (PNG)
    reference_images: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)  # width, height, steps, guidance...
    # 0 for an image's first try; n for its n-th re-generation after failed records (resume
    # with --retry-failed). An API model asks the server again in a new cache slot instead of
    # replaying the failed reply; it enters no fingerprint and no cache key.
    retry_round: int = 0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "GenerationRequest":
        """Inverse of to_json."""
        return cls(**{**data, "reference_images": _tuple(data.get("reference_images"))})


@dataclass(frozen=True)
class Generation:
    """The produced (or found) image for one GenerationRequest."""

    sample_id: str
    image_index: int
    seed: int | None  # None for images that were found, not generated (folder model)
    status: Status
    image_path: str | None = None  # None unless an image file exists
    params: Mapping[str, Any] = field(default_factory=dict)  # settings actually used
    error: str | None = None  # human-readable cause when status is not OK
    usage: Mapping[str, Any] = field(default_factory=dict)  # e.g. API tokens, seconds
    cost_usd: float | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Generation":
        """Inverse of to_json."""
        return cls(**{**data, "status": Status(data["status"])})


@dataclass(frozen=True)
class Detection:
    """One detected object instance in image pixel coordinates."""

    class_name: str
    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float
    mask_area: float | None = None  # pixels in the instance mask, when the detector has masks
    color: str | None = None  # colour predicted for this instance (CLIP), when asked for

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Detection":
        """Inverse of to_json."""
        return cls(**{**data, "box": tuple(data["box"])})


@dataclass(frozen=True)
class JudgeRequest:
    """One question put to a judge about one generated image.

    A benchmark's evaluator builds these; judges are generic and know no benchmark.
    Detector judges use ``images[-1]`` and ``color_classes``; VLM judges use ``system``,
    ``text`` and ``images`` (references first, the generated image last).
    """

    key: str  # unique within one (sample, image_index): "main", "prompt_following", "q3@crop1"
    images: tuple[str, ...]
    text: str = ""
    system: str | None = None
    system_as_parts: bool = False  # send the system message as a list of parts (parity)
    crop: tuple[int, int, int, int] | None = None  # (left, top, right, bottom) of images[-1]
    color_classes: tuple[str, ...] = ()  # detector judges: classes whose instances need colours
    response_schema: Mapping[str, Any] | None = None  # JSON schema for structured output
    params: Mapping[str, Any] = field(default_factory=dict)  # per-request overrides (max_tokens)
    # Called on a reply; raises ValueError when the reply is unusable, so the engine can retry.
    parse: Callable[[str], Any] | None = field(
        default=None, compare=False, metadata={"transient": True}
    )


@dataclass(frozen=True)
class Judgement:
    """A judge's answer to one JudgeRequest."""

    key: str
    judge_id: str
    status: Status
    replies: tuple[str, ...] = ()  # raw reply text of every attempt kept (votes)
    parsed: tuple[Any, ...] = ()  # parsed value per kept reply (JSON values)
    detections: tuple[Detection, ...] | None = None  # detector judges
    image_size: tuple[int, int] | None = None  # (width, height) of the judged image
    prompt_hash: str | None = None  # sha256 of the rendered request, for audit
    usage: Mapping[str, Any] = field(default_factory=dict)  # prompt/completion tokens, calls
    cost_usd: float | None = None
    cached: bool = False  # served entirely from the response cache
    error: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Judgement":
        """Inverse of to_json (detections and image_size restored as tuples)."""
        dets = data.get("detections")
        size = data.get("image_size")
        return cls(
            **{
                **data,
                "status": Status(data["status"]),
                "replies": _tuple(data.get("replies")),
                "parsed": _tuple(data.get("parsed")),
                "detections": None
                if dets is None
                else tuple(Detection.from_json(d) for d in dets),
                "image_size": None if size is None else tuple(size),
            }
        )


@dataclass(frozen=True)
class SampleScore:
    """Score of one generated image (one sample, one image index)."""

    sample_id: str
    image_index: int
    tag: str
    status: Status
    values: Mapping[str, Any] = field(default_factory=dict)  # metric name -> bool/float
    reason: str = ""  # human-readable explanation (failed clauses, judge reason, error)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SampleScore":
        """Inverse of to_json."""
        return cls(**{**data, "status": Status(data["status"])})


@dataclass(frozen=True)
class MetricValue:
    """An aggregate number with its sample size and uncertainty."""

    value: float | None  # None when nothing could be scored (never 0 by default)
    n: int  # items that entered the value
    n_total: int  # items that should have entered it
    ci_low: float | None = None
    ci_high: float | None = None

    @property
    def coverage(self) -> float:
        """n / n_total (0.0 when n_total is 0)."""
        return self.n / self.n_total if self.n_total else 0.0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "MetricValue":
        """Inverse of to_json."""
        return cls(**data)


@dataclass(frozen=True)
class BenchmarkResult:
    """Aggregated result of one benchmark run."""

    benchmark: str  # benchmark id
    version: str
    metrics: Mapping[str, MetricValue]  # overall metrics, e.g. "overall", "prompt_accuracy"
    per_tag: Mapping[str, Mapping[str, MetricValue]]  # tag -> metric -> value
    n_samples: int
    n_images: int
    n_ok: int  # images whose score status is OK
    status_counts: Mapping[str, int] = field(default_factory=dict)
    mode: str = "default"  # "default" or "parity"
    notes: tuple[str, ...] = ()  # e.g. "parity: 3 judge failures counted as wrong"

    @property
    def coverage(self) -> float:
        """n_ok / n_images (0.0 when there are no images)."""
        return self.n_ok / self.n_images if self.n_images else 0.0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "BenchmarkResult":
        """Inverse of to_json (metrics and per_tag rebuilt as MetricValue)."""
        return cls(
            **{
                **data,
                "metrics": {k: MetricValue.from_json(v) for k, v in data["metrics"].items()},
                "per_tag": {
                    t: {k: MetricValue.from_json(v) for k, v in m.items()}
                    for t, m in data["per_tag"].items()
                },
                "notes": _tuple(data.get("notes")),
            }
        )
