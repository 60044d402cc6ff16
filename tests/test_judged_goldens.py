"""Parity aggregation of the four VLM-judged benchmarks against ../shared/goldens/aggregation.jsonl
(66 cases), feeding the golden judge outputs through our evaluators' score() and aggregate()."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from echo4o_eval.benchmarks.dpg_bench.loader import load_questions, official_dtype_quirks
from echo4o_eval.benchmarks.dpg_bench.vlm import DPGBenchEvaluator
from echo4o_eval.benchmarks.geneval_pp.vlm import GenEvalPlusPlusVLMEvaluator
from echo4o_eval.benchmarks.imagine_bench.vlm import ImagineBenchEvaluator
from echo4o_eval.benchmarks.omnicontext.vlm import OmniContextEvaluator
from echo4o_eval.benchmarks.geneval_pp import prompts as gpp_prompts
from echo4o_eval.benchmarks.imagine_bench import prompts as imagine_prompts
from echo4o_eval.records.types import Generation, Judgement, Sample, Status

GOLDENS = Path(__file__).resolve().parents[2] / "shared" / "goldens" / "aggregation.jsonl"


def cases(benchmark: str):
    import os

    path = Path(os.environ["ECHO4O_SHARED_DIR"]) / "goldens" / "aggregation.jsonl" \
        if os.environ.get("ECHO4O_SHARED_DIR") else GOLDENS
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [pytest.param(r, id=r["case"]) for r in rows if r["benchmark"] == benchmark]


def golden_float(value):
    if isinstance(value, dict) and "__float__" in value:
        return float(value["__float__"])
    return value


def close(ours, golden) -> bool:
    golden = golden_float(golden)
    if ours is None:
        return isinstance(golden, float) and math.isnan(golden)
    return math.isclose(ours, golden, rel_tol=1e-9, abs_tol=1e-9)


def judged(key: str, parse, text: str) -> Judgement:
    """What the judge returns for a golden reply: parse it (3 asks of the same reply)."""
    try:
        return Judgement(key=key, judge_id="golden", status=Status.OK, replies=(text,),
                         parsed=(parse(text),))
    except ValueError as exc:
        return Judgement(key=key, judge_id="golden", status=Status.PARSE_ERROR,
                         replies=(text,) * 3, error=str(exc))


def api_error(key: str) -> Judgement:
    return Judgement(key=key, judge_id="golden", status=Status.JUDGE_ERROR, error="stub API error")


def ok_generation(sample_id: str, index: int = 0) -> Generation:
    return Generation(sample_id, index, 0, Status.OK, image_path=f"/img/{sample_id}.png")


def missing(sample_id: str) -> Generation:
    return Generation(sample_id, 0, 0, Status.MISSING_IMAGE, error="no image")


@pytest.mark.parametrize("case", cases("geneval_pp"))
def test_geneval_pp_parity(case):
    ev = GenEvalPlusPlusVLMEvaluator({"mode": "parity"})
    samples, scores = [], []
    for i, item in enumerate(case["input"]["items"]):
        meta = item["metadata"]
        sample = Sample(id=str(i + 1), index=i, prompt=meta["prompt"], tag=meta["tag"], metadata=meta)
        samples.append(sample)
        if item.get("image_missing"):
            scores.append(ev.score(sample, missing(sample.id), []))
            continue
        j = api_error("main") if item.get("api_error") else judged("main", gpp_prompts.official_parse,
                                                                     item["judge_output"])
        scores.append(ev.score(sample, ok_generation(sample.id), [j]))
    expected = case["expected"]
    result = ev.aggregate(samples, scores)
    for s, official in zip(scores, expected["per_sample_result"]):
        assert bool(s.values.get("correct")) == (official.get("correct", 0) == 1)
    assert set(result.per_tag) == set(expected["raw_tag_accuracy"])
    for tag, value in expected["raw_tag_accuracy"].items():
        assert close(result.per_tag[tag]["accuracy"].value, value), tag
        assert round(result.per_tag[tag]["accuracy"].value, 4) == expected["tag_accuracy"][tag]
    assert close(result.metrics["overall"].value, expected["raw_overall_score_mean_of_tags"])
    assert close(result.metrics["image_accuracy"].value, expected["raw_overall_accuracy_all_samples"])
    rounded = [round(m["accuracy"].value, 4) for m in result.per_tag.values()]
    assert round(sum(rounded) / len(rounded), 4) == expected["overall_score_mean_of_tags"]
    failures = sum(1 for s in scores if s.status is not Status.OK)
    assert f"parity: {failures} image(s)" in result.notes[0]


@pytest.mark.parametrize("case", cases("imagine"))
def test_imagine_parity(case):
    ev = ImagineBenchEvaluator({"mode": "parity"})
    samples, scores = [], []
    for i, item in enumerate(case["input"]["items"]):
        sid = str(item["id"])
        sample = Sample(id=sid, index=i, prompt="p", tag=item["type"],
                        metadata={"instruction": "p", "note": "n", "type": item["type"]})
        samples.append(sample)
        if item.get("image_missing"):
            scores.append(ev.score(sample, missing(sid), []))
            continue
        j = api_error("main") if item.get("api_error") else judged("main", imagine_prompts.official_parse,
                                                                     item["judge_output"])
        scores.append(ev.score(sample, ok_generation(sid), [j]))
    expected = case["expected"]
    result = ev.aggregate(samples, scores)
    for sid, item in expected["per_item"].items():
        score = next(s for s in scores if s.sample_id == sid)
        assert score.values.get("score", 0) == item["weighted_score"]
    got_types = {t: m["score"].value for t, m in result.per_tag.items() if m["score"].n}
    assert got_types.keys() == expected["per_type_avg_raw"].keys()
    for group, value in expected["per_type_avg_raw"].items():
        assert close(got_types[group], value)
        assert round(got_types[group], 3) == expected["per_type_avg_printed"][group]
    assert close(result.metrics["overall_official"].value, expected["overall_official_raw"])
    assert close(result.metrics["overall"].value, expected["overall_multiobject_w2_raw"])
    assert round(result.metrics["overall_official"].value, 3) == expected["overall_official_printed"]
    assert sorted(int(s.sample_id) for s in scores if s.status is Status.MISSING_IMAGE) == sorted(
        expected["missing_ids"])


@pytest.mark.parametrize("case", cases("omnicontext"))
@pytest.mark.parametrize("variant", ["omnigen2", "echo4o_fork"])
def test_omnicontext_averages(case, variant):
    expected = case["expected"][variant]
    ev = OmniContextEvaluator({"mode": "parity", "language": case["input"]["language"]})
    samples, scores = [], []
    for i, row in enumerate(case["input"]["rows"]):
        sample = Sample(id=str(i), index=i, prompt="p", tag=row["task_type"],
                        metadata={"instruction": "p", "instruction_language": row["instruction_language"]})
        samples.append(sample)
        judgements = [Judgement(key=k, judge_id="golden", status=Status.OK, parsed=(parsed,))
                      for k, parsed in (("prompt_following", {"score": row["PF_score"], "reasoning": ""}),
                                        ("subject_consistency", {"score": row["SC_score"], "reasoning": ""}))]
        if "error" in expected:  # list scores from the repair path: the official scripts crash
            from echo4o_eval.benchmarks.omnicontext.prompts import official_score

            with pytest.raises(ValueError):
                for j in judgements:
                    official_score(j.parsed[0])
            return
        scores.append(ev.score(sample, ok_generation(sample.id), judgements))
    result = ev.aggregate(samples, scores)
    per_task = expected["raw"]["per_task"]
    tasks = [t for t in result.per_tag if variant == "omnigen2" or t not in ("single_character", "single_object")]
    assert sorted(tasks) == sorted(per_task)
    for task in tasks:
        for ours, theirs in (("prompt_following", "PF"), ("subject_consistency", "SC"), ("score", "overall")):
            assert close(result.per_tag[task][ours].value, per_task[task][theirs]), (task, ours)
    average = expected["raw"]["average"]
    suffix = "" if variant == "omnigen2" else "_6"
    assert close(result.metrics["overall" + suffix].value, average["overall"])
    assert close(result.metrics["prompt_following" + suffix].value, average["PF"])
    assert close(result.metrics["subject_consistency" + suffix].value, average["SC"])


@pytest.mark.parametrize("case", cases("dpg"))
def test_dpg_parity(case, tmp_path):
    csv_path = tmp_path / "dpg.csv"
    csv_path.write_text(case["input"]["csv"])
    questions = load_questions(csv_path)
    quirks = official_dtype_quirks(csv_path)
    ev = DPGBenchEvaluator({"mode": "parity", "crops": case["input"]["pic_num"],
                            "resolution": case["input"]["resolution"]})
    samples, scores, names = [], [], []
    for i, image in enumerate(case["input"]["images"]):
        key = image["filename"].split(".")[0]
        sample = Sample(id=key, index=i, prompt="p", tag="dpg",
                        metadata={"questions": questions.get(key, []), "official_dtype_quirks": quirks})
        samples.append(sample)
        # each answer goes through the parser the evaluator attaches to its request, so the
        # official exact comparison (only 'yes' counts) is what is tested
        parsers = {r.key: r.parse for r in ev.requests(sample, ok_generation(key, i))}
        judgements = [
            judged(f"q{pid}@crop{c}", parsers[f"q{pid}@crop{c}"], answers[str(pid)])
            for c, answers in enumerate(image["answers"]) for pid in ev.questions(sample)
            if str(pid) in answers and f"q{pid}@crop{c}" in parsers
        ]
        scores.append(ev.score(sample, ok_generation(key, i), judgements))
        names.append(image["filename"])
    expected = case["expected"]
    if "error" in expected:  # the official run crashed as a whole: every image fails, no score
        assert all(s.status is Status.SCORE_ERROR and expected["error"] in s.reason for s in scores)
        assert ev.aggregate(samples, scores).metrics["overall"].value is None
        return
    per_image = expected["per_image"]
    failed = {n for n, s in zip(names, scores) if s.status is not Status.OK}
    assert failed == set(expected["failed_images"])
    for name, score in zip(names, scores):
        if name in per_image:
            assert score.values["crop_scores"] == pytest.approx(per_image[name]["crop_scores"])
            assert close(score.values["score"], per_image[name]["score"])
    result = ev.aggregate(samples, scores)
    overall = result.metrics["overall"].value
    assert close(None if overall is None else overall * 100, expected["dpg_score_x100"])
    for level, key in (("L1", "l1_category_scores_x100"), ("L2", "l2_category_scores_x100")):
        ours = {t.split("/", 1)[1]: m["score"].value * 100 for t, m in result.per_tag.items()
                if t.startswith(level + "/")}
        assert ours.keys() == expected[key].keys()
        for name, value in expected[key].items():
            assert close(ours[name], value), (level, name)
