"""Benchmarks: ``benchmarks/<id>/benchmark.yaml`` (the spec: data) plus the code that loads
its samples and builds its evaluator, held together by one :class:`Benchmark` object.

Built-in and plugin benchmarks are resolved the same way: a registry entry (the built-in
folder ``echo4o_eval.benchmarks.<id>:benchmark``, or a plugin's ``echo4o_eval.benchmarks``
entry point) or a ``"module:attr"`` string names a :class:`Benchmark` object::

    benchmark.load_samples(assets, variant) -> list[Sample]
    benchmark.make_evaluator(judge_kind, options) -> Evaluator  # the evaluator gets benchmark.spec

Example:
    >>> spec = get_benchmark("geneval_pp")
    >>> spec.id, spec.metric("overall").higher_is_better
    ('geneval_pp', True)
    >>> bench = load_benchmark("geneval_pp")
    >>> bench.spec is spec, bench.make_evaluator("detector", {}).spec is spec
    (True, True)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping

from echo4o_eval.catalog import BENCHMARKS


class SpecError(ValueError):
    """A benchmark.yaml is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class AssetSpec:
    """One official file a benchmark needs."""

    name: str  # key used by the loader, e.g. "prompts"
    path: str  # relative path inside a data dir laid out like ../shared/benchmarks
    url: str | None = None  # official raw URL pinned to a commit; None = user-provided only
    sha256: str | None = None  # of the file's bytes; None where no pin is known
    license: str = ""
    kind: str = "file"  # "file", "file_list" (folder from a repo tarball), "directory", "hf_dataset"
    optional: bool = False  # absent without error (e.g. DPG question CSV, OmniContext)
    note: str = ""  # how to obtain it when it cannot be downloaded
    member: str = ""  # file_list: folder inside the tarball at ``url``


@dataclass(frozen=True)
class MetricSpec:
    """Display metadata of one metric, defined once beside the benchmark."""

    name: str
    display_name: str
    higher_is_better: bool = True
    unit: str = "fraction"  # "fraction" (0..1, shown as %), "score" (raw), "score_0_10"
    description: str = ""


@dataclass(frozen=True)
class BenchmarkSpec:
    """A loaded benchmark.yaml."""

    id: str
    version: str
    display_name: str
    task: str  # "text_to_image" or "multi_reference"
    assets: tuple[AssetSpec, ...]
    default_judge: str
    judge_kinds: tuple[str, ...]  # judge kinds the scorer supports: "detector", "vlm"
    metrics: tuple[MetricSpec, ...]
    primary_metric: str
    images_per_prompt: int = 1
    variants: Mapping[str, str] = field(default_factory=dict)  # variant -> description
    generation: Mapping[str, Any] = field(default_factory=dict)  # default generation params
    directory: str = ""  # folder holding benchmark.yaml
    description: str = ""

    def metric(self, name: str) -> MetricSpec:
        """The MetricSpec called ``name`` (KeyError naming the benchmark otherwise)."""
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(f"benchmark {self.id!r} has no metric {name!r}")

    def asset(self, name: str) -> AssetSpec:
        """The asset named ``name``; raises KeyError when the benchmark has none."""
        for asset in self.assets:
            if asset.name == name:
                return asset
        raise KeyError(f"benchmark {self.id!r} has no asset {name!r}")

    @property
    def key(self) -> str:
        """``<id>@<version>``."""
        return f"{self.id}@{self.version}"


def _require(data: Mapping[str, Any], key: str, source: str):
    if key not in data:
        raise SpecError(f"{source}: missing required field {key!r}")
    return data[key]


def load_spec(path: str | Path) -> BenchmarkSpec:
    """Parse one benchmark.yaml; errors name the file and the field."""
    import yaml

    path = Path(path)
    source = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{source}: cannot read spec: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{source}: top level must be a mapping")
    try:
        assets = tuple(AssetSpec(**a) for a in data.get("assets", []))
        metrics = tuple(MetricSpec(**m) for m in _require(data, "metrics", source))
    except TypeError as exc:
        raise SpecError(f"{source}: bad asset or metric entry: {exc}") from exc
    spec = BenchmarkSpec(
        id=str(_require(data, "id", source)),
        version=str(_require(data, "version", source)),
        display_name=str(data.get("display_name", data["id"])),
        task=str(data.get("task", "text_to_image")),
        assets=assets,
        default_judge=str(_require(data, "default_judge", source)),
        judge_kinds=tuple(_require(data, "judge_kinds", source)),
        metrics=metrics,
        primary_metric=str(_require(data, "primary_metric", source)),
        images_per_prompt=int(data.get("images_per_prompt", 1)),
        variants=dict(data.get("variants", {})),
        generation=dict(data.get("generation", {})),
        directory=str(path.parent),
        description=str(data.get("description", "")),
    )
    if spec.task not in ("text_to_image", "multi_reference"):
        raise SpecError(f"{source}: task must be text_to_image or multi_reference, not {spec.task!r}")
    if spec.primary_metric not in {m.name for m in metrics}:
        raise SpecError(f"{source}: primary_metric {spec.primary_metric!r} is not in metrics")
    if Path(spec.directory).name != spec.id:
        raise SpecError(f"{source}: id {spec.id!r} must equal its folder name")
    return spec


