"""Detector judges end to end with tiny random models loaded from disk (offline, CPU)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from echo4o_eval.benchmarks.geneval.detector import GenEvalEvaluator
from echo4o_eval.judges.labels import GENEVAL_INDEX, GENEVAL_OBJECT_NAMES, geneval_name
from echo4o_eval.judges.weights import MissingWeightsError
from echo4o_eval.factories import make_judge
from echo4o_eval.scoring.geneval_rules import GENEVAL_COLORS
from echo4o_eval.records.types import Generation, JudgeRequest, Sample, Status
from tests.tiny_models import save_tiny_clip, save_tiny_mask2former, write_test_images

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny_detectors")


@pytest.fixture(scope="session")
def tiny_clip(tiny_dir: Path) -> tuple[str, Path]:
    return save_tiny_clip(tiny_dir / "clip")


@pytest.fixture(scope="session")
def tiny_mask2former(tiny_dir: Path) -> Path:
    return save_tiny_mask2former(tiny_dir / "m2f")


@pytest.fixture(scope="session")
def images(tiny_dir: Path) -> list[Path]:
    paths = write_test_images(tiny_dir / "images")
    corrupt = tiny_dir / "images" / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return paths + [corrupt]


@pytest.fixture(scope="session")
def m2f_options(tiny_mask2former: Path, tiny_clip) -> dict[str, str]:
    name, weights = tiny_clip
    # Random weights give class scores ~1/81, so keep every instance to exercise the plumbing.
    return {"detector_model": str(tiny_mask2former), "clip_model": name,
            "clip_pretrained": str(weights), "min_score": "0", "color_min_score": "0",
            "batch_size": "4", "device": "cpu"}  # fmt: skip


@pytest.fixture(scope="session")
def m2f_judge(m2f_options):
    return make_judge("mask2former-clip", m2f_options)


def _requests(images: list[Path]) -> list[JudgeRequest]:
    colours = ("dog", "cup", "person", "computer mouse")
    return [JudgeRequest("main", (str(p),), color_classes=colours, params={"colors": list(GENEVAL_COLORS)})
            for p in images]


def test_mask2former_judge_on_awkward_images(m2f_judge, images) -> None:
    requests = _requests(images) + [
        JudgeRequest("main", (str(images[0]),), crop=(4, 2, 36, 30)),
        JudgeRequest("main", (str(images[0]),), crop=(0, 0, 500, 500)),
        JudgeRequest("main", ("/no/such/file.png",)),
    ]
    judgements = m2f_judge.judge(requests)
    assert [j.key for j in judgements] == [r.key for r in requests]
    sizes = [j.image_size for j in judgements]
    assert sizes[:6] == [(64, 48), (50, 50), (40, 56), (48, 48), (37, 23), (30, 60)]  # EXIF
    assert sizes[7] == (32, 28)
    for j in judgements[:6] + judgements[7:8]:
        assert j.status is Status.OK and j.judge_id == "mask2former-clip"
        assert j.detections, "min_score 0 keeps instances"
        width, height = j.image_size
        for d in j.detections:
            assert d.class_name in GENEVAL_INDEX
            assert 0 <= d.box[0] <= d.box[2] <= width and 0 <= d.box[1] <= d.box[3] <= height
            assert 0.0 <= d.score <= 1.0 and d.mask_area is not None
        order = [(GENEVAL_INDEX[d.class_name], -d.score) for d in j.detections]
        assert order == sorted(order)
    coloured = [d for j in judgements[:6] for d in j.detections if d.class_name == "person"]
    assert coloured and all(d.color in GENEVAL_COLORS for d in coloured)
    uncoloured = [d for j in judgements[:6] for d in j.detections if d.class_name == "car"]
    assert all(d.color is None for d in uncoloured)
    corrupt, bad_crop, missing = judgements[6], judgements[8], judgements[9]
    assert corrupt.status is Status.BAD_IMAGE and "corrupt.png" in corrupt.error
    assert bad_crop.status is Status.JUDGE_ERROR and "crop" in bad_crop.error
    assert missing.status is Status.MISSING_IMAGE and "/no/such/file.png" in missing.error


def test_batching_does_not_change_results(m2f_options, m2f_judge, images) -> None:
    single = make_judge("mask2former-clip", {**m2f_options, "batch_size": "1", "prefetch": "0"})
    requests = _requests(images[:6])
    batched, one_by_one = m2f_judge.judge(requests), single.judge(requests)
    for a, b in zip(batched, one_by_one):
        assert [d.class_name for d in a.detections] == [d.class_name for d in b.detections]
        assert [d.color for d in a.detections] == [d.color for d in b.detections]
        for x, y in zip(a.detections, b.detections):
            assert math.isclose(x.score, y.score, rel_tol=1e-4, abs_tol=1e-6)
            assert x.box == y.box and x.mask_area == y.mask_area


def test_overlapped_host_work_gives_identical_judgements(m2f_judge, images) -> None:
    from echo4o_eval.judges.detector_judge import DetectorJudge

    # The accelerator path (inputs resized and colour crops built on 3 threads, CLIP one chunk
    # behind) on CPU; batch 2 so that several chunks are in flight.
    overlapped = DetectorJudge("mask2former-clip", m2f_judge.backend, m2f_judge.colors, 2,
                               0.0, 16, True, workers=3, overlap=True)  # fmt: skip
    serial = DetectorJudge("mask2former-clip", m2f_judge.backend, m2f_judge.colors, 2,
                           0.0, 16, False)  # fmt: skip
    requests = _requests(images) + [JudgeRequest("main", ("/no/such/file.png",))]
    expected = serial.judge(requests)
    assert overlapped.judge(requests) == expected
    assert [j.status for j in expected] == [Status.OK] * 6 + [Status.BAD_IMAGE, Status.MISSING_IMAGE]
    assert any(d.color for j in expected[:6] for d in j.detections)


def test_labels_are_mapped_by_name(m2f_judge) -> None:
    backend = m2f_judge.backend
    id2label = backend.model.config.id2label
    assert id2label[0] != "person"  # ids are shuffled in the tiny checkpoint
    for index, name in enumerate(backend.class_names):
        assert name == geneval_name(id2label[index])
    assert sorted(n for n in backend.class_names if n) == sorted(GENEVAL_OBJECT_NAMES)


def test_default_min_score_drops_random_noise(m2f_options, images) -> None:
    judge = make_judge("mask2former-clip", {k: v for k, v in m2f_options.items()
                                            if k not in ("min_score", "color_min_score")})
    out = judge.judge(_requests(images[:2]))
    assert all(j.status is Status.OK and j.detections == () for j in out)


def test_end_to_end_through_geneval_score(m2f_judge, images, data_dir: Path) -> None:
    import json

    rows = [json.loads(x) for x in (data_dir / "geneval" / "evaluation_metadata.jsonl").open()]
    evaluator = GenEvalEvaluator({})
    samples = [Sample(f"{i:05d}", i, r["prompt"], r["tag"], r) for i, r in enumerate(rows[:7])]
    gens = [Generation(s.id, 0, 0, Status.OK, str(p)) for s, p in zip(samples, images)]
    requests = [evaluator.requests(s, g) for s, g in zip(samples, gens)]
    judgements = m2f_judge.judge([r for rs in requests for r in rs])
    scores = [evaluator.score(s, g, [j]) for s, g, j in zip(samples, gens, judgements)]
    assert [s.status for s in scores] == [Status.OK] * 6 + [Status.BAD_IMAGE]
    result = evaluator.aggregate(samples, scores)
    assert result.n_ok == 6 and result.metrics["image_accuracy"].n == 6


def test_missing_weights_are_one_clear_error(m2f_options, tmp_path: Path) -> None:
    with pytest.raises(MissingWeightsError, match="detector_model=PATH"):
        make_judge("mask2former-clip", {**m2f_options, "detector_model": str(tmp_path / "none")})
    with pytest.raises(MissingWeightsError, match="ECHO4O_CLIP_PRETRAINED"):
        make_judge("mask2former-clip", {**m2f_options, "clip_pretrained": str(tmp_path / "x.pt")})
    with pytest.raises(ValueError, match="did you mean .batch_size."):
        make_judge("mask2former-clip", {**m2f_options, "bach_size": "2"})


@pytest.fixture(scope="session")
def owl_judge(tiny_dir: Path, tiny_clip):
    from tests.tiny_models import save_tiny_owlv2

    path = save_tiny_owlv2(tiny_dir / "owlv2")
    name, weights = tiny_clip
    return make_judge("owlv2-clip", {"detector_model": str(path), "clip_model": name,
                                     "clip_pretrained": str(weights), "min_score": "0",
                                     "color_min_score": "0", "batch_size": "4"})  # fmt: skip


def test_owlv2_judge_finds_open_vocabulary_names(owl_judge, images) -> None:
    requests = [JudgeRequest("main", (str(p),), color_classes=("dog",),
                             params={"classes": ["unicorn"], "colors": list(GENEVAL_COLORS)})
                for p in images]  # fmt: skip
    judgements = owl_judge.judge(requests)
    assert [j.status for j in judgements] == [Status.OK] * 6 + [Status.BAD_IMAGE]
    names = {d.class_name for j in judgements[:6] for d in j.detections}
    assert names and names <= {"unicorn", "dog"}
    for j in judgements[:6]:
        width, height = j.image_size
        for d in j.detections:
            assert 0 <= d.box[0] <= d.box[2] <= width and 0 <= d.box[1] <= d.box[3] <= height
            assert d.mask_area is None
            assert (d.color in GENEVAL_COLORS) if d.class_name == "dog" else d.color is None
