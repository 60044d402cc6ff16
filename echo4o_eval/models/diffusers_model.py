"""Any diffusers pipeline as an ImageModel: text-to-image, and image-conditioned where it can.

``--model diffusers:HUB_ID_OR_PATH`` (or a path holding ``model_index.json``) loads the pipeline
with ``DiffusionPipeline.from_pretrained``. Requests are batched (``batch_size`` option, default
1): requests with the same settings share one pipeline call, each image with its own
``torch.Generator`` seeded from ``GenerationRequest.seed``, so an image does not depend on the
batch it was made in. Images are written as PNG to ``GenerationRequest.output_path``.

Requests with reference images (multi-reference tasks) go one at a time to pipelines whose call
takes input images (an ``image`` or ``input_images`` argument: FLUX Kontext, Qwen-Image-Edit,
OmniGen, image-to-image pipelines...); other pipelines answer them with a GENERATION_ERROR that says
the pipeline takes no images. An exception inside one batch becomes a GENERATION_ERROR for that
batch's requests; the run goes on.

Options (``resolve_model(spec, options)``): ``device`` (default: this rank's GPU, else cpu),
``dtype`` (``auto`` = bfloat16 on GPU, float32 on CPU; or float16/bfloat16/float32), ``batch_size``,
``pipeline_class`` (a diffusers class name overriding model_index.json), ``variant`` (weights
variant such as ``fp16``), ``generator_device`` (``cpu``, the default, gives the same noise on every
device), ``max_reference_images`` (requests with more reference images fail with a clear status;
set it to 1 for pipelines that take a single input image, which otherwise may silently use only
the first or treat the images as a batch), ``cpu_offload`` (true: keep components on the CPU and
move each to the GPU while it runs, for pipelines larger than the GPU's memory). Every other option is a generation setting that overrides both the request's params and
the pipeline defaults: ``width``, ``height``, ``num_inference_steps``, ``guidance_scale``,
``negative_prompt`` or any argument of the pipeline's ``__call__`` (e.g. ``true_cfg_scale``).

Example (builds a tiny random pipeline, see tests/tiny_pipelines.py)::

    model = make_diffusers_model("/tmp/tiny_sd3", {"batch_size": 4, "num_inference_steps": 2})
    generations = model.generate(requests)
"""

from __future__ import annotations

import difflib
import inspect
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from echo4o_eval.config import typed_options
from echo4o_eval.models.generation_params import merge_params, normalize_params
from echo4o_eval.optional import require_module
from echo4o_eval.records.types import Generation, GenerationRequest, Status

LOADING_OPTIONS = ("device", "dtype", "batch_size", "pipeline_class", "variant", "generator_device",
                   "max_reference_images", "cpu_offload")
INTEGER_PARAMS = ("width", "height", "num_inference_steps", "batch_size", "max_reference_images")
FLOAT_PARAMS = ("guidance_scale", "true_cfg_scale", "strength")
IMAGE_ARGUMENTS = ("input_images", "image")  # call arguments that take conditioning images
NOT_PASSED = ("task", "metadata")  # request params for the adapter or runner, never passed on


@dataclass(frozen=True)
class DiffusersLoadingOptions:
    """How the pipeline is loaded and run (``--model-option``); other keys are generation settings."""

    device: str | None = None  # default: this rank's GPU, else cpu
    dtype: str = "auto"  # auto = bfloat16 on GPU, float32 on CPU; float16/bfloat16/float32
    batch_size: int = 1
    pipeline_class: str | None = None  # a diffusers class name overriding model_index.json
    variant: str | None = None  # weights variant such as fp16
    generator_device: str = "cpu"  # cpu gives the same noise on every device
    max_reference_images: int | None = None
    cpu_offload: bool = False


def _coerce(name: str, value: Any) -> Any:
    """Options may arrive as CLI strings; known numeric settings are converted."""
    if isinstance(value, str):
        if name in INTEGER_PARAMS:
            return int(value)
        if name in FLOAT_PARAMS:
            return float(value)
    return value