def benchmarks_root() -> Path:
    """Folder holding the built-in benchmarks (inside the package when installed)."""
    return Path(str(resources.files("echo4o_eval.benchmarks")))


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: its spec, how its samples are loaded and how its evaluator is built.

    ``sample_loader(assets, variant) -> list[Sample]``;
    ``evaluator_factory(spec, judge_kind, options) -> Evaluator``: the evaluator receives the
    spec, so the result carries this benchmark's id and version (a copy with another spec,
    e.g. other prompt files, gets its own). A plugin named like a built-in benchmark is an
    error unless it sets ``replaces_builtin=True``.
    """

    spec: BenchmarkSpec
    sample_loader: Callable[..., list]
    evaluator_factory: Callable[..., Any]
    replaces_builtin: bool = False
    # How the report renders a sample (optional; the report falls back to its metadata):
    checklist_text: Callable[..., str] | None = None  # sample -> its requirements in words
    checklist_items: Callable[..., list] | None = None  # sample -> numbered requirement wording
    # Official judge texts parity mode reads (name -> (Script, Recipe, sha256); see prompts/official.py)
    official_texts: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_yaml(cls, path: str | Path, sample_loader: Callable[..., list],
                  evaluator_factory: Callable[..., Any], **kwargs: Any) -> "Benchmark":
        """The benchmark whose spec is the benchmark.yaml at ``path``."""
        return cls(load_spec(path), sample_loader, evaluator_factory, **kwargs)

    @property
    def id(self) -> str:
        """The benchmark id (from the spec)."""
        return self.spec.id

    def load_samples(self, assets, variant: str | None = None) -> list:
        """The benchmark's samples from its official files (``assets``), for ``variant``."""
        return self.sample_loader(assets, variant)

    def make_evaluator(self, judge_kind: str, options: Mapping[str, Any] | None = None):
        """The evaluator for judges of ``judge_kind``; unknown option keys are errors."""
        if judge_kind not in self.spec.judge_kinds:
            raise SpecError(f"benchmark {self.spec.id!r} supports judge kinds "
                            f"{', '.join(self.spec.judge_kinds)}, not {judge_kind!r}")
        return self.evaluator_factory(self.spec, judge_kind, dict(options or {}))

    def with_spec(self, spec: BenchmarkSpec) -> "Benchmark":
        """The same code over another spec (e.g. a demo's own prompt files)."""
        return dataclasses.replace(self, spec=spec)


def load_benchmark(benchmark: "str | Benchmark | BenchmarkSpec") -> Benchmark:
    """The :class:`Benchmark` for an id (built-in or plugin), a ``"module:attr"`` string, a
    Benchmark (returned as is) or a BenchmarkSpec (the code of the registered benchmark with
    that id, over this spec). Unknown ids suggest close matches; a name clash between a plugin
    and a built-in is an error naming both."""
    if isinstance(benchmark, Benchmark):
        return benchmark
    if isinstance(benchmark, BenchmarkSpec):
        return load_benchmark(benchmark.id).with_spec(benchmark)
    if ":" in benchmark:
        from echo4o_eval.registry import import_object

        return _checked(import_object(benchmark), benchmark)
    return _checked(BENCHMARKS.get(benchmark), BENCHMARKS.source(benchmark))


def _checked(entry: Any, source: str) -> Benchmark:
    if callable(entry) and not isinstance(entry, Benchmark):
        entry = entry()
    if not isinstance(entry, Benchmark):
        raise SpecError(f"{source}: expected an echo4o_eval.spec.Benchmark, got {type(entry).__name__} "
                        "(see docs/plugins.md)")
    return entry


def get_benchmark(name: str) -> BenchmarkSpec:
    """The spec of a benchmark by id (built-in or plugin); unknown ids suggest close matches."""
    return load_benchmark(name).spec


def benchmark_names() -> list[str]:
    """Ids of every registered benchmark (built-in folders and plugins)."""
    return BENCHMARKS.names()
