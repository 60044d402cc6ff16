"""The detector judge: any detection backend + CLIP colours behind the Judge protocol.

A backend turns a batch of RGB PIL images into :class:`RawInstance` lists (class names already
GenEval's, boxes in pixels, optional masks). :class:`DetectorJudge` streams requests in chunks
of ``batch_size`` (images are decoded on a background thread while the previous chunk runs),
asks the backend, colours the instances of each request's ``color_classes`` with one batched
CLIP pass per chunk, and returns Judgements with :class:`~echo4o_eval.types.Detection`
records. Unreadable images and backend crashes become Judgement statuses naming the file.

Example with a fake backend (no colour classifier)::

    >>> class Fake:
    ...     def describe(self): return {"backend": "fake"}
    ...     def detect(self, images, classes, mask_classes):
    ...         return [[RawInstance("cat", (0, 0, 4, 4), 0.9, None, 16.0)] for _ in images]
    >>> judge = DetectorJudge("fake-judge", Fake(), None)
    >>> from echo4o_eval.types import JudgeRequest
    >>> [j.status.value for j in judge.judge([JudgeRequest("main", ("/no/file.png",))])]
    ['missing_image']
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from echo4o_eval.judges.images import ImageLoadError, load_rgb
from echo4o_eval.judges.labels import GENEVAL_INDEX
from echo4o_eval.types import Detection, JudgeRequest, Judgement, Status


@dataclass(frozen=True)
class RawInstance:
    """One detector output in image pixels; ``mask`` is a numpy bool (H, W) array or None."""

    class_name: str
    box: tuple[float, float, float, float]
    score: float
    mask: Any = None
    mask_area: float | None = None


class DetectionBackend(Protocol):
    def detect(
        self,
        images: Sequence[Any],
        classes: Sequence[tuple[str, ...]],
        mask_classes: Sequence[frozenset[str]],
    ) -> list[list[RawInstance]]:
        """Instances per image. ``classes``: names an open-vocabulary backend should look for
        (closed-vocabulary backends ignore it); masks are only needed for ``mask_classes``."""

    def describe(self) -> dict[str, Any]:
        """Settings for the run manifest."""


def _order(instance: RawInstance) -> tuple:
    return (GENEVAL_INDEX.get(instance.class_name, len(GENEVAL_INDEX)), instance.class_name,
            -instance.score)  # fmt: skip


def _vocabulary(request: JudgeRequest) -> tuple[str, ...]:
    names = list(request.params.get("classes", []) or [])
    names += [c for c in request.color_classes if c not in names]
    return tuple(str(n) for n in names)


class DetectorJudge:
    """Judge of kind "detector"; see the module docstring.

    Args:
        judge_id: the id recorded with every Judgement ("mask2former-clip").
        backend: a DetectionBackend.
        colors: a ClipColorClassifier, or None (then colour requests are a JUDGE_ERROR).
        batch_size: images per backend call.
        color_min_score: instances below this score get no colour (GenEval's rules never look
            at them: its lowest confidence threshold is 0.3).
        color_max_per_class: colour at most this many instances per class and image (16, as
            GenEval keeps at most 16 per class).
        prefetch: decode the next chunk's images on a background thread.
    """

    kind = "detector"

    def __init__(
        self,
        judge_id: str,
        backend: DetectionBackend,
        colors: Any | None,
        batch_size: int = 8,
        color_min_score: float = 0.3,
        color_max_per_class: int = 16,
        prefetch: bool = True,
        settings: dict[str, Any] | None = None,
    ):
        self.id = judge_id
        self.backend, self.colors = backend, colors
        self.batch_size = max(1, int(batch_size))
        self.color_min_score = float(color_min_score)
        self.color_max_per_class = int(color_max_per_class)
        self.prefetch = prefetch
        self.settings = dict(settings or {})
        self._pool = ThreadPoolExecutor(max_workers=1) if prefetch else None

    def describe(self) -> dict[str, Any]:
        out = {"id": self.id, "kind": self.kind, "batch_size": self.batch_size,
               "color_min_score": self.color_min_score,
               "color_max_per_class": self.color_max_per_class, **self.settings}  # fmt: skip
        out.update(self.backend.describe())
        if self.colors is not None:
            out.update(self.colors.describe())
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.backend = None  # type: ignore[assignment]
        self.colors = None

    @staticmethod
    def _load(requests: Sequence[JudgeRequest]) -> list[Any]:
        out: list[Any] = []
        for request in requests:
            try:
                if not request.images:
                    raise ImageLoadError(Status.JUDGE_ERROR, "judge request has no image")
                out.append(load_rgb(request.images[-1], request.crop))
            except ImageLoadError as err:
                out.append(err)
        return out

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Judgement]:
        """One Judgement per request, same order; never raises for a bad image or backend."""
        chunks = [requests[i : i + self.batch_size] for i in range(0, len(requests), self.batch_size)]
        results: list[Judgement] = []
        pending = None
        for number, chunk in enumerate(chunks):
            if pending is not None:
                loaded = pending.result()
            else:
                loaded = self._load(chunk)
            pending = None
            if self._pool is not None and number + 1 < len(chunks):
                pending = self._pool.submit(self._load, chunks[number + 1])
            results += self._judge_chunk(chunk, loaded)
        return results

    def _fail(self, request: JudgeRequest, status: Status, error: str) -> Judgement:
        return Judgement(request.key, self.id, status, error=error)

    def _judge_chunk(self, chunk: Sequence[JudgeRequest], loaded: list[Any]) -> list[Judgement]:
        out: list[Judgement | None] = [None] * len(chunk)
        good = []
        for i, (request, image) in enumerate(zip(chunk, loaded)):
            if isinstance(image, ImageLoadError):
                out[i] = self._fail(request, image.status, str(image))
            elif request.color_classes and self.colors is None:
                out[i] = self._fail(request, Status.JUDGE_ERROR,
                                    f"{self.id} has no colour classifier but colours were asked")
            else:
                good.append(i)
        if good:
            try:
                instances = self.backend.detect(
                    [loaded[i] for i in good],
                    [_vocabulary(chunk[i]) for i in good],
                    [frozenset(chunk[i].color_classes) for i in good],
                )
                colors = self._colorize([chunk[i] for i in good], [loaded[i] for i in good],
                                        instances)  # fmt: skip
            except Exception as err:  # a crash fails this chunk's images, not the run
                files = ", ".join(chunk[i].images[-1] for i in good)
                message = f"{type(err).__name__}: {err} (images: {files})"
                for i in good:
                    out[i] = self._fail(chunk[i], Status.JUDGE_ERROR, message)
            else:
                for i, found, found_colors in zip(good, instances, colors):
                    image = loaded[i]
                    ordered = sorted(zip(found, found_colors), key=lambda p: _order(p[0]))
                    detections = tuple(
                        Detection(inst.class_name, tuple(float(v) for v in inst.box),
                                  float(inst.score), inst.mask_area, color)  # fmt: skip
                        for inst, color in ordered
                    )
                    out[i] = Judgement(chunk[i].key, self.id, Status.OK, detections=detections,
                                       image_size=(image.width, image.height))  # fmt: skip
        return [j for j in out if j is not None]

    def _colorize(self, requests, images, instances) -> list[list[str | None]]:
        """Colour per instance (None where not asked), one CLIP batch for the whole chunk."""
        colors: list[list[str | None]] = [[None] * len(found) for found in instances]
        items, where = [], []
        for n, (request, image, found) in enumerate(zip(requests, images, instances)):
            wanted = set(request.color_classes)
            per_class: dict[str, list[int]] = {}
            for k, inst in enumerate(found):
                if inst.class_name in wanted and inst.score >= self.color_min_score:
                    per_class.setdefault(inst.class_name, []).append(k)
            for name, indices in per_class.items():
                indices.sort(key=lambda k: -found[k].score)
                for k in indices[: self.color_max_per_class]:
                    inst = found[k]
                    items.append(_color_item(image, inst))
                    where.append((n, k))
        if items:
            for (n, k), color in zip(where, self.colors.classify(items)):
                colors[n][k] = color
        return colors


def _color_item(image, inst: RawInstance):
    from echo4o_eval.judges.clip_color import ColorItem

    return ColorItem(image, inst.mask, inst.box, inst.class_name)
