"""Run one benchmark for one model and judge: generate (or find) images, judge, score, store.

The runner is the only place that knows the whole flow; every stage is a library call on
typed records. Work is resumable: what the run store already holds is skipped, images are
written before they are scored, and each rank of a multi-process launch handles its own
stable shard of the samples (rank 0 aggregates after a barrier).

Models and heavy judges named by spec strings are loaded only when some image still needs
generating or judging (:mod:`echo4o_eval.deferred`), after the configuration has been checked
against the run directory's manifest: a changed configuration is refused at once, naming each
changed setting with its old and new value, and a finished run's re-run loads nothing.

Example (score a folder of images with precomputed detections)::

    from echo4o_eval.runner import RunConfig, run
    outcome = run(RunConfig(benchmark="geneval", model="folder:imgs",
                            judge="detections:dets.jsonl", run_dir="runs/x"))
    print(outcome.result.metrics["overall"].value)

``run(config)`` is :func:`echo4o_eval.evaluate` with its arguments in one RunConfig.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from echo4o_eval import distributed
from echo4o_eval.assets import Assets
from echo4o_eval.deferred import deferred_judge, deferred_model
from echo4o_eval.rundir.manifest import build_manifest, check_config_secrets, check_resumable, default_run_dir
from echo4o_eval.models.generation_params import check_generation_params
from echo4o_eval.models.identity import identity_of
from echo4o_eval.factories import make_judge, make_model
from echo4o_eval.spec import BenchmarkSpec, load_benchmark
from echo4o_eval.judging import judge_and_score, streams
from echo4o_eval.rundir.store import RunData, RunStore, check_run_directory
from echo4o_eval.records.types import (
    BenchmarkResult,
    GenerationRequest,
    Sample,
    SampleScore,
    Status,
)



@dataclass(frozen=True)
class RunConfig:
    """Everything one `run`/`score` invocation needs (CLI flags map 1:1 onto fields)."""

    benchmark: str  # benchmark id (or a BenchmarkSpec object, e.g. with other prompt files)
    model: str  # model spec, e.g. "folder:DIR", "diffusers:PATH", "bagel:PATH", "openai:MODEL"
    judge: str | None = None  # judge spec; None = the benchmark's default judge
    run_dir: str | None = None  # default: <runs_root>/<benchmark>/<model>__<judge>
    runs_root: str = "runs"
    new_run: bool = False  # start a fresh run dir instead of refusing a changed config
    variant: str | None = None  # prompt variant (e.g. geneval "long")
    mode: str = "default"  # "default" or "parity" (reproduce the official script's quirks)
    images_per_prompt: int | None = None  # default: the benchmark's
    seed: int | None = None  # base seed; default: the benchmark's or 0
    limit: int | None = None  # only the first N samples (smoke tests)
    generate_only: bool = False
    require_existing_images: bool = False  # `score`: the model must not generate
    data_dir: str | None = None
    allow_download: bool = True
    model_options: Mapping[str, Any] = field(default_factory=dict)
    judge_options: Mapping[str, Any] = field(default_factory=dict)
    evaluator_options: Mapping[str, Any] = field(default_factory=dict)
    generation_params: Mapping[str, Any] = field(default_factory=dict)
    judge_batch_size: int = 64  # images per call of a batch judge (detectors); API judges stream
    n_bootstrap: int = 1000
    progress: bool = True
    barrier_timeout_s: float = 3600.0  # how long ranks wait for each other (multi-process)
    retry_failed: bool = True  # on resume, redo images/judgements that failed (see RETRY_*)
    model_id: str | None = None  # names the weights (required for in-memory models)
    step: int | None = None  # training step: enters the model identity and the default run dir
    allow_unknown_params: bool = False  # pass --gen-param keys the model does not list


@dataclass
class RunOutcome:
    """What a run produced; ``result`` is None on non-zero ranks and for --generate-only."""

    run_dir: Path
    result: BenchmarkResult | None
    generated: int  # images generated (or found) in this invocation
    scored: int  # images scored in this invocation
    status_counts: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)


# Failures worth another try on resume: the file may have appeared, the server may be back.
# A moderation refusal (REFUSED) and a scoring-rule error are deterministic and are kept.
RETRY_GENERATION = frozenset({Status.MISSING_IMAGE, Status.BAD_IMAGE, Status.GENERATION_ERROR})
RETRY_SCORE = frozenset({Status.JUDGE_ERROR, Status.PARSE_ERROR})


def image_seed(base_seed: int, sample_id: str, image_index: int) -> int:
    """Deterministic seed of one image: a hash of (base seed, sample id, image index).

    >>> image_seed(42, "00001", 0) == image_seed(42, "00001", 0)
    True
    >>> image_seed(42, "00001", 0) != image_seed(42, "00001", 1)
    True
    """
    digest = hashlib.sha256(f"{base_seed}/{sample_id}/{image_index}".encode()).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled or total == 0:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="batch", file=sys.stderr, leave=False)


def _batched(items: Sequence, size: int):
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, max(1, size))):
        yield batch


class Runner:
    """Carries one configured run through its stages (see :func:`run`)."""

    def __init__(self, config: RunConfig, benchmark=None) -> None:
        self.config = config
        # config.benchmark may itself be a Benchmark or BenchmarkSpec: e.g. the demo's prompts
        self.benchmark = load_benchmark(config.benchmark if benchmark is None else benchmark)
        self.spec: BenchmarkSpec = self.benchmark.spec
        if config.mode not in ("default", "parity"):
            raise ValueError(f"mode must be 'default' or 'parity', not {config.mode!r}")
        self.rank = distributed.rank_info()
        self.images_per_prompt = config.images_per_prompt or self.spec.images_per_prompt
        generation = dict(self.spec.generation)
        spec_seed = generation.pop("seed", 0)
        self.base_seed = spec_seed if config.seed is None else config.seed
        self.generation_params = {**generation, **config.generation_params, "task": self.spec.task}

    def load_samples(self) -> list[Sample]:
        """The benchmark's samples for the configured variant, cut to ``limit`` when one is set."""
        assets = Assets(self.spec, data_dir=self.config.data_dir, allow_download=self.config.allow_download)
        samples = self.benchmark.load_samples(assets, self.config.variant)
        return samples[: self.config.limit] if self.config.limit else samples

    def requests_for(self, sample: Sample, store: RunStore, existing: RunData) -> list[GenerationRequest]:
        """One GenerationRequest per image of ``sample``, with per-image seeds and output paths.
        ``retry_round`` is the number of generation records ``existing`` (what ``store`` holds,
        read once per run) has for the image: 0 for a first try, n for a retry after n failed
        attempts, so an API model asks the server again instead of replaying a failed reply."""
        # "metadata" lets image-reading models check a folder against the benchmark (GenEval's
        # per-prompt metadata.jsonl); generating adapters ignore it and never record it.
        params = {**self.generation_params, "metadata": sample.metadata}
        rounds = [int((sample.id, i) in existing.generations)
                  + len(existing.earlier_generation_records.get((sample.id, i), ()))
                  for i in range(self.images_per_prompt)]
        return [
            GenerationRequest(
                sample_id=sample.id,
                sample_index=sample.index,
                tag=sample.tag,
                prompt=sample.prompt,
                image_index=i,
                seed=image_seed(self.base_seed, sample.id, i),
                output_path=str(store.image_path(sample.id, i)),
                reference_images=sample.reference_images,
                params=params,
                retry_round=rounds[i],
            )
            for i in range(self.images_per_prompt)
        ]


