"""Every case of shared/goldens/geneval_rules.jsonl through echo4o_eval.scoring.geneval_rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from echo4o_eval.scoring.geneval_rules import (
    GenEvalRuleOptions,
    compute_iou,
    detections_from_golden,
    evaluate_geneval,
    filter_detections,
    relative_position,
)
from echo4o_eval.records.types import Detection, Status

_SHARED = Path(__file__).resolve().parents[2] / "shared"


def _case_ids() -> list[str]:
    path = _SHARED / "goldens" / "geneval_rules.jsonl"
    if not path.exists():  # the fixture reports the missing folder clearly
        return ["missing"]
    return [json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def cases(goldens_dir: Path) -> dict[str, dict]:
    rows = [json.loads(x) for x in (goldens_dir / "geneval_rules.jsonl").read_text().splitlines()]
    assert len(rows) == 607
    return {row["id"]: row for row in rows}


@pytest.fixture(scope="module")
def class_order(data_dir: Path) -> list[str]:
    return (data_dir / "geneval" / "object_names.txt").read_text().split("\n")[:80]


def _check(outcome, expected: dict) -> None:
    if "error" in expected:
        assert outcome.status is Status.SCORE_ERROR
        assert outcome.correct is None
        assert outcome.reason
        if "kept" in expected:
            assert outcome.kept_json() == expected["kept"]
        return
    assert outcome.status is Status.OK
    assert outcome.correct is expected["correct"]
    assert outcome.reason in expected.get("reason_variants", [expected["reason"]])
    kept = outcome.kept_json()
    assert kept == expected["kept"]
    assert list(kept) == list(expected["kept"])  # class order as in object_names.txt


@pytest.mark.parametrize("case_id", _case_ids())
def test_golden_case(case_id: str, cases: dict, class_order: list[str]) -> None:
    case = cases[case_id]
    detections = detections_from_golden(case["detections"])
    _check(evaluate_geneval(detections, case["metadata"], class_order=class_order), case["expected"])
    float32 = GenEvalRuleOptions(float32=True)
    outcome32 = evaluate_geneval(detections, case["metadata"], float32, class_order)
    if "expected_float32" in case:
        _check(outcome32, case["expected_float32"])
    elif "error" not in case["expected"]:
        # Where float32 does not change the verdict, it must agree with float64.
        assert outcome32.correct is case["expected"]["correct"]


def test_golden_float32_cases_exist(cases: dict) -> None:
    assert sum("expected_float32" in c for c in cases.values()) == 3


def test_error_messages_name_the_problem(cases: dict, class_order: list[str]) -> None:
    messages = {
        "geneval-0561": "position target 0",
        "geneval-0598": "'cat'",
        "geneval-0603": "'count'",
        "geneval-0604": "'tag'",
    }
    for case_id, fragment in messages.items():
        case = cases[case_id]
        outcome = evaluate_geneval(detections_from_golden(case["detections"]), case["metadata"])
        assert fragment in outcome.reason, (case_id, outcome.reason)


def test_nms_drops_overlapping_boxes_when_enabled() -> None:
    dets = [
        Detection("dog", (0, 0, 99, 99), 0.9),
        Detection("dog", (2, 2, 101, 101), 0.8),  # IoU ~0.92 with the first
        Detection("dog", (300, 300, 399, 399), 0.7),
    ]
    assert len(filter_detections(dets, "x")["dog"]) == 3
    kept = filter_detections(dets, "x", GenEvalRuleOptions(max_overlap=0.5))["dog"]
    assert [d.score for d in kept] == [0.9, 0.7]


def test_compute_iou_disjoint_is_zero() -> None:
    assert compute_iou((0, 0, 9, 9), (20, 20, 29, 29)) == 0.0


def test_relative_position_threshold_boundary() -> None:
    # Two 100-px boxes: a pure horizontal relation needs |offset| > 0.2 * 200 = 40.
    assert relative_position((0, 0, 100, 100), (40, 0, 140, 100)) == set()
    assert relative_position((0, 0, 100, 100), (40.01, 0, 140.01, 100)) == {"left of"}
    assert relative_position((0, 0, 100, 100), (0, 50, 100, 150), threshold=0.2) == set()


def test_options_from_mapping_parses_cli_strings() -> None:
    opts = GenEvalRuleOptions.from_mapping({"float32": "true", "max_objects": "4", "other": 1})
    assert opts.float32 is True and opts.max_objects == 4
