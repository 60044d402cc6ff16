"""Every case of shared/goldens/geneval_summary.jsonl through echo4o_eval.benchmarks.geneval.summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from echo4o_eval.benchmarks.geneval.summary import read_results_jsonl, summarize_geneval


@pytest.fixture(scope="module")
def cases(goldens_dir: Path) -> list[dict]:
    rows = [json.loads(x) for x in (goldens_dir / "geneval_summary.jsonl").read_text().splitlines()]
    assert len(rows) == 10
    return rows


@pytest.mark.parametrize("index", range(10))
def test_golden_summary(cases: list[dict], index: int) -> None:
    case = cases[index]
    expected = case["expected"]
    summary = summarize_geneval(case["results"])
    assert summary.total_images == expected["total_images"]
    assert summary.total_prompts == expected["total_prompts"]
    assert summary.frac_correct_images == pytest.approx(expected["frac_correct_images"], abs=1e-9)
    assert summary.frac_correct_prompts == pytest.approx(expected["frac_correct_prompts"], abs=1e-9)
    assert summary.overall == pytest.approx(expected["overall_mean_of_tags"], abs=1e-9)
    got_tags = [(t.tag, t.n_correct, t.n_images) for t in summary.per_tag]
    assert got_tags == [(t["tag"], t["n_correct"], t["n_images"]) for t in expected["per_tag"]]
    for tag, want in zip(summary.per_tag, expected["per_tag"]):
        assert tag.frac_correct == pytest.approx(want["frac_correct"], abs=1e-9)
    assert summary.official_text() == expected["official_stdout"]


def test_results_jsonl_round_trip(cases: list[dict]) -> None:
    case = cases[0]
    text = "".join(json.dumps(r) + "\n" for r in case["results"])
    again = summarize_geneval(read_results_jsonl(text))
    assert again.official_text() == case["expected"]["official_stdout"]


def test_bad_records_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="no GenEval results"):
        summarize_geneval([])
    with pytest.raises(ValueError, match="record 0"):
        summarize_geneval([{"tag": "t", "correct": "yes", "metadata": "m"}])
    with pytest.raises(ValueError, match="line 2"):
        read_results_jsonl('{"a": 1}\n{oops\n')
