"""The optional mmdet backend on a random-weight Mask2Former from mmdet's own config.

Install: .venv/bin/pip install ../shared/wheels/mmcv-2.1.0-cp311-cp311-linux_x86_64.whl
mmengine==0.10.7 mmdet==3.3.0 (see ../shared/wheels/README.md). One small image, ~10-20 s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from echo4o_eval.judges.labels import GENEVAL_INDEX
from echo4o_eval.judges.mmdet_backend import _instances_v2
from echo4o_eval.judges.weights import MissingWeightsError
from echo4o_eval.factories import make_judge
from echo4o_eval.scoring.geneval_rules import GENEVAL_COLORS
from echo4o_eval.records.types import JudgeRequest, Status
from tests.tiny_models import save_tiny_clip

pytestmark = pytest.mark.mmdet


def test_mmdet2_tuples_are_read() -> None:
    bbox = [np.zeros((0, 5), np.float32) for _ in range(80)]
    bbox[16] = np.array([[1, 2, 5, 6, 0.8], [0, 0, 1, 1, 0.1]], np.float32)
    segm = [[] for _ in range(80)]
    mask = np.zeros((8, 8), bool)
    mask[2:6, 1:5] = True
    segm[16] = [mask, mask]
    names = {16: "dog"}
    (dog,) = _instances_v2((bbox, segm), names, 0.3, {"dog"})
    assert dog.class_name == "dog" and dog.box == (1.0, 2.0, 5.0, 6.0) and dog.mask_area == 16.0
    assert dog.mask is not None and _instances_v2((bbox, segm), names, 0.3, set())[0].mask is None
    assert len(_instances_v2(bbox, names, 0.0, set())) == 2  # bbox-only results


def test_mmdet_judge_random_mask2former(tmp_path: Path) -> None:
    pytest.importorskip("mmdet.apis")
    from PIL import Image

    name, weights = save_tiny_clip(tmp_path / "clip")
    options = {"checkpoint": "random", "clip_model": name, "clip_pretrained": str(weights),
               "min_score": "0", "color_min_score": "0", "device": "cpu"}  # fmt: skip
    with pytest.raises(MissingWeightsError, match="checkpoint=PATH"):
        make_judge("mmdet-clip", {k: v for k, v in options.items() if k != "checkpoint"})
    judge = make_judge("mmdet-clip", options)
    path = tmp_path / "small.png"
    Image.new("RGBA", (96, 64), (200, 30, 30, 128)).save(path)
    (judgement,) = judge.judge([JudgeRequest("main", (str(path),), color_classes=("person",),
                                             params={"colors": list(GENEVAL_COLORS)})])
    assert judgement.status is Status.OK, judgement.error
    assert judgement.image_size == (96, 64) and judgement.detections
    for d in judgement.detections:
        assert d.class_name in GENEVAL_INDEX and d.mask_area is not None
        assert (d.color in GENEVAL_COLORS) if d.class_name == "person" else d.color is None