def _torch_dtype(torch, name: str, device: str):
    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
              "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if name not in dtypes:
        raise ValueError(f"dtype must be auto, float32, float16 or bfloat16, not {name!r}")
    return dtypes[name]


def _rgb(path: str):
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def _save_png(image, output_path: str) -> None:
    """Write atomically: a crash never leaves a half-written PNG at the fixed path."""
    target = Path(output_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.partial")
    image.save(temporary, format="PNG")
    temporary.replace(target)


class DiffusersModel:
    """ImageModel over one diffusers pipeline (see the module docstring)."""

    def __init__(
        self, source: str, options: Mapping[str, Any] | None = None, pipeline: Any = None
    ) -> None:
        """Load ``source``; or, with ``pipeline`` (an already built pipeline object, e.g. in a
        benchmark script or a training loop), use that object - on its own device and dtype
        unless the options name them - and keep ``source`` only as its name."""
        from echo4o_eval.distributed import select_device

        options = {name: _coerce(name, value) for name, value in (options or {}).items()}
        loading = typed_options(DiffusersLoadingOptions, {k: v for k, v in options.items() if k in LOADING_OPTIONS},
                                what="diffusers loading option")
        options.update({k: getattr(loading, k) for k in LOADING_OPTIONS if k in options})
        self.source = source
        self.id = f"diffusers:{source}"
        self.batch_size = int(options.get("batch_size", 1))
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {self.batch_size}")
        self.overrides = normalize_params(
            {k: v for k, v in options.items() if k not in LOADING_OPTIONS}, "model options"
        )
        torch = require_module("torch", extra="gen")
        diffusers = require_module("diffusers", extra="gen")
        self._torch = torch
        self.device = select_device(None, options.get("device"))
        self.dtype = _torch_dtype(torch, str(options.get("dtype", "auto")), self.device)
        self.generator_device = str(options.get("generator_device", "cpu"))
        limit = options.get("max_reference_images")
        self.max_reference_images = None if limit in (None, "") else int(limit)
        self.cpu_offload = False
        self.in_memory = pipeline is not None
        self._identity: dict[str, Any] | None = None
        if pipeline is None:
            self.pipeline = self._load(diffusers, options)
        else:  # the caller's pipeline (e.g. being trained) keeps its device and dtype unless told
            if options.get("device") is None and getattr(pipeline, "device", None) is not None:
                self.device = str(pipeline.device)
            if options.get("dtype") is None and getattr(pipeline, "dtype", None) is not None:
                self.dtype = pipeline.dtype
            self.pipeline = pipeline.to(self.device, self.dtype)
            self.pipeline.set_progress_bar_config(disable=True)
        self._call_parameters = set(inspect.signature(self.pipeline.__call__).parameters)
        self.image_argument = next((a for a in IMAGE_ARGUMENTS if a in self._call_parameters), None)
        unknown = sorted(k for k in self.overrides
                         if k not in self._call_parameters and k not in NOT_PASSED)
        if unknown:
            known = sorted((self._call_parameters - {"self"}) | set(LOADING_OPTIONS))
            hints = [name + "".join(f" (did you mean {c!r}?)" for c in difflib.get_close_matches(name, known, 1))
                     for name in unknown]
            raise ValueError(
                f"{type(self.pipeline).__name__} does not accept the option(s) {', '.join(hints)} "
                f"(its call takes: {', '.join(sorted(self._call_parameters - {'self'}))}; loading "
                f"options: {', '.join(LOADING_OPTIONS)})"
            )

    def _load(self, diffusers, options: Mapping[str, Any]):
        pipeline_class = diffusers.DiffusionPipeline
        if options.get("pipeline_class"):
            name = str(options["pipeline_class"])
            pipeline_class = getattr(diffusers, name, None)
            if pipeline_class is None:
                raise ValueError(f"diffusers has no pipeline class {name!r}")
        # diffusers renamed torch_dtype to dtype (the old name warns); use what this one knows.
        renamed = hasattr(getattr(diffusers.utils, "deprecation_utils", None), "_resolve_dtype")
        kwargs: dict[str, Any] = {"dtype" if renamed else "torch_dtype": self.dtype}
        if options.get("variant"):
            kwargs["variant"] = str(options["variant"])
        local = Path(self.source)
        if local.is_dir() and not (local / "model_index.json").is_file():
            raise FileNotFoundError(f"{local} is not a diffusers pipeline: it has no model_index.json")
        try:
            config = diffusers.DiffusionPipeline.load_config(self.source)
        except Exception as exc:
            raise FileNotFoundError(
                f"cannot read the diffusers pipeline {self.source!r} (a hub id or a folder with "
                f"model_index.json): {exc}"
            ) from exc
        # Components saved as [null, null] (e.g. SD3 without its T5 encoder) must be passed as None.
        for name, value in config.items():
            if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] is None:
                kwargs[name] = None
        pipeline = pipeline_class.from_pretrained(self.source, **kwargs)
        offload = str(options.get("cpu_offload", "false")).lower() in ("1", "true", "yes", "on")
        if offload and self.device.startswith("cuda"):
            # Components move to the GPU one at a time: large pipelines on small GPUs.
            pipeline.enable_model_cpu_offload(device=self.device)
        else:
            pipeline.to(self.device)
        self.cpu_offload = offload and self.device.startswith("cuda")
        pipeline.set_progress_bar_config(disable=True)
        return pipeline

    # ------------------------------------------------------------------ generation
    def _settings(self, request: GenerationRequest) -> tuple[dict[str, Any], list[str]]:
        """The pipeline arguments for one request, and request params the pipeline ignores."""
        merged = merge_params({}, request.params, self.overrides)
        call = {k: v for k, v in merged.items() if k in self._call_parameters}
        ignored = sorted(k for k in merged if k not in self._call_parameters and k not in NOT_PASSED)
        return call, ignored

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """One Generation per request, in order; failures are statuses."""
        results: list[Generation | None] = [None] * len(requests)
        groups: dict[str, list[int]] = {}
        prepared: dict[int, tuple[dict[str, Any], list[str]]] = {}
        for index, request in enumerate(requests):
            try:
                prepared[index] = self._settings(request)
            except ValueError as exc:
                results[index] = self._failure(request, {}, f"bad generation params: {exc}")
                continue
            if request.reference_images:
                groups[f"conditioned-{index}"] = [index]  # one at a time
            else:
                groups.setdefault(repr(sorted(prepared[index][0].items())), []).append(index)
        for indices in groups.values():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                call, ignored = prepared[chunk[0]]
                for index, generation in zip(
                    chunk, self._run([requests[i] for i in chunk], call, ignored)
                ):
                    results[index] = generation
        return results  # type: ignore[return-value]

    def _failure(self, request: GenerationRequest, call: Mapping[str, Any], error: str) -> Generation:
        return Generation(request.sample_id, request.image_index, request.seed,
                          Status.GENERATION_ERROR, params=dict(call), error=error)

    def _run(
        self, batch: list[GenerationRequest], call: dict[str, Any], ignored: list[str]
    ) -> list[Generation]:
        recorded = {**call, "pipeline": type(self.pipeline).__name__}
        if "task" in batch[0].params:
            recorded["task"] = batch[0].params["task"]
        if ignored:
            recorded["ignored_params"] = ignored
        conditioned = bool(batch[0].reference_images)
        if conditioned and self.image_argument is None:
            return [self._failure(r, recorded, f"{type(self.pipeline).__name__} takes no input "
                                  "images, but this request has reference images") for r in batch]
        if conditioned:
            recorded["reference_images"] = len(batch[0].reference_images)
            if self.max_reference_images is not None and (
                len(batch[0].reference_images) > self.max_reference_images
            ):
                return [self._failure(r, recorded, f"{len(r.reference_images)} reference images, "
                                      f"but max_reference_images is {self.max_reference_images}")
                        for r in batch]
        started = time.perf_counter()
        try:
            arguments = dict(call)
            if conditioned:
                request = batch[0]
                images = [_rgb(path) for path in request.reference_images]
                single = self.image_argument == "image" and len(images) == 1
                arguments[self.image_argument] = images[0] if single else images
                arguments["prompt"] = request.prompt
            else:
                arguments["prompt"] = [r.prompt for r in batch]
                if isinstance(arguments.get("negative_prompt"), str):
                    arguments["negative_prompt"] = [arguments["negative_prompt"]] * len(batch)
            arguments["generator"] = [
                self._torch.Generator(self.generator_device).manual_seed(int(r.seed)) for r in batch
            ]
            if "output_type" in self._call_parameters:
                arguments["output_type"] = "pil"
            with self._torch.inference_mode():
                images_out = list(self.pipeline(**arguments).images)
            if len(images_out) != len(batch):
                raise RuntimeError(
                    f"pipeline returned {len(images_out)} images for {len(batch)} request(s)"
                    + (f" with {len(batch[0].reference_images)} reference images; it may take "
                       "only one input image" if conditioned else "")
                )
            for request, image in zip(batch, images_out):
                _save_png(image, request.output_path)
        except Exception as exc:  # one batch's failure is a per-sample status, not a crash
            return [self._failure(r, recorded, f"{type(exc).__name__}: {exc}") for r in batch]
        seconds = time.perf_counter() - started
        return [
            Generation(r.sample_id, r.image_index, r.seed, Status.OK, image_path=r.output_path,
                       params=recorded, usage={"seconds": seconds / len(batch),
                                               "batch_size": len(batch)})
            for r in batch
        ]

    def describe(self) -> Mapping[str, Any]:
        """Adapter settings for the run manifest."""
        import diffusers

        return {
            "adapter": "diffusers",
            "source": self.source,
            "pipeline": type(self.pipeline).__name__,
            "device": self.device,
            "dtype": str(self.dtype).removeprefix("torch."),
            "batch_size": self.batch_size,
            "generator_device": self.generator_device,
            "image_argument": self.image_argument,
            "cpu_offload": self.cpu_offload,
            "overrides": dict(self.overrides),
            "diffusers_version": diffusers.__version__,
        }

    def identity(self) -> dict[str, Any] | None:
        """The weights: the folder's content signature or the hub revision; None in memory
        (a pipeline object passed in, e.g. during training: the caller names it)."""
        if self.in_memory:
            return None
        if self._identity is None:
            from echo4o_eval.models.identity import source_identity

            self._identity = source_identity(self.source)
        return self._identity

    def accepted_params(self) -> set[str]:
        """Generation parameter names this pipeline uses (its call's arguments and the aliases)."""
        return _params_of(self._call_parameters)

    def close(self) -> None:
        """Drop the pipeline and empty the CUDA cache."""
        self.pipeline = None
        if self._torch.cuda.is_available():
            self._torch.cuda.empty_cache()