def run(config: RunConfig, *, model=None, judge=None) -> RunOutcome:
    """Run (or resume) one evaluation; ``model``/``judge`` objects may be injected (tests).

    The same as :func:`echo4o_eval.evaluate` with its arguments in ``config``. An injected model
    without an ``identity()`` is named by ``config.model_id``, else by the spec ``config.model``.
    Returns a RunOutcome; per-sample failures are statuses in the store, never exceptions.
    """
    from echo4o_eval.evaluation import evaluate

    settings = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    benchmark, spec, judge_spec = settings.pop("benchmark"), settings.pop("model"), settings.pop("judge")
    if model is not None:
        settings["model_label"] = spec
        if settings["model_id"] is None and not callable(getattr(model, "identity", None)):
            settings["model_id"] = spec
    return evaluate(benchmark, spec if model is None else model,
                    judge_spec if judge is None else judge, **settings)


def execute(config: RunConfig, *, benchmark=None, model=None, judge=None) -> RunOutcome:
    """The run itself, for :func:`echo4o_eval.evaluate`: objects given here replace the specs
    ``config`` names (``config.model``/``config.judge`` are then only their names).

    Models and judges made here from specs are closed at the end; objects passed in belong to
    the caller and stay open, so a training loop can evaluate with one judge many times."""
    check_config_secrets(config)
    runner = Runner(config, benchmark)
    spec = runner.spec
    samples = runner.load_samples()
    from_spec = model is None
    own_judge = judge is None  # objects the caller passed in stay open for the caller
    if from_spec:
        model = deferred_model(config.model, config.model_options) or make_model(
            config.model, config.model_options)
    try:
        identity = identity_of(model, config.model_id, config.step, config.model if from_spec else None)
        if config.require_existing_images and getattr(model, "generates", True):
            raise ValueError(
                f"`score` reads existing images, but {config.model!r} generates them; "
                "use `echo4o-eval run`, or point --model at a folder (folder:DIR)"
            )
        judge_spec = config.judge or spec.default_judge
        if judge is None and not config.generate_only:
            judge = deferred_judge(judge_spec, config.judge_options) or make_judge(
                judge_spec, config.judge_options)
        evaluator = None
        options = {**config.evaluator_options, "mode": config.mode}
        if judge is not None:
            if judge.kind not in spec.judge_kinds:
                raise ValueError(
                    f"{spec.id} cannot be judged by a {judge.kind} judge ({judge.id}); "
                    f"it supports {', '.join(spec.judge_kinds)}"
                )
            evaluator = runner.benchmark.make_evaluator(judge.kind, options)
        run_dir = Path(config.run_dir) if config.run_dir else default_run_dir(config, judge_spec, spec.id)
        if config.new_run and (run_dir / "manifest.json").exists():
            run_dir = _fresh_dir(run_dir)
        fresh = not (run_dir / "manifest.json").exists()
        check_run_directory(run_dir, samples)  # a user's unrelated folder: refused before loading
        if fresh and not config.require_existing_images:  # typos refused before the run dir is made
            check_generation_params(model, config.generation_params, config.allow_unknown_params)
        manifest = build_manifest(config, runner, model, judge, evaluator, judge_spec, identity)
        check_resumable(run_dir, manifest)  # before any model or judge is loaded
        store = RunStore(run_dir, rank=runner.rank.rank)
        store.initialise(manifest, samples)
        return _execute(runner, store, samples, model, judge, evaluator)
    finally:
        if from_spec:
            model.close()
        if judge is not None and own_judge:
            judge.close()


