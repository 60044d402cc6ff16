"""Judging overlaps generation for a judge that streams: images of the first model batches are
judged (and recorded) while later batches are generated; an exception in either stage keeps
what the other recorded; score records that are ready together are written with one write and
flush; a judge that does not stream (or a deferred one) still waits for every image."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from echo4o_eval.deferred import deferred_judge
from echo4o_eval.judges.openai_judge import OpenAIJudge
from echo4o_eval.judging import judge_and_score, streams
from echo4o_eval.records.types import Generation, JudgeRequest, Judgement, Sample, SampleScore, Status
from echo4o_eval.rundir.store import RunStore, load_run
from echo4o_eval.runner import RunConfig, run
from fake_judge_replies import geneval_pp_reply

N = 6  # geneval_pp samples, one image each


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(run_dir.glob("records-*.jsonl"))
            for line in path.read_text().splitlines()]


def _scored(run_dir: Path) -> int:
    return sum(1 for r in _records(run_dir) if r["type"] == "score")


class BatchModel:
    """A generating test model, 2 images a batch. From its second batch on it waits (up to
    20 s) until the run store holds ``wait_for`` scores, noting how many it saw, and raises
    where told."""

    id = "batch-model"
    batch_size = 2

    def __init__(self, run_dir: Path, fail_at_batch: int | None = None, wait_for: int = 1):
        self.run_dir, self.fail_at_batch, self.wait_for = run_dir, fail_at_batch, wait_for
        self.batches = 0
        self.scored_before_batch: list[int] = []
        self.threads: set[int] = set()

    def generate(self, requests):
        self.batches += 1
        self.threads.add(threading.get_ident())
        if self.batches > 1:
            deadline = time.monotonic() + 20
            while _scored(self.run_dir) < self.wait_for and time.monotonic() < deadline:
                time.sleep(0.01)
        self.scored_before_batch.append(_scored(self.run_dir))
        if self.batches == self.fail_at_batch:
            raise RuntimeError("the GPU fell over")
        out = []
        for r in requests:
            Path(r.output_path).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (16, 16), (r.seed % 256, 80, 20)).save(r.output_path)
            out.append(Generation(r.sample_id, r.image_index, r.seed, Status.OK, image_path=r.output_path))
        return out

    def describe(self):
        return {"type": "batch-model"}

    def close(self):
        pass


def _config(run_dir: Path, data_dir: Path) -> RunConfig:
    return RunConfig(benchmark="geneval_pp", model="batch-model:x", judge="openai:fake-judge",
                     run_dir=str(run_dir), data_dir=str(data_dir), allow_download=False, limit=N,
                     n_bootstrap=0, progress=False, model_id="batch-model")


def _judge(server, tmp_path: Path) -> OpenAIJudge:
    return OpenAIJudge("fake-judge", {"base_url": server.base_url, "api_key_env": "ECHO4O_TEST_KEY",
                                      "cache_dir": str(tmp_path / "cache")})


def test_images_are_judged_while_later_batches_are_generated(tmp_path, data_dir, fake_openai):
    server = fake_openai(responder=geneval_pp_reply)
    run_dir = tmp_path / "run"
    model = BatchModel(run_dir)
    judge = _judge(server, tmp_path)
    try:
        outcome = run(_config(run_dir, data_dir), model=model, judge=judge)
    finally:
        judge.close()
    assert model.batches == 3
    assert model.scored_before_batch[0] == 0 and all(n > 0 for n in model.scored_before_batch[1:]), \
        model.scored_before_batch  # the first batch was judged before the last was generated
    assert model.threads == {threading.get_ident()}  # the model ran in the caller's thread
    assert (outcome.generated, outcome.scored) == (N, N)
    assert outcome.status_counts == {"ok": N} and server.count() == N
    records = _records(run_dir)
    assert sorted(r["type"] for r in records) == ["generation"] * N + ["score"] * N


def test_an_exception_in_generation_keeps_the_judgements_recorded_and_resume_finishes(tmp_path, data_dir, fake_openai):
    server = fake_openai(responder=geneval_pp_reply)
    run_dir = tmp_path / "run"
    judge = _judge(server, tmp_path)
    try:
        with pytest.raises(RuntimeError, match="the GPU fell over"):
            run(_config(run_dir, data_dir), model=BatchModel(run_dir, fail_at_batch=2, wait_for=2),
                judge=judge)
        kept = load_run(run_dir)
        assert len(kept.generations) == 2 and len(kept.scores) == 2  # the first batch, judged
        assert all(s.status is Status.OK for s in kept.scores.values())
        outcome = run(_config(run_dir, data_dir), model=BatchModel(run_dir), judge=judge)
    finally:
        judge.close()
    assert (outcome.generated, outcome.scored) == (N - 2, N - 2)
    assert outcome.status_counts == {"ok": N} and server.count() == N  # nobody judged twice


class FailingStream:
    """A streaming judge that answers the first image (judge_error) and then raises."""

    id, kind = "failing", "vlm"

    def __init__(self):
        self.groups = 0

    def judge_stream(self, groups):
        for token, requests, _ in groups:
            self.groups += 1
            if self.groups > 1:
                raise ConnectionError("the judge's server went away")
            yield token, [Judgement(r.key, self.id, Status.JUDGE_ERROR, error="no") for r in requests]

    def describe(self):
        return {"id": self.id}

    def close(self):
        pass


def test_an_exception_in_judging_keeps_the_generations_recorded(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    model = BatchModel(run_dir)
    with pytest.raises(ConnectionError, match="went away"):
        run(_config(run_dir, data_dir), model=model, judge=FailingStream())
    data = load_run(run_dir)
    assert len(data.scores) == 1 and next(iter(data.scores.values())).status is Status.JUDGE_ERROR
    # every batch the model made is recorded (the one in hand when judging failed included)
    assert len(data.generations) == 2 * model.batches and model.batches >= 1
    assert all(g.status is Status.OK for g in data.generations.values())


class CountingHandle:
    """Wraps the shard's file handle, counting writes and flushes."""

    def __init__(self, handle):
        self.handle, self.writes, self.flushes = handle, 0, 0

    def write(self, text):
        self.writes += 1
        return self.handle.write(text)

    def flush(self):
        self.flushes += 1
        return self.handle.flush()

    def fileno(self):
        return self.handle.fileno()


