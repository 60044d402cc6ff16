"""The settings of a synthetic-data job: one YAML file (``synth all CONFIG.yaml``) with ``a.b=VALUE``
overrides, read by :func:`echo4o_eval.config.load_config` into :class:`SynthConfig`.

Every stage reads its own section; the work directory holds everything a job writes (records,
images, caches, exports), so re-running a command with the same config resumes it.

Example:
    >>> config = load_synth_config(None, ["work_dir=/tmp/job", "plan.fantasy.count=3"])
    >>> config.plan.fantasy.count, config.generate.max_images is None
    (3, True)
    >>> load_synth_config(None, ["plan.fantsy.count=3"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    echo4o_eval.config.ConfigError: overrides: unknown key 'plan.fantsy'; did you mean 'plan.fantasy'? ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from echo4o_eval.config import dump_config, load_config

SUBSETS = ("fantasy", "instruction", "multi_reference")
BENCHMARKS = ("geneval", "geneval_pp", "imagine_bench", "dpg_bench", "omnicontext")


@dataclass
class ApiSettings:
    """An OpenAI-compatible chat/VLM endpoint. ``model: null`` means no chat model is used."""

    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"  # the NAME of the variable holding the key
    concurrency: int = 8
    requests_per_minute: float | None = None
    max_retries: int = 6
    timeout: float = 120.0
    prices: str | None = None  # JSON/YAML price table overriding the built-in one


@dataclass
class FantasyPlan:
    """Surreal-fantasy prompts: base objects x Imagine-Bench-like transformation kinds."""

    count: int = 0
    objects: list[str] = field(default_factory=list)  # empty: COCO's 80 + our everyday list
    kinds: list[str] = field(default_factory=list)  # empty: every kind in vocabulary.FANTASY_KINDS


@dataclass
class InstructionPlan:
    """Compositional specs (counts, colours, regions, relations, sizes) rendered to text."""

    count: int = 0
    max_objects: int = 3
    dense_fraction: float = 0.25  # share of long dense descriptions
    paraphrase: bool = False  # ask the chat model to reword the rendered text (spec is kept)


@dataclass
class MultiReferencePlan:
    """Instructions combining elements of 2-4 reference images."""

    count: int = 0
    min_references: int = 2
    max_references: int = 4
    # "generate" (subjects are generated first), "folder:PATH" or "hf:PATH" (save_to_disk folder)
    reference_source: str = "generate"
    subjects: int = 8  # subjects to generate when reference_source is "generate"


@dataclass
class PlanConfig:
    """What to plan; the same settings always plan the same samples."""

    seed: int = 0
    fantasy: FantasyPlan = field(default_factory=FantasyPlan)
    instruction: InstructionPlan = field(default_factory=InstructionPlan)
    multi_reference: MultiReferencePlan = field(default_factory=MultiReferencePlan)


@dataclass
class GenerateConfig:
    """The generator (any ``--model`` that ``run`` accepts) and the hard budget."""

    model: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # adapter options (size, quality, cache_dir...)
    params: dict[str, Any] = field(default_factory=dict)  # per-request params (width, height, steps...)
    seed: int = 0
    batch_size: int = 8  # requests per generate() call; records are written after each
    max_images: int | None = None  # images paid for by this job (cache hits are free)
    max_cost: float | None = None  # USD
    price_per_image: float | None = None  # when the adapter reports no cost


@dataclass
class CheckConfig:
    """The VLM check-and-rewrite step and the optional detector check of instruction samples."""

    vlm: ApiSettings = field(default_factory=ApiSettings)
    max_side: int = 768  # images are downscaled to this before being sent
    detector: str | None = None  # a judge spec, e.g. "mask2former-clip" or "detections:FILE.jsonl"
    detector_options: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 16


@dataclass
class FilterConfig:
    """Image quality, duplicates and benchmark contamination."""

    min_side: int = 256  # pixels; smaller images are dropped as too_small
    hash_size: int = 8  # perceptual hash of hash_size**2 bits
    near_duplicate_distance: int = 4  # Hamming distance at or below which images are duplicates
    benchmarks: list[str] = field(default_factory=lambda: list(BENCHMARKS))
    data_dir: str | None = None  # local benchmark files (ECHO4O_DATA_DIR layout)
    allow_download: bool = True
    ngram: int = 6  # words per n-gram for overlap
    overlap: float = 0.6  # share of a benchmark prompt's n-grams found in ours that counts as overlap
    require_benchmarks: bool = False  # a benchmark that cannot be loaded is an error, not a note


@dataclass
class BagelExport:
    """Bagel / Echo-4o parquet settings."""

    rows_per_file: int = 5000
    gpus: int = 8
    workers: int = 4  # data-loader workers per GPU
    max_tokens_per_sample: int = 16384
    vae_max_size: int = 1024
    vit_max_size: int = 980
    shrink_references_to: int | None = None  # re-encode references at this longest side
    image_format: str = "png"  # stored bytes: "png" (as generated) or "jpeg"


@dataclass
class ExportConfig:
    """Which exports to write and where (default: WORK_DIR/export)."""

    formats: list[str] = field(default_factory=lambda: ["bagel", "omnigen2", "hf"])
    out_dir: str | None = None
    original_as_caption: bool = True  # a rewritten sample's captions also hold its original prompt
    bagel: BagelExport = field(default_factory=BagelExport)
    licence: str = "Generated images: check the generator's terms of use before redistribution."


@dataclass
class SynthConfig:
    """A whole job: plan, generate, check, filter, export, all under ``work_dir``."""

    work_dir: str = "synth"
    chat: ApiSettings = field(default_factory=ApiSettings)  # the planner's chat model
    plan: PlanConfig = field(default_factory=PlanConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    check: CheckConfig = field(default_factory=CheckConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    @property
    def work_path(self) -> Path:
        """The work directory as a Path."""
        return Path(self.work_dir)


def load_synth_config(path: str | Path | None, overrides: Sequence[str] = ()) -> SynthConfig:
    """The job's settings from a YAML file (optional) and ``a.b=VALUE`` overrides."""
    return load_config(SynthConfig, path, overrides)


def show_config(config: SynthConfig) -> str:
    """YAML of the resolved settings (``--print-config``)."""
    return dump_config(config)


def engine_config(settings: ApiSettings, cache_path: str | Path | None):
    """An :class:`~echo4o_eval.api.engine.EngineConfig` for a chat/VLM endpoint.

    >>> engine_config(ApiSettings(model="m", concurrency=2), None).concurrency
    2
    """
    from echo4o_eval.api.engine import EngineConfig

    if not settings.model:
        raise ValueError("no chat model configured (set model: under chat: or check.vlm:)")
    return EngineConfig(
        model=settings.model, base_url=settings.base_url, api_key_env=settings.api_key_env,
        concurrency=settings.concurrency, requests_per_minute=settings.requests_per_minute,
        max_retries=settings.max_retries, timeout=settings.timeout,
        cache_path=str(cache_path) if cache_path else None, prices=settings.prices,
    )
