"""``evaluate()``: run one benchmark on one model from Python - the call behind ``echo4o-eval run``.

It takes objects or names: a benchmark (id or benchmark object), a model (a spec string such as
``"diffusers:PATH"``, any object with the ImageModel protocol, an in-memory diffusers pipeline,
or a plain callable ``prompts -> images``) and a judge (spec string, Judge object, or None for
the benchmark's default). It writes the same run directory as the CLI (resumable, reportable
with ``echo4o-eval report``) and returns a :class:`~echo4o_eval.runner.RunOutcome` whose
``result`` is the BenchmarkResult.

The model's identity (checkpoint signature, hub revision, or the ``model_id``/``step`` you
give) enters the run's fingerprint: evaluating another checkpoint never reuses this one's
images, and evaluating the same one again resumes. An in-memory model (pipeline object,
callable) needs ``model_id=`` and/or ``step=``.

Example (a callable model scored with precomputed detections, offline)::

    from echo4o_eval import evaluate
    outcome = evaluate("geneval", my_function, "detections:dets.jsonl", run_dir="runs/mine",
                       model_id="my-model", step=1000, limit=8)
    print(outcome.result.metrics["overall"].value, outcome.result.coverage)

See docs/python_api.md for a walk-through (training loops, a diffusers pipeline, options).
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any, Mapping

__all__ = ["evaluate", "as_model"]


def _is_diffusers_pipeline(model: Any) -> bool:
    return any(cls.__name__ == "DiffusionPipeline" for cls in type(model).__mro__)


def as_model(model: Any, options: Mapping[str, Any] | None = None, name: str | None = None):
    """An ImageModel for ``model``: a spec string stays a string (resolved by the run), an
    ImageModel is used as is, a diffusers pipeline object is wrapped by our diffusers adapter,
    a plain callable by :class:`~echo4o_eval.models.callable_model.CallableModel`.

    >>> as_model("folder:imgs")
    'folder:imgs'
    >>> as_model(lambda prompts: [], name="mine").id
    'callable:mine'
    >>> as_model(42)
    Traceback (most recent call last):
    ...
    TypeError: model must be a spec string, an ImageModel, a diffusers pipeline or a callable prompts -> images, not int
    """
    options = dict(options or {})
    if isinstance(model, (str, Path)):
        return str(model)
    if callable(getattr(model, "generate", None)) and callable(getattr(model, "describe", None)):
        return model
    if _is_diffusers_pipeline(model):
        from echo4o_eval.models.diffusers_model import DiffusersModel

        return DiffusersModel(name or f"in-memory {type(model).__name__}", options, pipeline=model)
    if callable(model):
        from echo4o_eval.models.callable_model import CallableModel

        return CallableModel(model, batch_size=int(options.get("batch_size", 1)), name=name)
    raise TypeError("model must be a spec string, an ImageModel, a diffusers pipeline or a callable "
                    f"prompts -> images, not {type(model).__name__}")


def evaluate(
    benchmark: Any,
    model: Any,
    judge: Any = None,
    *,
    run_dir: str | Path | None = None,
    seed: int | None = None,
    images_per_prompt: int | None = None,
    limit: int | None = None,
    variant: str | None = None,
    mode: str = "default",
    model_id: str | None = None,
    step: int | None = None,
    evaluator_options: Mapping[str, Any] | None = None,
    judge_options: Mapping[str, Any] | None = None,
    generation_params: Mapping[str, Any] | None = None,
    data_dir: str | Path | None = None,
    allow_download: bool = True,
    n_bootstrap: int = 1000,
    progress: bool = True,
    retry_failed: bool = True,
    model_label: str | None = None,
    **settings: Any,
):
    """Generate (or find) images for ``benchmark`` with ``model``, judge and score them.

    Args:
        benchmark: a benchmark id (``"geneval"``; see ``echo4o-eval ls``) or a benchmark object.
        model: a ``--model`` spec string, an ImageModel, a diffusers pipeline object or a
            callable ``prompts -> list[PIL.Image]`` (optionally taking ``seeds=``).
        judge: a ``--judge`` spec string, a Judge object, or None (the benchmark's default).
        run_dir: where the run is stored (default ``runs/<benchmark>/<model>[__step-K]__<judge>``).
        model_id, step: name the weights of an in-memory model (required for one); both
            enter the model identity, so each training step is its own run.
        seed, images_per_prompt, limit, variant, mode: as ``echo4o-eval run`` (defaults: the
            benchmark's).
        evaluator_options, judge_options, generation_params: ``--eval-option``,
            ``--judge-option`` and ``--gen-param`` as mappings.
        model_label: the name an object model is recorded under (default: its ``id``).
        **settings: any other :class:`~echo4o_eval.runner.RunConfig` field (``model_options``,
            ``runs_root``, ``new_run``, ``generate_only``, ``allow_unknown_params``,
            ``judge_batch_size``, ...).

    Returns:
        RunOutcome: ``result`` (the BenchmarkResult; None for generate-only runs and on
        non-zero ranks), ``run_dir``, ``generated``, ``scored``, ``status_counts``.
    """
    from echo4o_eval.runner import RunConfig, execute

    known = {f.name for f in dataclasses.fields(RunConfig)}
    for name in settings:
        if name not in known or name in ("benchmark", "model", "judge"):
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"evaluate() got an unexpected keyword argument {name!r}{hint}")
    benchmark_object = None if isinstance(benchmark, str) else benchmark
    benchmark_id = benchmark if isinstance(benchmark, str) else getattr(benchmark, "id", None)
    if not benchmark_id:
        raise TypeError(f"benchmark must be an id or a benchmark object with an id, not {benchmark!r}")
    model_object = as_model(model, settings.get("model_options"), model_id)
    judge_object = None if judge is None or isinstance(judge, str) else judge
    config = RunConfig(
        benchmark=benchmark_id,
        model=model_object if isinstance(model_object, str) else (model_label or model_object.id),
        judge=judge if judge_object is None else judge_object.id,
        run_dir=None if run_dir is None else str(run_dir),
        seed=seed,
        images_per_prompt=images_per_prompt,
        limit=limit,
        variant=variant,
        mode=mode,
        model_id=model_id,
        step=step,
        evaluator_options=dict(evaluator_options or {}),
        judge_options=dict(judge_options or {}),
        generation_params=dict(generation_params or {}),
        data_dir=None if data_dir is None else str(data_dir),
        allow_download=allow_download,
        n_bootstrap=n_bootstrap,
        progress=progress,
        retry_failed=retry_failed,
        **settings,
    )
    return execute(config, benchmark=benchmark_object,
                   model=None if isinstance(model_object, str) else model_object, judge=judge_object)
