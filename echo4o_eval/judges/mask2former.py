"""Mask2Former instance segmentation through ``transformers``, and the "mask2former-clip" judge.

Default checkpoint: ``facebook/mask2former-swin-small-coco-instance`` (the Swin-S size GenEval
uses); ``mask2former-clip:swin-l`` selects the Swin-L one, ``mask2former-clip:PATH`` any local
or hub checkpoint; ``--judge-option detector_model=...`` or $ECHO4O_MASK2FORMER_MODEL too.
Label ids are mapped onto GenEval's 80 names through ``config.id2label`` (by name).

Post-processing follows mmdet's Mask2Former instance head, which GenEval's official scorer
ran: per image, the top ``max_per_image`` (query, class) pairs by class probability; each
query's mask logits are resized to the image, binarised at 0; score = class probability x
mean mask probability inside the mask; box = the mask's extent (exclusive right/bottom).
Unlike ``post_process_instance_segmentation`` masks may overlap, as in mmdet.

Example (needs weights, so not run as a doctest)::

    judge = make_mask2former_clip_judge("", {"device": "cuda", "dtype": "float16"})
    judgements = judge.judge([JudgeRequest("main", ("img.png",), color_classes=("car",))])
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from echo4o_eval.judges.detector_judge import DetectorJudge, RawInstance
from echo4o_eval.judges.detector_options import (
    DetectorOptions, parse_detector_options, resolve_device, torch_dtype,
)
from echo4o_eval.judges.labels import map_id2label
from echo4o_eval.judges.weights import missing_weights, resolve_source
from echo4o_eval.optional import require_module

CHECKPOINTS = {
    "": "facebook/mask2former-swin-small-coco-instance",
    "swin-s": "facebook/mask2former-swin-small-coco-instance",
    "swin-l": "facebook/mask2former-swin-large-coco-instance",
    "swin-b": "facebook/mask2former-swin-base-coco-instance",
    "swin-t": "facebook/mask2former-swin-tiny-coco-instance",
}
ENV_VAR = "ECHO4O_MASK2FORMER_MODEL"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _preprocessing(source: str) -> dict[str, Any]:
    """Input size and normalisation from the checkpoint's preprocessor_config.json, if any."""
    config: dict[str, Any] = {}
    path = Path(source) / "preprocessor_config.json"
    try:
        if path.is_file():
            config = json.loads(path.read_text())
        elif not os.path.exists(source):
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(source, "preprocessor_config.json")
            if isinstance(cached, str):
                config = json.loads(Path(cached).read_text())
    except (OSError, ValueError, ImportError):
        config = {}
    size = config.get("size") or {}
    if isinstance(size, int):
        size = {"height": size, "width": size}
    height = size.get("height") or size.get("shortest_edge") or 384
    width = size.get("width") or size.get("shortest_edge") or 384
    return {
        "size": (int(height), int(width)),
        "mean": tuple(config.get("image_mean") or IMAGENET_MEAN),
        "std": tuple(config.get("image_std") or IMAGENET_STD),
    }


