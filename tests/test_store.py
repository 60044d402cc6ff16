"""Run store: records round-trip, resume keys, changed config refused, lock, partial lines."""

import json

import pytest

from echo4o_eval.store import RunConfigChanged, RunStore, StoreError, _truncate_partial_line, load_run
from echo4o_eval.types import Detection, Generation, Judgement, Sample, SampleScore, Status

SAMPLES = [Sample("a", 0, "p", "t", {"k": 1}), Sample("b/c", 1, "q", "t", {}, ("r.png",))]
MANIFEST = {"fingerprint": "f1", "model": {"spec": "folder:x"}, "benchmark": "geneval@1.0"}


def test_round_trip_of_all_record_types(tmp_path):
    store = RunStore(tmp_path / "run")
    store.initialise(MANIFEST, SAMPLES)
    gen = Generation("b/c", 1, 5, Status.OK, image_path="x.png", params={"w": 1})
    judgement = Judgement("main", "j", Status.OK, detections=(Detection("cat", (0, 0, 1, 1), 0.5, 3.0, "red"),),
                          image_size=(4, 4), usage={"calls": 1})
    score = SampleScore("b/c", 1, "t", Status.OK, {"correct": True}, "fine")
    with store.writer() as writer:
        writer.append_generation(gen)
        writer.append_score(gen, [judgement], score)
    data = load_run(tmp_path / "run")
    assert data.samples["b/c"] == SAMPLES[1]
    assert data.generations[("b/c", 1)] == gen
    assert data.judgements[("b/c", 1)] == [judgement]
    assert data.scores[("b/c", 1)] == score
    record = json.loads((tmp_path / "run" / "records-0.jsonl").read_text().splitlines()[0])
    assert record["key"] == {"model": "folder:x", "benchmark": "geneval@1.0", "sample_id": "b/c",
                             "image_index": 1, "seed": 5, "fingerprint": "f1"}


def test_changed_config_is_refused_with_the_changed_fields(tmp_path):
    RunStore(tmp_path).initialise(MANIFEST, SAMPLES)
    RunStore(tmp_path).initialise(MANIFEST, SAMPLES)  # same config: fine
    with pytest.raises(RunConfigChanged, match=r"changed: fingerprint, mode\); pass --new-run"):
        RunStore(tmp_path).initialise({**MANIFEST, "fingerprint": "f2", "mode": "parity"}, SAMPLES)


def test_second_writer_is_locked_out(tmp_path):
    store = RunStore(tmp_path)
    store.initialise(MANIFEST, SAMPLES)
    with store.writer():
        with pytest.raises(StoreError, match="being written by another process"):
            with RunStore(tmp_path).writer():
                pass
    with RunStore(tmp_path).writer():  # released afterwards
        pass


def test_partial_last_line_is_ignored_then_cut(tmp_path):
    store = RunStore(tmp_path)
    store.initialise(MANIFEST, SAMPLES)
    with store.writer() as writer:
        writer.append_generation(Generation("a", 0, 1, Status.OK, image_path="1.png"))
    shard = tmp_path / "records-0.jsonl"
    with open(shard, "a") as handle:
        handle.write('{"type": "generation", "key": {"sample_')
    assert list(store.load().generations) == [("a", 0)]
    with store.writer() as writer:
        writer.append_generation(Generation("b/c", 0, 1, Status.MISSING_IMAGE, error="gone"))
    lines = shard.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line) for line in lines)


def test_truncate_partial_line_without_any_newline(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"half')
    _truncate_partial_line(path)
    assert path.read_text() == ""


def test_records_of_other_fingerprints_are_not_mixed_in(tmp_path):
    store = RunStore(tmp_path)
    store.initialise(MANIFEST, SAMPLES)
    stray = {"type": "generation", "key": {"sample_id": "a", "image_index": 0, "fingerprint": "other"},
             "generation": {"sample_id": "a", "image_index": 0, "seed": 1, "status": "ok"}}
    (tmp_path / "records-1.jsonl").write_text(json.dumps(stray) + "\n")
    data = store.load()
    assert data.generations == {} and data.skipped_lines == 1


def test_sample_ids_map_to_safe_distinct_image_paths(tmp_path):
    store = RunStore(tmp_path)
    assert store.image_path("a/b", 0) != store.image_path("a_b", 0)
    assert store.image_path("00001", 3).relative_to(tmp_path).as_posix() == "images/00001/3.png"