def _fresh_dir(run_dir: Path) -> Path:
    for n in itertools.count(2):
        candidate = run_dir.with_name(f"{run_dir.name}-{n}")
        if not (candidate / "manifest.json").exists():
            return candidate
    raise AssertionError("unreachable")


def _execute(runner: Runner, store: RunStore, samples, model, judge, evaluator) -> RunOutcome:
    config = runner.config
    info = runner.rank
    mine = distributed.shard(samples, info.rank, info.world_size)
    existing = store.load()
    by_id = {s.id: s for s in samples}
    scored = 0
    counts = {"generated": 0}
    retry = config.retry_failed
    judging = dict(previous=existing, batch_size=config.judge_batch_size, progress=config.progress,
                   desc=f"{runner.spec.id}: judging (rank {info.rank})")
    with store.writer() as writer:
        pending = [
            request
            for sample in mine
            for request in runner.requests_for(sample, store, existing)
            if _needs(existing.generations.get((request.sample_id, request.image_index)), RETRY_GENERATION, retry)
        ]
        generations = dict(existing.generations)
        batches = _generate(runner, model, writer, pending, generations, by_id, counts)
        keys = [(sample.id, i) for sample in mine for i in range(runner.images_per_prompt)]
        if evaluator is not None and streams(judge):  # judged as the model batches are recorded
            waiting = {(r.sample_id, r.image_index) for r in pending}
            ready = [(by_id[key[0]], generations[key]) for key in keys if key in generations
                     and key not in waiting and _needs(existing.scores.get(key), RETRY_SCORE, retry)]
            scored = judge_and_score(ready, judge, evaluator, writer, arriving=batches if pending else None,
                                     arriving_count=len(pending), **judging)
        else:  # generate everything, then judge (a GPU detector would compete with the model)
            redone = {(g.sample_id, g.image_index) for pairs in batches for _, g in pairs}
            to_score = [key for key in keys if key in generations and (
                key in redone or _needs(existing.scores.get(key), RETRY_SCORE, retry))]
            if evaluator is not None and to_score:  # no work: a deferred judge stays unloaded
                scored = judge_and_score([(by_id[sid], generations[(sid, i)]) for sid, i in to_score],
                                         judge, evaluator, writer, **judging)
    generated = counts["generated"]
    if info.is_main:
        _record_settings(store, model, judge)
    distributed.barrier(store.run_dir, info, "scored", timeout_s=config.barrier_timeout_s)
    if not info.is_main or evaluator is None:
        return RunOutcome(store.run_dir, None, generated, scored, {})
    return _finish(runner, store, samples, evaluator, generated, scored)


