"""Judge agreement: kappa between runs and against the GenEval MTurk annotations."""

from __future__ import annotations

import json

import pytest

from echo4o_eval.agreement import agreement_between, agreement_with_humans, annotator_verdict, human_verdicts
from echo4o_eval.types import Sample, SampleScore, Status


def score(sid, correct, tag="t", status=Status.OK, i=0):
    return SampleScore(sid, i, tag, status, {"correct": correct} if correct is not None else {})


def test_between_runs_matches_hand_computed_kappa():
    # 10 images: A/B agree on 4 pass + 3 fail, A pass B fail 2, A fail B pass 1
    a_vals = [True] * 6 + [False] * 4
    b_vals = [True] * 4 + [False] * 2 + [True] + [False] * 3
    a = [score(str(k), v, tag="x" if k < 5 else "y") for k, v in enumerate(a_vals)]
    b = [score(str(k), v, tag="x" if k < 5 else "y") for k, v in enumerate(b_vals)]
    a.append(score("99", True))
    b.append(score("99", None, status=Status.JUDGE_ERROR))  # not OK in B: left out
    r = agreement_between(a, b)
    assert r.n == 10 and r.matrix == [[4, 2], [1, 3]]
    po, pe = 0.7, 0.6 * 0.5 + 0.4 * 0.5
    assert r.kappa == pytest.approx((po - pe) / (1 - pe)) and r.observed == pytest.approx(0.7)
    assert set(r.per_tag) == {"x", "y"} and r.per_tag["x"].n == 5


def test_annotator_rules():
    colour = {"tag": "color_attr", "include": [{"class": "cup", "count": 1, "color": "red"},
                                               {"class": "dog", "count": 1, "color": "brown"}]}
    answer = {"Answer.task-count-0": "1", "Answer.task-count-1": "2.0",
              "Answer.task-color-0": "red|white", "Answer.task-color-1": "brown"}
    assert annotator_verdict(colour, answer)
    assert not annotator_verdict(colour, {**answer, "Answer.task-color-1": "black"})
    assert not annotator_verdict(colour, {**answer, "Answer.task-count-1": ""})
    position = {"tag": "position", "include": [{"class": "cup", "count": 1},
                                               {"class": "dog", "count": 1, "position": ["above", 0]}]}
    base = {"Answer.task-count-0": "1", "Answer.task-count-1": "1"}
    assert annotator_verdict(position, {**base, "Answer.task-position-y": "above"})
    assert not annotator_verdict(position, {**base, "Answer.task-position-y": "neither_y",
                                            "Answer.task-position-x": "left"})


@pytest.fixture(scope="module")
def metadata(data_dir):
    path = data_dir / "geneval" / "evaluation_metadata.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_official_annotation_files(data_dir, metadata):
    problems = []
    humans = human_verdicts(data_dir / "geneval/annotations/annotations_if-xl.csv", metadata, problems)
    assert len(humans) == 400 and len(problems) == 8
    clip = human_verdicts(data_dir / "geneval/annotations/annotations_clip.csv", metadata)
    assert sum(clip.values()) / len(clip) == pytest.approx(0.4025)
    # single-object prompts are almost always right for people, colour attribution rarely is for CLIP
    singles = [v for (p, _), v in clip.items() if metadata[p]["tag"] == "single_object"]
    assert sum(singles) / len(singles) > 0.9


def test_run_against_humans(data_dir, metadata):
    csv_path = data_dir / "geneval/annotations/annotations_sdv2.csv"
    humans = human_verdicts(csv_path, metadata)
    samples = [Sample(f"{i:05d}", i, m["prompt"], m["tag"], m) for i, m in enumerate(metadata)]
    same = [score(f"{p:05d}", v, metadata[p]["tag"], i=i) for (p, i), v in humans.items()]
    r = agreement_with_humans(samples, same, csv_path)
    assert r.n == 400 and r.kappa == pytest.approx(1.0) and r.notes == ()
    flipped = [score(s.sample_id, not s.values["correct"] if k % 4 == 0 else s.values["correct"],
                     s.tag, i=s.image_index) for k, s in enumerate(same[:200])]
    r = agreement_with_humans(samples, flipped, csv_path)
    assert r.n == 200 and 0 < r.kappa < 0.8 and r.observed == pytest.approx(0.75)
    assert r.notes == ("200 annotated image(s) not scored OK in the run",)
    with pytest.raises(ValueError, match="annotations_sdv2.csv:2: prompt_id 328 is not in the metadata"):
        agreement_with_humans(samples[:10], same, csv_path)
