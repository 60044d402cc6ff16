"""Snapshot of every rendered prompt of our echo4o pack (our own texts; official texts are
never committed). A change to a prompt changes the numbers: update deliberately with
ECHO4O_UPDATE_SNAPSHOTS=1 and say so in the commit."""

from __future__ import annotations

import json
import os
from pathlib import Path

from echo4o_eval.benchmarks.dpg_bench.vlm import DPGBenchEvaluator
from echo4o_eval.benchmarks.geneval_pp.vlm import GenEvalPlusPlusVLMEvaluator
from echo4o_eval.benchmarks.imagine_bench.vlm import ImagineBenchEvaluator
from echo4o_eval.benchmarks.omnicontext.vlm import OmniContextEvaluator
from echo4o_eval.judges.vlm_messages import prompt_hash
from echo4o_eval.records.types import Generation, Sample, Status, to_json

SNAPSHOT = Path(__file__).parent / "snapshots" / "echo4o_prompts.json"
GEN = Generation("s", 0, 0, Status.OK, image_path="/img/out.png")


def rendered() -> dict:
    cases = {
        "geneval_pp/include_exclude": (GenEvalPlusPlusVLMEvaluator({}), Sample(
            id="s", index=0, prompt="p", tag="counting", metadata={
                "prompt": " A photo of three cups and a blue bench on the left ",
                "include": [{"class": "cup", "count": 3},
                            {"class": "bench", "count": 1, "color": "blue", "region": "left", "size": "larger"}],
                "exclude": [{"class": "cup", "count": 4}]})),
        "imagine_bench/basic": (ImagineBenchEvaluator({}), Sample(
            id="s", index=0, prompt="p", tag="COLOR",
            metadata={"instruction": "A glass giraffe.", "note": "The giraffe is made of clear glass."})),
        "dpg_bench/question": (DPGBenchEvaluator({}), Sample(
            id="s", index=0, prompt="p", tag="dpg", metadata={"questions": [
                {"proposition_id": 1, "dependency": [0], "tuple": "entity - whole (cup)",
                 "question": "Is there a cup?", "csv_row": 3}]})),
    }
    for task in ("multi_object", "scene_character"):
        cases[f"omnicontext/{task}"] = (OmniContextEvaluator({}), Sample(
            id="s", index=0, prompt="p", tag=task, reference_images=("/img/ref1.png",),
            metadata={"instruction": "Put the cat from image 1 on the sofa.", "instruction_language": "en"}))
    out = {}
    for name, (evaluator, sample) in cases.items():
        for request in evaluator.requests(sample, GEN):
            out[f"{name}/{request.key}"] = {
                "system": request.system, "text": request.text, "params": dict(request.params),
                "response_schema": to_json(request.response_schema),
                "prompt_hash": prompt_hash(request, dict(request.params)),
            }
    return out


def test_echo4o_prompts_match_the_snapshot():
    current = rendered()
    if os.environ.get("ECHO4O_UPDATE_SNAPSHOTS") or not SNAPSHOT.exists():
        SNAPSHOT.write_text(json.dumps(current, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    frozen = json.loads(SNAPSHOT.read_text())
    assert current.keys() == frozen.keys()
    for key in current:
        assert current[key] == frozen[key], f"prompt {key} changed; see the module docstring"
