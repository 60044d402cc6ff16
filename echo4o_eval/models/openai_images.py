"""Image-API model adapter (``openai:MODEL``): ``images.generate`` for text-to-image and
``images.edit`` with every reference image for multi-reference tasks, through the shared API
engine (concurrency, rate limits, retries, response cache, usage and cost).

Options are the fields of :class:`OpenAIImageOptions` (CLI text is read for each field's type;
an unknown name or a value of the wrong type is an error): base_url, api_key_env (name of the
key's env var), concurrency, rpm, max_retries, timeout, cache (on by default: every reply is
kept in ``<cache_dir>/responses.sqlite``, default ``$ECHO4O_CACHE_DIR/api``, so an image is
paid for once; ``cache=off`` disables it), cache_dir, prices, batch_size, backoff_base,
backoff_cap, and request parameters passed to the API when set: size, quality, background, output_format,
output_compression, moderation, input_fidelity, style, response_format. Image APIs take no
seed: the seed only separates the cache entries of a prompt's several images, and is recorded
as not used. A moderation refusal becomes ``refused``; other failures ``generation_error``,
with the calls and cost of a billed reply kept (the run's usage counts them after a retry too).
A billed reply whose image cannot be decoded stays in the response cache: with the cache on, a
retry replays it, and its error says so.

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
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from echo4o_eval.adapter_options import adapter_options
from echo4o_eval.api.engine import ApiCall, ApiEngine, CallResult, EngineConfig, cache_path_from
from echo4o_eval.records.types import Generation, GenerationRequest, Status

@dataclass(frozen=True)
class OpenAIImageOptions:
    """Settings of the ``openai:MODEL`` image model (``--model-option KEY=VALUE``; CLI text is
    read for each field's type). An unknown name is an error with a did-you-mean. The request
    parameters (size to response_format) are sent to the API only when set."""

    base_url: str | None = None  # an OpenAI-compatible server; default the OpenAI API
    api_key_env: str = "OPENAI_API_KEY"  # NAME of the env var holding the key (never the key)
    concurrency: int = 4  # requests in flight at most
    rpm: float | None = None  # requests per minute at most
    max_retries: int = 6  # retries of a failed call (429, 5xx, timeouts)
    timeout: float = 300.0  # seconds per request
    cache: str = "on"  # reply cache; off / false / no / 0 disable it
    cache_dir: str | None = None  # default $ECHO4O_CACHE_DIR/api or ~/.cache/echo4o-eval/api
    prices: Any = None  # USD per image or token: a mapping, or a JSON/YAML file
    batch_size: int = 16  # requests the runner hands over at once
    backoff_base: float = 1.0  # seconds: exponential back-off between retries starts here
    backoff_cap: float = 60.0  # and never waits longer than this
    size: str | None = None  # e.g. "1024x1024"
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None
    output_compression: int | None = None
    moderation: str | None = None
    input_fidelity: str | None = None
    style: str | None = None
    response_format: str | None = None


REQUEST_PARAMS = ("size", "quality", "background", "output_format", "output_compression",
                  "moderation", "input_fidelity", "style", "response_format")
MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


class OpenAIImageModel:
    """ImageModel protocol over an OpenAI-compatible image API."""

    generates = True

    def __init__(self, model: str, options: Mapping[str, Any] | None = None) -> None:
        if not model:
            raise ValueError("the openai image model needs a model name: --model openai:MODEL")
        settings = adapter_options(OpenAIImageOptions, options, "openai image model option")
        self.settings = settings
        self.model = model
        self.id = f"openai:{model}"
        self.batch_size = settings.batch_size
        self.request_params = {name: getattr(settings, name) for name in REQUEST_PARAMS
                               if getattr(settings, name) is not None}
        self.engine = ApiEngine(EngineConfig(
            model=model, base_url=settings.base_url, api_key_env=settings.api_key_env,
            concurrency=settings.concurrency, requests_per_minute=settings.rpm,
            max_retries=settings.max_retries, parse_retries=0, timeout=settings.timeout,
            backoff_base=settings.backoff_base, backoff_cap=settings.backoff_cap,
            cache_path=cache_path_from({"cache": settings.cache, "cache_dir": settings.cache_dir}),
            prices=settings.prices,
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
                          params=self._used(request), usage=_usage(result) if result else {},
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
            where = (" (replayed from the response cache, so --retry-failed gets the same reply; "
                     "--model-option cache=off asks the server again)") if result.cached else ""
            return self._failed(request, Status.GENERATION_ERROR, f"bad image in reply: {exc}{where}", result)
        return Generation(request.sample_id, request.image_index, request.seed, Status.OK,
                          image_path=str(target), params=self._used(request), usage=_usage(result),
                          cost_usd=result.cost_usd)

    def describe(self) -> dict[str, Any]:
        """Settings for the manifest (the key's variable name, never the key)."""
        return {"id": self.id, "model": self.model, "request_params": dict(self.request_params),
                "engine": self.engine.describe(), "batch_size": self.batch_size}

    def close(self) -> None:
        """Close the API engine (its reply cache)."""
        self.engine.close()


def _usage(result: CallResult) -> dict[str, Any]:
    """Tokens of the replies fetched now, and the requests the server received (paid even
    when the generation then failed)."""
    return {**result.usage, "api_calls": result.calls, "cached": result.cached}


def make_openai_image_model(argument: str, options: Mapping[str, Any]) -> OpenAIImageModel:
    """Registry factory for ``openai:MODEL``."""
    return OpenAIImageModel(argument, options)
