"""Offline GenEval++ checks over detections: our detector-based design (no API, no cost).

The official GenEval++ asks GPT-4.1 whether an image satisfies a checklist. This module
checks the same structured metadata with detections instead (see
``benchmarks/geneval_pp/DETECTOR.md``). An image is correct when every clause holds:

* include clause ``{"class", "count", "color"?, "region"?, "size"?}``: detections are first
  filtered exactly as GenEval does (score > 0.3, or > 0.9 for the ``counting`` tag; at most 16
  per class; optional NMS). The class must then be present ``count`` times (exactly by
  default; ``count_mode="at_least"`` accepts more). The ``count`` most confident objects are
  the clause's objects:
  - ``color``: each of them has that colour (CLIP prediction);
  - ``region`` left/right/above/below: each box centre lies in that half of the image, at
    least ``region_margin`` x width (or height) beyond the centre line (strictly);
  - ``size`` larger/smaller: every object of a "larger" clause has a strictly larger area
    (mask area, box area when there is no mask) than every object of a "smaller" clause.
* exclude clause ``{"class", "count"}``: fails when ``count`` or more objects are kept.

Every failed clause adds one human-readable reason.

Example:
    >>> from echo4o_eval.records.types import Detection
    >>> meta = {"tag": "color_spatial_attr", "include": [
    ...     {"class": "cat", "count": 1, "color": "orange", "region": "left"},
    ...     {"class": "cup", "count": 1, "color": "blue", "region": "right"}]}
    >>> dets = [Detection("cat", (10, 10, 100, 100), 0.9, color="orange"),
    ...         Detection("cup", (300, 10, 400, 100), 0.8, color="red")]
    >>> out = evaluate_geneval_pp(dets, meta, (512, 512))
    >>> out.correct, out.reasons
    (False, ('cup #1 is red, expected blue',))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from echo4o_eval.scoring.geneval_rules import GenEvalRuleOptions, filter_detections
from echo4o_eval.records.types import Detection, Status

REGIONS = ("left", "right", "above", "below")
SIZES = ("larger", "smaller")
COUNT_MODES = ("exact", "at_least")


@dataclass(frozen=True)
class GenEvalPPOptions:
    """Thresholds of the offline GenEval++ checks (defaults justified in DETECTOR.md).

    Attributes:
        count_mode: "exact" (default: "three cats" means three) or "at_least".
        region_margin: fraction of the image side a box centre must lie beyond the centre line
            (0.0: anywhere strictly inside the half).
        filtering: GenEval's confidence/cap/NMS settings (same defaults as GenEval).
    """

    count_mode: str = "exact"
    region_margin: float = 0.0
    filtering: GenEvalRuleOptions = field(default_factory=GenEvalRuleOptions)

    def __post_init__(self) -> None:
        if self.count_mode not in COUNT_MODES:
            raise ValueError(f"count_mode must be one of {COUNT_MODES}, not {self.count_mode!r}")
        if not 0.0 <= self.region_margin < 0.5:
            raise ValueError(f"region_margin must be in [0, 0.5), not {self.region_margin}")

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any] | None) -> "GenEvalPPOptions":
        """From plain (CLI string) options; unrelated keys are ignored.

        >>> GenEvalPPOptions.from_mapping({"count_mode": "at_least", "region_margin": "0.05"})
        ... # doctest: +ELLIPSIS
        GenEvalPPOptions(count_mode='at_least', region_margin=0.05, ...)
        """
        options = options or {}
        return cls(
            count_mode=str(options.get("count_mode", "exact")),
            region_margin=float(options.get("region_margin", 0.0)),
            filtering=GenEvalRuleOptions.from_mapping(options),
        )


@dataclass(frozen=True)
class GenEvalPPOutcome:
    """``status`` OK or SCORE_ERROR; ``reasons`` one line per failed clause (or the error)."""

    status: Status
    correct: bool | None
    reasons: tuple[str, ...]
    kept: Mapping[str, tuple[Detection, ...]] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """The reasons joined by newlines."""
        return "\n".join(self.reasons)


def object_area(detection: Detection) -> float:
    """Mask area when known, else box area.

    >>> object_area(Detection("cup", (0, 0, 10, 5), 0.9)), object_area(
    ...     Detection("cup", (0, 0, 10, 5), 0.9, mask_area=20.0))
    (50.0, 20.0)
    """
    if detection.mask_area is not None:
        return float(detection.mask_area)
    x1, y1, x2, y2 = detection.box
    return float(abs(x2 - x1) * abs(y2 - y1))


def in_region(box: Sequence[float], region: str, image_size: tuple[int, int],
              margin: float = 0.0) -> bool:  # fmt: skip
    """Whether the box centre lies strictly inside ``region`` half, beyond the margin.

    >>> in_region((0, 0, 100, 100), "left", (200, 200)), in_region((50, 0, 150, 10), "left", (200, 200))
    (True, False)
    """
    width, height = image_size
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    if region == "left":
        return cx < width / 2 - margin * width
    if region == "right":
        return cx > width / 2 + margin * width
    if region == "above":
        return cy < height / 2 - margin * height
    if region == "below":
        return cy > height / 2 + margin * height
    raise ValueError(f"unknown region {region!r} (expected one of {REGIONS})")


def _clause_objects(clause, number, kept, options, reasons):
    name, count = clause["class"], clause["count"]
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError(f"include clause {number}: count must be a non-negative integer")
    found = kept.get(name, ())
    if options.count_mode == "exact" and len(found) != count:
        reasons.append(f"expected exactly {count} {name}, found {len(found)}")
        return None
    if len(found) < count:
        reasons.append(f"expected at least {count} {name}, found {len(found)}")
        return None
    return found[:count]


def _check_attributes(clause, objects, image_size, options, reasons) -> bool:
    name, ok = clause["class"], True
    wanted = clause.get("color")
    if wanted:
        for k, obj in enumerate(objects, 1):
            if obj.color is None:
                raise ValueError(f"no colour was predicted for {name} #{k}")
            if obj.color != wanted:
                reasons.append(f"{name} #{k} is {obj.color}, expected {wanted}")
                ok = False
    region = clause.get("region")
    if region:
        if image_size is None:
            raise ValueError("a region clause needs the image size")
        for k, obj in enumerate(objects, 1):
            if not in_region(obj.box, region, image_size, options.region_margin):
                cx, cy = (obj.box[0] + obj.box[2]) / 2, (obj.box[1] + obj.box[3]) / 2
                where = f"centre ({cx:.0f}, {cy:.0f}) in a {image_size[0]}x{image_size[1]} image"
                side = "side" if region in ("left", "right") else "half"
                reasons.append(f"{name} #{k} is not on the {region} {side}: {where}")
                ok = False
    return ok


def _check_sizes(groups, reasons) -> None:
    larger = [(c, objs) for c, objs in groups if c.get("size") == "larger" and objs]
    smaller = [(c, objs) for c, objs in groups if c.get("size") == "smaller" and objs]
    for big_clause, big in larger:
        for small_clause, small in smaller:
            big_area = min(object_area(o) for o in big)
            small_area = max(object_area(o) for o in small)
            if not big_area > small_area:
                reasons.append(
                    f"expected {big_clause['class']} (area {big_area:.0f}) larger than "
                    f"{small_clause['class']} (area {small_area:.0f})"
                )


def evaluate_geneval_pp(
    detections: Sequence[Detection],
    metadata: Mapping[str, Any],
    image_size: tuple[int, int] | None,
    options: GenEvalPPOptions = GenEvalPPOptions(),
) -> GenEvalPPOutcome:
    """Check one image's raw detections against a GenEval++ row; see the module docstring.

    >>> from echo4o_eval.records.types import Detection
    >>> meta = {"tag": "counting", "include": [{"class": "cup", "count": 2}]}
    >>> dets = [Detection("cup", (0, 0, 9, 9), 0.95), Detection("cup", (20, 0, 29, 9), 0.95),
    ...         Detection("cup", (40, 0, 49, 9), 0.91)]
    >>> evaluate_geneval_pp(dets, meta, (64, 64)).reason
    'expected exactly 2 cup, found 3'
    >>> evaluate_geneval_pp(dets, meta, (64, 64), GenEvalPPOptions(count_mode="at_least")).correct
    True
    """
    reasons: list[str] = []
    try:
        tag = metadata["tag"]
        kept = filter_detections(detections, tag, options.filtering)
        groups = []
        for number, clause in enumerate(metadata.get("include", [])):
            objects = _clause_objects(clause, number, kept, options, reasons)
            if objects is not None:
                if clause.get("size") not in (None, *SIZES):
                    raise ValueError(f"include clause {number}: unknown size {clause['size']!r}")
                if not _check_attributes(clause, objects, image_size, options, reasons):
                    objects = None
            groups.append((clause, objects))
        _check_sizes(groups, reasons)
        for clause in metadata.get("exclude", []) or []:
            present = len(kept.get(clause["class"], ()))
            if present >= clause["count"]:
                reasons.append(f"expected fewer than {clause['count']} {clause['class']}, "
                               f"found {present}")  # fmt: skip
    except KeyError as err:
        return GenEvalPPOutcome(Status.SCORE_ERROR, None, (f"metadata has no {err} key",))
    except (TypeError, ValueError) as err:
        return GenEvalPPOutcome(Status.SCORE_ERROR, None, (f"cannot check metadata: {err}",))
    return GenEvalPPOutcome(Status.OK, not reasons, tuple(reasons), kept)