def make_diffusers_model(argument: str, options: Mapping[str, Any]) -> DiffusersModel:
    """Registry factory for ``diffusers:HUB_ID_OR_PATH``."""
    if not argument:
        raise ValueError("diffusers needs a hub id or a path: diffusers:HUB_ID_OR_PATH")
    return DiffusersModel(argument, options)


def _params_of(call_parameters: set[str]) -> set[str]:
    from echo4o_eval.models.generation_params import ALIASES

    return (set(call_parameters) - {"self", "prompt", "generator", "output_type"}) | set(ALIASES) | {
        "resolution", "width", "height", *NOT_PASSED}


def pipeline_params(source: str, options: Mapping[str, Any]) -> set[str] | None:
    """The generation parameters the pipeline at ``source`` takes, read from its
    model_index.json and its class's call signature without loading any weights (None when the
    class cannot be told: the caller loads the pipeline and asks it)."""
    try:
        diffusers = require_module("diffusers", extra="gen")
        name = options.get("pipeline_class") or diffusers.DiffusionPipeline.load_config(source).get("_class_name")
        pipeline_class = getattr(diffusers, str(name), None)
        if pipeline_class is None:
            return None
        return _params_of(set(inspect.signature(pipeline_class.__call__).parameters))
    except Exception:  # unreadable config, hub offline: loading will say what is wrong
        return None
