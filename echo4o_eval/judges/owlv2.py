"""OWLv2 open-vocabulary detection through ``transformers``, and the "owlv2-clip" judge.

Looks for the class names each request lists (``params["classes"]`` plus ``color_classes``;
GenEval's 80 names when a request lists none), so object names outside COCO work too. All
images of a batch are queried with the union of their names; each image keeps only its own.
OWLv2 pads images to a square, so boxes are scaled to the longer side and clipped to the
image. It has no masks: ``mask_area`` is None and colour crops use the box on its original
background. Default checkpoint ``google/owlv2-base-patch16-ensemble`` (or $ECHO4O_OWLV2_MODEL).

Example (needs weights, so not run as a doctest)::

    judge = make_owlv2_clip_judge("", {"device": "cuda"})
"""

from __future__ import annotations

from typing import Any

from echo4o_eval.judges.detector_judge import DetectorJudge, RawInstance
from echo4o_eval.judges.detector_options import parse_detector_options, resolve_device, torch_dtype
from echo4o_eval.judges.labels import GENEVAL_OBJECT_NAMES
from echo4o_eval.judges.mask2former import build_clip
from echo4o_eval.judges.weights import missing_weights, resolve_source
from echo4o_eval.optional import require_module

DEFAULT_CHECKPOINT = "google/owlv2-base-patch16-ensemble"
ENV_VAR = "ECHO4O_OWLV2_MODEL"


class Owlv2Backend:
    """Batched text-queried detection; ``query_template`` wraps each class name."""

    def __init__(self, source: str, device: str = "cpu", dtype: str = "float32",
                 min_score: float = 0.1, query_template: str = "a photo of a {}"):  # fmt: skip
        self.torch = require_module("torch", "detect")
        transformers = require_module("transformers", "detect")
        try:
            self.processor = transformers.Owlv2Processor.from_pretrained(source)
            model = transformers.Owlv2ForObjectDetection.from_pretrained(source)
        except (OSError, ValueError) as err:
            raise missing_weights("OWLv2", source, "detector_model", ENV_VAR, err) from err
        self.dtype = torch_dtype(dtype)
        self.model = model.to(device=device, dtype=self.dtype).eval()
        self.device, self.source = device, source
        self.min_score, self.query_template = float(min_score), query_template

    def describe(self) -> dict[str, Any]:
        """Detector settings for the run manifest."""
        return {"detector": "owlv2", "detector_model": self.source, "min_score": self.min_score,
                "query_template": self.query_template}  # fmt: skip

    def detect(self, images, classes, mask_classes) -> list[list[RawInstance]]:
        """Instances per image, querying its ``classes`` (all GenEval objects when empty)."""
        torch = self.torch
        wanted = [tuple(c) or GENEVAL_OBJECT_NAMES for c in classes]
        names = sorted({n for w in wanted for n in w})
        queries = [[self.query_template.format(n) for n in names]] * len(images)
        inputs = self.processor(text=queries, images=list(images), return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        with torch.inference_mode():
            outputs = self.model(**inputs)
        sides = [(max(im.size), max(im.size)) for im in images]
        results = self.processor.post_process_grounded_object_detection(
            outputs, threshold=self.min_score, target_sizes=sides
        )
        out = []
        for image, own, result in zip(images, wanted, results):
            own_set, found = set(own), []
            for box, score, label in zip(result["boxes"].float().tolist(),
                                         result["scores"].float().tolist(),
                                         result["labels"].tolist()):  # fmt: skip
                name = names[label]
                if name not in own_set:
                    continue
                x1, y1 = min(max(box[0], 0.0), image.width), min(max(box[1], 0.0), image.height)
                x2, y2 = min(max(box[2], 0.0), image.width), min(max(box[3], 0.0), image.height)
                found.append(RawInstance(name, (x1, y1, x2, y2), score, None, None))
            out.append(found)
        return out


def make_owlv2_clip_judge(argument: str, options: dict[str, Any]) -> DetectorJudge:
    """Factory for ``--judge owlv2-clip[:PATH|HUB_ID]``."""
    opts = parse_detector_options(options, "owlv2")
    source = resolve_source(opts.detector_model or argument or None, ENV_VAR, DEFAULT_CHECKPOINT)
    device = resolve_device(opts.device)
    backend = Owlv2Backend(source, device, opts.dtype, opts.min_score)
    return DetectorJudge(
        "owlv2-clip", backend, build_clip(opts, device), opts.batch_size,
        opts.color_min_score, opts.color_max_per_class, opts.prefetch,
        settings={"device": device}, workers=opts.workers,
    )  # fmt: skip
