"""Image-API model adapter (``openai:MODEL``): ``images.generate`` for text-to-image and
``images.edit`` with every reference image for multi-reference tasks, through the shared API
engine (concurrency, rate limits, retries, response cache, usage and cost).

Options are the fields of :class:`OpenAIImageOptions` (CLI text is read for each field's type;
an unknown name or a value of the wrong type is an error): base_url, api_key_env (name of the
key's env var), concurrency, rpm, max_retries, parse_retries, timeout, cache (on by default:
every reply is kept in ``<cache_dir>/responses.sqlite``, default ``$ECHO4O_CACHE_DIR/api``, so
an image is paid for once; ``cache=off`` disables it), cache_dir, prices, batch_size,
backoff_base, backoff_cap, and request parameters passed to the API when set: size, quality,
background, output_format, output_compression, moderation, input_fidelity, style,
response_format. Image APIs take no seed: the seed only separates the cache entries of a
prompt's several images, and is recorded as not used. A moderation refusal becomes
``refused``; other failures ``generation_error``, with the calls and cost of billed replies
kept (the run's usage counts them after a retry too).

Every reply's image is decoded as it arrives (``ApiCall.validate``): a reply without a usable
image (no image data, bad base64, an undecodable or empty image) is asked again at once, up to
``parse_retries`` times, each ask in its own cache slot. An image whose every ask failed is
asked again by a later ``--retry-failed`` run: the runner passes the image's retry round
(``GenerationRequest.retry_round``), which gives the call new cache slots (``r1.v0``, ...), as
the judge does; round 0 keeps the plain slots, so a finished run's re-run replays its replies
without a call. (A ``url`` reply is fetched when the image is saved; its failure is not
re-asked within the run.)

Example:
    >>> model = make_openai_image_model("gpt-image-1", {"size": "1024x1024", "cache": "off"})
    >>> model.id, model.describe()["request_params"]
    ('openai:gpt-image-1', {'size': '1024x1024'})
"""

from __future__ import annotations

import base64
import binascii
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
    parse_retries: int = 2  # re-asks after a billed reply whose image cannot be decoded
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
            max_retries=settings.max_retries, parse_retries=settings.parse_retries, timeout=settings.timeout,
            backoff_base=settings.backoff_base, backoff_cap=settings.backoff_cap,
            cache_path=cache_path_from({"cache": settings.cache, "cache_dir": settings.cache_dir}),
            prices=settings.prices,
        ))

    def _call(self, request: GenerationRequest) -> ApiCall:
        payload: dict[str, Any] = {"prompt": request.prompt, "n": 1, **self.request_params}
        key = {**payload, "seed": request.seed}
        # a retry round asks again in new cache slots (round 0: the plain ones, as before)
        slot = f"r{request.retry_round}.v0" if request.retry_round else "v0"
        if not request.reference_images:
            return ApiCall(kind="images.generate", payload=payload, key_payload=key,
                           validate=decode_reply, slot=slot)
        files, digests = [], []
        for path in request.reference_images:
            data = Path(path).read_bytes()
            files.append((Path(path).name, data, MIME.get(Path(path).suffix.lower(), "image/png")))
            digests.append(hashlib.sha256(data).hexdigest())
        payload["image"] = files if len(files) > 1 else files[0]
        return ApiCall(kind="images.edit", payload=payload, key_payload={**key, "images": digests},
                       validate=decode_reply, slot=slot)

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
        where = (" (replayed from the response cache: `run --retry-failed` in the run directory "
                 "that recorded this failure asks the server again, as does the model option "
                 "cache=off)") if result.cached else ""
        if result.status == "parse_error":  # every ask's image was unusable (decode_reply)
            detail = (result.error or "").removeprefix("unusable reply: ")
            asks = len(result.replies)
            return self._failed(request, Status.GENERATION_ERROR, f"bad image in reply "
                                f"({asks} ask{'s' if asks != 1 else ''}): {detail}{where}", result)
        if result.status != "ok":
            return self._failed(request, Status.GENERATION_ERROR, result.error or result.status, result)
        target = Path(request.output_path)
        image = result.value
        try:
            if image is None:  # a url reply: fetched and decoded now
                with urllib.request.urlopen(result.reply["data"][0]["url"], timeout=120) as response:
                    image = _open_image(response.read())
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            encoded = result.reply["data"][0].get("b64_json") if result.value is not None else None
            if image.format == "PNG" and encoded:  # already a PNG, decoded in full: keep its bytes
                tmp.write_bytes(base64.b64decode(encoded))  # (re-encoding costs ~0.4 s a 1024 px image)
            else:
                image.save(tmp, format="PNG")
            os.replace(tmp, target)
        except Exception as exc:  # a malformed image reply is this sample's failure, not the run's
            return self._failed(request, Status.GENERATION_ERROR, f"bad image in reply: {exc}{where}", result)
        finally:
            if image is not None:  # the decoded reply, or the image fetched from its url
                image.close()
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


