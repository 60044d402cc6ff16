"""Builders of small, real run directories (GenEval, detector judge) for report/compare tests.

Written through the real RunStore API, so the reader side is tested against what the runner
writes. Verdicts are drawn from a seeded per-prompt difficulty; ``flip``/``drop`` change them
deterministically to make regressions or noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from echo4o_eval.benchmarks.geneval.detector import GenEvalEvaluator
from echo4o_eval.statistics.jackknife import confidence_intervals
from echo4o_eval.rundir.store import RunStore
from echo4o_eval.records.types import Detection, Generation, Judgement, Sample, SampleScore, Status

TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
HOSTILE = ['<script>window.__pwned = 1</script>a cat', '"><img src=x onerror="window.__pwned=2">',
           "a dog & a </textarea> {{ 7*7 }}"]


def make_samples(n_prompts: int, hostile: bool = False) -> list[Sample]:
    samples = []
    for i in range(n_prompts):
        tag = TAGS[i % len(TAGS)]
        prompt = f"a photo of object number {i}"
        if hostile and i < len(HOSTILE):
            prompt = HOSTILE[i]
        metadata = {"tag": tag, "include": [{"class": "cat", "count": 1 + i % 3}], "prompt": prompt}
        samples.append(Sample(id=f"{i:05d}", index=i, prompt=prompt, tag=tag, metadata=metadata))
    return samples


def verdicts(samples, images: int, seed: int = 0, p: float = 0.6) -> dict[tuple[str, int], bool]:
    rng = np.random.default_rng(seed)
    out = {}
    for s in samples:
        logit = np.log(p / (1 - p)) + rng.normal(0, 1.0)
        for j in range(images):
            out[(s.id, j)] = bool(rng.random() < 1 / (1 + np.exp(-logit)))
    return out


def worsen(table, share: float, seed: int):
    """Turn ``share`` of the correct verdicts wrong (a seeded regression)."""
    rng = np.random.default_rng(seed)
    return {k: v and rng.random() >= share for k, v in table.items()}


def jitter(table, share: float, seed: int):
    """Flip ``share`` of all verdicts either way (judge/seed noise, no real change)."""
    rng = np.random.default_rng(seed)
    return {k: v ^ bool(rng.random() < share) for k, v in table.items()}


def write_run(run_dir: Path, samples, table, model: str, images: int = 2, failures=(),
              image_px: int = 0, n_boot: int = 100, created="2026-11-28T10:00:00+00:00",
              judge_reason: str = "", judge: str = "mask2former-clip") -> Path:
    """A GenEval run dir: manifest, samples, records, PNG images (when image_px > 0), result.

    ``failures``: (sample_id, image_index, Status) tuples scored as failures.
    """
    store = RunStore(run_dir)
    manifest = {
        "benchmark": "geneval@1.0", "benchmark_id": "geneval", "benchmark_version": "1.0",
        "model": {"spec": model}, "judge": {"spec": judge, "describe": {}},
        "judge_kind": "detector", "evaluator_options": {"mode": "default"},
        "fingerprint": f"fp-{model}", "created": created, "images_per_prompt": images,
    }
    store.initialise(manifest, samples)
    evaluator = GenEvalEvaluator({"mode": "default"})
    failed = {(sid, j): status for sid, j, status in failures}
    scores = []
    with store.writer() as writer:
        for s in samples:
            for j in range(images):
                path = store.image_path(s.id, j)
                status = failed.get((s.id, j), Status.OK)
                if image_px and status is Status.OK:
                    from PIL import Image

                    path.parent.mkdir(parents=True, exist_ok=True)
                    shade = (int(s.index * 37) % 255, 120 + 60 * j, 200 if table[(s.id, j)] else 40)
                    Image.new("RGB", (image_px, image_px), shade).save(path)
                generation = Generation(s.id, j, 1000 + j, status if status is not Status.JUDGE_ERROR
                                        else Status.OK, image_path=str(path) if image_px else None)
                writer.append_generation(generation)
                if status is Status.OK:
                    correct = table[(s.id, j)]
                    box = (4.0, 4.0, image_px * 0.6 or 30.0, image_px * 0.7 or 40.0)
                    judgement = Judgement("main", "mask2former-clip", Status.OK,
                                          detections=(Detection("cat", box, 0.93, color="red"),),
                                          image_size=(image_px or 64, image_px or 64))
                    reason = judge_reason or ("" if correct else "expected 2 cat, found 1")
                    score = SampleScore(s.id, j, s.tag, Status.OK, {"correct": correct}, reason)
                    writer.append_score(generation, [judgement], score)
                else:
                    judgement = Judgement("main", "mask2former-clip", status, error="detector crashed")
                    score = SampleScore(s.id, j, s.tag, status, {}, "detector crashed")
                    writer.append_score(generation, [judgement] if status is Status.JUDGE_ERROR else [],
                                        score)
                scores.append(score)
    result = evaluator.aggregate(samples, scores)
    if n_boot:
        result = confidence_intervals(evaluator.aggregate, samples, scores, result)
    store.write_result(result)
    return run_dir
