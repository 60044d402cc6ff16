"""Appending records to a run directory's shard: :class:`RunWriter` (obtained from
:meth:`echo4o_eval.rundir.store.RunStore.writer`, which holds the shard's lock) and
:class:`ScoreRecord`.

Example:
    >>> import tempfile
    >>> from echo4o_eval.records.types import Generation, SampleScore, Status
    >>> from echo4o_eval.rundir.store import RunStore
    >>> store = RunStore(tempfile.mkdtemp())
    >>> store.initialise({"fingerprint": "f", "model": {"spec": "m"}, "benchmark": "b@1"}, [])
    >>> g = Generation("s1", 0, 7, Status.OK, image_path="x.png")
    >>> with store.writer() as writer:
    ...     writer.append_generations([g])
    ...     writer.append_scores([ScoreRecord(g, [], SampleScore("s1", 0, "t", Status.OK, {"x": 1}))])
    >>> store.load().scores[("s1", 0)].values
    {'x': 1}
"""

from __future__ import annotations

import json
import os
import threading
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Sequence

from echo4o_eval.records.types import Generation, Judgement, SampleScore, to_json

if TYPE_CHECKING:  # pragma: no cover
    from echo4o_eval.rundir.store import RunStore


def generation_fingerprint_of(manifest: Mapping[str, Any]) -> str | None:
    """The fingerprint generation records are keyed by (the full one for older manifests)."""
    return manifest.get("generation_fingerprint", manifest.get("fingerprint"))


class RunWriter:
    """Appends records to this rank's shard; obtained from :meth:`RunStore.writer`.

    Each call's records are written and flushed to the operating system at once, so a killed
    process loses nothing it recorded; records ready together (a model batch, judgements that
    completed together) go in one call, one write and one flush. Calls from several threads
    (generation and judging overlap) are serialised. ``sync_interval`` > 0 groups the fsyncs (a background thread
    syncs what was written at most that many seconds later, and :meth:`close` syncs the rest):
    one fsync per record would cost more than the judging itself on a slow disk; 0 syncs
    every record before returning."""

    def __init__(self, store: "RunStore", handle, sync_interval: float = 0.0) -> None:
        self._store = store
        self._handle = handle
        self._interval = sync_interval
        self._dirty = False
        self._lock = threading.Lock()  # one writer at a time: records never interleave
        self._stop = threading.Event()
        self._syncer = None
        if sync_interval > 0:
            self._syncer = threading.Thread(target=self._sync_loop, name="echo4o-fsync", daemon=True)
            self._syncer.start()

    def _sync_loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.sync()

    def sync(self) -> None:
        """fsync what was written since the last sync."""
        if self._dirty:
            self._dirty = False
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Stop the background syncing and fsync the rest."""
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join()
        self.sync()

    def _key(self, sample_id: str, image_index: int, seed: int | None, fingerprint: str) -> dict[str, Any]:
        manifest = self._store.manifest
        return {
            "model": manifest.get("model", {}).get("spec"),
            "benchmark": manifest.get("benchmark"),
            "sample_id": sample_id,
            "image_index": image_index,
            "seed": seed,
            "fingerprint": fingerprint,
        }

    def _append(self, *records: dict[str, Any]) -> None:
        lines = "".join(json.dumps(to_json(r), sort_keys=True, ensure_ascii=False) + "\n" for r in records)
        with self._lock:
            self._handle.write(lines)
            self._handle.flush()  # in the OS's hands: survives the process being killed
            self._dirty = True
            if self._interval <= 0:
                self.sync()

    def append_generation(self, generation: Generation) -> None:
        """Record a generated (or found) image; keyed by the generation fingerprint."""
        self.append_generations([generation])

    def append_generations(self, generations: Sequence[Generation]) -> None:
        """Record a model batch's images with one write and flush (each flush lets other
        threads take the interpreter, so one per image slows a run that judges meanwhile)."""
        fingerprint = generation_fingerprint_of(self._store.manifest)
        self._append(*({"type": "generation", "generation": g,
                        "key": self._key(g.sample_id, g.image_index, g.seed, fingerprint)}
                       for g in generations))

    def append_score(
        self, generation: Generation, judgements: Sequence[Judgement], score: SampleScore,
        *, attempt: int = 0, earlier: Sequence[Any] | None = None,
    ) -> None:
        """Record an image's judgements and score; keyed by the full fingerprint.
        ``attempt`` > 0 marks a retried judgement, ``earlier`` its failed predecessors."""
        self.append_scores([ScoreRecord(generation, judgements, score, attempt, earlier)])

    def append_scores(self, records: Sequence["ScoreRecord"]) -> None:
        """Record several images' judgements and scores with one write and flush."""
        fingerprint = self._store.manifest.get("fingerprint")
        self._append(*(self._score_record(r, fingerprint) for r in records))

    def _score_record(self, entry: "ScoreRecord", fingerprint: str | None) -> dict[str, Any]:
        generation = entry.generation
        key = self._key(generation.sample_id, generation.image_index, generation.seed, fingerprint)
        record: dict[str, Any] = {"type": "score", "key": key, "judgements": list(entry.judgements),
                                  "score": entry.score}
        if entry.attempt:
            record["attempt"] = entry.attempt
        if entry.earlier:
            record["earlier"] = list(entry.earlier)
        return record


class ScoreRecord(NamedTuple):
    """One image's score record for :meth:`RunWriter.append_scores`: its generation, the
    judgements, the score, the retry round (0: first judgement) and the failed earlier rounds."""

    generation: Generation
    judgements: Sequence[Judgement]
    score: SampleScore
    attempt: int = 0
    earlier: Sequence[Any] | None = None
