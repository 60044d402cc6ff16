"""GenEvalEvaluator: requests, score (statuses), aggregate, and the official results.jsonl."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from echo4o_eval.benchmarks.geneval.detector import GenEvalEvaluator
from echo4o_eval.benchmarks.geneval import benchmark as geneval_benchmark
from echo4o_eval.scoring.geneval_rules import detections_from_golden
from echo4o_eval.benchmarks.geneval.summary import read_results_jsonl, summarize_geneval
from echo4o_eval.records.types import Detection, Generation, Judgement, Sample, Status


@pytest.fixture(scope="module")
def samples(data_dir: Path) -> list[Sample]:
    rows = [json.loads(x) for x in (data_dir / "geneval" / "evaluation_metadata.jsonl").open()]
    return [Sample(f"{i:05d}", i, r["prompt"], r["tag"], r) for i, r in enumerate(rows)]


def _fake_detections(sample: Sample, rng: random.Random) -> tuple[Detection, ...]:
    """Detections that satisfy the clauses about half of the time."""
    dets = []
    for clause in sample.metadata["include"]:
        for k in range(clause["count"] + rng.choice([-1, 0, 0, 1])):
            x = rng.uniform(0, 400)
            color = clause.get("color") if rng.random() < 0.7 else "black"
            dets.append(Detection(clause["class"], (x, 10.0 * k, x + 80, 10.0 * k + 80),
                                  rng.uniform(0.5, 1.0), 6400.0, color))
    return tuple(dets)


def _run(evaluator, samples, seed=0, fail_every=0):
    rng = random.Random(seed)
    generations, scores = [], []
    for sample in samples:
        for image in range(4):
            n = len(generations)
            broken = fail_every and n % fail_every == 0
            gen = Generation(sample.id, image, 42 + image,
                             Status.MISSING_IMAGE if broken else Status.OK,
                             None if broken else f"/imgs/{sample.id}/samples/{image:04d}.png",
                             error="no file" if broken else None)
            requests = evaluator.requests(sample, gen)
            judgements = [
                Judgement(r.key, "fake", Status.OK, detections=_fake_detections(sample, rng),
                          image_size=(512, 512)) for r in requests
            ]
            generations.append(gen)
            scores.append(evaluator.score(sample, gen, judgements))
    return generations, scores


def test_make_evaluator_returns_detector_evaluator() -> None:
    ev = geneval_benchmark.make_evaluator("detector", {"mode": "default"})
    assert isinstance(ev, GenEvalEvaluator) and ev.judge_kind == "detector"
    with pytest.raises(ValueError, match="mode"):
        GenEvalEvaluator({"mode": "strict"})


def test_requests_ask_colours_only_for_colour_clauses(samples) -> None:
    ev = GenEvalEvaluator({})
    by_tag = {s.tag: s for s in samples}
    gen = Generation("x", 0, 1, Status.OK, image_path="a.png")
    assert ev.requests(by_tag["single_object"], gen)[0].color_classes == ()
    request = ev.requests(by_tag["color_attr"], gen)[0]
    assert set(request.color_classes) == {c["class"] for c in by_tag["color_attr"].metadata["include"]}
    assert request.images == ("a.png",)
    assert ev.requests(by_tag["colors"], Generation("x", 0, 1, Status.MISSING_IMAGE)) == []


def test_score_matches_golden_cases(goldens_dir: Path) -> None:
    ev = GenEvalEvaluator({})
    rows = [json.loads(x) for x in (goldens_dir / "geneval_rules.jsonl").open()][:80]
    for row in rows:
        sample = Sample(row["id"], 0, "p", row["metadata"].get("tag", "?"), row["metadata"])
        gen = Generation(row["id"], 0, 0, Status.OK, image_path="x.png")
        judgement = Judgement("main", "fake", Status.OK,
                              detections=tuple(detections_from_golden(row["detections"])))
        score = ev.score(sample, gen, [judgement])
        if "error" in row["expected"]:
            assert score.status is Status.SCORE_ERROR
            continue
        assert score.values["correct"] is row["expected"]["correct"]
        assert score.reason in row["expected"].get("reason_variants", [row["expected"]["reason"]])
        assert score.values["details"] == row["expected"]["kept"]  # dict: order-free


def test_failures_propagate_as_statuses(samples) -> None:
    ev = GenEvalEvaluator({})
    sample = samples[0]
    missing = Generation(sample.id, 0, 1, Status.MISSING_IMAGE, error="no 0000.png")
    score = ev.score(sample, missing, [])
    assert score.status is Status.MISSING_IMAGE and "0000.png" in score.reason
    gen = Generation(sample.id, 0, 1, Status.OK, image_path="a.png")
    bad = Judgement("main", "m2f", Status.BAD_IMAGE, error="a.png: cannot identify image")
    assert ev.score(sample, gen, [bad]).status is Status.BAD_IMAGE
    assert ev.score(sample, gen, []).status is Status.JUDGE_ERROR
    assert ev.score(sample, gen, [Judgement("main", "m2f", Status.OK)]).status is Status.JUDGE_ERROR


def test_aggregate_equals_official_summary_of_results_jsonl(samples) -> None:
    ev = GenEvalEvaluator({})
    generations, scores = _run(ev, samples)
    result = ev.aggregate(samples, scores)
    text = ev.extra_outputs(samples, generations, scores)["results.jsonl"]
    rows = read_results_jsonl(text)
    assert len(rows) == 2212 and set(rows[0]) == {
        "filename", "tag", "prompt", "correct", "reason", "metadata", "details"}
    official = summarize_geneval(rows)
    assert result.metrics["overall"].value == pytest.approx(official.overall, abs=1e-12)
    assert result.metrics["image_accuracy"].value == official.frac_correct_images
    assert result.metrics["prompt_accuracy"].value == official.frac_correct_prompts
    assert official.total_prompts == 553
    for tag in official.per_tag:
        assert result.per_tag[tag.tag]["accuracy"].value == tag.frac_correct
    assert result.n_images == result.n_ok == 2212 and result.coverage == 1.0
    assert 0.0 < result.metrics["overall"].value < 1.0


def test_default_mode_excludes_failures_parity_counts_them_wrong(samples) -> None:
    subset = samples[:60]
    default, parity = GenEvalEvaluator({}), GenEvalEvaluator({"mode": "parity"})
    gens, scores = _run(default, subset, fail_every=7)
    n_bad = sum(s.status is not Status.OK for s in scores)
    assert n_bad > 0
    result = default.aggregate(subset, scores)
    assert result.n_ok == 240 - n_bad and result.metrics["image_accuracy"].n == 240 - n_bad
    assert result.metrics["image_accuracy"].n_total == 240
    ok = [s for s in scores if s.status is Status.OK]
    assert result.metrics["image_accuracy"].value == sum(s.values["correct"] for s in ok) / len(ok)
    par = parity.aggregate(subset, scores)
    assert par.metrics["image_accuracy"].n == 240
    assert par.metrics["image_accuracy"].value == sum(s.values["correct"] for s in ok) / 240
    assert any(f"{n_bad} image(s)" in note for note in par.notes) and par.mode == "parity"
    rows = read_results_jsonl(parity.extra_outputs(subset, gens, scores)["results.jsonl"])
    assert len(rows) == 240
    assert summarize_geneval(rows).frac_correct_images == par.metrics["image_accuracy"].value
    assert len(read_results_jsonl(default.extra_outputs(subset, gens, scores)["results.jsonl"])) == 240 - n_bad


def test_tag_without_scored_images_leaves_overall_empty(samples) -> None:
    ev = GenEvalEvaluator({})
    subset = [s for s in samples if s.tag == "single_object"][:3] + [
        s for s in samples if s.tag == "counting"][:2]
    gens, scores = _run(ev, subset)
    broken = [
        ev.score(s, Generation(s.id, sc.image_index, 0, Status.BAD_IMAGE, error="bad"), [])
        if s.tag == "counting" else sc
        for s, sc in zip([x for x in subset for _ in range(4)], scores)
    ]
    result = ev.aggregate(subset, broken)
    assert result.metrics["overall"].value is None
    assert result.per_tag["counting"]["accuracy"].value is None
    assert result.status_counts["bad_image"] == 8
