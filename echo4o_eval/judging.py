"""Judge and score images, recording each image as soon as its judgements are complete.

The runner hands :func:`judge_and_score` the (sample, generation) pairs that still need a
score, and, for a judge that streams, the model batches still being generated (``arriving``).
With a judge that streams (``judge_stream``, the API judges), every image is one group of
requests and there is no barrier: images already generated are judged while the model makes
the next batches (the model generates in the caller's thread, as it would without a judge; a
judging thread takes each batch as soon as it is recorded), images are prepared in the
judge's thread pool while other requests are in flight, and each image's score record is
written (append-only, flushed to the OS) as soon as its last judgement arrives. A writer
thread records what is ready: judgements that complete while it writes are recorded together
with one write and flush, and a judgement that completes alone is written at once. So a
killed process loses no finished judgement; the store fsyncs within 0.2 s
(``RunWriter.sync_interval``) and on close. When the judge has been handed every image and
no new batch comes within ``FEED_WAIT_S`` (50 ms), its stream ends once its requests are
answered, and a new one starts with the next batch:
:meth:`~echo4o_eval.api.engine.ApiEngine.stream` reads its items on its event loop, so a stream
cannot wait long there for images that do not exist yet. A batch that comes while a stream
finishes waits for it, so judging ends at most about one reply's latency after the ideal
(bench/overlap_throughput.py).

Other judges (detectors on a GPU) are called in batches of ``batch_size`` images once every
image exists (a generator and a detector would compete for the GPU's memory), and each
batch's records are written together as it returns.

An exception in either stage stops both: what was generated and what was judged up to then
stays recorded. Judgements already received are written before the exception is raised
(requests still in flight are not waited for: a reply that arrived is in the response cache);
when judging fails, the model batch being generated is finished and recorded first.

An image whose earlier judgement failed (judge_error / parse_error, retried on resume) is
asked again in a new retry round: the judge uses new cache slots for it, so a reply that could
not be parsed is not replayed; the failed judgements stay in the new record (``earlier``) for
audit. Scoring one image never stops the run: an exception from ``evaluator.score`` becomes
that image's ``score_error`` (:func:`echo4o_eval.scoring.aggregation.safe_score`). Evaluators
build requests (``requests``) in the caller's thread and score in the writer thread.

Example (a tiny judge that streams; records land in a fresh run store):
    >>> import tempfile
    >>> from echo4o_eval.rundir.store import RunStore
    >>> from echo4o_eval.records.types import Generation, JudgeRequest, Judgement, Sample, SampleScore, Status
    >>> class Echo:
    ...     id, kind = "echo", "vlm"
    ...     def judge_stream(self, groups):
    ...         for token, requests, round_ in groups:
    ...             yield token, [Judgement(r.key, self.id, Status.OK, parsed=(1,)) for r in requests]
    >>> class Count:
    ...     def requests(self, sample, generation):
    ...         return [JudgeRequest(key="q", images=(), text=sample.prompt)]
    ...     def score(self, sample, generation, judgements):
    ...         return SampleScore(sample.id, generation.image_index, sample.tag, Status.OK,
    ...                            values={"n": len(judgements)})
    >>> store = RunStore(tempfile.mkdtemp())
    >>> store.initialise({"fingerprint": "f", "model": {"spec": "m"}, "benchmark": "b@1"}, [])
    >>> pairs = [(Sample(str(i), i, "a cat", "t"), Generation(str(i), 0, 0, Status.OK)) for i in range(5)]
    >>> with store.writer() as writer:  # two images now, three arriving in two model batches
    ...     judge_and_score(pairs[:2], Echo(), Count(), writer, progress=False,
    ...                     arriving=iter([pairs[2:4], pairs[4:]]), arriving_count=3)
    5
    >>> sorted(k for k in store.load().scores)
    [('0', 0), ('1', 0), ('2', 0), ('3', 0), ('4', 0)]
"""

from __future__ import annotations

import collections
import itertools
import queue
import sys
import threading
import time
from typing import Any, Iterable, Iterator, Sequence

from echo4o_eval.records.types import Generation, Judgement, Sample, SampleScore, Status
from echo4o_eval.rundir.writer import ScoreRecord

Pairs = Sequence[tuple[Sample, Generation]]
# How long a judge's stream waits for the next model batch before it ends (a new stream starts
# when the batch comes): a folder's next batch is found in well under this, a GPU's is not.
FEED_WAIT_S = 0.05


def streams(judge) -> bool:
    """Whether ``judge`` judges as a stream (``judge_stream``). Looked up on its class, so a
    deferred judge (:mod:`echo4o_eval.deferred`) is not loaded to answer.

    >>> class Api:
    ...     def judge_stream(self, groups): ...
    >>> streams(Api()), streams(object())
    (True, False)
    """
    return callable(getattr(type(judge), "judge_stream", None))


