"""Benchmark specs: ``benchmarks/<name>/benchmark.yaml`` plus the benchmark's scorer module.

A spec is data (id, version, official assets with pinned URLs and sha256, default judge,
metrics with display metadata); the scorer module
``echo4o_eval.benchmarks.<name>.scorer`` provides two functions::

    load_samples(assets: Assets, variant: str | None) -> list[Sample]
    make_evaluator(judge_kind: str, options: Mapping[str, Any]) -> Evaluator

Example:
    >>> spec = get_benchmark("geneval_pp")
    >>> spec.id, spec.metric("overall").higher_is_better
    ('geneval_pp', True)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

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
    def scorer(self):
        """The benchmark's scorer module (imported on first use)."""
        return importlib.import_module(f"echo4o_eval.benchmarks.{Path(self.directory).name}.scorer")

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


_discovered = False


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    specs = [load_spec(p) for p in sorted(benchmarks_root().glob("*/benchmark.yaml"))]
    for spec in specs:
        if spec.id not in BENCHMARKS:
            BENCHMARKS.register(spec.id)(spec)
    _discovered = True


def get_benchmark(name: str) -> BenchmarkSpec:
    """Look up a benchmark by id (built-in or plugin); unknown ids suggest close matches.

    Plugin entry points may point at a BenchmarkSpec or at a benchmark.yaml path string
    via a zero-argument callable returning the spec.
    """
    _discover()
    entry = BENCHMARKS.get(name)
    if callable(entry) and not isinstance(entry, BenchmarkSpec):
        entry = entry()
    if not isinstance(entry, BenchmarkSpec):
        raise SpecError(f"benchmark entry {name!r} is not a BenchmarkSpec: {entry!r}")
    return entry


def benchmark_names() -> list[str]:
    """Names of every registered benchmark (built-in folders discovered first)."""
    _discover()
    return BENCHMARKS.names()
