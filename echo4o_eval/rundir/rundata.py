"""What a run directory holds once read: :class:`RunData`, and which record wins when an image
has several (see :meth:`echo4o_eval.rundir.store.RunStore.load`, which builds it).

Example:
    >>> from pathlib import Path
    >>> from echo4o_eval.records.types import Generation, Status
    >>> data = RunData(Path("run"), {}, {})
    >>> add_generation(data, ("s1", 0), Generation("s1", 0, 7, Status.GENERATION_ERROR))
    >>> add_generation(data, ("s1", 0), Generation("s1", 0, 7, Status.OK, image_path="x.png"))
    >>> data.generations[("s1", 0)].status.value, len(data.earlier_generations())
    ('ok', 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from echo4o_eval.records.types import BenchmarkResult, Generation, Judgement, Sample, SampleScore, Status


@dataclass
class RunData:
    """Everything stored for one run, merged across rank shards."""

    run_dir: Path
    manifest: dict[str, Any]
    samples: dict[str, Sample]
    generations: dict[tuple[str, int], Generation] = field(default_factory=dict)
    judgements: dict[tuple[str, int], list[Judgement]] = field(default_factory=dict)
    scores: dict[tuple[str, int], SampleScore] = field(default_factory=dict)
    result: BenchmarkResult | None = None
    skipped_lines: int = 0  # records of another configuration, unreadable or partial lines
    problems: list[str] = field(default_factory=list)  # "file:line: what" for each skipped line
    attempts: dict[tuple[str, int], int] = field(default_factory=dict)  # retry round of a score
    earlier: dict[tuple[str, int], list] = field(default_factory=dict)  # failed attempts (audit)
    # generation records that a later one for the same image replaced (a retried failure,
    # possibly paid): kept for audit and counted in the run's usage
    earlier_generation_records: dict[tuple[str, int], list[Generation]] = field(default_factory=dict)

    def earlier_judgements(self) -> list[list[Judgement]]:
        """The judgements of failed attempts that retries replaced (usage counts them too)."""
        return [[Judgement.from_json(j) for j in attempt.get("judgements", [])]
                for attempts in self.earlier.values() for attempt in attempts]

    def earlier_generations(self) -> list[Generation]:
        """The generation attempts that retries replaced (usage counts their calls and cost)."""
        return [g for attempts in self.earlier_generation_records.values() for g in attempts]

    def ordered_scores(self) -> list[SampleScore]:
        """Scores ordered like the samples (benchmark file order), then by image index."""
        order = {sid: i for i, sid in enumerate(self.samples)}
        return sorted(self.scores.values(), key=lambda s: (order.get(s.sample_id, 1 << 30), s.image_index))




def add_generation(data: RunData, ident: tuple[str, int], generation: Generation) -> None:
    """Record ``generation`` for ``ident``; a record it replaces is kept as an earlier attempt.
    The later record wins, except that a failure never replaces an ``ok`` image: an ok image is
    never generated again, so it is the newest even when shards of launches with another number
    of processes are read in the wrong order."""
    current = data.generations.get(ident)
    if current is not None and current.status is Status.OK and generation.status is not Status.OK:
        data.earlier_generation_records.setdefault(ident, []).append(generation)
        return
    if current is not None:
        data.earlier_generation_records.setdefault(ident, []).append(current)
    data.generations[ident] = generation


def add_score(data: RunData, ident: tuple[str, int], score: SampleScore,
               judgements: list[Judgement], attempt: int, earlier: Any) -> None:
    """Record a score unless one of a later retry round is there: each round's record carries
    the rounds before it in ``earlier``, so the highest round holds every judgement once,
    whichever shard it was written to; within a round the later record wins."""
    if attempt < data.attempts.get(ident, -1):
        return
    data.scores[ident], data.judgements[ident] = score, judgements
    data.attempts[ident] = attempt
    data.earlier[ident] = list(earlier or [])
