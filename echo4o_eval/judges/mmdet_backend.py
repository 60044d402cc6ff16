"""Optional mmdet backend (legacy parity with GenEval's official scorer): "mmdet-clip" judge.

Needs mmdet + mmcv (``pip install 'echo4o-eval[mmdet]'`` plus an mmcv build matching your
torch; see benchmarks/geneval/README.md). Reads both result layouts: mmdet 2.x
``(bbox_result, segm_result)`` tuples (per-class ``(n, 5)`` arrays and mask lists, what
GenEval's script expects) and mmdet 3.x ``DetDataSample`` (``pred_instances``). Class names
come from the model's metadata and are mapped to GenEval's names by name.

Options: ``detector_model`` = mmdet config file (default: mmdet's own
``mask2former_swin-s-p4-w7-224_8xb2-lsj-50e_coco.py``, GenEval's detector), ``checkpoint`` =
weights file (or $ECHO4O_MMDET_CHECKPOINT; ``random`` for random weights in tests).

Example (needs mmdet, so not run as a doctest)::

    judge = make_mmdet_clip_judge("", {"checkpoint": "mask2former_swin-s...pth"})
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from echo4o_eval.judges.detector_judge import DetectorJudge, RawInstance
from echo4o_eval.judges.detector_options import parse_detector_options, resolve_device
from echo4o_eval.judges.labels import map_id2label
from echo4o_eval.judges.mask2former import build_clip
from echo4o_eval.judges.weights import MissingWeightsError, missing_weights
from echo4o_eval.optional import require_module

DEFAULT_CONFIG = "mask2former/mask2former_swin-s-p4-w7-224_8xb2-lsj-50e_coco.py"
CHECKPOINT_ENV = "ECHO4O_MMDET_CHECKPOINT"
GENEVAL_CHECKPOINT = (
    "https://download.openmmlab.com/mmdetection/v2.0/mask2former/"
    "mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco/"
    "mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco_20220504_001756-743b7d99.pth"
)


def default_config() -> str:
    """mmdet's installed Swin-S Mask2Former COCO instance config."""
    mmdet = require_module("mmdet", "mmdet")
    return str(Path(mmdet.__file__).parent / ".mim" / "configs" / DEFAULT_CONFIG)


def _instances_v3(sample, names, min_score, wanted) -> list[RawInstance]:
    pred = sample.pred_instances
    scores = pred.scores.float().cpu().tolist()
    labels = pred.labels.cpu().tolist()
    boxes = pred.bboxes.float().cpu().tolist()
    masks = getattr(pred, "masks", None)
    out = []
    for k, (score, label, box) in enumerate(zip(scores, labels, boxes)):
        name = names.get(label)
        if name is None or score < min_score:
            continue
        mask = masks[k].cpu().numpy().astype(bool) if masks is not None else None
        area = float(mask.sum()) if mask is not None else None
        out.append(RawInstance(name, tuple(box), score, mask if name in wanted else None, area))
    return out


def _instances_v2(result, names, min_score, wanted) -> list[RawInstance]:
    import numpy as np

    bbox_result = result[0] if isinstance(result, tuple) else result
    segm_result = result[1] if isinstance(result, tuple) and len(result) > 1 else None
    if isinstance(segm_result, tuple):  # some heads return (segms, mask scores)
        segm_result = segm_result[0]
    out = []
    for label, rows in enumerate(bbox_result):
        name = names.get(label)
        if name is None:
            continue
        for k, row in enumerate(np.asarray(rows)):
            score = float(row[4])
            if score < min_score:
                continue
            mask = np.asarray(segm_result[label][k], dtype=bool) if segm_result is not None else None
            area = float(mask.sum()) if mask is not None else None
            out.append(RawInstance(name, tuple(float(v) for v in row[:4]), score,
                                   mask if name in wanted else None, area))  # fmt: skip
    return out


class MmdetBackend:
    """mmdet detector (2.x or 3.x) returning GenEval-named RawInstances."""

    def __init__(self, config: str, checkpoint: str | None, device: str = "cpu",
                 min_score: float = 0.3):  # fmt: skip
        apis = require_module("mmdet.apis", "mmdet")
        if checkpoint is not None and not os.path.exists(checkpoint):
            raise missing_weights("the mmdet checkpoint", checkpoint, "checkpoint", CHECKPOINT_ENV,
                                  FileNotFoundError(checkpoint))  # fmt: skip
        self.model = apis.init_detector(config, checkpoint, device=device)
        self.apis = apis
        meta = getattr(self.model, "dataset_meta", None) or {}
        classes = meta.get("classes") or getattr(self.model, "CLASSES", None)
        if not classes:
            raise ValueError(f"{config}: the model carries no class names")
        self.labels = map_id2label(dict(enumerate(classes)))
        self.config, self.checkpoint, self.min_score = config, checkpoint, float(min_score)

    def describe(self) -> dict[str, Any]:
        """Detector settings for the run manifest."""
        return {"detector": "mmdet", "detector_model": self.config,
                "checkpoint": self.checkpoint or "random", "min_score": self.min_score}  # fmt: skip

    def detect(self, images, classes, mask_classes) -> list[list[RawInstance]]:
        """Instances per image from the mmdet model (``classes`` is ignored: closed vocabulary)."""
        import numpy as np

        arrays = [np.ascontiguousarray(np.asarray(im)[:, :, ::-1]) for im in images]  # BGR
        results = self.apis.inference_detector(self.model, arrays)
        out = []
        for result, wanted in zip(results, mask_classes):
            if hasattr(result, "pred_instances"):
                out.append(_instances_v3(result, self.labels, self.min_score, wanted))
            else:
                out.append(_instances_v2(result, self.labels, self.min_score, wanted))
        return out


def make_mmdet_clip_judge(argument: str, options: dict[str, Any]) -> DetectorJudge:
    """Factory for ``--judge mmdet-clip[:CONFIG]``."""
    opts = parse_detector_options(options, "mmdet")
    config = opts.detector_model or argument or default_config()
    checkpoint = opts.checkpoint or os.environ.get(CHECKPOINT_ENV)
    if not checkpoint:
        raise MissingWeightsError(
            "mmdet-clip needs a checkpoint: download GenEval's detector weights "
            f"({GENEVAL_CHECKPOINT}) and pass `--judge-option checkpoint=PATH` or set "
            f"{CHECKPOINT_ENV} (`checkpoint=random` gives random weights, for tests only)."
        )
    device = resolve_device(opts.device)
    backend = MmdetBackend(config, None if checkpoint == "random" else checkpoint, device,
                           opts.min_score)  # fmt: skip
    return DetectorJudge(
        "mmdet-clip", backend, build_clip(opts, device), opts.batch_size,
        opts.color_min_score, opts.color_max_per_class, opts.prefetch,
        settings={"device": device}, workers=opts.workers,
    )  # fmt: skip