def _safe_score(evaluator, sample: Sample, generation: Generation, judgements: Sequence[Judgement]):
    from echo4o_eval.scoring.aggregation import safe_score

    return safe_score(evaluator, sample, generation, judgements)


def _bar(total: int, desc: str, enabled: bool):
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="image", file=sys.stderr, leave=False)


def judge_and_score(items: Pairs, judge, evaluator, writer, *, previous=None, batch_size: int = 64,
                    progress: bool = True, desc: str = "judging",
                    arriving: Iterable[Pairs] | None = None, arriving_count: int = 0) -> int:
    """Judge, score and record every (sample, generation); returns how many were recorded.

    ``arriving`` (optional) yields more lists of pairs, each once it is recorded (the model
    batches still to generate; ``arriving_count`` pairs in all, for the progress bar). A judge
    that streams judges them as they arrive, ``arriving`` running in a thread of its own;
    another judge judges once ``arriving`` is exhausted. ``previous`` (the run's
    :class:`~echo4o_eval.rundir.store.RunData`, optional) tells which images are retries of a
    failed judgement. ``batch_size`` applies only to judges that do not stream. The progress
    bar (when ``progress``) advances per image recorded.
    """
    if not items and arriving is None:
        return 0
    bar = _bar(len(items) + arriving_count, desc, progress)
    try:
        if streams(judge):
            return _Overlap(judge, evaluator, writer, previous, bar).run(items, arriving)
        if arriving is not None:
            items = [*items, *itertools.chain.from_iterable(arriving)]
        recorded = 0
        plans = [_plan(sample, generation, evaluator, previous) for sample, generation in items]
        for ready in _batch_judged(plans, judge, batch_size):
            recorded += _record(ready, evaluator, writer, bar)
        return recorded
    finally:
        if bar is not None:
            bar.close()


def _plan(sample: Sample, generation: Generation, evaluator, previous) -> dict[str, Any]:
    """What one image needs: its judge requests (none when generation failed) and its retry
    round (0 for a first judgement) with the earlier failed judgements kept for audit."""
    key = (sample.id, generation.image_index)
    round_, earlier = 0, None
    if previous is not None and key in previous.scores:
        old_round = previous.attempts.get(key, 0)
        round_ = old_round + 1
        earlier = [*previous.earlier.get(key, []), {
            "attempt": old_round, "status": previous.scores[key].status.value,
            "judgements": list(previous.judgements.get(key, [])),
        }]
    plan = {"sample": sample, "generation": generation, "requests": [], "round": round_,
            "earlier": earlier}
    if generation.status is Status.OK:
        try:
            plan["requests"] = list(evaluator.requests(sample, generation))
        except Exception as exc:  # noqa: BLE001 (one image's problem, recorded as its score)
            plan["error"] = exc
    return plan


def _record(ready: Sequence[tuple[dict, list[Judgement]]], evaluator, writer, bar) -> int:
    """Score ``(plan, judgements)`` pairs and write their records with one write and flush."""
    records = []
    for plan, judgements in ready:
        sample, generation = plan["sample"], plan["generation"]
        if "error" in plan:
            error = plan["error"]
            score = SampleScore(sample.id, generation.image_index, sample.tag, Status.SCORE_ERROR,
                                reason=f"building the judge requests failed: {type(error).__name__}: {error}")
        else:
            score = _safe_score(evaluator, sample, generation, judgements)
        records.append(ScoreRecord(generation, judgements, score, plan["round"], plan["earlier"]))
    if records:
        writer.append_scores(records)
        if bar is not None:
            bar.update(len(records))
    return len(records)


def _check_answer(judge, plan: dict, judgements: Sequence[Judgement]) -> None:
    if len(judgements) != len(plan["requests"]):
        raise RuntimeError(f"judge {judge.id} answered {len(judgements)} of "
                           f"{len(plan['requests'])} requests for {plan['sample'].id}")


def _batch_judged(plans: list[dict], judge, batch_size: int) -> Iterator[list[tuple[dict, list[Judgement]]]]:
    """Lists of (plan, judgements) that are ready together, for a judge that does not stream:
    the plans with nothing to ask (failed generations) at once, then each batch's."""
    yield [(plan, []) for plan in plans if not plan["requests"]]
    busy = [p for p in plans if p["requests"]]
    for batch in _batched(busy, batch_size):  # judges that take whole batches (detectors)
        requests = [r for plan in batch for r in plan["requests"]]
        judgements = judge.judge(requests)
        if len(judgements) != len(requests):
            raise RuntimeError(f"judge {judge.id} answered {len(judgements)} of {len(requests)} requests")
        start, ready = 0, []
        for plan in batch:
            count = len(plan["requests"])
            ready.append((plan, list(judgements[start:start + count])))
            start += count
        yield ready


