"""Detector label names mapped onto GenEval's 80 object names, by name (never by position).

GenEval names its 80 classes after COCO's, in COCO order, with three renames (``mouse`` ->
``computer mouse``, ``remote`` -> ``tv remote``, ``keyboard`` -> ``computer keyboard``).
Detector checkpoints spell some classes differently (``tvmonitor``, ``sofa``, ``hair dryer``,
``hot_dog``...); :func:`geneval_name` normalises a label and maps it, returning None for labels
outside the 80 (e.g. panoptic "stuff" classes).

Example:
    >>> geneval_name("remote"), geneval_name("TV-Monitor"), geneval_name("wall-other-merged")
    ('tv remote', 'tv', None)
    >>> map_id2label({0: "person", 1: "mouse", 2: "sky"})
    {0: 'person', 1: 'computer mouse'}
"""

from __future__ import annotations

from typing import Mapping

#: The 80 class names GenEval's prompts use, in COCO category order.
GENEVAL_OBJECT_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "computer mouse",
    "tv remote", "computer keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

GENEVAL_INDEX: dict[str, int] = {name: i for i, name in enumerate(GENEVAL_OBJECT_NAMES)}

# Other spellings seen in detector configs (COCO, VOC-style, LVIS-style), normalised form.
_ALIASES: dict[str, str] = {
    "mouse": "computer mouse",
    "remote": "tv remote",
    "remote control": "tv remote",
    "keyboard": "computer keyboard",
    "tvmonitor": "tv",
    "tv monitor": "tv",
    "television": "tv",
    "sofa": "couch",
    "diningtable": "dining table",
    "table": "dining table",
    "pottedplant": "potted plant",
    "motorbike": "motorcycle",
    "aeroplane": "airplane",
    "hair dryer": "hair drier",
    "hairdrier": "hair drier",
    "cellphone": "cell phone",
    "mobile phone": "cell phone",
    "doughnut": "donut",
    "hotdog": "hot dog",
    "fire hydrant": "fire hydrant",
    "firehydrant": "fire hydrant",
    "stopsign": "stop sign",
    "sportsball": "sports ball",
    "ball": "sports ball",
    "teddybear": "teddy bear",
    "wineglass": "wine glass",
    "refrigerator": "refrigerator",
    "fridge": "refrigerator",
}


def normalize_label(label: str) -> str:
    """Lower-case, ``_``/``-`` to spaces, single spaces.

    >>> normalize_label("Potted_Plant ")
    'potted plant'
    """
    return " ".join(label.replace("_", " ").replace("-", " ").lower().split())


def geneval_name(label: str) -> str | None:
    """GenEval's name for a detector label, or None when it is not one of the 80.

    >>> geneval_name("hot_dog"), geneval_name("dog")
    ('hot dog', 'dog')
    """
    name = normalize_label(label)
    if name in GENEVAL_INDEX:
        return name
    return _ALIASES.get(name)


def map_id2label(id2label: Mapping[int | str, str]) -> dict[int, str]:
    """``{label_id: GenEval name}`` for the labels that are GenEval classes.

    Raises ValueError when two labels map onto the same name (an ambiguous checkpoint).

    >>> map_id2label({"3": "keyboard"})
    {3: 'computer keyboard'}
    """
    out: dict[int, str] = {}
    seen: dict[str, str] = {}
    for key, label in id2label.items():
        name = geneval_name(str(label))
        if name is None:
            continue
        if name in seen:
            raise ValueError(
                f"detector labels {seen[name]!r} and {label!r} both map to GenEval class {name!r}"
            )
        seen[name] = str(label)
        out[int(key)] = name
    return out
