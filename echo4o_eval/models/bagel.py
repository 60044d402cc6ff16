"""Bagel / Echo-4o checkpoints as an ImageModel (``--model bagel:PATH`` or a checkpoint folder).

The checkpoint folder holds ``llm_config.json``, ``vit_config.json``, ``ae.safetensors`` (FLUX VAE),
``ema.safetensors`` and tokenizer files; it may also be a Hub repo id (``bagel:Yejy53/Echo-4o``,
aliases ``echo4o`` and ``bagel``), downloaded with huggingface_hub (:func:`resolve_checkpoint`).
Bagel's code comes from a checkout of https://github.com/ByteDance-Seed/Bagel (option
``bagel_repo`` or env ``ECHO4O_BAGEL_REPO``) or, by default, from the pinned archive that
:mod:`echo4o_eval.models.bagel_code` downloads and caches; it is imported lazily under the leak
policy of :mod:`echo4o_eval.models.bagel_checkout`. When flash-attn is not installed, Bagel's
``from flash_attn import flash_attn_varlen_func`` gets the PyTorch fallback of
:mod:`echo4o_eval.models.flash_attn_shim` (one warning about speed). The model is
built the way Bagel's inference notebook builds it: a Qwen2 Mixture-of-Transformers LLM, a SigLIP
ViT (last layer dropped, no rope, patch conv as linear), the FLUX VAE, ema weights in bfloat16.
Each request runs Bagel's interleaved inference on ``[reference images..., prompt]``.

Defaults per task (``GenerationRequest.params["task"]``), from the Bagel and Echo-4o papers and
Bagel's notebook; the request's params override them and model options override both:

=================  ================  ==================
setting            text_to_image     multi_reference
=================  ================  ==================
cfg_text_scale     4.0               4.0
cfg_img_scale      1.0               2.0
cfg_interval       [0.4, 1.0]        [0.0, 1.0]
cfg_renorm_type    global            text_channel
cfg_renorm_min     0.0               0.0
timestep_shift     3.0               3.0
num_timesteps      50                50
width x height     1024 x 1024       1024 x 1024 (Bagel uses the last reference's size)
=================  ================  ==================

``num_inference_steps``/``steps`` mean ``num_timesteps``, ``guidance_scale`` means
``cfg_text_scale``. Every setting used is recorded in ``Generation.params``. Seeds: Python,
NumPy and torch generators are seeded from ``GenerationRequest.seed`` before each image.

Bagel needs a CUDA GPU; without one loading stops with one clear error. flash-attn is optional.
Options: ``bagel_repo``, ``bagel_code_url``, ``bagel_code_sha256``, ``device`` (default: this rank's GPU; ``cpu`` only for stand-ins),
``device_map="auto"`` (spread one model over all visible GPUs, as the notebook does; single
process only), ``max_memory_per_gpu`` (with auto, default ``"80GiB"``), ``weights`` (default
``ema.safetensors``), ``offload_folder``, plus any generation setting above and ``think``.

Example::

    model = make_bagel_model("/ckpt/Echo-4o", {"bagel_repo": "/src/Bagel"})
    model.generate([request])  # writes request.output_path
"""

from __future__ import annotations

import ast
import inspect
import random
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from echo4o_eval.models.bagel_checkout import BagelCheckout, BagelSetupError, find_checkout
from echo4o_eval.models.flash_attn_shim import provide_flash_attn
from echo4o_eval.models.generation_params import normalize_params, task_of
from echo4o_eval.records.types import Generation, GenerationRequest, Status

TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "text_to_image": {
        "cfg_text_scale": 4.0, "cfg_img_scale": 1.0, "cfg_interval": [0.4, 1.0],
        "cfg_renorm_type": "global", "cfg_renorm_min": 0.0, "timestep_shift": 3.0,
        "num_timesteps": 50, "width": 1024, "height": 1024,
    },
    "multi_reference": {
        "cfg_text_scale": 4.0, "cfg_img_scale": 2.0, "cfg_interval": [0.0, 1.0],
        "cfg_renorm_type": "text_channel", "cfg_renorm_min": 0.0, "timestep_shift": 3.0,
        "num_timesteps": 50, "width": 1024, "height": 1024,
    },
}
BAGEL_NAMES = {"num_inference_steps": "num_timesteps", "guidance_scale": "cfg_text_scale"}
LOADING_OPTIONS = ("bagel_repo", "bagel_code_url", "bagel_code_sha256", "device", "device_map",
                   "max_memory_per_gpu", "weights", "offload_folder")
FLOATS = ("cfg_text_scale", "cfg_img_scale", "cfg_renorm_min", "timestep_shift", "text_temperature")
INTEGERS = ("num_timesteps", "width", "height", "max_think_token_n")
BOOLEANS = ("think", "do_sample")
NOT_PASSED = ("task", "metadata", "width", "height")  # for the adapter/runner; never passed on
# Modules that Bagel's notebook keeps on one device when the model is spread over GPUs.
SAME_DEVICE_MODULES = ("language_model.model.embed_tokens", "time_embedder", "latent_pos_embed",
                       "vae2llm", "llm2vae", "connector", "vit_pos_embed")


def _coerce(name: str, value: Any) -> Any:
    """Options may arrive as CLI strings: '4', '[0.4, 1.0]', '0.4,1.0', 'true'."""
    if not isinstance(value, str):
        return value
    if name in FLOATS:
        return float(value)
    if name in INTEGERS:
        return int(value)
    if name in BOOLEANS:
        return value.strip().lower() in ("1", "true", "yes", "on")
    if name == "cfg_interval":
        text = value.strip()
        parsed = ast.literal_eval(text if text.startswith("[") else f"[{text}]")
        return [float(v) for v in parsed]
    return value


def bagel_layer(params: Mapping[str, Any], source: str) -> dict[str, Any]:
    """One parameter layer in Bagel's names, values coerced.

    >>> bagel_layer({"steps": "30", "guidance": 5, "cfg_interval": "0,1"}, "options")
    {'num_timesteps': 30, 'cfg_text_scale': 5, 'cfg_interval': [0.0, 1.0]}
    """
    out = {}
    for name, value in normalize_params(params, source).items():
        name = BAGEL_NAMES.get(name, name)
        out[name] = _coerce(name, value)
    return out


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def check_runtime(device: str) -> None:
    """One clear error when a CUDA device is asked for but there is no GPU.

    flash-attn is not required: without it Bagel's ``flash_attn_varlen_func`` comes from
    :mod:`echo4o_eval.models.flash_attn_shim` (PyTorch attention, slower).
    """
    if not device.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise BagelSetupError("Bagel/Echo-4o needs a CUDA GPU: no CUDA GPU is visible "
                              "(torch.cuda.is_available() is False)")


def resolve_checkpoint(argument: str, options: Mapping[str, Any]) -> tuple[Path, dict[str, Any]]:
    """``(local folder, source)`` for a checkpoint given as a folder, a Hub id or an alias.

    A Hub id (``ORG/NAME[@REVISION]``, or the aliases ``echo4o``/``bagel``) is downloaded with
    huggingface_hub (only the files Bagel loads); ``source`` then holds the repo and the commit
    sha of the snapshot, which enter the model identity.

    >>> resolve_checkpoint("/nonexistent/dir", {})
    Traceback (most recent call last):
    ...
    echo4o_eval.models.bagel_checkout.BagelSetupError: /nonexistent/dir is neither an existing checkpoint folder nor a Hub repo id (ORG/NAME, echo4o or bagel)
    """
    from echo4o_eval.models.hub import (HubError, download_snapshot, expand_alias,
                                        looks_like_repo_id, split_revision)

    path = Path(argument).expanduser()
    if path.exists():
        return path, {"path": str(path.absolute())}
    spec = expand_alias(argument)
    if not looks_like_repo_id(spec):
        raise BagelSetupError(f"{argument} is neither an existing checkpoint folder nor a Hub repo "
                              "id (ORG/NAME, echo4o or bagel)")
    repo_id, revision = split_revision(spec)
    patterns = ["*.json", "*.txt", "*.model", "ae.safetensors",
                str(options.get("weights", "ema.safetensors"))]
    try:
        folder, sha = download_snapshot(repo_id, revision, patterns)
    except HubError as exc:
        raise BagelSetupError(str(exc)) from exc
    return folder, {"hub_repo": repo_id, "revision": sha, "requested_revision": revision}


