"""GenEval's scoring rules as pure functions over :class:`~echo4o_eval.records.types.Detection` records.

This reproduces the behaviour of GenEval's official ``evaluation/evaluate_images.py``
(djghosh13/geneval @ af4902f) from its documented semantics, checked case by case against
``shared/goldens/geneval_rules.jsonl``:

1. per class, detections are sorted by score (descending), kept when ``score > threshold``
   (strict; 0.3, or 0.9 when the metadata tag is exactly ``"counting"``), at most 16 per class,
   then optionally thinned by non-maximum suppression (``max_overlap``; 1.0 = off, the default);
2. every include clause needs ``count`` kept objects of its class; the colour of the ``count``
   most confident ones must be the requested colour; a ``position`` clause ``[relation, i]``
   compares those objects with the objects matched by include clause ``i``;
3. every exclude clause fails when the class has ``count`` or more kept objects.

Where the official code raised an exception (missing keys, a position target index out of
range, an exclude clause with ``count: 0`` for an absent class) we return an outcome with status
``SCORE_ERROR`` and a message naming the problem instead.

Example:
    >>> from echo4o_eval.records.types import Detection
    >>> dets = [Detection("dog", (0, 0, 50, 50), 0.95, color="brown"),
    ...         Detection("cat", (300, 0, 350, 50), 0.8, color="white")]
    >>> meta = {"tag": "position", "prompt": "a photo of a dog left of a cat",
    ...         "include": [{"class": "cat", "count": 1},
    ...                     {"class": "dog", "count": 1, "position": ["left of", 0]}]}
    >>> outcome = evaluate_geneval(dets, meta)
    >>> outcome.correct, outcome.reason
    (True, '')
    >>> evaluate_geneval(dets[:1], meta).reason
    'expected cat>=1, found 0\\nno target for dog to be left of'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from echo4o_eval.records.types import Detection, Status

#: GenEval's colour palette, in the order the official reason strings list colours.
GENEVAL_COLORS: tuple[str, ...] = (
    "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white",
)  # fmt: skip

# Deterministic order for the relations joined in a position failure reason. The official code
# joins a Python ``set`` (order depends on the hash seed); every order is an official variant.
_RELATION_ORDER = ("above", "below", "left of", "right of")


@dataclass(frozen=True)
class GenEvalRuleOptions:
    """Every threshold of the GenEval rules; defaults are the official CLI defaults.

    Attributes:
        confidence_threshold: keep a detection when ``score > confidence_threshold`` (0.3).
        counting_threshold: the threshold instead when ``metadata["tag"] == "counting"`` (0.9).
        max_objects: at most this many detections per class after thresholding (16).
        max_overlap: NMS IoU limit; a box overlapping a kept box of its class with IoU >= this
            is dropped. 1.0 (default, as official) disables NMS.
        position_threshold: fraction of the two boxes' summed size that a centre offset must
            exceed before it counts towards a relation (0.1).
        float32: compute as if boxes and scores were float32 arrays, as mmdet returns them
            (scores and thresholds compared in float32, geometry in float32). Off by default:
            values are used exactly as given (float64).
    """

    confidence_threshold: float = 0.3
    counting_threshold: float = 0.9
    max_objects: int = 16
    max_overlap: float = 1.0
    position_threshold: float = 0.1
    float32: bool = False

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any] | None) -> "GenEvalRuleOptions":
        """Build from a plain options dict, ignoring unrelated keys.

        >>> GenEvalRuleOptions.from_mapping({"max_overlap": "0.5", "mode": "parity"}).max_overlap
        0.5
        """
        options = options or {}
        kwargs: dict[str, Any] = {}
        for name, default in cls().__dict__.items():
            if name in options and options[name] is not None:
                value = options[name]
                if isinstance(default, bool):
                    value = value if isinstance(value, bool) else str(value).lower() in (
                        "1", "true", "yes", "on")  # fmt: skip
                else:
                    value = type(default)(value)
                kwargs[name] = value
        return cls(**kwargs)


@dataclass(frozen=True)
class GenEvalOutcome:
    """Result of the GenEval rules on one image.

    ``status`` is OK or SCORE_ERROR; ``correct`` is None on error. ``reason`` is the official
    reason text (failed clauses joined by newlines) or, on error, what went wrong. ``kept`` maps
    class name -> kept detections (descending score) in class order; it is empty when the
    error happened before filtering.
    """

    status: Status
    correct: bool | None
    reason: str
    kept: Mapping[str, tuple[Detection, ...]] = field(default_factory=dict)

    def kept_json(self) -> dict[str, list[list[float]]]:
        """The official ``details`` layout: ``{class: [[x1, y1, x2, y2, score], ...]}``.

        >>> GenEvalOutcome(Status.OK, True, "", {"dog": (Detection("dog", (0, 0, 2, 2), 0.5),)}
        ...                ).kept_json()
        {'dog': [[0.0, 0.0, 2.0, 2.0, 0.5]]}
        """
        return {
            name: [[float(v) for v in d.box] + [float(d.score)] for d in dets]
            for name, dets in self.kept.items()
        }


class _RuleError(Exception):
    """A case where the official code raised; becomes a SCORE_ERROR outcome."""


def _as_float32(value: float) -> float:
    return float(np.float32(value))


def compute_iou(box_a: Sequence[float], box_b: Sequence[float]) -> float:
    """IoU of two ``(x1, y1, x2, y2)`` boxes with GenEval's inclusive-pixel areas (+1 per side).

    >>> compute_iou((0, 0, 9, 9), (0, 0, 9, 9))
    1.0
    >>> round(compute_iou((0, 0, 9, 9), (5, 0, 14, 9)), 4)
    0.3333
    """

    def area(box: Sequence[float]) -> float:
        """Inclusive-pixel area of ``box`` (0 when empty)."""
        return max(box[2] - box[0] + 1, 0) * max(box[3] - box[1] + 1, 0)

    inter = area(
        (max(box_a[0], box_b[0]), max(box_a[1], box_b[1]),
         min(box_a[2], box_b[2]), min(box_a[3], box_b[3]))
    )  # fmt: skip
    union = area(box_a) + area(box_b) - inter
    return float(inter / union) if union else 0.0


def filter_detections(
    detections: Sequence[Detection],
    tag: str,
    options: GenEvalRuleOptions = GenEvalRuleOptions(),
    class_order: Sequence[str] | None = None,
) -> dict[str, tuple[Detection, ...]]:
    """Per-class threshold, sort, cap and optional NMS; classes with nothing kept are absent.

    Classes appear in ``class_order`` when given (GenEval's object_names.txt order), classes not
    listed there after them in order of first appearance. Score ties keep the later input first.

    >>> dets = [Detection("dog", (0, 0, 5, 5), s) for s in (0.5, 0.95, 0.2)]
    >>> [d.score for d in filter_detections(dets, "single_object")["dog"]]
    [0.95, 0.5]
    >>> filter_detections(dets, "counting")["dog"][0].score
    0.95
    """
    threshold = options.counting_threshold if tag == "counting" else options.confidence_threshold
    by_class: dict[str, list[tuple[int, Detection]]] = {}
    for index, det in enumerate(detections):
        if options.float32:
            det = Detection(
                det.class_name,
                tuple(_as_float32(v) for v in det.box),  # type: ignore[arg-type]
                _as_float32(det.score),
                det.mask_area,
                det.color,
            )
        by_class.setdefault(det.class_name, []).append((index, det))
    if options.float32:
        limit = np.float32(threshold)
        passes = lambda score: bool(np.float32(score) > limit)  # noqa: E731
    else:
        passes = lambda score: score > threshold  # noqa: E731
    order = list(class_order or [])
    listed = set(order)
    order += [name for name in by_class if name not in listed]
    kept: dict[str, tuple[Detection, ...]] = {}
    for name in order:
        entries = by_class.get(name)
        if not entries:
            continue
        ranked = [d for _, d in sorted(entries, key=lambda e: (-e[1].score, -e[0]))]
        candidates = [d for d in ranked if passes(d.score)][: options.max_objects]
        chosen: list[Detection] = []
        while candidates:
            best = candidates.pop(0)
            chosen.append(best)
            if options.max_overlap < 1:
                candidates = [
                    d for d in candidates if compute_iou(best.box, d.box) < options.max_overlap
                ]
        if chosen:
            kept[name] = tuple(chosen)
    return kept


def relative_position(
    box_a: Sequence[float],
    box_b: Sequence[float],
    threshold: float = 0.1,
    float32: bool = False,
) -> set[str]:
    """Relations of box A to box B among "left of", "right of", "above", "below".

    The centre offset is shrunk per axis by ``threshold * (size_a + size_b)`` (at zero), then
    divided by the unshrunk offset's length; a relation needs a component beyond 0.5.

    >>> sorted(relative_position((0, 0, 50, 50), (300, 0, 350, 50)))
    ['left of']
    >>> relative_position((0, 0, 50, 50), (10, 0, 60, 50))
    set()
    """
    dtype = np.float32 if float32 else np.float64
    boxes = np.array([list(box_a)[:4], list(box_b)[:4]], dtype=dtype).reshape(2, 2, 2)
    center_a, center_b = boxes.mean(axis=-2)
    dim_a, dim_b = np.abs(np.diff(boxes, axis=-2))[..., 0, :]
    offset = center_a - center_b
    shrunk = np.maximum(np.abs(offset) - threshold * (dim_a + dim_b), 0) * np.sign(offset)
    if np.all(np.abs(shrunk) < 1e-3):
        return set()
    dx, dy = shrunk / np.linalg.norm(offset)
    relations = set()
    if dx < -0.5:
        relations.add("left of")
    if dx > 0.5:
        relations.add("right of")
    if dy < -0.5:
        relations.add("above")
    if dy > 0.5:
        relations.add("below")
    return relations


def _join_relations(relations: set[str]) -> str:
    ordered = [r for r in _RELATION_ORDER if r in relations]
    ordered += sorted(relations - set(_RELATION_ORDER))
    return " and ".join(ordered)


def _key(mapping: Mapping[str, Any], name: str, where: str) -> Any:
    if not isinstance(mapping, Mapping) or name not in mapping:
        raise _RuleError(f"{where} has no {name!r} key (the official scorer raises KeyError)")
    return mapping[name]


def _check_include(
    clause: Mapping[str, Any],
    number: int,
    kept: Mapping[str, tuple[Detection, ...]],
    groups: list[tuple[Detection, ...] | None],
    options: GenEvalRuleOptions,
    reasons: list[str],
) -> tuple[Detection, ...] | None:
    """Apply one include clause; return its matched objects or None when it failed."""
    where = f"include clause {number}"
    name = _key(clause, "class", where)
    count = _key(clause, "count", where)
    found = kept.get(name, ())[:count]
    if len(found) < count:
        reasons.append(f"expected {name}>={count}, found {len(found)}")
        return None
    matched = True
    if "color" in clause:
        wanted = clause["color"]
        colors = [d.color for d in found]
        if any(c is None for c in colors):
            raise _RuleError(f"{where}: no colour was predicted for a kept {name!r} object")
        if colors.count(wanted) < count:
            matched = False
            summary = ", ".join(f"{colors.count(c)} {c}" for c in GENEVAL_COLORS if c in colors)
            reasons.append(
                f"expected {wanted} {name}>={count}, found {colors.count(wanted)} {wanted}; "
                f"and {summary}"
            )
    if "position" in clause and matched:
        relation, target = clause["position"]
        try:
            targets = groups[target]
        except IndexError:
            raise _RuleError(
                f"{where}: position target {target} is not an earlier include clause "
                "(the official scorer raises IndexError)"
            ) from None
        if targets is None:
            reasons.append(f"no target for {name} to be {relation}")
            return None
        for obj in found:
            for target_obj in targets:
                found_rel = relative_position(
                    obj.box, target_obj.box, options.position_threshold, options.float32
                )
                if relation not in found_rel:
                    reasons.append(
                        f"expected {name} {relation} target, found "
                        f"{_join_relations(found_rel)} target"
                    )
                    return None
    return found if matched else None


def evaluate_geneval(
    detections: Sequence[Detection],
    metadata: Mapping[str, Any],
    options: GenEvalRuleOptions = GenEvalRuleOptions(),
    class_order: Sequence[str] | None = None,
) -> GenEvalOutcome:
    """Apply GenEval's rules to one image's raw detections (any order, unfiltered).

    ``metadata`` is the official row (tag / include / exclude / prompt). ``color`` of a
    detection is the colour the classifier predicted for it (needed for colour clauses).

    >>> from echo4o_eval.records.types import Detection
    >>> dets = [Detection("dog", (0, 0, 9, 9), 0.95), Detection("dog", (20, 0, 29, 9), 0.92)]
    >>> meta = {"tag": "counting", "include": [{"class": "dog", "count": 1}],
    ...         "exclude": [{"class": "dog", "count": 2}]}
    >>> evaluate_geneval(dets, meta).reason
    'expected dog<2, found 2'
    """
    try:
        tag = _key(metadata, "tag", "metadata")
    except _RuleError as err:
        return GenEvalOutcome(Status.SCORE_ERROR, None, str(err))
    kept = filter_detections(detections, tag, options, class_order)
    reasons: list[str] = []
    try:
        groups: list[tuple[Detection, ...] | None] = []
        for number, clause in enumerate(metadata.get("include", [])):
            groups.append(_check_include(clause, number, kept, groups, options, reasons))
        for number, clause in enumerate(metadata.get("exclude", [])):
            where = f"exclude clause {number}"
            name = _key(clause, "class", where)
            count = _key(clause, "count", where)
            present = len(kept.get(name, ()))
            if present >= count:
                if name not in kept:
                    raise _RuleError(
                        f"{where}: count {count} for class {name!r} with no detections "
                        "(the official scorer raises KeyError)"
                    )
                reasons.append(f"expected {name}<{count}, found {present}")
    except _RuleError as err:
        return GenEvalOutcome(Status.SCORE_ERROR, None, str(err), kept)
    except (TypeError, ValueError) as err:
        return GenEvalOutcome(Status.SCORE_ERROR, None, f"malformed metadata: {err}", kept)
    return GenEvalOutcome(Status.OK, not reasons, "\n".join(reasons), kept)


def detections_from_golden(raw: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Detection]:
    """Detections from the goldens' ``{class: [{"box", "score", "color"}, ...]}`` layout.

    >>> detections_from_golden({"dog": [{"box": [0, 0, 1, 1], "score": 0.5, "color": "red"}]})
    [Detection(class_name='dog', box=(0, 0, 1, 1), score=0.5, mask_area=None, color='red')]
    """
    return [
        Detection(name, tuple(item["box"]), item["score"], color=item.get("color"))
        for name, items in raw.items()
        for item in items
    ]
