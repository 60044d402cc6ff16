"""Evaluation in the training loop: the current weights, a fixed probe set, one run per step.

Every ``eval.every`` steps (and at the last step when ``eval.at_end``) the main process puts
the transformer (with the EMA weights when on) into the pipeline it trains, and calls
``echo4o_eval.evaluate`` on the first ``eval.limit`` prompts of ``eval.benchmark`` with a fixed
seed, the judge of ``eval.judge`` (GenEval++'s detector mode by default) and ``step`` in the
model identity. Each step gets its own run directory
``<output_dir>/eval/<benchmark>/step-<k>``, so ``echo4o-eval report <output_dir>/eval/<benchmark>/*``
draws the score-vs-step curve and ``echo4o-eval compare`` compares any two steps. The other
processes wait. With FSDP or DeepSpeed ZeRO-3 the main process does not hold the whole model:
evaluate the saved checkpoints with ``echo4o-eval run`` instead (in-loop evaluation refuses).

Example (what the trainer does at step 500)::

    evaluator = InLoopEvaluator(config, backend, accelerator)
    record = evaluator.run(500, transformer, ema, log_path)   # {"step": 500, "metrics": {...}, ...}
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from echo4o_eval.training.monitor import append_record

__all__ = ["InLoopEvaluator", "eval_run_dir"]


def eval_run_dir(output_dir: str | Path, benchmark: str, step: int, runs_dir: str | None = None) -> Path:
    """Where step ``step`` is evaluated.

    >>> eval_run_dir("out", "geneval_pp", 500).as_posix()
    'out/eval/geneval_pp/step-0000500'
    """
    return Path(runs_dir or Path(output_dir) / "eval") / benchmark / f"step-{step:07d}"


class InLoopEvaluator:
    """Runs ``evaluate()`` on the live model at the configured steps (main process only)."""

    def __init__(self, config, backend, accelerator) -> None:
        from echo4o_eval.training.trainer import sharded

        settings = config.eval
        if sharded(accelerator):
            raise ValueError("in-loop evaluation needs the whole model on one process; with FSDP or ZeRO-3 set "
                             "eval.every=0 and evaluate saved checkpoints with `echo4o-eval run`")
        self.config, self.settings, self.backend, self.accelerator = config, settings, backend, accelerator
        self.model_id = settings.model_id or Path(config.run.output_dir).resolve().name
        self._judge = None  # built at the first evaluation, reused by every later one

    def judge(self):
        """The judge of ``eval.judge`` (null: the benchmark's default), loaded once (detector
        weights are not reloaded per step)."""
        if self._judge is None:
            from echo4o_eval.factories import make_judge
            from echo4o_eval.spec import get_benchmark

            spec = self.settings.judge or get_benchmark(self.settings.benchmark).default_judge
            self._judge = make_judge(spec, dict(self.settings.judge_options))
        return self._judge

    def close(self) -> None:
        """Release the judge (the trainer calls this when training ends)."""
        if self._judge is not None:
            self._judge.close()
            self._judge = None

    def due(self, step: int) -> bool:
        every = self.settings.every
        return bool(every and step % every == 0) or (self.settings.at_end and step == self.config.run.max_steps)

    def run(self, step: int, transformer, ema, log_path: Path) -> dict[str, Any]:
        """Evaluate step ``step``; the main process computes it, the others wait."""
        accelerator = self.accelerator
        record: dict[str, Any] = {"type": "eval", "step": step, "benchmark": self.settings.benchmark}
        if accelerator.is_main_process:
            record.update(self._evaluate(step, transformer, ema))
            append_record(log_path, record)
            metrics = {f"eval/{k}": v for k, v in record.get("metrics", {}).items() if v is not None}
            if metrics:
                accelerator.log(metrics, step=step)
        accelerator.wait_for_everyone()
        return record

    def _generate_function(self):
        """prompts, seeds -> images through the trained pipeline, one CPU generator per seed.

        A callable (not the pipeline object) goes to evaluate(), so nothing casts or moves the
        pipeline being trained: its fp32 master weights stay as they are.
        """
        pipeline, accelerator = self.backend.pipeline, self.accelerator
        call = dict(self.settings.generation)
        call.setdefault("max_sequence_length", self.backend.max_text_tokens)

        def generate(prompts, seeds):
            import torch

            generators = [torch.Generator("cpu").manual_seed(int(seed)) for seed in seeds]
            with torch.no_grad(), accelerator.autocast():
                return pipeline(prompt=list(prompts), generator=generators, **call).images

        return generate

    def _evaluate(self, step: int, transformer, ema) -> dict[str, Any]:
        import echo4o_eval

        settings = self.settings
        run_dir = eval_run_dir(self.config.run.output_dir, settings.benchmark, step, settings.runs_dir)
        was_training = transformer.training
        transformer.eval()
        swap = ema.swapped_in(transformer) if (ema is not None and settings.use_ema) else contextlib.nullcontext()
        started = time.perf_counter()
        try:
            with swap:
                outcome = echo4o_eval.evaluate(
                    settings.benchmark, self._generate_function(), self.judge(), run_dir=run_dir,
                    seed=settings.seed, images_per_prompt=settings.images_per_prompt, limit=settings.limit,
                    model_id=self.model_id, step=step, evaluator_options=dict(settings.evaluator_options),
                    data_dir=settings.data_dir, allow_download=settings.allow_download,
                    n_bootstrap=settings.n_bootstrap, progress=False, model_label=self.model_id,
                    model_options={"batch_size": settings.batch_size})
        finally:
            transformer.train(was_training)
        result = outcome.result
        found: dict[str, Any] = {"run_dir": str(run_dir), "seconds": round(time.perf_counter() - started, 2)}
        if result is None:
            found["error"] = "evaluate() returned no result"
            return found
        found["metrics"] = {name: metric.value for name, metric in result.metrics.items()}
        found["coverage"] = result.coverage
        found["n_images"] = result.n_images
        found["status_counts"] = dict(result.status_counts)
        return found
