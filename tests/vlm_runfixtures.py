"""Small VLM-judged run directories (GenEval++, Imagine-Bench, OmniContext, DPG-Bench) for report tests.

Each run goes through the real pieces a run uses: the benchmark's evaluator builds the judge
requests, each request's own ``parse`` reads a hand-written reply (as the judge engine does),
``evaluator.score`` / ``aggregate`` score it, and :class:`echo4o_eval.rundir.store.RunStore` writes it.
Only the judge's reply text is made up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from PIL import Image

from echo4o_eval.spec import get_benchmark, load_benchmark
from echo4o_eval.rundir.store import RunStore
from echo4o_eval.records.types import Generation, Judgement, Sample, Status

HOSTILE_OBSERVATION = '<img src=x onerror="window.__pwned=9">two <b>red</b> cups'


def write_vlm_run(run_dir: Path, benchmark: str, samples: list[Sample],
                  reply: Callable[[Sample, int, str], str], images: int = 2,
                  options: dict | None = None, fail: tuple = ()) -> Path:
    """``reply(sample, image_index, request_key)`` -> the judge's reply text; ``fail``:
    (sample_id, image_index) pairs whose judge call failed (judge_error)."""
    spec = get_benchmark(benchmark)
    options = {"mode": "default", **(options or {})}
    evaluator = load_benchmark(spec).make_evaluator("vlm", options)
    store = RunStore(run_dir)
    store.initialise({
        "benchmark": f"{spec.id}@{spec.version}", "benchmark_id": spec.id,
        "benchmark_version": spec.version, "model": {"spec": f"folder:{run_dir.name}"},
        "judge": {"spec": "openai:gpt-4.1", "describe": {"kind": "vlm"}}, "judge_kind": "vlm",
        "evaluator_options": options, "fingerprint": f"fp-{run_dir.name}",
        "created": "2026-11-28T10:00:00+00:00", "images_per_prompt": images,
    }, samples)
    scores = []
    with store.writer() as writer:
        for s in samples:
            for i in range(images):
                path = store.image_path(s.id, i)
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (48, 48), (30 * i, (s.index * 53) % 255, 140)).save(path)
                generation = Generation(s.id, i, 100 + i, Status.OK, image_path=str(path))
                writer.append_generation(generation)
                judgements = []
                for request in evaluator.requests(s, generation):
                    if (s.id, i) in fail:
                        judgements.append(Judgement(request.key, "openai:gpt-4.1", Status.JUDGE_ERROR,
                                                    error="HTTP 500 after 3 attempts"))
                        continue
                    text = reply(s, i, request.key)
                    try:
                        parsed = request.parse(text) if request.parse else text
                        judgements.append(Judgement(request.key, "openai:gpt-4.1", Status.OK,
                                                    replies=(text,), parsed=(parsed,)))
                    except ValueError as exc:
                        judgements.append(Judgement(request.key, "openai:gpt-4.1", Status.PARSE_ERROR,
                                                    replies=(text,), error=str(exc)))
                score = evaluator.score(s, generation, judgements)
                writer.append_score(generation, judgements, score)
                scores.append(score)
    store.write_result(evaluator.aggregate(samples, scores))
    return run_dir


# ---- replies in the shape of our prompt pack's JSON schemas

def geneval_pp_reply(sample: Sample, i: int, key: str) -> str:
    from echo4o_eval.benchmarks.geneval_pp.prompts import echo4o_user_text

    items = echo4o_user_text(sample.metadata)[1]
    checks = []
    for n, item in enumerate(items, 1):
        satisfied = not (i == 1 and n == 1)  # image 1 always misses the first requirement
        observation = HOSTILE_OBSERVATION if (sample.index == 0 and n == 1) else f"saw: {item}"
        checks.append({"requirement": n, "observation": observation, "satisfied": satisfied})
    return json.dumps({"checks": checks})


def imagine_reply(sample: Sample, i: int, key: str) -> str:
    def entry(score, what):
        return {"reason": f"{what} judged for image {i}", "score": score}

    return json.dumps({"fantasy_fulfillment": entry(7 - i, "fantasy element"),
                       "identity_preservation": entry(8, "identity"),
                       "aesthetic_quality": entry(6 + i, "aesthetics")})


def omnicontext_reply(sample: Sample, i: int, key: str) -> str:
    score = 8 if key == "prompt_following" else 3 + i
    return json.dumps({"reasoning": f"{key.replace('_', ' ')}: the subject <b>{sample.id}</b> is "
                                    f"{'kept' if score > 5 else 'changed'}", "score": score})


def dpg_reply(sample: Sample, i: int, key: str) -> str:
    pid = int(key[1:].split("@")[0])
    return json.dumps({"answer": "no" if (i == 1 and pid == 2) else "yes"})


def omnicontext_samples(folder: Path) -> list[Sample]:
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for n, task in enumerate(("single_character", "multi_object", "scene_character")):
        refs = []
        for k in range(1 + n % 2 + (task.startswith("scene"))):
            path = folder / f"{task}_{k}.png"
            Image.new("RGB", (40, 30), (200, 40 * k, 60 * n)).save(path)
            refs.append(str(path))
        instruction = f"Put the person from image 1 {'and the cup ' if n else ''}in a park ({task})"
        samples.append(Sample(f"omni-{n}", n, instruction, task,
                              {"instruction": instruction, "instruction_language": "en", "task_type": task},
                              reference_images=tuple(refs)))
    return samples


def dpg_samples() -> list[Sample]:
    samples = []
    for n in range(3):
        questions = [
            {"proposition_id": 1, "dependency": [0], "category_broad": "entity", "category_detailed": "whole",
             "tuple": "entity - whole (cat)", "question": "Is there a cat?", "text": "t", "csv_row": 3 * n},
            {"proposition_id": 2, "dependency": [1], "category_broad": "attribute",
             "category_detailed": "color", "tuple": "attribute - color (cat, red)",
             "question": "Is the cat <red>?", "text": "t", "csv_row": 3 * n + 1},
            {"proposition_id": 3, "dependency": [1, 2], "category_broad": "relation",
             "category_detailed": "spatial", "tuple": "relation - spatial (cat, mat, on)",
             "question": "Is the cat on the mat?", "text": "t", "csv_row": 3 * n + 2},
        ]
        samples.append(Sample(str(n), n, f"A red cat on a mat, number {n}.", "dpg",
                              {"questions": questions}))
    return samples
