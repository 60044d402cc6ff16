"""The ``detections:FILE.jsonl`` judge: precomputed detector output read from a file.

Useful to score detections made elsewhere (another detector, another machine) with our
rules, and to test scoring end to end without models. One JSON object per line::

    {"image": "00012/samples/0000.png",            # absolute, or relative to the file
     "image_size": [512, 512],                      # optional
     "detections": [{"class_name": "cat", "box": [x1, y1, x2, y2], "score": 0.93,
                     "color": "red", "mask_area": 1234.0}, ...]}

``detections`` may also be ``{class name: [{"box", "score", "color"?, "mask_area"?}]}``.
An image is matched by its resolved path, else by its last three (then two) path parts.
A requested image absent from the file is a ``judge_error``; so is a detection of a class
whose colour the benchmark needs but which carries no ``color`` (never guessed).

Example:
    >>> import json, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "det.jsonl").write_text(json.dumps({"image": "a.png", "detections":
    ...     {"cat": [{"box": [0, 0, 4, 4], "score": 0.9}]}}) + "\\n")
    >>> judge = DetectionsFileJudge(d / "det.jsonl")
    >>> from echo4o_eval.records.types import JudgeRequest
    >>> judge.judge([JudgeRequest("main", (str(d / "a.png"),))])[0].detections[0].class_name
    'cat'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from echo4o_eval.loading import BenchmarkFileError, read_jsonl
from echo4o_eval.records.types import Detection, JudgeRequest, Judgement, Status


def _parse_detections(raw: Any, where: str) -> tuple[Detection, ...]:
    items = []
    if isinstance(raw, Mapping):
        for class_name, entries in raw.items():
            items.extend({**entry, "class_name": class_name} for entry in entries)
    elif isinstance(raw, list):
        items = raw
    else:
        raise BenchmarkFileError(f"{where}: 'detections' must be a list or a mapping")
    out = []
    for item in items:
        try:
            box = tuple(float(v) for v in item["box"])
            if len(box) != 4:
                raise ValueError("box needs 4 numbers")
            out.append(
                Detection(
                    class_name=str(item.get("class_name", item.get("class"))),
                    box=box,
                    score=float(item["score"]),
                    mask_area=None if item.get("mask_area") is None else float(item["mask_area"]),
                    color=item.get("color"),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BenchmarkFileError(f"{where}: bad detection {item!r}: {exc}") from exc
    return tuple(out)


class DetectionsFileJudge:
    """A detector-kind Judge answering from a JSONL of precomputed detections."""

    kind = "detector"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.id = f"detections:{self.path}"
        self._by_path: dict[str, dict] = {}
        self._by_suffix: dict[tuple[str, ...], list[dict]] = {}
        for number, row in read_jsonl(self.path):
            where = f"{self.path}:{number}"
            try:
                image = Path(row["image"])
            except (KeyError, TypeError) as exc:
                raise BenchmarkFileError(f"{where}: need a JSON object with 'image': {exc}") from exc
            entry = {
                "detections": _parse_detections(row.get("detections", []), where),
                "image_size": tuple(row["image_size"]) if row.get("image_size") else None,
            }
            absolute = image if image.is_absolute() else self.path.parent / image
            self._by_path[str(absolute.resolve())] = entry
            for depth in (3, 2):
                self._by_suffix.setdefault(image.parts[-depth:], []).append(entry)

    def _lookup(self, image: str) -> dict | None:
        path = Path(image)
        entry = self._by_path.get(str(path.resolve()))
        if entry is not None:
            return entry
        for depth in (3, 2):
            matches = self._by_suffix.get(path.parts[-depth:], [])
            if len(matches) == 1:
                return matches[0]
        return None

    def _judge_one(self, request: JudgeRequest) -> Judgement:
        if not request.images:
            return Judgement(request.key, self.id, Status.JUDGE_ERROR, error="request has no image")
        entry = self._lookup(request.images[-1])
        if entry is None:
            return Judgement(
                request.key,
                self.id,
                Status.JUDGE_ERROR,
                error=f"{self.path} has no detections for {request.images[-1]}",
            )
        uncoloured = sorted(
            {d.class_name for d in entry["detections"] if d.class_name in request.color_classes and d.color is None}
        )
        if uncoloured:
            return Judgement(
                request.key,
                self.id,
                Status.JUDGE_ERROR,
                error=f"{self.path}: detections of {', '.join(uncoloured)} carry no colour, "
                f"which this prompt needs ({request.images[-1]})",
            )
        return Judgement(
            request.key,
            self.id,
            Status.OK,
            detections=entry["detections"],
            image_size=entry["image_size"],
        )

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Judgement]:
        """One Judgement per request, in order, from the detections file (JUDGE_ERROR if absent)."""
        return [self._judge_one(r) for r in requests]

    def describe(self) -> Mapping[str, Any]:
        """Settings for the run manifest."""
        return {"type": "detections-file", "path": str(self.path)}

    def close(self) -> None:
        """Nothing to release."""
        pass


def make_detections_judge(argument: str, options: Mapping[str, Any]) -> DetectionsFileJudge:
    """Registry factory for ``detections:FILE.jsonl``."""
    if not argument:
        raise ValueError("the detections judge needs a file: detections:PATH.jsonl")
    if options:
        raise ValueError(f"the detections judge takes no options (got {', '.join(sorted(options))})")
    return DetectionsFileJudge(argument)
