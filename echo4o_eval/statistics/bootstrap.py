"""Clustered bootstrap that re-runs a benchmark's own ``aggregate`` on resampled data.

The package's intervals and the compare gate use the faster and calibrated delete-a-group
jackknife (:mod:`echo4o_eval.statistics.jackknife`); this bootstrap stays as a cross-check
(``tests/test_stats_calibration.py`` compares the two). Prompts are the resampled units;
``resample_images=True`` (off by default) also resamples images inside each drawn prompt, which
counts image noise twice (it is already inside each prompt's mean) and over-covers: the
calibration bench measured it.

Why re-run ``aggregate``: every benchmark defines its metrics its own way (image accuracy,
prompt accuracy "any image correct", mean of tag means, weighted 0..10 scores). Re-running the
benchmark's aggregate on resampled inputs gives an interval for every metric and every per-tag
metric with one method, without re-implementing any metric here.

Resampling scheme (one replicate):
  1. prompts are resampled with replacement *within each tag* (stratified: every tag keeps its
     size, so per-tag and mean-of-tags metrics stay defined);
  2. only with ``resample_images=True``: images resampled with replacement within each drawn
     prompt (not recommended, see above).
  A prompt drawn twice enters as two distinct prompts (ids suffixed ``~1``, ``~2``...), so
  aggregates that group by sample id see a proper resample.

Interval: the percentile interval shifted by the bootstrap's bias (mean of replicates minus the
point value); when every replicate and the value lie in [0, 1] it is clipped to [0, 1]. The shift
matters for prompt-level "any/all images correct" metrics, where resampling images within a
prompt moves the replicate mean; for means of images it is ~0. When all replicates are equal
and the value is 0 or 1 (a proportion at its boundary, where the bootstrap is degenerate) the
Wilson interval over ``MetricValue.n`` is used instead. Metrics whose value is None keep None.
The run's ``notes`` record the method and the number of resamples.

Example:
    >>> from echo4o_eval.records.types import Sample, SampleScore, Status
    >>> from echo4o_eval.statistics.bootstrap import confidence_intervals
    >>> samples = [Sample(id=str(i), index=i, prompt="p", tag="t") for i in range(20)]
    >>> scores = [SampleScore(str(i), j, "t", Status.OK, {"correct": (i + j) % 3 == 0})
    ...           for i in range(20) for j in range(2)]
    >>> from echo4o_eval.statistics.bootstrap import _demo_aggregate
    >>> result = confidence_intervals(_demo_aggregate, samples, scores,
    ...                               _demo_aggregate(samples, scores), n_boot=200)
    >>> m = result.metrics["accuracy"]
    >>> m.ci_low < m.value < m.ci_high
    True
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

from echo4o_eval.statistics.metric_maps import Aggregate, as_float, flatten, with_intervals
from echo4o_eval.records.types import BenchmarkResult, MetricValue, Sample, SampleScore, Status


class _Plan:
    """Draws replicates: which prompt copies and which image of each copy."""

    def __init__(self, samples: Sequence[Sample], images: Mapping[str, list[int]], seed: int,
                 resample_images: bool):
        import numpy as np

        self.samples = list(samples)
        self.images = images  # sample id -> sorted image indices present in every table
        self.rng = np.random.default_rng(seed)
        self.resample_images = resample_images
        strata: dict[str, list[int]] = defaultdict(list)
        for i, s in enumerate(self.samples):
            strata[s.tag].append(i)
        self.strata = [np.asarray(v) for _, v in sorted(strata.items())]
        self.max_images = max((len(v) for v in images.values()), default=0)

    def draw(self) -> list[tuple[int, int, list[int]]]:
        """One replicate: (sample position, copy number, image indices in new order)."""
        import numpy as np

        picks = np.sort(np.concatenate(
            [m[self.rng.integers(0, len(m), size=len(m))] for m in self.strata]
        )).tolist()
        present = [self.images.get(self.samples[i].id, []) for i in picks]
        if self.resample_images and self.max_images > 1:
            sizes = np.array([len(p) for p in present], dtype=float)
            choice = (self.rng.random((len(picks), self.max_images)) * sizes[:, None]).astype(int)
            choice = choice.tolist()
            present = [[p[c] for c in row[: len(p)]] for p, row in zip(present, choice)]
        out = []
        copies: dict[int, int] = defaultdict(int)
        for i, chosen in zip(picks, present):
            out.append((i, copies[i], chosen))
            copies[i] += 1
        return out


class _Builder:
    """Materialises a replicate's Sample and SampleScore lists with cached relabelled copies."""

    def __init__(self, samples: Sequence[Sample], table: Mapping[tuple[str, int], SampleScore]):
        self.samples = samples
        self.table = table
        self._sample_cache: dict[tuple[int, int], Sample] = {}
        self._score_cache: dict[tuple[int, int, int, int], SampleScore] = {}

    def sample(self, i: int, k: int) -> Sample:
        """Sample ``i``, or for copy ``k`` > 0 a copy with id ``<id>~<k>`` (cached)."""
        key = (i, k)
        if key not in self._sample_cache:
            s = self.samples[i]
            self._sample_cache[key] = s if k == 0 else dataclasses.replace(s, id=f"{s.id}~{k}")
        return self._sample_cache[key]

    def score(self, i: int, k: int, image: int, position: int) -> SampleScore:
        """The score of (sample ``i``, ``image``) relabelled to copy ``k``'s id and image index
        ``position`` (cached)."""
        key = (i, k, image, position)
        if key not in self._score_cache:
            original = self.table[(self.samples[i].id, image)]
            sid = self.sample(i, k).id
            if sid == original.sample_id and position == image:
                self._score_cache[key] = original
            else:
                self._score_cache[key] = dataclasses.replace(
                    original, sample_id=sid, image_index=position
                )
        return self._score_cache[key]

    def build(self, draw) -> tuple[list[Sample], list[SampleScore]]:
        """Samples and scores for one replicate from ``draw``'s ``(i, k, chosen)`` triples."""
        samples, scores = [], []
        for i, k, chosen in draw:
            samples.append(self.sample(i, k))
            for position, image in enumerate(chosen):
                scores.append(self.score(i, k, image, position))
        return samples, scores


