"""Image-API model adapter (``openai:MODEL``): ``images.generate`` for text-to-image and
``images.edit`` with every reference image for multi-reference tasks, through the shared API
engine (concurrency, rate limits, retries, response cache, usage and cost).

Options (CLI strings are coerced): base_url, api_key_env (name of the key's env var), concurrency,
rpm, max_retries, timeout, cache (on by default: every reply is kept in
``<cache_dir>/responses.sqlite``, default ``$ECHO4O_CACHE_DIR/api``, so an image is paid for
once; ``cache=off`` disables it), cache_dir, prices, batch_size, and request
parameters passed to the API as given: size, quality, background, output_format,
output_compression, moderation, input_fidelity, style, response_format. Image APIs take no
seed: the seed only separates the cache entries of a prompt's several images, and is recorded
as not used. A moderation refusal becomes ``refused``; other failures ``generation_error``.

Example:
    >>> model = make_openai_image_model("gpt-image-1", {"size": "1024x1024", "cache": "off"})
    >>> model.id, model.describe()["request_params"]
    ('openai:gpt-image-1', {'size': '1024x1024'})
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import urllib.request
from pathlib import Path
from typing import Any, Mapping, Sequence

from echo4o_eval.api.engine import ApiCall, ApiEngine, CallResult, EngineConfig, cache_path_from
from echo4o_eval.records.types import Generation, GenerationRequest, Status

REQUEST_PARAMS = ("size", "quality", "background", "output_format", "output_compression",
                  "moderation", "input_fidelity", "style", "response_format")
ENGINE_OPTIONS = {"base_url": str, "api_key_env": str, "concurrency": int, "rpm": float,
                  "max_retries": int, "timeout": float, "cache": str, "cache_dir": str, "prices": None,
                  "batch_size": int, "backoff_base": float, "backoff_cap": float}
MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


class OpenAIImageModel:
    """ImageModel protocol over an OpenAI-compatible image API."""

    generates = True

    def __init__(self, model: str, options: Mapping[str, Any] | None = None) -> None:
        if not model:
            raise ValueError("the openai image model needs a model name: --model openai:MODEL")
        options = dict(options or {})
        unknown = sorted(set(options) - set(ENGINE_OPTIONS) - set(REQUEST_PARAMS))
        if unknown:
            raise ValueError(f"unknown openai image option(s) {unknown}; known: "
                             f"{sorted(set(ENGINE_OPTIONS) | set(REQUEST_PARAMS))}")
        for name, kind in ENGINE_OPTIONS.items():
            if name in options and kind is not None and options[name] is not None:
                options[name] = kind(options[name])
        if "output_compression" in options:
            options["output_compression"] = int(options["output_compression"])
        self.model = model
        self.id = f"openai:{model}"
        self.batch_size = options.get("batch_size", 16)
        self.request_params = {k: options[k] for k in REQUEST_PARAMS if k in options}
        self.engine = ApiEngine(EngineConfig(
            model=model, base_url=options.get("base_url"),
            api_key_env=options.get("api_key_env", "OPENAI_API_KEY"),
            concurrency=options.get("concurrency", 4), requests_per_minute=options.get("rpm"),
            max_retries=options.get("max_retries", 6), parse_retries=0,
            timeout=options.get("timeout", 300.0),
            backoff_base=options.get("backoff_base", 1.0), backoff_cap=options.get("backoff_cap", 60.0),
            cache_path=cache_path_from(options),
            prices=options.get("prices"),
        ))

    def _call(self, request: GenerationRequest) -> ApiCall:
        payload: dict[str, Any] = {"prompt": request.prompt, "n": 1, **self.request_params}
        key = {**payload, "seed": request.seed}
        if not request.reference_images:
            return ApiCall(kind="images.generate", payload=payload, key_payload=key)
        files, digests = [], []
        for path in request.reference_images:
            data = Path(path).read_bytes()
            files.append((Path(path).name, data, MIME.get(Path(path).suffix.lower(), "image/png")))
            digests.append(hashlib.sha256(data).hexdigest())
        payload["image"] = files if len(files) > 1 else files[0]
        return ApiCall(kind="images.edit", payload=payload, key_payload={**key, "images": digests})

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """One Generation per request; the image is written (as PNG) to ``output_path``."""
        calls, errors = [], {}
        for i, request in enumerate(requests):
            try:
                calls.append(self._call(request))
            except OSError as exc:
                errors[i] = f"cannot read reference image: {exc}"
                calls.append(None)
        results = iter(self.engine.run_all([c for c in calls if c is not None]))
        out = []
        for i, (request, call) in enumerate(zip(requests, calls)):
            if call is None:
                out.append(self._failed(request, Status.GENERATION_ERROR, errors[i]))
            else:
                out.append(self._generation(request, call, next(results)))
        return out

    def _failed(self, request: GenerationRequest, status: Status, error: str, result=None) -> Generation:
        return Generation(request.sample_id, request.image_index, request.seed, status, error=error,
                          params=self._used(request), usage=dict(result.usage) if result else {},
                          cost_usd=result.cost_usd if result else None)

    def _used(self, request: GenerationRequest) -> dict[str, Any]:
        return {"model": self.model, **self.request_params, "seed_used": False,
                "reference_images": len(request.reference_images)}

    def _generation(self, request: GenerationRequest, call: ApiCall, result: CallResult) -> Generation:
        if result.status == "refused":
            return self._failed(request, Status.REFUSED, result.error or "refused", result)
        if result.status != "ok":
            return self._failed(request, Status.GENERATION_ERROR, result.error or result.status, result)
        try:
            item = result.reply["data"][0]
            if item.get("b64_json"):
                data = base64.b64decode(item["b64_json"])
            elif item.get("url"):
                with urllib.request.urlopen(item["url"], timeout=120) as response:
                    data = response.read()
            else:
                raise ValueError("reply has neither b64_json nor url")
            from PIL import Image

            with Image.open(io.BytesIO(data)) as image:
                image.load()
                target = Path(request.output_path)
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(target.name + ".part")
                image.save(tmp, format="PNG")
                os.replace(tmp, target)
        except Exception as exc:  # a malformed image reply is this sample's failure, not the run's
            return self._failed(request, Status.GENERATION_ERROR, f"bad image in reply: {exc}", result)
        usage = {**result.usage, "api_calls": result.calls, "cached": result.cached}
        return Generation(request.sample_id, request.image_index, request.seed, Status.OK,
                          image_path=str(target), params=self._used(request), usage=usage,
                          cost_usd=result.cost_usd)

    def describe(self) -> dict[str, Any]:
        """Settings for the manifest (the key's variable name, never the key)."""
        return {"id": self.id, "model": self.model, "request_params": dict(self.request_params),
                "engine": self.engine.describe(), "batch_size": self.batch_size}

    def close(self) -> None:
        """Close the API engine (its reply cache)."""
        self.engine.close()


def make_openai_image_model(argument: str, options: Mapping[str, Any]) -> OpenAIImageModel:
    """Registry factory for ``openai:MODEL``."""
    return OpenAIImageModel(argument, options)