class Mask2FormerBackend:
    """Batched Mask2Former instance detection returning GenEval-named RawInstances.

    Args:
        source: local directory or hub id of a Mask2FormerForUniversalSegmentation checkpoint.
        device, dtype: where and in which precision the model runs.
        input_size: square input side; default from the checkpoint's preprocessor (384).
        max_per_image: (query, class) pairs considered per image (mmdet: 100).
        min_score: instances scoring below are dropped.
    """

    def __init__(self, source: str, device: str = "cpu", dtype: str = "float32",
                 input_size: int | None = None, max_per_image: int = 100,
                 min_score: float = 0.3):  # fmt: skip
        self.torch = require_module("torch", "detect")
        transformers = require_module("transformers", "detect")
        try:
            model = transformers.Mask2FormerForUniversalSegmentation.from_pretrained(source)
        except (OSError, ValueError) as err:
            raise missing_weights("Mask2Former", source, "detector_model", ENV_VAR, err) from err
        self.dtype = torch_dtype(dtype)
        self.model = model.to(device=device, dtype=self.dtype).eval()
        self.device, self.source = device, source
        self.labels = map_id2label(model.config.id2label)
        if not self.labels:
            raise ValueError(f"{source}: no label of config.id2label is a GenEval/COCO class")
        prep = _preprocessing(source)
        self.size = (int(input_size), int(input_size)) if input_size else prep["size"]
        torch = self.torch
        self.mean = torch.tensor(prep["mean"], device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(prep["std"], device=device).view(1, 3, 1, 1)
        num_classes = model.config.num_labels
        self.class_names = [self.labels.get(i) for i in range(num_classes)]
        self.known = torch.tensor([n is not None for n in self.class_names], device=device)
        self.max_per_image, self.min_score = int(max_per_image), float(min_score)

    def describe(self) -> dict[str, Any]:
        """Detector settings for the run manifest."""
        return {"detector": "mask2former", "detector_model": self.source,
                "input_size": list(self.size), "max_per_image": self.max_per_image,
                "min_score": self.min_score, "dtype": str(self.dtype).replace("torch.", ""),
                "mapped_labels": len(self.labels)}  # fmt: skip

    def prepare(self, image) -> Any:
        """One RGB image resized to the input size: uint8 (H, W, 3) numpy array. Thread-safe;
        the judge runs it on its host workers."""
        import numpy as np

        height, width = self.size
        return np.asarray(image.resize((width, height), resample=2))

    def _pixels(self, images: Sequence[Any], prepared: Sequence[Any] | None = None):
        """Normalised (N, 3, H, W) input on the device; on CUDA through pinned memory."""
        import numpy as np

        torch = self.torch
        arrays = prepared if prepared is not None else [self.prepare(im) for im in images]
        height, width = self.size
        cuda = str(self.device).startswith("cuda")
        host = torch.empty((len(arrays), height, width, 3), dtype=torch.uint8, pin_memory=cuda)
        np.stack(arrays, out=host.numpy())
        batch = host.to(self.device, non_blocking=cuda).permute(0, 3, 1, 2)
        batch = (batch.float() / 255.0 - self.mean) / self.std
        return batch.to(self.dtype)

    def detect(self, images, classes, mask_classes, prepared=None) -> list[list[RawInstance]]:
        """Instances per image; ``prepared``: the images' arrays from ``prepare``, if already made."""
        torch = self.torch
        with torch.inference_mode():
            outputs = self.model(pixel_values=self._pixels(images, prepared))
            return self._postprocess(outputs.class_queries_logits.float(),
                                     outputs.masks_queries_logits, images, mask_classes)  # fmt: skip

    def _postprocess(self, class_logits, mask_logits, images, mask_classes) -> list[list[RawInstance]]:
        """Top (query, class) pairs for the whole batch at once, then full-resolution masks only
        for the pairs that can pass ``min_score``."""
        torch = self.torch
        probs = class_logits.softmax(dim=-1)[:, :, :-1]
        num_classes = probs.shape[-1]
        k = min(self.max_per_image, probs.shape[1] * num_classes)
        scores, flat = probs.flatten(1).topk(k, dim=1)
        labels = flat % num_classes
        keep = (scores >= self.min_score) & self.known[labels]  # score*mask_score <= score
        rows, cols = keep.nonzero(as_tuple=True)
        if rows.numel() == 0:
            return [[] for _ in images]
        scores, labels = scores[rows, cols], labels[rows, cols]
        queries = flat[rows, cols] // num_classes
        row_list = rows.tolist()
        out: list[list[RawInstance]] = [[] for _ in images]
        # On CPU one image at a time keeps the full-resolution masks in cache (measured faster
        # than one big resize); on a GPU one resize per image size.
        per_image = str(self.device).startswith("cpu")
        groups: dict[tuple, list[int]] = {}
        for n, row in enumerate(row_list):
            size = (images[row].height, images[row].width)
            groups.setdefault((row if per_image else -1, size), []).append(n)
        names = [self.class_names[i] for i in labels.tolist()]
        for (_, size), members in groups.items():
            index = torch.tensor(members, device=rows.device)
            logits = torch.nn.functional.interpolate(
                mask_logits[rows[index], queries[index]][None].float(), size=size,
                mode="bilinear", align_corners=False,
            )[0]  # fmt: skip
            binary = logits > 0
            areas = torch.count_nonzero(binary.flatten(1), dim=1)
            mask_scores = logits.sigmoid_().mul_(binary).flatten(1).sum(1) / (areas + 1e-6)
            final = scores[index] * mask_scores
            final_list, box_list = final.tolist(), _mask_boxes(binary).tolist()
            area_list = areas.tolist()
            wanted = [j for j, n in enumerate(members) if final_list[j] >= self.min_score
                      and names[n] in mask_classes[row_list[n]]]  # fmt: skip
            if per_image:  # views, no copy
                masks = {j: binary[j].numpy() for j in wanted}
            else:  # one device-to-host copy for the group
                masks = dict(zip(wanted, binary[wanted].cpu().numpy())) if wanted else {}
            for j, n in enumerate(members):
                if final_list[j] < self.min_score:
                    continue
                row = row_list[n]
                mask = masks.get(j)
                out[row].append(RawInstance(names[n], tuple(box_list[j]), final_list[j], mask,
                                            float(area_list[j])))  # fmt: skip
        return out


def _mask_boxes(binary):
    """(n, 4) float boxes x1, y1, x2 (exclusive), y2 (exclusive) of boolean masks; 0s if empty.

    >>> import torch
    >>> mask = torch.zeros((1, 4, 5), dtype=torch.bool); mask[0, 1:3, 2:4] = True
    >>> _mask_boxes(torch.cat([mask, torch.zeros_like(mask)])).tolist()
    [[2.0, 1.0, 4.0, 3.0], [0.0, 0.0, 0.0, 0.0]]
    """
    import torch

    cols, rows = binary.any(dim=1), binary.any(dim=2)  # (n, W), (n, H)
    width, height = cols.shape[1], rows.shape[1]
    cols8, rows8 = cols.to(torch.uint8), rows.to(torch.uint8)
    boxes = torch.stack([
        cols8.argmax(dim=1), rows8.argmax(dim=1),  # first set column / row
        width - cols8.flip(1).argmax(dim=1), height - rows8.flip(1).argmax(dim=1),
    ], dim=1).float()  # fmt: skip
    boxes[~cols.any(dim=1)] = 0
    return boxes


def build_clip(opts: DetectorOptions, device: str):
    """The CLIP color classifier configured by the judge options ``opts`` on ``device``."""
    from echo4o_eval.judges.clip_color import ClipColorClassifier

    return ClipColorClassifier(opts.clip_model, opts.clip_pretrained, device,
                               opts.clip_dtype or opts.dtype, opts.background,
                               opts.crop, opts.clip_batch_size)  # fmt: skip


def make_mask2former_clip_judge(argument: str, options: dict[str, Any]) -> DetectorJudge:
    """Factory for ``--judge mask2former-clip[:swin-s|swin-l|PATH|HUB_ID]``."""
    opts = parse_detector_options(options, "mask2former")
    chosen = opts.detector_model or (CHECKPOINTS.get(argument, argument) if argument else None)
    source = resolve_source(chosen, ENV_VAR, CHECKPOINTS[""])
    device = resolve_device(opts.device)
    backend = Mask2FormerBackend(source, device, opts.dtype, opts.input_size,
                                 opts.max_per_image, opts.min_score)  # fmt: skip
    return DetectorJudge(
        "mask2former-clip", backend, build_clip(opts, device), opts.batch_size,
        opts.color_min_score, opts.color_max_per_class, opts.prefetch,
        settings={"device": device}, workers=opts.workers,
    )  # fmt: skip