class _Overlap:
    """A streaming judge judging while the images are generated (see the module docstring).

    The caller's thread plans the images and runs ``arriving`` (the model runs where it would
    without a judge, with that thread's settings: CUDA device, grad mode, context variables);
    a judging thread feeds ``ready`` plans to the judge's streams; a writer thread scores and
    records what is ready, together. Failed generations go straight to the writer."""

    def __init__(self, judge, evaluator, writer, previous, bar) -> None:
        self.judge, self.evaluator, self.writer = judge, evaluator, writer
        self.previous, self.bar = previous, bar
        self.ready: collections.deque = collections.deque()  # plans waiting for the judge
        self.done: queue.SimpleQueue = queue.SimpleQueue()  # (plan, judgements) to record; None: stop
        self.wake = threading.Event()  # the judging thread has something new to look at
        self.stop = threading.Event()  # the caller's stage failed: start no further request
        self.producing = True  # more plans may come
        self.failures: list[BaseException] = []  # from the judging or the writer thread
        self.recorded = 0

    def run(self, items: Pairs, arriving: Iterable[Pairs] | None) -> int:
        writer = threading.Thread(target=self._write, name="echo4o-records", daemon=True)
        judging = threading.Thread(target=self._judge_all, name="echo4o-judging", daemon=True)
        batches = iter(arriving if arriving is not None else ())
        try:
            writer.start()
            judging.start()
            self._accept(items)
            for pairs in batches:  # the model generates here, in the caller's thread
                self._accept(pairs)
                self._raise_failure()  # the judge failed: no further batch
            self.producing = False
            self.wake.set()
            judging.join()
        except BaseException:
            # stop judging without waiting for the requests in flight (their replies are in
            # the response cache once received); what was received is recorded below
            self.stop.set()
            raise
        finally:
            self.producing = False
            self.wake.set()
            close = getattr(batches, "close", None)
            if close is not None:
                close()
            if writer.is_alive():
                self.done.put(None)
                writer.join()
        self._raise_failure()
        return self.recorded

    def _accept(self, pairs: Pairs) -> None:
        for sample, generation in pairs:
            plan = _plan(sample, generation, self.evaluator, self.previous)
            if plan["requests"]:
                self.ready.append(plan)
            else:
                self.done.put((plan, []))  # nothing to ask (failed generation): recorded at once
        self.wake.set()

    def _judge_all(self) -> None:
        try:
            while not self.stop.is_set():
                self.wake.clear()
                finished = not self.producing  # read before ready: a plan is in ready before this turns
                if self.ready:
                    self._judge_ready()
                elif finished:
                    return
                else:
                    self.wake.wait()
        except BaseException as exc:  # noqa: BLE001 (raised by the caller's thread)
            self.failures.append(exc)

    def _judge_ready(self) -> None:
        """One stream over the plans in ``ready``, and those that join them while it is fed."""
        def feed():
            while not self.stop.is_set():
                try:
                    plan = self.ready.popleft()
                except IndexError:
                    if self._more_soon():
                        continue
                    return
                yield plan, plan["requests"], plan["round"]

        stream = self.judge.judge_stream(feed())
        try:
            for plan, judgements in stream:
                _check_answer(self.judge, plan, judgements)
                self.done.put((plan, judgements))
                if self.stop.is_set() or self.failures:
                    break
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # leaving early cancels the requests in flight

    def _more_soon(self) -> bool:
        """Whether plans arrive within FEED_WAIT_S (asked by the stream's feed, on the judge's
        event loop, which waits meanwhile: short, so requests in flight hardly notice, and
        long enough that a fast model's next batch joins the stream instead of a new one)."""
        deadline = time.monotonic() + FEED_WAIT_S
        while True:
            self.wake.clear()
            finished = not self.producing
            if self.ready:
                return True
            remaining = deadline - time.monotonic()
            if finished or remaining <= 0 or not self.wake.wait(remaining):
                return False

    def _write(self) -> None:
        stopping = False
        while not stopping:
            ready = [self.done.get()]
            try:
                while True:
                    ready.append(self.done.get_nowait())
            except queue.Empty:
                pass
            stopping = ready[-1] is None
            ready = [entry for entry in ready if entry is not None]
            try:
                self.recorded += _record(ready, self.evaluator, self.writer, self.bar)
            except BaseException as exc:  # noqa: BLE001 (raised by the caller's thread)
                self.failures.append(exc)
                self.stop.set()
                return

    def _raise_failure(self) -> None:
        if self.failures:
            raise self.failures[0]


def _batched(items: Iterable, size: int):
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, max(1, size))):
        yield batch
