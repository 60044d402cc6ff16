"""Offline GenEval++ rules and evaluator with hand-made detections, one block per tag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from echo4o_eval.benchmarks.geneval_pp.detector import GenEvalPlusPlusDetectorEvaluator
from echo4o_eval.benchmarks.geneval_pp import benchmark as geneval_pp_benchmark
from echo4o_eval.benchmarks.geneval_pp.rules import (
    GenEvalPPOptions,
    evaluate_geneval_pp,
    in_region,
)
from echo4o_eval.records.types import Detection, Generation, Judgement, Sample, Status

SIZE = (512, 512)


def det(name, x, y, w=60, h=60, score=0.95, color=None, area=None) -> Detection:
    return Detection(name, (x, y, x + w, y + h), score, area, color)


def check(meta, dets, size=SIZE, **options):
    return evaluate_geneval_pp(dets, meta, size, GenEvalPPOptions(**options))


def test_color_attr() -> None:
    meta = {"tag": "color_attr", "include": [{"class": "bus", "count": 1, "color": "brown"},
                                            {"class": "tie", "count": 1, "color": "black"}]}
    good = [det("bus", 0, 0, color="brown"), det("tie", 200, 0, color="black")]
    assert check(meta, good).correct is True
    bad = [det("bus", 0, 0, color="brown"), det("tie", 200, 0, color="white")]
    out = check(meta, bad)
    assert out.correct is False and out.reasons == ("tie #1 is white, expected black",)
    # only the most confident object is checked for a count-1 clause
    extra = good + [det("bus", 300, 300, score=0.5, color="red")]
    assert check(meta, extra, count_mode="at_least").correct is True
    assert "expected exactly 1 bus, found 2" in check(meta, extra).reasons


def test_counting_exact_and_at_least() -> None:
    meta = {"tag": "counting", "include": [{"class": "clock", "count": 3}],
            "exclude": [{"class": "clock", "count": 4}]}
    three = [det("clock", 100 * i, 0, score=0.95) for i in range(3)]
    assert check(meta, three).correct is True
    # counting uses GenEval's 0.9 threshold: a 0.85 fourth clock is not counted
    assert check(meta, three + [det("clock", 400, 400, score=0.85)]).correct is True
    four = three + [det("clock", 400, 400, score=0.92)]
    out = check(meta, four)
    assert out.reasons == ("expected exactly 3 clock, found 4", "expected fewer than 4 clock, found 4")
    two = check(meta, three[:2], count_mode="at_least")
    assert two.reasons == ("expected at least 3 clock, found 2",)


def test_color_count_attr() -> None:
    meta = {"tag": "color_count_attr", "include": [
        {"class": "boat", "count": 2, "color": "white"}, {"class": "hot dog", "count": 1, "color": "green"}]}
    dets = [det("boat", 0, 0, color="white"), det("boat", 100, 0, color="white", score=0.8),
            det("hot dog", 300, 300, color="green")]
    assert check(meta, dets).correct is True
    dets[1] = det("boat", 100, 0, color="blue", score=0.8)
    assert check(meta, dets).reasons == ("boat #2 is blue, expected white",)


def test_color_spatial_attr_and_region_boundaries() -> None:
    meta = {"tag": "color_spatial_attr", "include": [
        {"class": "spoon", "count": 1, "color": "blue", "region": "left"},
        {"class": "couch", "count": 1, "color": "red", "region": "right"}]}
    dets = [det("spoon", 10, 200, color="blue"), det("couch", 400, 200, color="red")]
    assert check(meta, dets).correct is True
    # centre exactly on the vertical centre line (x = 256) is in neither half
    on_line = [det("spoon", 226, 200, color="blue"), det("couch", 400, 200, color="red")]
    out = check(meta, on_line)
    assert out.correct is False and out.reasons[0].startswith("spoon #1 is not on the left side")
    just_left = [det("spoon", 225.9, 200, color="blue"), det("couch", 400, 200, color="red")]
    assert check(meta, just_left).correct is True
    # a 5% margin needs the centre left of 256 - 25.6 = 230.4
    assert check(meta, just_left, region_margin=0.05).correct is False
    assert check(meta, [det("spoon", 170, 200, color="blue"), dets[1]], region_margin=0.05).correct
    assert in_region((0, 0, 10, 10), "above", (100, 100)) and not in_region(
        (0, 45, 10, 55), "above", (100, 100))
    assert in_region((0, 60, 10, 70), "below", (100, 100))


def test_region_uses_image_size_for_non_square_images() -> None:
    meta = {"tag": "color_spatial_attr", "include": [{"class": "cat", "count": 1, "region": "below"}]}
    cat = [det("cat", 0, 300, w=50, h=50)]  # centre y = 325
    assert check(meta, cat, size=(512, 600)).correct is True  # 325 > 300
    assert check(meta, cat, size=(512, 700)).correct is False  # 325 < 350
    assert check(meta, cat, size=None).status is Status.SCORE_ERROR


def test_spatial_count_attr() -> None:
    meta = {"tag": "spatial_count_attr", "include": [
        {"class": "clock", "count": 3, "region": "left"}, {"class": "cat", "count": 1, "region": "right"}]}
    dets = [det("clock", 10, 100 * i, score=0.99 - 0.01 * i) for i in range(3)] + [det("cat", 400, 10)]
    assert check(meta, dets).correct is True
    dets[2] = det("clock", 300, 200, score=0.97)  # the least confident of the three
    out = check(meta, dets)
    assert out.reasons == ("clock #3 is not on the left side: centre (330, 230) in a 512x512 image",)


def test_size_spatial_attr_with_mask_and_box_areas() -> None:
    meta = {"tag": "size_spatial_attr", "include": [
        {"class": "bench", "count": 1, "size": "larger", "region": "above"},
        {"class": "spoon", "count": 1, "size": "smaller", "region": "below"}]}
    big, small = det("bench", 100, 10, w=200, h=100), det("spoon", 100, 400, w=20, h=20)
    assert check(meta, [big, small]).correct is True
    swapped = [det("bench", 100, 10, w=20, h=20), det("spoon", 100, 400, w=200, h=100)]
    assert check(meta, swapped).reasons == ("expected bench (area 400) larger than spoon (area 20000)",)
    # equal areas are not "larger"
    equal = [det("bench", 100, 10, area=500.0), det("spoon", 100, 400, area=500.0)]
    assert check(meta, equal).correct is False
    # mask area wins over box area when present
    masked = [det("bench", 100, 10, w=20, h=20, area=900.0), det("spoon", 100, 400, w=200, h=100, area=800.0)]
    assert check(meta, masked).correct is True


def test_multi_object_count_attr() -> None:
    meta = {"tag": "multi_object_count_attr", "include": [
        {"class": "tennis racket", "count": 2}, {"class": "broccoli", "count": 2},
        {"class": "sports ball", "count": 3}]}
    dets = ([det("tennis racket", 50 * i, 0) for i in range(2)] + [det("broccoli", 50 * i, 100) for i in range(2)]
            + [det("sports ball", 50 * i, 200) for i in range(3)])  # fmt: skip
    assert check(meta, dets).correct is True
    out = check(meta, dets[:-1] + [det("sports ball", 0, 300, score=0.2)])
    assert out.reasons == ("expected exactly 3 sports ball, found 2",)


def test_malformed_metadata_is_a_score_error() -> None:
    assert check({"include": []}, []).status is Status.SCORE_ERROR
    bad_count = check({"tag": "counting", "include": [{"class": "cup", "count": "2"}]}, [])
    assert bad_count.status is Status.SCORE_ERROR and "count" in bad_count.reason
    with pytest.raises(ValueError, match="count_mode"):
        GenEvalPPOptions(count_mode="most")


def test_evaluator_on_every_official_row(data_dir: Path) -> None:
    rows = [json.loads(x) for x in (data_dir / "geneval_pp" / "Geneval++.jsonl").open()]
    samples = [Sample(str(i + 1), i, r["prompt"], r["tag"], r) for i, r in enumerate(rows)]
    ev = geneval_pp_benchmark.make_evaluator("detector", {"mode": "default"})
    assert isinstance(ev, GenEvalPlusPlusDetectorEvaluator)
    scores = []
    for sample in samples:
        gen = Generation(sample.id, 0, 0, Status.OK, f"{sample.id}.png")
        (request,) = ev.requests(sample, gen)
        # a perfect image: every clause satisfied by construction
        dets, y = [], 0
        for clause in sample.metadata["include"]:
            region = clause.get("region", "left")
            for k in range(clause["count"]):
                x = {"left": 20, "right": 400}.get(region, 20 + 30 * k)
                yy = {"above": 20, "below": 400}.get(region, y)
                side = 80 if clause.get("size") == "larger" else 20
                dets.append(Detection(clause["class"], (x + 30 * k % 60, yy, x + 30 * k % 60 + side,
                                                        yy + side), 0.95, None, clause.get("color")))  # fmt: skip
            y += 30
        assert set(request.color_classes) == {c["class"] for c in sample.metadata["include"] if "color" in c}
        judgement = Judgement("main", "fake", Status.OK, detections=tuple(dets), image_size=(512, 512))
        scores.append(ev.score(sample, gen, [judgement]))
    wrong = [(s.sample_id, s.reason) for s in scores if s.status is not Status.OK or not s.values["correct"]]
    assert wrong == []
    result = ev.aggregate(samples, scores)
    assert result.metrics["overall"].value == 1.0 and len(result.per_tag) == 7
    # a failed generation: out of the means by default, wrong in parity mode
    failed = ev.score(samples[0], Generation("1", 0, 0, Status.MISSING_IMAGE, error="no 1.png"), [])
    assert failed.status is Status.MISSING_IMAGE
    mixed = [failed] + scores[1:]
    assert ev.aggregate(samples, mixed).metrics["image_accuracy"].value == 1.0
    parity = geneval_pp_benchmark.make_evaluator("detector", {"mode": "parity"}).aggregate(samples, mixed)
    assert parity.metrics["image_accuracy"].value == pytest.approx(279 / 280)
    assert parity.per_tag[samples[0].tag]["accuracy"].value == pytest.approx(39 / 40)
