"""Judge and score images, recording each image as soon as its judgements are complete.

The runner hands :func:`judge_and_score` the (sample, generation) pairs that still need a
score. With a judge that streams (``judge_stream``, the API judges), every image is one group
of requests: images are prepared in the judge's thread pool while other requests are in
flight, there is no batch barrier, and each image's score record is written (append-only,
flushed to the OS) the moment its last judgement arrives, so a killed process loses no finished
judgement; the store fsyncs within 0.2 s (``RunWriter.sync_interval``) and on close.
Other judges (detectors on a GPU) are called in batches of ``batch_size`` images and each
batch's records are written as it returns.

An image whose earlier judgement failed (judge_error / parse_error, retried on resume) is
asked again in a new retry round: the judge uses new cache slots for it, so a reply that could
not be parsed is not replayed; the failed judgements stay in the new record (``earlier``) for
audit. Scoring one image never stops the run: an exception from ``evaluator.score`` becomes
that image's ``score_error`` (:func:`echo4o_eval.scoring.aggregation.safe_score`).

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
    >>> items = [(Sample(str(i), i, "a cat", "t"), Generation(str(i), 0, 0, Status.OK)) for i in range(3)]
    >>> with store.writer() as writer:
    ...     judge_and_score(items, Echo(), Count(), writer, progress=False)
    3
    >>> sorted(k for k in store.load().scores)
    [('0', 0), ('1', 0), ('2', 0)]
"""

from __future__ import annotations

import itertools
import sys
from typing import Any, Iterable, Iterator, Sequence

from echo4o_eval.records.types import Generation, Judgement, Sample, SampleScore, Status


def _safe_score(evaluator, sample: Sample, generation: Generation, judgements: Sequence[Judgement]):
    from echo4o_eval.scoring.aggregation import safe_score

    return safe_score(evaluator, sample, generation, judgements)


def _bar(total: int, desc: str, enabled: bool):
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="image", file=sys.stderr, leave=False)


def judge_and_score(items: Sequence[tuple[Sample, Generation]], judge, evaluator, writer, *,
                    previous=None, batch_size: int = 64, progress: bool = True,
                    desc: str = "judging") -> int:
    """Judge, score and record every (sample, generation); returns how many were recorded.

    ``previous`` (the run's :class:`~echo4o_eval.rundir.store.RunData`, optional) tells which images
    are retries of a failed judgement. ``batch_size`` applies only to judges that do not
    stream. The progress bar (when ``progress``) advances per image recorded.
    """
    bar = _bar(len(items), desc, progress)
    plans = [_plan(sample, generation, evaluator, previous) for sample, generation in items]
    recorded = 0
    try:
        for plan, judgements in _judged(plans, judge, batch_size):
            sample, generation = plan["sample"], plan["generation"]
            if len(judgements) != len(plan["requests"]):
                raise RuntimeError(f"judge {judge.id} answered {len(judgements)} of "
                                   f"{len(plan['requests'])} requests for {sample.id}")
            if "error" in plan:
                error = plan["error"]
                score = SampleScore(sample.id, generation.image_index, sample.tag, Status.SCORE_ERROR,
                                    reason=f"building the judge requests failed: {type(error).__name__}: {error}")
            else:
                score = _safe_score(evaluator, sample, generation, judgements)
            writer.append_score(generation, judgements, score, attempt=plan["round"],
                                earlier=plan["earlier"])
            recorded += 1
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return recorded


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
    requests: list = []
    if generation.status is Status.OK:
        try:
            requests = list(evaluator.requests(sample, generation))
        except Exception as exc:  # noqa: BLE001 (one image's problem, recorded as its score)
            return {"sample": sample, "generation": generation, "requests": [], "round": round_,
                    "earlier": earlier, "error": exc}
    return {"sample": sample, "generation": generation, "requests": requests, "round": round_,
            "earlier": earlier}


def _judged(plans: list[dict], judge, batch_size: int) -> Iterator[tuple[dict, list[Judgement]]]:
    """(plan, judgements) for every plan, as they complete."""
    idle = [p for p in plans if not p["requests"]]
    for plan in idle:  # nothing to ask (failed generation): scored at once
        yield plan, []
    busy = [p for p in plans if p["requests"]]
    stream = getattr(judge, "judge_stream", None)
    if stream is not None:
        groups = ((index, plan["requests"], plan["round"]) for index, plan in enumerate(busy))
        for index, judgements in stream(groups):
            yield busy[index], judgements
        return
    for batch in _batched(busy, batch_size):  # judges that take whole batches (detectors)
        requests = [r for plan in batch for r in plan["requests"]]
        judgements = judge.judge(requests)
        if len(judgements) != len(requests):
            raise RuntimeError(f"judge {judge.id} answered {len(judgements)} of {len(requests)} requests")
        start = 0
        for plan in batch:
            count = len(plan["requests"])
            yield plan, list(judgements[start:start + count])
            start += count


def _batched(items: Iterable, size: int):
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, max(1, size))):
        yield batch
