"""The training loop on accelerate: one process, DDP, FSDP or DeepSpeed, one node or many.

:func:`train` loads the pipeline through its backend, freezes the VAE (and the text encoders
unless asked), makes the transformer (or its LoRA adapters) trainable, plans the batches,
optionally caches latents and text embeddings, then runs AdamW steps with warmup, a constant or
cosine schedule, clipping, gradient accumulation and optional EMA. It saves resumable
checkpoints, logs to ``train_log.jsonl`` (and TensorBoard / W&B), evaluates in the loop through
``echo4o_eval.evaluate`` every ``eval.every`` steps and writes the final pipeline.

Launch on several GPUs with accelerate (configs in training/configs/accelerate_*.yaml)::

    accelerate launch --config_file training/configs/accelerate_ddp.yaml \\
        -m echo4o_eval train my_config.yaml run.batch_size=4

Example (Python)::

    from echo4o_eval.training import train, load_train_config
    result = train(load_train_config("config.yaml", ["run.max_steps=100"]))
    print(result.losses[-1], result.final_step)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from echo4o_eval.config import dump_config, to_plain
from echo4o_eval.training.checkpoints import (checkpoint_name, prune_checkpoints, read_trainer_state,
                                              resolve_resume, write_trainer_state)
from echo4o_eval.training.monitor import append_record, model_flops_utilisation, peak_flops, trackers

__all__ = ["train", "TrainResult", "build_trainable"]


@dataclass
class TrainResult:
    """What a run did: the steps it ran (this invocation), their losses, its evaluations."""

    output_dir: Path
    start_step: int
    final_step: int
    losses: list[float] = field(default_factory=list)  # one per step run by this invocation
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    final_pipeline: Path | None = None
    is_main_process: bool = True


def _schedule(optim, max_steps: int):
    """lr multiplier per step: linear warmup, then constant or cosine down to min_lr_ratio."""

    def factor(step: int) -> float:
        if optim.warmup_steps and step < optim.warmup_steps:
            return (step + 1) / optim.warmup_steps
        if optim.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - optim.warmup_steps) / max(1, max_steps - optim.warmup_steps))
        return optim.min_lr_ratio + (1 - optim.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def build_trainable(backend, settings) -> list:
    """Freeze the VAE (always) and text encoders (unless trained); full transformer or LoRA.

    Returns the trainable parameters.
    """
    backend.vae.requires_grad_(False).eval()
    for encoder in backend.text_encoders().values():
        encoder.requires_grad_(settings.train_text_encoders)
        encoder.train(settings.train_text_encoders)
    transformer = backend.transformer
    if settings.lora_rank:
        from echo4o_eval.optional import require_module

        peft = require_module("peft", "train")
        transformer.requires_grad_(False)
        transformer.add_adapter(peft.LoraConfig(r=settings.lora_rank, lora_alpha=settings.lora_alpha or settings.lora_rank,
                                                init_lora_weights="gaussian", target_modules=list(settings.lora_targets)))
    else:
        transformer.requires_grad_(True)
    if settings.gradient_checkpointing:
        transformer.enable_gradient_checkpointing()
    transformer.train()
    params = [p for p in transformer.parameters() if p.requires_grad]
    if settings.train_text_encoders:
        params += [p for e in backend.text_encoders().values() for p in e.parameters()]
    return params


def _bucket_keys(data, backend, settings) -> list[tuple[int, int, int]]:
    from echo4o_eval.training.batches import make_buckets, nearest_bucket
    from echo4o_eval.training.data import DataError

    multiple = backend.latent_multiple
    square = max(multiple, settings.resolution // multiple * multiple)
    buckets = make_buckets(settings.resolution, multiple, settings.min_aspect, settings.max_aspect)
    keys = []
    for i in range(len(data)):
        references = data.reference_count(i)
        if references > settings.max_references:
            raise DataError(f"sample {i} has {references} references; data.max_references is {settings.max_references}")
        size = nearest_bucket(*data.size(i), buckets) if settings.buckets else (square, square)
        keys.append((*size, references))
    return keys


def train(config) -> TrainResult:
    """Run (or resume) the training job described by a :class:`~.config.TrainConfig`."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration, set_seed

    from echo4o_eval.training.backends import load_backend
    from echo4o_eval.training.batches import BatchPlan
    from echo4o_eval.training.cache import prepare_caches
    from echo4o_eval.training.data import TrainingData
    from echo4o_eval.training.ema import EMA
    from echo4o_eval.training.in_loop_eval import InLoopEvaluator
    from echo4o_eval.training.steps import PlannedBatches, compute_loss, identity_collate

    run = config.run
    output = Path(run.output_dir)
    accum = run.gradient_accumulation
    accelerator = Accelerator(
        mixed_precision=run.mixed_precision, gradient_accumulation_steps=accum,
        log_with=trackers(run.report_to) or None, step_scheduler_with_optimizer=False,
        project_config=ProjectConfiguration(project_dir=str(output), logging_dir=str(output / "logs")))
    set_seed(run.seed)
    device = accelerator.device
    weight_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(run.mixed_precision, torch.float32)
    if device.type == "cpu":
        weight_dtype = torch.float32  # frozen parts stay fp32 on CPU (autocast still applies)

    backend = load_backend(config.model, device, weight_dtype)
    params = build_trainable(backend, config.model)
    data = TrainingData.from_settings(config.data)
    keys = _bucket_keys(data, backend, config.data)
    per_process = run.batch_size
    plan = BatchPlan(keys, per_process * accelerator.num_processes, run.seed)
    latent_cache, text_cache = prepare_caches(config, backend, data, keys, accelerator)

    optimizer = torch.optim.AdamW(params, lr=config.optim.learning_rate, betas=tuple(config.optim.betas),
                                  weight_decay=config.optim.weight_decay, eps=config.optim.eps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(config.optim, run.max_steps))
    transformer, optimizer, scheduler = accelerator.prepare(backend.transformer, optimizer, scheduler)
    unwrapped = accelerator.unwrap_model(transformer)
    if sharded(accelerator) and config.optim.ema_decay > 0:
        raise ValueError("optim.ema_decay needs every process to hold the whole model; with FSDP or ZeRO-3 set "
                         "optim.ema_decay=0 (or use DDP / ZeRO-2)")
    ema = EMA(unwrapped.named_parameters(), config.optim.ema_decay) if config.optim.ema_decay > 0 else None
    if ema is not None:
        accelerator.register_for_checkpointing(ema)

    step, consumed = 0, 0
    resume_from = resolve_resume(run.resume, output)
    if resume_from is not None:
        accelerator.load_state(str(resume_from))
        state = read_trainer_state(resume_from)
        step, consumed = state["step"], state["batches_consumed"]
        accelerator.print(f"resumed from {resume_from} at step {step}")
    start_step = step
    output.mkdir(parents=True, exist_ok=True)
    log_path = output / "train_log.jsonl"
    if accelerator.is_main_process:
        (output / "config.yaml").write_text(dump_config(config))
    if accelerator.trackers is not None and trackers(run.report_to):
        accelerator.init_trackers(output.name or "train", config=_flat(to_plain(config)))

    batches = PlannedBatches(data, plan, rank=accelerator.process_index, per_process=per_process,
                             settings=config.data, seed=run.seed, latent_cache=latent_cache)
    total_batches = run.max_steps * accum
    loader = torch.utils.data.DataLoader(batches, batch_size=None, sampler=range(consumed, total_batches),
                                         num_workers=config.data.num_workers, collate_fn=identity_collate)
    evaluator = InLoopEvaluator(config, backend, accelerator) if config.eval.every else None
    result = TrainResult(output_dir=output, start_step=start_step, final_step=step,
                         is_main_process=accelerator.is_main_process)
    parameter_count = sum(p.numel() for p in unwrapped.parameters())
    peak = peak_flops(torch.cuda.get_device_name(device), run.peak_tflops) if device.type == "cuda" else None
    progress = None
    if run.progress and accelerator.is_main_process:
        from tqdm.auto import tqdm

        progress = tqdm(total=run.max_steps, initial=step, desc="train", dynamic_ncols=True)
    accelerator.print(f"{len(data)} samples in {len(plan.groups)} bucket(s); {plan.batches_per_epoch} global "
                      f"batches of {per_process * accelerator.num_processes} per epoch; "
                      f"{plan.unused_per_epoch} sample(s) per epoch left over by the buckets")
    iterator = iter(loader)
    last_step = min(run.max_steps, run.stop_at or run.max_steps)
    while step < last_step:
        started = time.perf_counter()
        losses, grad_norm = [], None
        for _ in range(accum):
            batch = next(iterator)
            with accelerator.accumulate(transformer):
                with accelerator.autocast():
                    loss, _, layout = compute_loss(backend, transformer, batch, config, device, text_cache)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    if config.model.train_text_encoders and accelerator.num_processes > 1:
                        _average_encoder_gradients(backend, accelerator)
                    grad_norm = accelerator.clip_grad_norm_(params, config.optim.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            losses.append(loss.detach())
            consumed += 1
        scheduler.step()
        step += 1
        if ema is not None:
            ema.update(unwrapped.named_parameters())
        mean_loss = accelerator.reduce(torch.stack(losses).mean(), "mean").item()
        elapsed = time.perf_counter() - started
        samples_per_s = per_process * accelerator.num_processes * accum / elapsed
        record = {"type": "train", "step": step, "loss": mean_loss, "lr": scheduler.get_last_lr()[0],
                  "grad_norm": None if grad_norm is None else float(grad_norm), "samples_per_s": samples_per_s}
        if peak:
            record["mfu"] = model_flops_utilisation(parameter_count, backend.tokens_per_sample(layout), samples_per_s,
                                                    peak, accelerator.num_processes)
        result.losses.append(mean_loss)
        if accelerator.is_main_process:
            append_record(log_path, record)
        if step % run.log_every == 0 or step == run.max_steps:
            accelerator.log({k: v for k, v in record.items() if isinstance(v, float)}, step=step)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{mean_loss:.4f}", samples_s=f"{samples_per_s:.2f}",
                                 **({"mfu": f"{record['mfu']:.1%}"} if record.get("mfu") else {}))
        if step % run.save_every == 0 or step == last_step:
            _save(accelerator, output, step, consumed, config)
        if evaluator is not None and evaluator.due(step):
            result.evaluations.append(evaluator.run(step, unwrapped, ema, log_path))
    if progress is not None:
        progress.close()
    if evaluator is not None:
        evaluator.close()
    result.final_step = step
    if run.save_final and step == run.max_steps and step > start_step:
        if sharded(accelerator):
            accelerator.print("sharded training (FSDP / ZeRO-3): no final pipeline folder; the last checkpoint "
                              "holds the weights (accelerate merge-weights turns an FSDP checkpoint into one file)")
        else:
            result.final_pipeline = _save_final(accelerator, backend, unwrapped, ema, output, config)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return result