def decode_reply(reply: Mapping[str, Any]):
    """``ApiCall.validate`` of an image reply: its first image, decoded in full (a PNG's
    chunks can be well-formed around a cut pixel stream, so a header check is not enough; the
    decoded image is what gets saved, so it is decoded once); None for a ``url`` reply (fetched
    when saved). ValueError when the reply holds no usable image, so the engine asks again.

        >>> import base64, io
        >>> from PIL import Image
        >>> buffer = io.BytesIO()
        >>> Image.new("RGB", (4, 3)).save(buffer, format="PNG")
        >>> decode_reply({"data": [{"b64_json": base64.b64encode(buffer.getvalue()).decode()}]}).size
        (4, 3)
        >>> decode_reply({"data": [{"b64_json": base64.b64encode(b"not an image").decode()}]})
        Traceback (most recent call last):
        ...
        ValueError: cannot decode the image: UnidentifiedImageError: cannot identify image file ...
    """
    items = reply.get("data")
    item = items[0] if isinstance(items, list) and items else None
    if not isinstance(item, Mapping):
        raise ValueError("the reply holds no image (empty data)")
    if item.get("b64_json"):
        try:
            data = base64.b64decode(item["b64_json"])
        except (binascii.Error, TypeError, ValueError) as exc:
            raise ValueError(f"b64_json is not base64: {exc}") from exc
        return _open_image(data)
    if isinstance(item.get("url"), str) and item["url"]:
        return None
    raise ValueError("the reply has neither b64_json nor url")


def _open_image(data: bytes):
    """The image in ``data``, fully decoded; ValueError when it cannot be, or is empty."""
    from PIL import Image

    if not data:
        raise ValueError("the image is empty (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:  # Pillow raises OSError, SyntaxError, DecompressionBombError...
        raise ValueError(f"cannot decode the image: {type(exc).__name__}: {exc}") from exc
    if 0 in image.size:
        image.close()
        raise ValueError(f"the image has zero size {image.size}")
    return image


def _usage(result: CallResult) -> dict[str, Any]:
    """Tokens of the replies fetched now, the requests the server received and the replies it
    sent now (``replies``: billed even when the image was unusable and asked again, or the
    generation then failed; replays from the cache are not counted), and ``unanswered``
    requests (sent, no reply) when there were any."""
    usage = {**result.usage, "api_calls": result.calls, "cached": result.cached,
             "replies": len(result.replies) - result.cached_replies}
    if result.unanswered:  # sent, no reply (timeout, broken connection): may have been billed
        usage["unanswered"] = result.unanswered
    return usage


def make_openai_image_model(argument: str, options: Mapping[str, Any]) -> OpenAIImageModel:
    """Registry factory for ``openai:MODEL``."""
    return OpenAIImageModel(argument, options)