def _generate(runner: Runner, model, writer, pending: list[GenerationRequest], generations: dict,
              by_id: Mapping[str, Sample], counts: dict[str, int]):
    """Generate (or find) the ``pending`` images in model batches; record each batch with one
    write, note it in ``generations`` and ``counts``, and yield its (sample, generation) pairs."""
    if not pending:
        return
    size = max(1, model.batch_size)
    desc = f"{runner.spec.id}: images (rank {runner.rank.rank})"
    for batch in _progress(_batched(pending, size), -(-len(pending) // size), desc, runner.config.progress):
        results = model.generate(batch)
        if len(results) != len(batch):
            raise RuntimeError(f"model {model.id} returned {len(results)} images for {len(batch)} requests")
        writer.append_generations(results)
        for generation in results:
            generations[(generation.sample_id, generation.image_index)] = generation
        counts["generated"] += len(results)
        yield [(by_id[g.sample_id], g) for g in results]


def _record_settings(store: RunStore, model, judge) -> None:
    """Once a deferred model or judge has been loaded, write its real settings to the manifest
    (settings are informative: they never enter the fingerprint)."""
    from echo4o_eval.rundir.store import write_json_atomic

    manifest = store.read_manifest()
    updates = {}
    for key, obj in (("model_settings", model), ("judge_settings", judge)):
        recorded = manifest.get(key)
        if obj is not None and getattr(obj, "loaded", False) and isinstance(recorded, dict) \
                and recorded.get("loaded") is False:
            updates[key] = dict(obj.describe())
    if updates:
        write_json_atomic(store.manifest_path, {**manifest, **updates})


def _needs(record, retry_statuses, retry: bool) -> bool:
    """Whether an image still needs this stage: no record yet, or a retryable failure."""
    return record is None or (retry and record.status in retry_statuses)


def _finish(runner, store, samples, evaluator, generated, scored) -> RunOutcome:
    data = store.load()
    wanted = {s.id for s in samples}
    scores = [s for s in data.ordered_scores() if s.sample_id in wanted]
    scored_keys = {(s.sample_id, s.image_index) for s in scores}
    scores += [  # images the run should cover but holds no score for: counted, never dropped
        SampleScore(sample.id, i, sample.tag, Status.NOT_SCORED,
                    reason="no score in the run store (a rank stopped before scoring it?)")
        for sample in samples
        for i in range(runner.images_per_prompt)
        if (sample.id, i) not in scored_keys
    ]
    result = evaluator.aggregate(samples, scores)
    if runner.config.n_bootstrap > 0 and scores:
        from echo4o_eval.statistics.jackknife import confidence_intervals

        # n_bootstrap > 0 turns intervals on; they are the delete-a-group jackknife over prompts
        result = confidence_intervals(evaluator.aggregate, samples, scores, result, seed=0)
    if data.problems:
        result = dataclasses.replace(result, notes=(*result.notes, (
            f"{len(data.problems)} record line(s) of the run store were skipped; first: {data.problems[0]}")))
    usage = _usage_totals([*data.judgements.values(), *data.earlier_judgements()],
                          [*data.generations.values(), *data.earlier_generations()])
    store.write_result(result, {"usage": usage, "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    extra_outputs = getattr(evaluator, "extra_outputs", None)
    if extra_outputs is not None:
        generations = [data.generations[k] for k in sorted(data.generations) if k[0] in wanted]
        for name, text in extra_outputs(samples, generations, scores).items():
            store.write_text(name, text)
    counts: dict[str, int] = {}
    for score in scores:
        counts[score.status.value] = counts.get(score.status.value, 0) + 1
    return RunOutcome(store.run_dir, result, generated, scored, counts, {"usage": usage})


def _usage_totals(judgement_lists, generations) -> dict[str, Any]:
    """API usage and cost of the whole run, failed attempts that retries replaced included
    (they were sent, and possibly paid); calls without a known price are counted, not $0.
    ``generation_calls`` are the image requests the server received; ``unanswered_requests``
    those of them (judge or image) that got no reply (a timeout or a broken connection after
    the request went out): their price is not known and they may have been billed."""
    totals: dict[str, Any] = {"judge_calls": 0, "judge_cached": 0, "prompt_tokens": 0,
                              "completion_tokens": 0, "judge_cost_usd": 0.0, "generation_calls": 0,
                              "generation_cost_usd": 0.0, "unpriced_judgements": 0,
                              "unpriced_generations": 0, "unanswered_requests": 0}
    for judgements in judgement_lists:
        for j in judgements:
            calls = int(j.usage.get("api_calls", 0) or 0)  # requests the server received
            totals["judge_calls"] += calls
            totals["unanswered_requests"] += int(j.usage.get("unanswered", 0) or 0)
            totals["judge_cached"] += int(bool(j.cached))
            totals["prompt_tokens"] += int(j.usage.get("prompt_tokens", 0) or 0)
            totals["completion_tokens"] += int(j.usage.get("completion_tokens", 0) or 0)
            if j.cost_usd is None:
                totals["unpriced_judgements"] += int(calls > 0)
            else:
                totals["judge_cost_usd"] += j.cost_usd
    for g in generations:  # local models have no cost; an API call without a price is counted
        calls = int(g.usage.get("api_calls", 0) or 0)
        totals["generation_calls"] += calls
        totals["unanswered_requests"] += int(g.usage.get("unanswered", 0) or 0)
        if g.cost_usd is not None:
            totals["generation_cost_usd"] += g.cost_usd
        elif calls > 0:
            totals["unpriced_generations"] += 1
    return totals