class BagelModel:
    """ImageModel over Bagel's InterleaveInferencer (see the module docstring)."""

    batch_size = 1  # Bagel's interleaved inference takes one conversation at a time

    def __init__(self, checkpoint: str, options: Mapping[str, Any] | None = None) -> None:
        from echo4o_eval.distributed import select_device
        from echo4o_eval.models.resolve import bagel_checkpoint_problems

        options = dict(options or {})
        self.id = f"bagel:{checkpoint}"
        self.device_map_mode = str(options.get("device_map", "single"))
        requested = options.get("device")
        if self.device_map_mode not in ("single", "auto"):
            raise ValueError(f"device_map must be 'single' or 'auto', not {self.device_map_mode!r}")
        if self.device_map_mode == "auto":
            from echo4o_eval.distributed import rank_info

            if rank_info().is_distributed:
                raise BagelSetupError(
                    "device_map=auto spreads one model over every visible GPU, but this is one of "
                    "several ranks (each loads its own model on its own GPU): drop device_map"
                )
            self.device = "cuda"
        elif requested in (None, "", "auto"):  # Bagel is a GPU model: never fall back to the CPU
            self.device = select_device(None, "cuda" if not _cuda_available() else None)
        else:
            self.device = str(requested)
        check_runtime(self.device)
        repo, self.code_source = find_checkout(options)
        self.checkout = BagelCheckout(repo)
        self.checkpoint, self.checkpoint_source = resolve_checkpoint(str(checkpoint), options)
        # Hub snapshots: the repo and commit sha the weights came from (for the model identity)
        self.hub_repo = self.checkpoint_source.get("hub_repo")
        self.hub_revision = self.checkpoint_source.get("revision")
        problems = bagel_checkpoint_problems(self.checkpoint)
        if problems:
            raise BagelSetupError(f"{self.checkpoint} is not a Bagel/Echo-4o checkpoint: "
                                  + "; ".join(problems))
        self.weights = str(options.get("weights", "ema.safetensors"))
        self.overrides = bagel_layer(
            {k: v for k, v in options.items() if k not in LOADING_OPTIONS}, "model options"
        )
        import torch

        self._torch = torch
        if self.device.startswith("cuda:"):
            torch.cuda.set_device(self.device)  # Bagel's code says 'cuda': make it this rank's GPU
        with self.checkout.active(), provide_flash_attn() as shimmed:
            self.inferencer = self._build(options)
        self.attention = "pytorch fallback for flash-attn" if shimmed else "flash-attn"
        accepted = set(inspect.signature(self.inferencer.interleave_inference).parameters)
        self._accepted = accepted - {"self", "input_lists"}
        unknown = sorted(k for k in self.overrides if k not in self._accepted and k not in NOT_PASSED)
        if unknown:
            import difflib

            known = sorted(self._accepted | set(LOADING_OPTIONS))
            hints = [name + "".join(f" (did you mean {c!r}?)" for c in difflib.get_close_matches(name, known, 1))
                     for name in unknown]
            raise ValueError(f"Bagel's interleave_inference takes no setting {', '.join(hints)} "
                             f"(it takes: {', '.join(sorted(self._accepted))}; loading options: "
                             f"{', '.join(LOADING_OPTIONS)})")

    def _build(self, options: Mapping[str, Any]):
        """Build model, VAE, tokenizer and inferencer as Bagel's inference notebook does."""
        torch = self._torch
        from accelerate import infer_auto_device_map, init_empty_weights, load_checkpoint_and_dispatch

        bagel = self.checkout.module("modeling.bagel")
        qwen2 = self.checkout.module("modeling.qwen2")
        autoencoder = self.checkout.module("modeling.autoencoder")
        transforms = self.checkout.module("data.transforms")
        data_utils = self.checkout.module("data.data_utils")
        inferencer_module = self.checkout.module("inferencer")
        folder = self.checkpoint

        llm_config = bagel.Qwen2Config.from_json_file(str(folder / "llm_config.json"))
        llm_config.qk_norm = True
        llm_config.tie_word_embeddings = False
        llm_config.layer_module = "Qwen2MoTDecoderLayer"
        vit_config = bagel.SiglipVisionConfig.from_json_file(str(folder / "vit_config.json"))
        vit_config.rope = False
        vit_config.num_hidden_layers -= 1  # Bagel uses the ViT without its last layer
        vae_model, vae_config = autoencoder.load_ae(local_path=str(folder / "ae.safetensors"))
        config = bagel.BagelConfig(
            visual_gen=True, visual_und=True, llm_config=llm_config, vit_config=vit_config,
            vae_config=vae_config, vit_max_num_patch_per_side=70,
            connector_act="gelu_pytorch_tanh", latent_patch_size=2, max_latent_size=64,
        )
        with init_empty_weights():
            language_model = bagel.Qwen2ForCausalLM(llm_config)
            vit_model = bagel.SiglipVisionModel(vit_config)
            model = bagel.Bagel(language_model, vit_model, config)
            model.vit_model.vision_model.embeddings.convert_conv2d_to_linear(vit_config, meta=True)
        tokenizer = qwen2.Qwen2Tokenizer.from_pretrained(str(folder))
        tokenizer, new_token_ids, _ = data_utils.add_special_tokens(tokenizer)

        if self.device_map_mode == "auto":
            memory = str(options.get("max_memory_per_gpu", "80GiB"))
            device_map = infer_auto_device_map(
                model, max_memory={i: memory for i in range(torch.cuda.device_count())},
                no_split_module_classes=["Bagel", "Qwen2MoTDecoderLayer"],
            )
            first = device_map.get(SAME_DEVICE_MODULES[0], "cuda:0")
            for name in SAME_DEVICE_MODULES:
                device_map[name] = first
        else:
            device_map = {"": self.device}
        self._offload_folder = options.get("offload_folder") or tempfile.mkdtemp(prefix="bagel-offload-")
        model = load_checkpoint_and_dispatch(
            model, checkpoint=str(folder / self.weights), device_map=device_map,
            offload_buffers=True, dtype=torch.bfloat16, force_hooks=True,
            offload_folder=str(self._offload_folder),
        ).eval()
        if hasattr(vae_model, "to") and self.device_map_mode != "auto":
            vae_model = vae_model.to(self.device)
        return inferencer_module.InterleaveInferencer(
            model=model, vae_model=vae_model, tokenizer=tokenizer,
            vae_transform=transforms.ImageTransform(1024, 512, 16),
            vit_transform=transforms.ImageTransform(980, 224, 14),
            new_token_ids=new_token_ids,
        )

    def settings(self, request: GenerationRequest) -> dict[str, Any]:
        """Every setting for one request: task defaults < request params < model options."""
        task = task_of(request.params, request.reference_images)
        merged = {**TASK_DEFAULTS[task], "task": task}
        merged.update(bagel_layer(request.params, "request params"))
        merged.update(self.overrides)
        return merged

    def _seed(self, seed: int) -> None:
        import numpy

        random.seed(seed)
        numpy.random.seed(seed % 2**32)
        self._torch.manual_seed(seed)
        if self._torch.cuda.is_available():
            self._torch.cuda.manual_seed_all(seed)

    def _one(self, request: GenerationRequest) -> Generation:
        try:
            settings = self.settings(request)
        except ValueError as exc:
            return Generation(request.sample_id, request.image_index, request.seed,
                              Status.GENERATION_ERROR, error=f"bad generation params: {exc}")
        call = {k: v for k, v in settings.items() if k in self._accepted and k not in NOT_PASSED}
        call["image_shapes"] = (int(settings["height"]), int(settings["width"]))
        recorded = {k: v for k, v in settings.items() if k != "metadata"}
        recorded["image_shapes"] = list(call["image_shapes"])
        ignored = sorted(k for k in settings if k not in self._accepted and k not in NOT_PASSED)
        if ignored:
            recorded["ignored_params"] = ignored
        started = time.perf_counter()
        try:
            from PIL import Image

            inputs: list[Any] = []
            for path in request.reference_images:
                with Image.open(path) as image:
                    inputs.append(image.convert("RGB"))
            inputs.append(request.prompt)
            with self.checkout.active(), provide_flash_attn():
                self._seed(int(request.seed))
                outputs = self.inferencer.interleave_inference(inputs, **call)
            images = [o for o in outputs if isinstance(o, Image.Image)]
            if not images:
                raise RuntimeError("Bagel's interleaved inference returned no image")
            texts = [o for o in outputs if isinstance(o, str)]
            if texts:
                recorded["thinking"] = texts[-1]
            recorded["output_size"] = list(images[-1].size)
            target = Path(request.output_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial")
            images[-1].save(partial, format="PNG")
            partial.replace(target)
        except Exception as exc:  # a failed image is a per-sample status, never a crashed run
            return Generation(request.sample_id, request.image_index, request.seed,
                              Status.GENERATION_ERROR, params=recorded,
                              error=f"{type(exc).__name__}: {exc}")
        return Generation(request.sample_id, request.image_index, request.seed, Status.OK,
                          image_path=str(target), params=recorded,
                          usage={"seconds": time.perf_counter() - started})

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """One Generation per request, in order; failures are statuses."""
        return [self._one(request) for request in requests]

    def describe(self) -> Mapping[str, Any]:
        """Adapter settings for the run manifest."""
        return {
            "adapter": "bagel",
            "checkpoint": str(self.checkpoint),
            "checkpoint_source": dict(self.checkpoint_source),
            "weights": self.weights,
            "bagel_repo": str(self.checkout.repo),
            "bagel_code": dict(self.code_source),
            "attention": self.attention,
            "device": self.device,
            "device_map": self.device_map_mode,
            "dtype": "bfloat16",
            "task_defaults": TASK_DEFAULTS,
            "overrides": dict(self.overrides),
        }

    def identity(self) -> dict[str, Any]:
        """The checkpoint folder's content signature (see :mod:`echo4o_eval.models.identity`);
        for a Hub download, the repo and the commit sha of the snapshot."""
        from echo4o_eval.models.identity import checkpoint_signature, resolved_hub_identity

        if self.hub_repo and self.hub_revision:  # the same dict identity.hub_identity gives
            return resolved_hub_identity(self.hub_repo, self.checkpoint_source.get("requested_revision"),
                                         self.hub_revision)
        return checkpoint_signature(self.checkpoint)

    def accepted_params(self) -> set[str]:
        """Generation parameter names Bagel uses (interleave_inference's settings and aliases)."""
        return set(self._accepted) | set(BAGEL_NAMES) | {"steps", "guidance", "resolution", *NOT_PASSED}

    def close(self) -> None:
        """Drop the inferencer and empty the CUDA cache."""
        self.inferencer = None
        if self._torch.cuda.is_available():
            self._torch.cuda.empty_cache()


def make_bagel_model(argument: str, options: Mapping[str, Any]) -> BagelModel:
    """Registry factory for ``bagel:PATH_OR_HUB_ID`` (and bare checkpoint folders, Hub ids)."""
    if not argument:
        raise ValueError("bagel needs a checkpoint: bagel:PATH, bagel:ORG/NAME, echo4o or bagel")
    return BagelModel(argument, options)
