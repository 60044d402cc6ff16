"""``synth evaluate``: score the kept instruction-following samples with the GenEval rule engine
through :func:`echo4o_eval.evaluate` - the generated set treated as a benchmark whose prompts
are our specs (counts, colours, left/right/above/below) and whose "model" hands back the set's
own images. The result is an ordinary run directory: resumable, and readable by
``echo4o-eval report`` and ``compare`` (e.g. to compare two generators' sets).

Samples the check rewrote are left out (their prompt no longer says what the spec says); the
summary counts them.

Example:
    >>> spec_tag({"objects": [{"class": "cat", "count": 2}], "relations": []})
    'counting'
    >>> spec_tag({"objects": [{"class": "cat", "count": 1}, {"class": "dog", "count": 1}],
    ...           "relations": [{"subject": 1, "relation": "left of", "object": 0}]})
    'position'
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from echo4o_eval.data_gen.config import SynthConfig
from echo4o_eval.data_gen.final import final_samples
from echo4o_eval.data_gen.records import RecordStore
from echo4o_eval.data_gen.specs import geneval_metadata
from echo4o_eval.data_gen.vocabulary import RELATIONS
from echo4o_eval.records.types import Generation, Status


def spec_tag(spec: dict[str, Any]) -> str:
    """The GenEval-like tag of an instruction spec (the hardest thing it asks for)."""
    if any(r["relation"] in RELATIONS for r in spec.get("relations", [])):
        return "position"
    if any(o.get("colour") for o in spec["objects"]):
        return "colors"
    if any(int(o["count"]) > 1 for o in spec["objects"]):
        return "counting"
    return "single_object" if len(spec["objects"]) == 1 else "two_object"


class GeneratedImages:
    """An ImageModel that finds each sample's generated image (nothing is generated)."""

    batch_size = 64

    def __init__(self, paths: dict[str, str], work_dir: str) -> None:
        self.paths, self.work_dir = paths, str(Path(work_dir).resolve())
        self.id = f"synth:{Path(self.work_dir).name}"

    def generate(self, requests):
        """The stored image of each request's sample."""
        return [Generation(r.sample_id, r.image_index, None, Status.OK, image_path=self.paths[r.sample_id])
                for r in requests]

    def describe(self) -> dict[str, Any]:
        """The work directory the images come from."""
        return {"id": self.id, "work_dir": self.work_dir}

    def identity(self) -> dict[str, Any]:
        """The work directory and the number of images (a new export of the set is a new run)."""
        return {"kind": "synth", "work_dir": self.work_dir, "images": len(self.paths)}

    def close(self) -> None:
        """Nothing to release."""


def evaluate_set(config: SynthConfig, judge: str | None = None, run_dir: str | Path | None = None,
                 judge_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Score the set; returns the metrics, coverage counts and the run directory."""
    from echo4o_eval import evaluate
    from echo4o_eval.spec import load_benchmark
    from echo4o_eval.records.types import Sample

    store = RecordStore(config.work_dir)
    samples, paths, skipped = [], {}, 0
    try:
        for sample in final_samples(store, include_original=False):
            if sample["subset"] != "instruction":
                continue
            if sample["rewritten"]:
                skipped += 1
                continue
            meta = geneval_metadata(sample["spec"], sample["prompt"])
            meta["tag"] = spec_tag(sample["spec"])
            samples.append(Sample(id=sample["id"], index=len(samples), prompt=sample["prompt"],
                                  tag=meta["tag"], metadata=meta))
            paths[sample["id"]] = sample["image_path"]
    finally:
        store.close()
    if not samples:
        raise ValueError(f"{config.work_dir}: no kept instruction-following samples to evaluate "
                         "(run synth filter first)")
    base = load_benchmark("geneval")
    spec = dataclasses.replace(base.spec, id="synth_instruction", display_name="Synthetic instruction set",
                               images_per_prompt=1, assets=(), variants={}, generation={})
    benchmark = dataclasses.replace(base, spec=spec, sample_loader=lambda assets, variant: list(samples))
    chosen = judge or config.check.detector or spec.default_judge
    options = judge_options if judge_options is not None else (
        {} if judge else dict(config.check.detector_options))
    name = chosen.replace(":", "_").replace("/", "_")
    target = Path(run_dir) if run_dir else config.work_path / "eval" / name
    outcome = evaluate(benchmark, GeneratedImages(paths, config.work_dir), chosen, run_dir=target,
                       judge_options=options, progress=False, allow_download=False)
    result = outcome.result
    return {"run_dir": str(outcome.run_dir), "samples": len(samples), "skipped_rewritten": skipped,
            "metrics": {k: v.value for k, v in result.metrics.items()},
            "per_tag": {tag: {k: v.value for k, v in m.items()} for tag, m in result.per_tag.items()},
            "status_counts": dict(result.status_counts)}
