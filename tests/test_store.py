"""Run store: records round-trip, resume keys, changed config refused, lock, partial lines."""

import json

import pytest

from echo4o_eval.rundir.store import RunConfigChanged, RunStore, StoreError, _truncate_partial_line, load_run
from echo4o_eval.records.types import Detection, Generation, Judgement, Sample, SampleScore, Status

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


def _store_with_one_generation(tmp_path):
    store = RunStore(tmp_path)
    store.initialise(MANIFEST, SAMPLES)
    with store.writer() as writer:
        writer.append_generation(Generation("a", 0, 1, Status.OK, image_path="1.png"))
    return store, tmp_path / "records-0.jsonl"


def test_invalid_utf8_and_a_line_torn_inside_a_character_are_skipped_with_file_and_line(tmp_path):
    store, shard = _store_with_one_generation(tmp_path)
    good = shard.read_bytes()
    other = good.replace(b'"sample_id": "a"', b'"sample_id": "b/c"')
    torn = "{\"type\": \"generation\", \"note\": \"caf\u00e9".encode()[:-1]  # cut inside é
    shard.write_bytes(good + b"\xff\xfe garbage\n" + other + torn)
    data = store.load()
    assert sorted(data.generations) == [("a", 0), ("b/c", 0)]
    assert f"{shard}:2: invalid UTF-8" in data.problems[0]
    assert f"{shard}:4: partial last line" in data.problems[1]
    with store.writer() as writer:  # the torn line is cut before appending
        writer.append_generation(Generation("a", 1, 1, Status.OK, image_path="2.png"))
    assert sorted(store.load().generations) == [("a", 0), ("a", 1), ("b/c", 0)]


@pytest.mark.parametrize("line", ['[1, 2]', '"text"', '{"type": "score"}', '{"type": "x", "key": 3}',
                                  '{"type": "score", "key": {"sample_id": "a"}}',
                                  '{"type": "alien", "key": {"fingerprint": "f1"}}'])
def test_json_that_is_not_a_record_is_skipped_with_a_note(tmp_path, line):
    store, shard = _store_with_one_generation(tmp_path)
    with open(shard, "a") as handle:
        handle.write(line + "\n")
    data = store.load()
    assert list(data.generations) == [("a", 0)]
    assert len(data.problems) == 1 and data.problems[0].startswith(f"{shard}:2: ")


def test_retry_records_keep_attempt_and_earlier_judgements(tmp_path):
    store, _ = _store_with_one_generation(tmp_path)
    gen = Generation("a", 0, 1, Status.OK, image_path="1.png")
    failed = Judgement("main", "j", Status.PARSE_ERROR, replies=("garbled",))
    with store.writer() as writer:
        writer.append_score(gen, [failed], SampleScore("a", 0, "t", Status.PARSE_ERROR))
        writer.append_score(gen, [Judgement("main", "j", Status.OK, parsed=(1,), usage={"api_calls": 1})],
                            SampleScore("a", 0, "t", Status.OK), attempt=1,
                            earlier=[{"attempt": 0, "status": "parse_error", "judgements": [failed]}])
    data = store.load()
    assert data.scores[("a", 0)].status is Status.OK and data.attempts[("a", 0)] == 1
    assert data.earlier_judgements() == [[failed]]


def test_records_reach_the_file_at_once_and_are_fsynced_in_groups(tmp_path, monkeypatch):
    import os

    store = RunStore(tmp_path)
    store.initialise(MANIFEST, SAMPLES)
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    with store.writer(sync_interval=30.0) as writer:
        for i in range(20):
            writer.append_generation(Generation("a", i, 1, Status.OK, image_path=f"{i}.png"))
            assert len(RunStore(tmp_path).load().generations) == i + 1  # readable at once
        assert synced == []  # not one fsync per record...
    assert len(synced) == 1  # ...but all of them before the writer closes
    with store.writer(sync_interval=0) as writer:
        writer.append_generation(Generation("b/c", 0, 1, Status.OK, image_path="x.png"))
        assert len(synced) == 2