class Echo:
    """A streaming judge that answers each group at once; ``between(n)`` runs before the
    n-th answer (n >= 1), ``after_last()`` once every answer is handed out."""

    id, kind = "echo", "vlm"

    def __init__(self, between=None, after_last=None):
        self.between, self.after_last = between, after_last

    def judge_stream(self, groups):
        for n, (token, requests, _) in enumerate(groups):
            if n and self.between is not None:
                self.between(n)
            yield token, [Judgement(r.key, self.id, Status.OK, parsed=(1,)) for r in requests]
        if self.after_last is not None:
            self.after_last()


class Count:
    def requests(self, sample, generation):
        return [JudgeRequest(key="q", images=(), text=sample.prompt)]

    def score(self, sample, generation, judgements):
        return SampleScore(sample.id, generation.image_index, sample.tag, Status.OK, values={"n": 1})


def _pairs(n, status=Status.OK):
    return [(Sample(str(i), i, "a cat", "t"), Generation(str(i), 0, 0, status)) for i in range(n)]


def _store(tmp_path):
    store = RunStore(tmp_path / "run")
    store.initialise({"fingerprint": "f", "model": {"spec": "m"}, "benchmark": "b@1"}, [])
    return store


def test_judgements_ready_together_are_written_with_one_write_and_flush(tmp_path):
    store = _store(tmp_path)
    answered = threading.Event()
    first_on_disk = []

    def between(n):  # before the second answer: the first one alone is on disk already
        if n == 1:
            deadline = time.monotonic() + 10
            while _scored(store.run_dir) == 0 and time.monotonic() < deadline:
                time.sleep(0.005)
            first_on_disk.append(_scored(store.run_dir))

    with store.writer() as writer:
        handle = writer._handle = CountingHandle(writer._handle)
        write, sizes = writer.append_scores, []

        def slow_second(records):  # the second write waits until every answer is in
            sizes.append(len(records))
            if len(sizes) == 2:
                assert answered.wait(10)
            write(records)

        writer.append_scores = slow_second
        recorded = judge_and_score(_pairs(20), Echo(between, answered.set), Count(), writer,
                                   progress=False)
    assert recorded == 20 and len(store.load().scores) == 20
    assert first_on_disk == [1]  # written at once, while nothing else was ready
    # the answers that came while the second write waited went in one write: 2 or 3 in all
    assert sizes[0] == 1 and sum(sizes) == 20 and len(sizes) <= 3, sizes
    assert handle.writes == handle.flushes == len(sizes)


def test_failed_generations_and_a_batch_judge_write_one_record_group_each(tmp_path):
    class Batch:
        id, kind = "batch", "detector"

        def judge(self, requests):
            return [Judgement(r.key, self.id, Status.OK, parsed=(1,)) for r in requests]

    store = _store(tmp_path)
    items = _pairs(10) + [(Sample(f"x{i}", 10 + i, "a dog", "t"), Generation(f"x{i}", 0, 0, Status.MISSING_IMAGE))
                          for i in range(3)]
    with store.writer() as writer:
        handle = writer._handle = CountingHandle(writer._handle)
        assert judge_and_score(items, Batch(), Count(), writer, batch_size=4, progress=False) == 13
    assert handle.flushes == 1 + 3  # the 3 failed generations together, then batches of 4, 4, 2
    assert len(store.load().scores) == 13


def test_a_deferred_judge_does_not_stream_and_is_not_loaded_to_find_out():
    judge = deferred_judge("owlv2-clip", {})
    assert judge is not None and streams(judge) is False and not judge.loaded
    assert streams(Echo()) is True


def test_a_stream_takes_the_batches_that_come_soon_and_a_new_one_starts_after_a_pause(tmp_path, monkeypatch):
    import echo4o_eval.judging as judging

    monkeypatch.setattr(judging, "FEED_WAIT_S", 0.5)
    streams_started = []

    class Counting(Echo):
        def judge_stream(self, groups):
            streams_started.append(time.monotonic())
            return super().judge_stream(groups)

    pairs = _pairs(9)

    def arriving():
        yield pairs[0:3]
        yield pairs[3:6]  # at once: joins the first stream
        time.sleep(1.5)  # longer than FEED_WAIT_S: the first stream ends meanwhile
        yield pairs[6:9]

    store = _store(tmp_path)
    with store.writer() as writer:
        assert judge_and_score([], Counting(), Count(), writer, progress=False, arriving=arriving(),
                               arriving_count=9) == 9
    assert len(streams_started) == 2 and streams_started[1] - streams_started[0] > 1.0
    assert len(store.load().scores) == 9
