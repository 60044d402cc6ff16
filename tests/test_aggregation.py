"""The aggregation kit (echo4o_eval.scoring.aggregation): status counts, coverage notes,
per-tag means with parity variants, the result record; and every evaluator uses it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from echo4o_eval.scoring.aggregation import (
    coverage_note, failure_note, make_result, mean_metric, status_counts, tag_means,
)
from echo4o_eval.spec import get_benchmark
from echo4o_eval.records.types import Sample, SampleScore, Status

REPO = Path(__file__).resolve().parents[1]


def scores():
    return [SampleScore("1", 0, "a", Status.OK, {"s": 1.0}),
            SampleScore("2", 0, "a", Status.PARSE_ERROR),
            SampleScore("3", 0, "b", Status.MISSING_IMAGE),
            SampleScore("4", 0, "b", Status.OK, {"s": 0.5})]


def test_default_means_leave_failures_out_and_count_them():
    means = tag_means(["a", "b", "c"], scores(), ["s"])
    assert (means["a"]["s"].value, means["a"]["s"].n, means["a"]["s"].n_total) == (1.0, 1, 2)
    assert means["c"]["s"].value is None and means["c"]["s"].n_total == 0  # a tag with no image stays


def test_parity_variant_counts_chosen_failures_as_zero():
    means = tag_means(["a", "b"], scores(), ["s"], failed_value=0.0,
                      counts_as_failed=lambda s: s.status is Status.PARSE_ERROR)
    assert (means["a"]["s"].value, means["a"]["s"].n) == (0.5, 2)  # the parse error is a 0
    assert (means["b"]["s"].value, means["b"]["s"].n) == (0.5, 1)  # the missing image is skipped


def test_notes_and_result_record():
    assert coverage_note(3, 3, "x") is None and coverage_note(2, 3, "x") == "coverage 2/3: x"
    assert failure_note(scores(), False, parity_treatment="").startswith("coverage 2/4: 2 image(s)")
    spec = dataclasses.replace(get_benchmark("geneval"), version="9.9")
    samples = [Sample(str(i), i, "p", "a") for i in range(1, 5)]
    result = make_result(spec, "default", samples, scores(), {"overall": mean_metric([1.0], 4)}, {},
                         [None, "kept"])
    assert (result.benchmark, result.version, result.n_ok, result.n_images) == ("geneval", "9.9", 2, 4)
    assert result.status_counts == status_counts(scores()) == {"ok": 2, "parse_error": 1, "missing_image": 1}
    assert result.notes == ("kept",)


@pytest.mark.parametrize("path", sorted((REPO / "benchmarks").glob("*/*.py")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_evaluator_builds_its_result_or_counts_statuses_by_hand(path):
    text = path.read_text()
    assert "BenchmarkResult(" not in text and "status_counts[" not in text
