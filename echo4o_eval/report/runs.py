"""One view of a finished run for reports and comparisons: from a run directory or a baseline JSON.

A run directory is read with :func:`echo4o_eval.rundir.store.load_run`; a baseline JSON (written by
``echo4o-eval report --baseline``) holds the same facts without images: manifest, samples,
per-image scores and the result. Both become a :class:`RunView`.

Example:
    >>> from echo4o_eval.records.types import Sample, SampleScore, Status
    >>> view = RunView(name="r", manifest={"benchmark": "geneval@1.0", "model": {"spec": "m"}},
    ...                samples=[Sample("1", 0, "p", "t")],
    ...                scores=[SampleScore("1", 0, "t", Status.OK, {"correct": True})])
    >>> view.benchmark_id, view.benchmark_version, view.model
    ('geneval', '1.0', 'm')
    >>> RunView.from_baseline(view.to_baseline()).scores == view.scores
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from echo4o_eval.records.types import (
    BenchmarkResult,
    Generation,
    Judgement,
    Sample,
    SampleScore,
    to_json,
)

BASELINE_SCHEMA = "echo4o-eval/baseline"
BASELINE_VERSION = 1


class RunInputError(ValueError):
    """A run directory or baseline file cannot be used; the message names it."""


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        for key in ("spec", "id", "name"):
            if value.get(key):
                return str(value[key])
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


@dataclass
class RunView:
    """Everything a report or comparison needs from one run."""

    name: str  # short label (run folder name)
    manifest: Mapping[str, Any]
    samples: list[Sample]
    scores: list[SampleScore]
    result: BenchmarkResult | None = None
    generations: Mapping[tuple[str, int], Generation] = field(default_factory=dict)
    judgements: Mapping[tuple[str, int], list[Judgement]] = field(default_factory=dict)
    run_dir: Path | None = None  # None for a baseline JSON

    @property
    def benchmark_key(self) -> str:
        """``<id>@<version>`` of the manifest's benchmark."""
        bench = self.manifest.get("benchmark", "")
        if isinstance(bench, Mapping):
            return f"{bench.get('id', '')}@{bench.get('version', '')}"
        return str(bench)

    @property
    def benchmark_id(self) -> str:
        """Benchmark id, from the result when there is one, else from the manifest."""
        if self.result is not None:
            return self.result.benchmark
        return self.benchmark_key.partition("@")[0]

    @property
    def benchmark_version(self) -> str:
        """Benchmark version, from the result when there is one, else from the manifest."""
        if self.result is not None:
            return self.result.version
        return self.benchmark_key.partition("@")[2]

    @property
    def model(self) -> str:
        """The model's spec (or id / name) from the manifest."""
        return _text(self.manifest.get("model"))

    @property
    def variant(self) -> str:
        """The benchmark variant ("" for the default prompts), from the manifest."""
        value = self.manifest.get("variant")
        return "" if value in (None, "default") else str(value)

    @property
    def step(self) -> int | None:
        """The training step of the model, from the manifest's model identity (None if absent)."""
        return run_step(self.manifest)

    @property
    def model_label(self) -> str:
        """The model plus ``@step-<k>`` when the run names a training step."""
        step = self.step
        return self.model + (f"@step-{step}" if step is not None and "step" not in self.model else "")

    @property
    def judge(self) -> str:
        """The judge's spec (or id / name) from the manifest."""
        return _text(self.manifest.get("judge"))

    @property
    def judge_kind(self) -> str | None:
        """Judge kind from the manifest ("judge_kind", else the judge's describe()["kind"])."""
        if self.manifest.get("judge_kind"):
            return str(self.manifest["judge_kind"])
        judge = self.manifest.get("judge")
        if isinstance(judge, Mapping):
            describe = judge.get("describe")
            if isinstance(describe, Mapping) and describe.get("kind"):
                return str(describe["kind"])
            if judge.get("kind"):
                return str(judge["kind"])
        return None

    @property
    def options(self) -> Mapping[str, Any]:
        """The manifest's evaluator_options ({} when absent)."""
        options = self.manifest.get("evaluator_options")
        return options if isinstance(options, Mapping) else {}

    @property
    def created(self) -> str:
        """The manifest's creation time as text ("" when absent)."""
        return str(self.manifest.get("created", ""))

    def aggregate_function(self):
        """The benchmark evaluator's ``aggregate`` for this run's judge kind and options.

        Raises RunInputError when the manifest does not say which judge kind was used.
        """
        from echo4o_eval.spec import load_benchmark

        benchmark = load_benchmark(self.benchmark_id)
        spec = benchmark.spec
        kind = self.judge_kind
        if kind is None and len(spec.judge_kinds) == 1:
            kind = spec.judge_kinds[0]
        if kind is None:
            raise RunInputError(f"{self.name}: manifest does not say the judge kind; cannot re-aggregate")
        return benchmark.make_evaluator(kind, dict(self.options)).aggregate

    def to_baseline(self) -> dict[str, Any]:
        """Plain-JSON baseline summary (no images): schema, manifest, samples, scores, result."""
        return {
            "schema": BASELINE_SCHEMA,
            "schema_version": BASELINE_VERSION,
            "name": self.name,
            "manifest": to_json(dict(self.manifest)),
            "result": None if self.result is None else to_json(self.result),
            "samples": [to_json(s) for s in self.samples],
            "scores": [to_json(s) for s in self.scores],
        }

    @classmethod
    def from_baseline(cls, data: Mapping[str, Any], source: str = "baseline") -> "RunView":
        """A RunView from a baseline JSON dict; raises RunInputError when it is not a baseline,
        is of a newer schema version or is malformed."""
        if data.get("schema") != BASELINE_SCHEMA:
            raise RunInputError(f"{source}: not an echo4o-eval baseline (schema {data.get('schema')!r})")
        version = data.get("schema_version", 0)
        if not isinstance(version, int) or isinstance(version, bool):
            raise RunInputError(f"{source}: baseline schema_version {version!r} is not an integer")
        if version > BASELINE_VERSION:
            raise RunInputError(
                f"{source}: baseline schema_version {data['schema_version']} is newer than this "
                f"echo4o-eval understands ({BASELINE_VERSION}); upgrade echo4o-eval"
            )
        try:
            return cls(
                name=str(data.get("name", source)),
                manifest=dict(data.get("manifest", {})),
                samples=[Sample.from_json(s) for s in data["samples"]],
                scores=[SampleScore.from_json(s) for s in data["scores"]],
                result=None if data.get("result") is None
                else BenchmarkResult.from_json(data["result"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RunInputError(f"{source}: malformed baseline: {exc!r}") from exc


def run_step(manifest: Mapping[str, Any]) -> int | None:
    """The training step in a manifest: ``model.identity.step``, ``model_identity.step`` or
    ``model.step`` (None when none is an integer).

    >>> run_step({"model": {"identity": {"step": 300}}}), run_step({"model": "x"})
    (300, None)
    """
    model = manifest.get("model")
    places = []
    if isinstance(model, Mapping):
        places += [model.get("identity"), model]
    places.append(manifest.get("model_identity"))
    for place in places:
        if isinstance(place, Mapping):
            step = place.get("step")
            if isinstance(step, int) and not isinstance(step, bool):
                return step
            if isinstance(step, str) and step.isdigit():
                return int(step)
    return None


def load_view(path: str | Path) -> RunView:
    """A RunView from a run directory or a baseline ``.json`` file (errors name the path)."""
    from echo4o_eval.rundir.store import StoreError, load_run

    path = Path(path)
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunInputError(f"{path}: cannot read baseline JSON: {exc}") from exc
        if not isinstance(data, Mapping):
            raise RunInputError(f"{path}: not an echo4o-eval baseline (a JSON {type(data).__name__}, "
                                "expected an object)")
        return RunView.from_baseline(data, str(path))
    if not path.is_dir():
        raise RunInputError(f"{path}: no such run directory or baseline file")
    try:
        run = load_run(path)
    except (StoreError, OSError, ValueError) as exc:
        raise RunInputError(str(exc) if str(path) in str(exc) else f"{path}: {exc}") from exc
    return RunView(
        name=path.name,
        manifest=run.manifest,
        samples=list(run.samples.values()),
        scores=run.ordered_scores(),
        result=run.result,
        generations=run.generations,
        judgements=run.judgements,
        run_dir=path,
    )
