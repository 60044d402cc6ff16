"""Judge agreement: kappa between runs and against the GenEval MTurk annotations."""

from __future__ import annotations

import json

import pytest

from echo4o_eval.statistics.agreement import agreement_between, agreement_with_humans, annotator_verdict, human_verdicts
from echo4o_eval.records.types import Sample, SampleScore, Status


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


# ---- the `echo4o-eval agreement` command (CliRunner over real run directories)

from click.testing import CliRunner  # noqa: E402
from runfixtures import jitter, make_samples, verdicts, write_run  # noqa: E402

from echo4o_eval.cli import main  # noqa: E402
from echo4o_eval.report.runs import load_view  # noqa: E402


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("agreement")
    samples = make_samples(30)
    base = verdicts(samples, images=2, seed=5)
    a = write_run(root / "detector", samples, base, "m", n_boot=0,
                  failures=[("00003", 1, Status.JUDGE_ERROR)])
    b = write_run(root / "vlm", samples, jitter(base, 0.2, seed=6), "m", n_boot=0)
    return a, b


def test_cli_between_runs_text_and_json(two_runs):
    a, b = two_runs
    expected = agreement_between(load_view(a).scores, load_view(b).scores)
    assert expected.n == 59 and expected.notes == (
        "1 image(s) of run A without an OK pass/fail verdict left out",
        "1 image(s) with a verdict in run B only left out")
    text = CliRunner().invoke(main, ["agreement", str(a), str(b)])
    assert text.exit_code == 0, text.output
    assert "images rated by both: 59" in text.output
    assert f"Cohen's kappa: {expected.kappa:.3f}" in text.output
    assert "counting" in text.output and "note: 1 image(s) of run A" in text.output
    out = CliRunner().invoke(main, ["agreement", str(a), str(b), "--format", "json"])
    data = json.loads(out.output)
    assert data["schema"] == "echo4o-eval/agreement" and data["labels"] == ["pass", "fail"]
    assert data["matrix"] == expected.matrix and sum(map(sum, data["matrix"])) == 59
    assert data["kappa"] == pytest.approx(expected.kappa) and 0 < data["kappa"] < 1
    assert set(data["per_tag"]) == {"single_object", "two_object", "counting", "colors", "position",
                                    "color_attr"}
    assert sum(t["n"] for t in data["per_tag"].values()) == 59
    assert data["rater_a"]["run"] == "detector" and data["rater_b"]["run"] == "vlm"


def test_cli_usage_errors(two_runs, tmp_path):
    """Unusable input exits 2 (as report and compare), with one error line naming the problem."""
    a, b = two_runs
    runner = CliRunner()
    one = runner.invoke(main, ["agreement", str(a)])
    assert one.exit_code == 2 and "takes two runs, got 1" in one.output
    need = runner.invoke(main, ["agreement", str(a), "--annotations", "geneval"])
    assert need.exit_code == 2 and "needs --annotated-model" in need.output
    missing = runner.invoke(main, ["agreement", str(a), "--annotations", "geneval", "--annotated-model",
                                   "sdv2", "--offline", "--data-dir", str(tmp_path)])
    assert missing.exit_code == 2 and "annotations_sdv2" in missing.output and "not found" in missing.output
    not_a_run = tmp_path / "empty"
    not_a_run.mkdir()
    strange = runner.invoke(main, ["agreement", str(a), str(not_a_run)])
    assert strange.exit_code == 2 and str(not_a_run) in strange.output


def test_cli_unusable_input_exit_status_of_the_command(two_runs, tmp_path):
    """The installed command's process exits 2 with ``error: ...`` on stderr, nothing on stdout."""
    import subprocess
    import sys

    a, _ = two_runs
    done = subprocess.run([sys.executable, "-m", "echo4o_eval", "agreement", str(a), str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and str(tmp_path) in done.stderr and not done.stdout


def test_cli_against_human_annotations(tmp_path, data_dir, metadata):
    csv_path = data_dir / "geneval/annotations/annotations_sdv2.csv"
    humans = human_verdicts(csv_path, metadata)
    prompt_ids = sorted({p for p, _ in humans})
    samples = [Sample(f"{p:05d}", p, metadata[p]["prompt"], metadata[p]["tag"], metadata[p])
               for p in prompt_ids]
    # the judge agrees with people except on every image index 3 where it says the opposite
    table = {(f"{p:05d}", i): humans[(p, i)] ^ (i == 3) for p in prompt_ids for i in range(4)}
    run = write_run(tmp_path / "sdv2-images", samples, table, "folder:sdv2", images=4, n_boot=0)
    args = ["agreement", str(run), "--annotations", "geneval", "--annotated-model", "sdv2",
            "--data-dir", str(data_dir), "--offline", "--format", "json"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["n"] == 400 and data["observed"] == pytest.approx(0.75)
    assert data["rater_b"]["annotations"] == "geneval/annotations_sdv2.csv"
    flipped = [humans[(p, 3)] for p in prompt_ids]
    assert data["matrix"][0][1] == sum(not v for v in flipped)  # judge pass, people fail: index 3 only
    text = CliRunner().invoke(main, args[:-2])
    assert "humans (annotations_sdv2.csv, majority vote)" in text.output
    # a wrong annotation set still matches (prompt, image) keys: the kappa is what tells
    wrong = json.loads(CliRunner().invoke(main, [*args[:5], "clip", *args[6:]]).output)
    assert wrong["rater_b"]["annotations"] == "geneval/annotations_clip.csv" and wrong["kappa"] < 0.5