def _index(samples: Sequence[Sample], scores: Sequence[SampleScore]):
    table: dict[tuple[str, int], SampleScore] = {}
    images: dict[str, list[int]] = defaultdict(list)
    for s in scores:
        table[(s.sample_id, s.image_index)] = s
        images[s.sample_id].append(s.image_index)
    ids = {s.id for s in samples}
    stray = sorted(set(images) - ids)
    if stray:
        raise ValueError(f"scores refer to samples not in the sample list: {stray[:5]}")
    return table, {k: sorted(v) for k, v in images.items()}


def _replicates(aggregate: Aggregate, plan: _Plan, builders: Sequence[_Builder], n_boot: int,
                time_budget_s: float | None, min_boot: int) -> Iterator[list[BenchmarkResult]]:
    start = time.perf_counter()
    for b in range(n_boot):
        draw = plan.draw()
        yield [aggregate(*builder.build(draw)) for builder in builders]
        if time_budget_s is not None and b + 1 >= min_boot:
            if time.perf_counter() - start > time_budget_s:
                return


def _interval(value: float, boot, confidence: float):
    import numpy as np

    finite = boot[np.isfinite(boot)]
    if finite.size < max(2, boot.size // 2):
        return None, None  # metric undefined in most replicates: no honest interval
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    bias = float(finite.mean()) - value
    low, high = float(low - bias), float(high - bias)
    if 0.0 <= finite.min() and finite.max() <= 1.0 and 0.0 <= value <= 1.0:
        low, high = max(0.0, low), min(1.0, high)  # a fraction stays a fraction
    return low, high


def confidence_intervals(
    aggregate: Aggregate,
    samples: Sequence[Sample],
    scores: Sequence[SampleScore],
    result: BenchmarkResult,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    resample_images: bool = False,
    time_budget_s: float | None = None,
    min_boot: int = 200,
) -> BenchmarkResult:
    """``result`` with ci_low/ci_high filled for every metric and per-tag metric.

    ``aggregate`` is the benchmark evaluator's own aggregate; see the module docstring for the
    scheme. ``time_budget_s`` (off by default, so results are reproducible) stops resampling
    once the budget is spent and at least ``min_boot`` replicates exist; the note says how many
    were used. With ``n_boot=0`` the result is returned unchanged.
    """
    import numpy as np

    from echo4o_eval.statistics.basic import wilson_interval

    if n_boot <= 0:
        return result
    table, images = _index(samples, scores)
    plan = _Plan(samples, images, seed, resample_images)
    keys = list(flatten(result))
    rows = []
    for (replicate,) in _replicates(aggregate, plan, [_Builder(samples, table)], n_boot,
                                    time_budget_s, min_boot):
        flat = flatten(replicate)
        rows.append([as_float(flat.get(k)) for k in keys])
    boot = np.asarray(rows, dtype=float).reshape(len(rows), len(keys))
    filled: dict[tuple[str, str], MetricValue] = {}
    for j, key in enumerate(keys):
        mv = flatten(result)[key]
        if mv.value is None:
            filled[key] = dataclasses.replace(mv, ci_low=None, ci_high=None)
            continue
        column = boot[:, j]
        low, high = _interval(float(mv.value), column, confidence)
        finite = column[np.isfinite(column)]
        degenerate = finite.size and finite.min() == finite.max()
        if degenerate and mv.value in (0, 1) and mv.n > 0:
            low, high = wilson_interval(float(mv.value) * mv.n, mv.n, confidence)
        filled[key] = dataclasses.replace(mv, ci_low=low, ci_high=high)
    note = (
        f"{confidence:.0%} CIs: bootstrap over prompts stratified by tag"
        f"{', images resampled within prompts' if resample_images else ''}"
        f" ({len(rows)} resamples, seed {seed}; shifted percentile; Wilson at 0/1 boundaries)"
    )
    return with_intervals(result, filled, note)


@dataclass(frozen=True)
class PairedDelta:
    """Change of one metric from run A to run B on the same samples."""

    tag: str  # "" for overall metrics
    metric: str
    value_a: float | None
    value_b: float | None
    delta: float | None  # value_b - value_a
    ci_low: float | None
    ci_high: float | None
    p_value: float | None  # two-sided paired bootstrap p (None when undefined)


def paired_aggregate_bootstrap(
    aggregate: Aggregate,
    samples: Sequence[Sample],
    scores_a: Sequence[SampleScore],
    scores_b: Sequence[SampleScore],
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    resample_images: bool = False,
) -> list[PairedDelta]:
    """Paired clustered bootstrap of every metric's change from run A to run B.

    Both runs are resampled with the *same* prompts and image positions in each replicate, so
    prompt difficulty cancels. Only images present in both runs are used (pairs); p-value: share
    of replicate deltas at least as far from the observed delta as 0 is (null-shifted), +1
    corrected.

    >>> from echo4o_eval.records.types import Sample, SampleScore, Status
    >>> samples = [Sample(id=str(i), index=i, prompt="p", tag="t") for i in range(30)]
    >>> a = [SampleScore(str(i), 0, "t", Status.OK, {"correct": i % 2 == 0}) for i in range(30)]
    >>> b = [SampleScore(str(i), 0, "t", Status.OK, {"correct": True}) for i in range(30)]
    >>> d = paired_aggregate_bootstrap(_demo_aggregate, samples, a, b, n_boot=300)
    >>> [(x.metric, round(x.delta, 2), x.p_value < 0.01) for x in d if x.tag == ""]
    [('accuracy', 0.5, True)]
    """
    import numpy as np

    table_a, images_a = _index(samples, scores_a)
    table_b, images_b = _index(samples, scores_b)
    shared = {sid: sorted(set(images_a.get(sid, [])) & set(images_b.get(sid, [])))
              for sid in set(images_a) | set(images_b)}
    shared = {k: v for k, v in shared.items() if v}
    kept = [s for s in samples if s.id in shared]
    table_a = {k: v for k, v in table_a.items() if k[1] in shared.get(k[0], ())}
    table_b = {k: v for k, v in table_b.items() if k[1] in shared.get(k[0], ())}
    point_a = flatten(aggregate(kept, list(table_a.values())))
    point_b = flatten(aggregate(kept, list(table_b.values())))
    keys = [k for k in point_a if k in point_b]
    plan = _Plan(kept, shared, seed, resample_images)
    builders = [_Builder(kept, table_a), _Builder(kept, table_b)]
    rows = []
    for rep_a, rep_b in _replicates(aggregate, plan, builders, n_boot, None, 0):
        fa, fb = flatten(rep_a), flatten(rep_b)
        rows.append([as_float(fb.get(k)) - as_float(fa.get(k)) for k in keys])
    boot = np.asarray(rows, dtype=float).reshape(len(rows), len(keys))
    out = []
    for j, key in enumerate(keys):
        va, vb = point_a[key].value, point_b[key].value
        if va is None or vb is None:
            out.append(PairedDelta(key[0], key[1], va, vb, None, None, None, None))
            continue
        delta = float(vb) - float(va)
        low, high = _interval(delta, boot[:, j], confidence)
        finite = boot[:, j][np.isfinite(boot[:, j])]
        p = None
        if finite.size:
            centred = finite - (finite.mean() - delta)
            extreme = np.sum(np.abs(centred - delta) >= abs(delta) - 1e-12)
            p = 1.0 if delta == 0 else min(1.0, float((extreme + 1) / (finite.size + 1)))
        out.append(PairedDelta(key[0], key[1], float(va), float(vb), delta, low, high, p))
    return out


def _demo_aggregate(samples: Sequence[Sample], scores: Sequence[SampleScore]) -> BenchmarkResult:
    """Image accuracy overall and per tag over OK scores (for examples and tests)."""
    by_tag: dict[str, list[bool]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for s in scores:
        counts[s.tag] += 1
        if s.status is Status.OK:
            by_tag[s.tag].append(bool(s.values["correct"]))
    ok = [v for vals in by_tag.values() for v in vals]

    def metric(vals, total):
        """Mean of ``vals`` (None when empty) with n = len(vals) out of ``total``."""
        return MetricValue(sum(vals) / len(vals) if vals else None, len(vals), total)

    return BenchmarkResult(
        benchmark="demo", version="1",
        metrics={"accuracy": metric(ok, len(scores))},
        per_tag={t: {"accuracy": metric(by_tag[t], counts[t])} for t in sorted(counts)},
        n_samples=len(samples), n_images=len(scores), n_ok=len(ok),
    )
