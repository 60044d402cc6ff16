"""The settings of a training job: one YAML file (``echo4o-eval train CONFIG.yaml``) with
``a.b=VALUE`` overrides, read by :func:`echo4o_eval.config.load_config` into :class:`TrainConfig`.

Defaults follow the Echo-4o recipe: AdamW at 2e-5, gradient clipping at 1.0, the whole
transformer trained, the VAE and text encoders frozen, logit-normal timesteps, loss only on the
output image's tokens.

Example:
    >>> config = load_train_config(None, ["model.pretrained=/tmp/sd3", "data.sources=[/tmp/export]"])
    >>> config.optim.learning_rate, config.model.backend, config.loss.timestep_sampling
    (2e-05, 'sd3', 'logit_normal')
    >>> load_train_config(None, ["optim.learning_rat=1e-4"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    echo4o_eval.config.ConfigError: overrides: unknown key 'optim.learning_rat'; did you mean 'optim.learning_rate'? ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from echo4o_eval.config import ConfigError, dump_config, load_config

__all__ = ["ModelSettings", "DataSettings", "LossSettings", "OptimSettings", "EvalSettings",
           "RunSettings", "TrainConfig", "load_train_config", "dump_config", "ConfigError"]


@dataclass
class ModelSettings:
    """What is trained: a diffusers pipeline (path or Hub id) and which of its parts learn."""

    backend: str = "sd3"  # sd3 | flux | module:Class (see docs/training.md, "Adding a backend")
    pretrained: str = ""  # diffusers pipeline folder or Hub id
    revision: str | None = None
    train_text_encoders: bool = False  # the VAE is always frozen
    lora_rank: int = 0  # 0: the whole transformer is trained (the paper's recipe)
    lora_alpha: float | None = None  # default: lora_rank
    lora_targets: list[str] = field(default_factory=lambda: ["to_q", "to_k", "to_v", "to_out.0"])
    gradient_checkpointing: bool = False
    max_text_tokens: int | None = None  # T5 sequence length; default: the backend's
    guidance: float = 3.5  # FLUX guidance-distilled models: the embedded guidance value


@dataclass
class DataSettings:
    """Where samples come from and how they become tensors."""

    sources: list[str] = field(default_factory=list)  # export folders/files, or hf:NAME datasets
    format: str = "auto"  # auto | bagel | omnigen2 | hf_folder | hf
    split: str = "train"  # for hf:NAME
    image_column: str = "image"  # for Hugging Face datasets
    caption_column: str | None = None  # default: captions, caption, text or prompt
    resolution: int = 1024  # bucket area is resolution**2
    buckets: bool = True  # aspect-ratio buckets; false: every image centre-cropped to a square
    min_aspect: float = 0.5
    max_aspect: float = 2.0
    caption_dropout: float = 0.1  # probability of the empty caption (classifier-free guidance)
    max_references: int = 4  # multi-reference samples with more references are an error
    cache_latents: bool = False  # VAE latents computed once (deterministic crops only)
    cache_text: bool = False  # text-encoder outputs computed once per caption alternative
    cache_dir: str | None = None  # default: <output_dir>/cache
    num_workers: int = 0  # DataLoader workers per process
    limit: int | None = None  # use only the first N samples


@dataclass
class LossSettings:
    """Rectified flow: x_t = (1 - s) x0 + s eps, target eps - x0, MSE on the output image only."""

    timestep_sampling: str = "logit_normal"  # logit_normal | mode | uniform
    logit_mean: float = 0.0
    logit_std: float = 1.0
    mode_scale: float = 1.29
    shift: float = 1.0  # sigma -> shift*sigma / (1 + (shift-1)*sigma); 3.0 for SD3 at 1024
    weighting: str = "none"  # none | sigma_sqrt | cosmap (SD3 paper weightings)


@dataclass
class OptimSettings:
    """AdamW with warmup and a constant or cosine schedule."""

    learning_rate: float = 2e-5
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    eps: float = 1e-8
    warmup_steps: int = 0
    schedule: str = "constant"  # constant | cosine
    min_lr_ratio: float = 0.0  # cosine floor as a fraction of learning_rate
    max_grad_norm: float = 1.0
    ema_decay: float = 0.0  # 0: no EMA; Bagel's recipe uses 0.9999


@dataclass
class EvalSettings:
    """Evaluation in the loop: every ``every`` steps a probe set is generated and scored through
    ``echo4o_eval.evaluate`` with the step in the model identity (one run directory per step)."""

    every: int = 0  # 0: off
    benchmark: str = "geneval_pp"
    judge: str | None = "mask2former-clip"  # detector mode; null: the benchmark's default judge
    judge_options: dict[str, Any] = field(default_factory=dict)
    evaluator_options: dict[str, Any] = field(default_factory=dict)
    generation: dict[str, Any] = field(default_factory=lambda: {"num_inference_steps": 28})  # pipeline call args
    batch_size: int = 4  # prompts per pipeline call
    limit: int | None = 32  # probe prompts (the first N of the benchmark: a fixed set)
    images_per_prompt: int | None = 1
    seed: int = 0
    use_ema: bool = True  # evaluate the EMA weights when EMA is on
    runs_dir: str | None = None  # default: <output_dir>/eval
    model_id: str | None = None  # default: the output folder's name
    data_dir: str | None = None
    allow_download: bool = True
    n_bootstrap: int = 1000
    at_end: bool = True  # with every > 0: also evaluate the last step


@dataclass
class RunSettings:
    """Steps, batch, precision, checkpoints, logs."""

    output_dir: str = "train_output"
    max_steps: int = 1000
    stop_at: int | None = None  # end this invocation after this step (checkpoint saved); the
    # schedule still spans max_steps and the next invocation resumes (time-limited cluster jobs)
    batch_size: int = 1  # per process and micro-batch
    gradient_accumulation: int = 1
    mixed_precision: str = "bf16"  # bf16 | fp16 | no (no on CPU)
    seed: int = 0
    save_every: int = 500
    keep_checkpoints: int | None = 3  # null: keep all
    log_every: int = 10
    resume: str = "auto"  # auto (latest checkpoint in output_dir) | none | a checkpoint folder
    report_to: str = "auto"  # auto (tensorboard, and wandb when installed) | tensorboard | wandb | none
    save_final: bool = True  # a diffusers pipeline folder at <output_dir>/final
    peak_tflops: float | None = None  # accelerator peak for MFU; default: known GPUs' bf16 peak
    progress: bool = True


@dataclass
class TrainConfig:
    """A whole training job."""

    model: ModelSettings = field(default_factory=ModelSettings)
    data: DataSettings = field(default_factory=DataSettings)
    loss: LossSettings = field(default_factory=LossSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    run: RunSettings = field(default_factory=RunSettings)


CHOICES = {
    ("loss", "timestep_sampling"): ("logit_normal", "mode", "uniform"),
    ("loss", "weighting"): ("none", "sigma_sqrt", "cosmap"),
    ("optim", "schedule"): ("constant", "cosine"),
    ("run", "mixed_precision"): ("bf16", "fp16", "no"),
    ("run", "report_to"): ("auto", "tensorboard", "wandb", "none"),
    ("data", "format"): ("auto", "bagel", "omnigen2", "hf_folder", "hf"),
}


def check_config(config: TrainConfig, where: str = "config") -> TrainConfig:
    """Values outside their choices or ranges are a ConfigError naming the key.

    >>> load_train_config(None, ["loss.weighting=sd3"])
    Traceback (most recent call last):
    ...
    echo4o_eval.config.ConfigError: overrides: loss.weighting must be one of none, sigma_sqrt, cosmap, not 'sd3'
    """
    for (section, key), choices in CHOICES.items():
        value = getattr(getattr(config, section), key)
        if value not in choices:
            raise ConfigError(f"{where}: {section}.{key} must be one of {', '.join(choices)}, not {value!r}")
    checks = [
        ("run.max_steps", config.run.max_steps >= 1), ("run.batch_size", config.run.batch_size >= 1),
        ("run.gradient_accumulation", config.run.gradient_accumulation >= 1),
        ("data.caption_dropout", 0.0 <= config.data.caption_dropout <= 1.0),
        ("optim.ema_decay", 0.0 <= config.optim.ema_decay < 1.0),
        ("model.lora_rank", config.model.lora_rank >= 0), ("eval.every", config.eval.every >= 0),
        ("data.resolution", config.data.resolution >= 16), ("loss.shift", config.loss.shift > 0),
    ]
    for key, ok in checks:
        if not ok:
            raise ConfigError(f"{where}: {key} is out of range")
    return config


def load_train_config(path: str | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    """The :class:`TrainConfig` from a YAML file and ``a.b=VALUE`` overrides (both optional)."""
    return check_config(load_config(TrainConfig, path, overrides), str(path or "overrides"))