def sharded(accelerator) -> bool:
    """FSDP or DeepSpeed ZeRO-3: no process holds the whole model."""
    deepspeed = getattr(accelerator.state, "deepspeed_plugin", None)
    return getattr(accelerator.state, "fsdp_plugin", None) is not None or (
        deepspeed is not None and getattr(deepspeed, "zero_stage", 0) == 3)


def _average_encoder_gradients(backend, accelerator) -> None:
    for encoder in backend.text_encoders().values():
        for p in encoder.parameters():
            if p.grad is not None:
                p.grad = accelerator.reduce(p.grad, "mean")


def _save(accelerator, output: Path, step: int, consumed: int, config) -> None:
    folder = output / "checkpoints" / checkpoint_name(step)
    accelerator.save_state(str(folder))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_trainer_state(folder, {"step": step, "batches_consumed": consumed, "config": to_plain(config),
                                     "processes": accelerator.num_processes})
        prune_checkpoints(output, config.run.keep_checkpoints)
    accelerator.wait_for_everyone()


def _save_final(accelerator, backend, unwrapped, ema, output: Path, config) -> Path | None:
    """The trained pipeline as a diffusers folder (EMA weights when on; LoRA adapters fused)."""
    import contextlib

    folder = output / "final"
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        with ema.swapped_in(unwrapped) if ema is not None else contextlib.nullcontext():
            if config.model.lora_rank:
                unwrapped.save_lora_adapter(str(folder / "lora"))
            else:
                backend.pipeline.save_pretrained(str(folder))
    accelerator.wait_for_everyone()
    return folder


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat
