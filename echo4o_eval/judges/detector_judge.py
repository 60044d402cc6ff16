"""The detector judge: any detection backend + CLIP colours behind the Judge protocol.

A backend turns a batch of RGB PIL images into :class:`RawInstance` lists (class names already
GenEval's, boxes in pixels, optional masks). :class:`DetectorJudge` streams requests in chunks
of ``batch_size``, asks the backend, colours the instances of each request's ``color_classes``
with one batched CLIP pass per chunk, and returns Judgements with
:class:`~echo4o_eval.records.types.Detection` records. Unreadable images and backend crashes become
Judgement statuses naming the file.

Host work overlaps device work: a pool of ``workers`` threads decodes the images of the next
``PREFETCH_CHUNKS`` chunks and, on an accelerator, runs the backend's optional per-image
``prepare`` (resize to the input size) and builds chunk k's colour crops (CLIP preprocessing
included) while chunk k+1's detector forward runs; chunk k's CLIP pass and Judgements follow
that forward. On a CPU device one thread decodes ahead and the rest runs on the calling thread
(more threads only compete with the model for the cores). At most ``PREFETCH_CHUNKS + 2``
chunks are in memory at once. Results do not depend on the pool.

Example with a fake backend (no colour classifier)::

    >>> class Fake:
    ...     def describe(self): return {"backend": "fake"}
    ...     def detect(self, images, classes, mask_classes):
    ...         return [[RawInstance("cat", (0, 0, 4, 4), 0.9, None, 16.0)] for _ in images]
    >>> judge = DetectorJudge("fake-judge", Fake(), None)
    >>> from echo4o_eval.records.types import JudgeRequest
    >>> [j.status.value for j in judge.judge([JudgeRequest("main", ("/no/file.png",))])]
    ['missing_image']
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from echo4o_eval.judges.images import ImageLoadError, load_rgb
from echo4o_eval.judges.labels import GENEVAL_INDEX
from echo4o_eval.records.types import Detection, JudgeRequest, Judgement, Status

PREFETCH_CHUNKS = 2  # chunks decoded ahead of the one on the device


def default_workers() -> int:
    """Host threads for decoding and crops: ``min(8, os.cpu_count())``.

    >>> 1 <= default_workers() <= 8
    True
    """
    return max(1, min(8, os.cpu_count() or 1))


@dataclass(frozen=True)
class RawInstance:
    """One detector output in image pixels; ``mask`` is a numpy bool (H, W) array or None."""

    class_name: str
    box: tuple[float, float, float, float]
    score: float
    mask: Any = None
    mask_area: float | None = None


class DetectionBackend(Protocol):
    """What a detector backend provides to DetectorJudge."""

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

    # Optional: ``prepare(image) -> Any`` (thread-safe, host only) turns one image into the
    # backend's input; the judge runs it on its workers and then calls
    # ``detect(images, classes, mask_classes, prepared=[...])``.


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
        prefetch: prepare the next chunks and colour crops on host threads (False: all serial).
        workers: size of that thread pool (default :func:`default_workers`; 1 when
            ``settings["device"]`` is a CPU).
        overlap: prepare inputs and colour crops on the pool (default: unless
            ``settings["device"]`` is a CPU); results are the same either way.
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
        workers: int | None = None,
        overlap: bool | None = None,
    ):
        self.id = judge_id
        self.backend, self.colors = backend, colors
        self.batch_size = max(1, int(batch_size))
        self.color_min_score = float(color_min_score)
        self.color_max_per_class = int(color_max_per_class)
        self.prefetch = prefetch
        self.settings = dict(settings or {})
        # Beside an accelerator the host threads resize and crop while it computes; on a CPU
        # device they would only compete with the model for the cores (measured slower), so
        # there one thread decodes ahead and the rest stays on the calling thread.
        if overlap is None:
            overlap = not str(self.settings.get("device", "")).startswith("cpu")
        self.overlap = bool(prefetch) and bool(overlap)
        if workers is None:
            workers = default_workers() if self.overlap else 1
        self.workers = max(1, int(workers))
        self._pool = (ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="detector-host")
                      if prefetch else None)  # fmt: skip

    def describe(self) -> dict[str, Any]:
        """Judge, backend and color classifier settings for the run manifest."""
        out = {"id": self.id, "kind": self.kind, "batch_size": self.batch_size,
               "color_min_score": self.color_min_score,
               "color_max_per_class": self.color_max_per_class, **self.settings}  # fmt: skip
        out.update(self.backend.describe())
        if self.colors is not None:
            out.update(self.colors.describe())
        return out

    def close(self) -> None:
        """Shut down the worker pool and drop the backend and color classifier."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.backend = None  # type: ignore[assignment]
        self.colors = None

    def _load_one(self, request: JudgeRequest) -> tuple[Any, Any] | ImageLoadError:
        """(RGB image, backend input or None), or the error naming the file; runs on a worker."""
        try:
            if not request.images:
                raise ImageLoadError(Status.JUDGE_ERROR, "judge request has no image")
            image = load_rgb(request.images[-1], request.crop)
        except ImageLoadError as err:
            return err
        prepare = getattr(self.backend, "prepare", None) if self.overlap else None
        if prepare is None:
            return image, None
        try:
            return image, prepare(image)
        except Exception as err:  # noqa: BLE001 - a value, as for a bad file
            return ImageLoadError(Status.JUDGE_ERROR, f"{request.images[-1]}: cannot prepare "
                                  f"image ({type(err).__name__}: {err})")  # fmt: skip

    def _submit(self, chunk: Sequence[JudgeRequest]) -> list[Any]:
        if self._pool is None:
            return [self._load_one(r) for r in chunk]
        return [self._pool.submit(self._load_one, r) for r in chunk]

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Judgement]:
        """One Judgement per request, same order; never raises for a bad image or backend."""
        chunks = [requests[i : i + self.batch_size] for i in range(0, len(requests), self.batch_size)]
        results: list[Judgement] = []
        ahead: deque = deque()  # loads of this chunk and the next PREFETCH_CHUNKS
        submitted, pending = 0, None
        depth = PREFETCH_CHUNKS if self.overlap else 1
        for chunk in chunks:
            if self._pool is None:
                loaded = self._submit(chunk)
            else:
                while submitted < len(chunks) and len(ahead) <= depth:
                    ahead.append(self._submit(chunks[submitted]))
                    submitted += 1
                loaded = [future.result() for future in ahead.popleft()]
            state = self._detect_chunk(chunk, loaded)
            if not self.overlap:  # CPU device: nothing to overlap the CLIP pass with
                results += self._finish_chunk(state)
                continue
            if pending is not None:  # the previous chunk's CLIP pass, after this forward
                results += self._finish_chunk(pending)
            pending = state
        if pending is not None:
            results += self._finish_chunk(pending)
        return results

    def _fail(self, request: JudgeRequest, status: Status, error: str) -> Judgement:
        return Judgement(request.key, self.id, status, error=error)

    def _detect_chunk(self, chunk: Sequence[JudgeRequest], loaded: list[Any]) -> dict[str, Any]:
        """Detector pass for one chunk; colour crops start on the workers. Returns the state
        :meth:`_finish_chunk` completes (CLIP pass, Judgements)."""
        out: list[Judgement | None] = [None] * len(chunk)
        good = []
        for i, (request, item) in enumerate(zip(chunk, loaded)):
            if isinstance(item, ImageLoadError):
                out[i] = self._fail(request, item.status, str(item))
            elif request.color_classes and self.colors is None:
                out[i] = self._fail(request, Status.JUDGE_ERROR,
                                    f"{self.id} has no colour classifier but colours were asked")
            elif request.color_classes and not request.params.get("colors"):
                out[i] = self._fail(request, Status.JUDGE_ERROR,
                                    "colours were asked but the request names no colours to choose "
                                    "from (params['colors'])")
            else:
                good.append(i)
        state: dict[str, Any] = {"chunk": chunk, "out": out, "good": good, "error": None,
                                 "images": [loaded[i][0] for i in good]}  # fmt: skip
        if not good:
            return state
        try:
            vocabulary = [_vocabulary(chunk[i]) for i in good]
            wanted = [frozenset(chunk[i].color_classes) for i in good]
            if self.overlap and getattr(self.backend, "prepare", None) is not None:
                instances = self.backend.detect(state["images"], vocabulary, wanted,
                                                prepared=[loaded[i][1] for i in good])  # fmt: skip
            else:
                instances = self.backend.detect(state["images"], vocabulary, wanted)
            state["instances"] = instances
            items, where = self._color_items([chunk[i] for i in good], state["images"], instances)
            state["items"], state["where"] = items, where
            prepare = getattr(self.colors, "prepare", None)
            if items and self.overlap and self._pool is not None and prepare is not None:
                state["crops"] = [self._pool.submit(prepare, item) for item in items]
        except Exception as err:  # a crash fails this chunk's images, not the run
            state["error"] = err
        return state

    def _finish_chunk(self, state: dict[str, Any]) -> list[Judgement]:
        chunk, out, good = state["chunk"], state["out"], state["good"]
        if good and state["error"] is None:
            try:
                colors = self._classify(state)
            except Exception as err:  # noqa: BLE001
                state["error"] = err
        if good and state["error"] is not None:
            err = state["error"]
            files = ", ".join(chunk[i].images[-1] for i in good)
            message = f"{type(err).__name__}: {err} (images: {files})"
            for i in good:
                out[i] = self._fail(chunk[i], Status.JUDGE_ERROR, message)
        elif good:
            for i, image, found, found_colors in zip(good, state["images"], state["instances"],
                                                     colors):  # fmt: skip
                ordered = sorted(zip(found, found_colors), key=lambda p: _order(p[0]))
                detections = tuple(
                    Detection(inst.class_name, tuple(float(v) for v in inst.box),
                              float(inst.score), inst.mask_area, color)  # fmt: skip
                    for inst, color in ordered
                )
                out[i] = Judgement(chunk[i].key, self.id, Status.OK, detections=detections,
                                   image_size=(image.width, image.height))  # fmt: skip
        return [j for j in out if j is not None]

    def _classify(self, state: dict[str, Any]) -> list[list[str | None]]:
        """Colour per instance (None where not asked), one CLIP batch for the whole chunk."""
        colors: list[list[str | None]] = [[None] * len(found) for found in state["instances"]]
        items = state["items"]
        if items:
            if "crops" in state:
                found = self.colors.classify(items, prepared=[f.result() for f in state["crops"]])
            else:
                found = self.colors.classify(items)
            for (n, k), color in zip(state["where"], found):
                colors[n][k] = color
        return colors

    def _color_items(self, requests, images, instances) -> tuple[list[Any], list[tuple[int, int]]]:
        """The objects to colour: per request, its ``color_classes`` instances scoring at least
        ``color_min_score``, the ``color_max_per_class`` best per class."""
        items, where = [], []
        for n, (request, image, found) in enumerate(zip(requests, images, instances)):
            wanted = set(request.color_classes)
            palette = tuple(request.params.get("colors") or ())
            per_class: dict[str, list[int]] = {}
            for k, inst in enumerate(found):
                if inst.class_name in wanted and inst.score >= self.color_min_score:
                    per_class.setdefault(inst.class_name, []).append(k)
            for name, indices in per_class.items():
                indices.sort(key=lambda k: -found[k].score)
                for k in indices[: self.color_max_per_class]:
                    items.append(_color_item(image, found[k], palette))
                    where.append((n, k))
        return items, where


def _color_item(image, inst: RawInstance, palette: tuple[str, ...]):
    from echo4o_eval.judges.clip_color import ColorItem

    return ColorItem(image, inst.mask, inst.box, inst.class_name, palette)
