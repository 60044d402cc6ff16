"""The shared API engine: concurrent, rate-limited, retrying, cached calls to an
OpenAI-compatible server, with a plain synchronous facade.

Generic over request kinds (``"chat"``, ``"images.generate"``, ``"images.edit"``): the VLM
judge, the image-API model adapter and data generation all build :class:`ApiCall` records
and hand a list to :meth:`ApiEngine.run_all`, which returns one :class:`CallResult` each,
in order. Failures are results (``status`` api_error / parse_error / refused), never raises.

- bounded concurrency (``concurrency``) and client-side requests/tokens per minute;
- retries with exponential back-off and jitter on 429, 5xx, timeouts, connection errors and
  malformed bodies, honouring ``Retry-After`` / ``retry-after-ms``;
- ``ApiCall.validate`` raising ValueError re-asks the same request up to ``parse_retries``
  times; each reply is cached under its own slot, so re-runs replay without API calls;
- usage and estimated cost (see :mod:`echo4o_eval.api.prices`);
- the API key is read from the environment variable *named* by ``api_key_env`` only when a
  network call is actually needed, and is scrubbed from every error text. Without a key, a
  hosted provider (no ``base_url``, api.openai.com, Azure) stops the whole batch with one
  :class:`MissingApiKey` error naming the variable to set, before any request; any other
  ``base_url`` (a local server) proceeds without a key and logs one warning.

Example (everything served from cache, so no server and no key are needed):
    >>> import tempfile, os
    >>> cfg = EngineConfig(model="m", cache_path=os.path.join(tempfile.mkdtemp(), "c.sqlite"))
    >>> engine = ApiEngine(cfg)
    >>> call = ApiCall(kind="chat", payload={"messages": [{"role": "user", "content": "hi"}]})
    >>> engine.cache.put(engine.call_key(call), "v0.a0", {"choices": [{"message": {"content": "yo"}}]})
    >>> [r.status for r in engine.run_all([call])], engine.totals["calls"]
    (['ok'], 0)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from echo4o_eval.api.cache import ResponseCache, request_hash
from echo4o_eval.api.limits import RateLimiter, backoff_delay
from echo4o_eval.api.prices import estimate_cost, load_prices

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529}
REFUSAL_CODES = {"moderation_blocked", "content_policy_violation", "content_filter"}


log = logging.getLogger(__name__)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class MissingApiKey(RuntimeError):
    """No API key for a hosted provider (raised once, before any request is sent)."""


def needs_api_key(base_url: str | None) -> bool:
    """True for hosted providers that always want a key: the OpenAI API (no base_url or an
    openai.com host) and Azure; False for other servers (usually local ones).

        >>> needs_api_key(None), needs_api_key("https://x.openai.azure.com/openai/v1")
        (True, True)
        >>> needs_api_key("http://127.0.0.1:8000/v1")
        False
    """
    if not base_url:
        return True
    from urllib.parse import urlparse

    host = (urlparse(base_url if "//" in base_url else "//" + base_url).hostname or "").lower()
    return host == "openai.com" or host.endswith(".openai.com") or "azure" in host


def missing_key_message(api_key_env: str, base_url: str | None) -> str:
    """The error for a missing key: names the variable, never echoes a value that is not a
    variable name (it could be the key itself).

        >>> missing_key_message("sk-abc123-secret", None)
        'no API key for the OpenAI API: api_key_env must be the NAME of an environment variable holding the key (letters, digits, _), not the key itself'
    """
    where = base_url or "the OpenAI API"
    if not ENV_NAME.match(api_key_env or ""):
        return (f"no API key for {where}: api_key_env must be the NAME of an environment "
                "variable holding the key (letters, digits, _), not the key itself")
    return (f"no API key for {where}: set the environment variable {api_key_env} "
            "(or name another variable with the api_key_env option)")


class MalformedResponse(Exception):
    """The server answered 2xx with a body that is not the expected JSON (retryable)."""


@dataclass(frozen=True)
class EngineConfig:
    """Connection, throughput and retry settings (all recorded in run manifests)."""

    model: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    max_retries: int = 6  # transport retries per reply
    parse_retries: int = 2  # extra asks of the same request after an unusable reply
    timeout: float = 120.0  # seconds per HTTP request
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    retry_after_cap: float = 300.0
    cache_path: str | None = None  # None: no persistent cache
    prices: Any = None  # mapping or file path overriding the default price table

    def describe(self) -> dict[str, Any]:
        """Settings for the run manifest: the price table only as its path or a flag, and
        api_key_env masked when it is not a variable name (it might be the key itself)."""
        out = {k: v for k, v in self.__dict__.items() if k != "prices"}
        if not ENV_NAME.match(self.api_key_env or ""):
            out["api_key_env"] = "<not a variable name>"  # it might be the key itself
        out["prices_override"] = self.prices if isinstance(self.prices, str) else bool(self.prices)
        return out


@dataclass(frozen=True)
class ApiCall:
    """One logical request. ``payload`` holds the client method's keyword arguments except
    ``model``; ``key_payload`` (default: payload) is what is hashed for the cache and must be
    JSON-able (image edits put file digests there). ``slot`` separates votes."""

    kind: str
    payload: Mapping[str, Any]
    key_payload: Mapping[str, Any] | None = None
    estimated_tokens: int = 0
    validate: Callable[[dict], Any] | None = field(default=None, compare=False)
    slot: str = "v0"


@dataclass
class CallResult:
    """What came back for one ApiCall (``replies``: every reply received, last one last)."""

    status: str  # "ok", "api_error", "parse_error", "refused"
    replies: list[dict] = field(default_factory=list)
    value: Any = None  # validate() result of the accepted reply
    error: str | None = None
    calls: int = 0  # network requests made for this call, retries included
    cached: bool = False  # every reply came from the cache
    usage: dict[str, int] = field(default_factory=dict)
    cost_usd: float | None = None

    @property
    def reply(self) -> dict | None:
        """The last reply received, or None."""
        return self.replies[-1] if self.replies else None


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return float(ms) / 1000.0
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _add_usage(total: dict[str, int], usage: Mapping[str, Any] | None) -> None:
    for name, value in (usage or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            total[name] = total.get(name, 0) + value


class ApiEngine:
    """Runs ApiCalls against one model on one OpenAI-compatible server."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.cache = ResponseCache(config.cache_path) if config.cache_path else None
        self.prices = load_prices(config.prices)
        self.totals: dict[str, float] = {
            "calls": 0, "retries": 0, "cache_hits": 0, "replies": 0, "cost_usd": 0.0,
        }
        self.usage: dict[str, int] = {}  # tokens of replies fetched by this engine (not cache)
        self._warned_no_key = False

    # -- keys and secrets -------------------------------------------------------------
    def call_key(self, call: ApiCall) -> str:
        """Cache key: hash of (kind, model, base_url, full request incl. image bytes)."""
        body = call.key_payload if call.key_payload is not None else call.payload
        return request_hash(
            {"kind": call.kind, "model": self.config.model,
             "base_url": self.config.base_url or "", "request": body}
        )

    def _secret(self) -> str | None:
        name = self.config.api_key_env
        return (os.environ.get(name) or None) if name and ENV_NAME.match(name) else None

    def redact(self, text: str) -> str:
        """Remove the API key (if set) from a message."""
        key = self._secret()
        return text.replace(key, "***") if key and len(key) >= 4 else text

    def _make_client(self):
        from openai import AsyncOpenAI

        key = self._secret()
        if key is None:
            message = missing_key_message(self.config.api_key_env, self.config.base_url)
            if needs_api_key(self.config.base_url):
                raise MissingApiKey(message)
            if not self._warned_no_key:
                self._warned_no_key = True
                log.warning("%s; sending requests without a key (fine for a local server)", message)
            key = "not-needed"  # local OpenAI-compatible servers usually take no key
        return AsyncOpenAI(
            api_key=key, base_url=self.config.base_url, max_retries=0, timeout=self.config.timeout
        )

    # -- one network request ------------------------------------------------------------
    async def _send(self, client, call: ApiCall) -> dict:
        args = {"model": self.config.model, **call.payload}
        if call.kind == "chat":
            raw = await client.chat.completions.with_raw_response.create(**args)
        elif call.kind == "images.generate":
            raw = await client.images.with_raw_response.generate(**args)
        elif call.kind == "images.edit":
            raw = await client.images.with_raw_response.edit(**args)
        else:
            raise ValueError(f"unknown API call kind {call.kind!r}")
        try:
            data = json.loads(raw.text)
        except ValueError as exc:
            raise MalformedResponse(f"reply body is not JSON: {raw.text[:120]!r}") from exc
        if not isinstance(data, dict) or ("choices" not in data and "data" not in data):
            raise MalformedResponse(f"reply JSON lacks choices/data: {str(data)[:120]!r}")
        return data

    async def _fetch(self, get_client, call: ApiCall, sem, limiter, result: CallResult) -> dict:
        """One reply, with transport retries. Raises _Failed when retries are exhausted."""
        import openai

        attempt = 0
        while True:
            attempt += 1
            retry_after = None
            async with sem:
                await limiter.acquire(call.estimated_tokens)
                client = await get_client()
                result.calls += 1
                self.totals["calls"] += 1
                try:
                    return await self._send(client, call)
                except openai.APIStatusError as exc:
                    body = exc.body if isinstance(exc.body, dict) else {}
                    code = body.get("code") or (body.get("error") or {}).get("code") if isinstance(body, dict) else None
                    if code in REFUSAL_CODES:
                        raise _Failed("refused", f"refused by the API ({code}): {exc.message}")
                    if exc.status_code not in RETRYABLE_STATUS:
                        raise _Failed("api_error", f"HTTP {exc.status_code}: {exc.message}")
                    error = f"HTTP {exc.status_code}: {exc.message}"
                    retry_after = _retry_after(exc.response.headers)
                except (openai.APITimeoutError, openai.APIConnectionError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                except (MalformedResponse, openai.APIResponseValidationError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
            if attempt > self.config.max_retries:
                raise _Failed("api_error", f"gave up after {attempt} attempts; last error: {error}")
            self.totals["retries"] += 1
            if retry_after is not None:
                retry_after = min(retry_after, self.config.retry_after_cap)
            await asyncio.sleep(
                backoff_delay(attempt, self.config.backoff_base, self.config.backoff_cap, retry_after)
            )

    async def _one(self, get_client, call: ApiCall, sem, limiter) -> CallResult:
        result = CallResult(status="ok", cached=True)
        key = self.call_key(call) if self.cache is not None else None
        for ask in range(self.config.parse_retries + 1):
            slot = f"{call.slot}.a{ask}"
            reply = self.cache.get(key, slot) if self.cache is not None else None
            if reply is not None:
                self.totals["cache_hits"] += 1
            else:
                result.cached = False
                try:
                    reply = await self._fetch(get_client, call, sem, limiter, result)
                except _Failed as failure:
                    result.status, result.error = failure.status, self.redact(failure.message)
                    break
                except MissingApiKey:
                    raise
                except Exception as exc:  # a bug or an unexpected client error: keep it as a value
                    result.status = "api_error"
                    result.error = self.redact(f"{type(exc).__name__}: {exc}")
                    break
                self.totals["replies"] += 1
                _add_usage(self.usage, reply.get("usage"))
                cost = estimate_cost(self.prices, self.config.model, reply.get("usage") or {})
                self.totals["cost_usd"] += cost or 0.0
                if self.cache is not None:
                    self.cache.put(key, slot, reply, kind=call.kind)
            result.replies.append(reply)
            _add_usage(result.usage, reply.get("usage"))
            if call.validate is None:
                result.status, result.error = "ok", None
                break
            try:
                result.value = call.validate(reply)
                result.status, result.error = "ok", None
                break
            except ValueError as exc:
                result.status, result.error = "parse_error", self.redact(f"unusable reply: {exc}")
        if result.replies:
            costs = [estimate_cost(self.prices, self.config.model, r.get("usage") or {})
                     for r in result.replies]
            result.cost_usd = None if any(c is None for c in costs) else round(sum(costs), 10)
        return result

    async def run_all_async(self, calls: Sequence[ApiCall]) -> list[CallResult]:
        """Run every call concurrently within the limits; results in input order."""
        sem = asyncio.Semaphore(max(1, int(self.config.concurrency)))
        limiter = RateLimiter(self.config.requests_per_minute, self.config.tokens_per_minute)
        holder: dict[str, Any] = {}
        lock = asyncio.Lock()

        async def get_client():
            """The shared API client, created on first use."""
            async with lock:
                if "client" not in holder:
                    holder["client"] = self._make_client()
            return holder["client"]

        async def guarded(call):
            """Run one call; a RuntimeError becomes an api_error result (redacted);
            MissingApiKey propagates."""
            try:
                return await self._one(get_client, call, sem, limiter)
            except MissingApiKey:
                raise  # one configuration error for the whole batch, before any request
            except RuntimeError as exc:
                return CallResult(status="api_error", error=self.redact(str(exc)), cached=False)

        try:
            return list(await asyncio.gather(*(guarded(c) for c in calls)))
        finally:
            if "client" in holder:
                await holder["client"].close()

    def run_all(self, calls: Sequence[ApiCall]) -> list[CallResult]:
        """Synchronous facade over :meth:`run_all_async` (works inside a running loop too)."""
        if not calls:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.run_all_async(calls))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, self.run_all_async(calls)).result()

    def describe(self) -> dict[str, Any]:
        """Settings for the manifest: never the key itself, only the variable's name."""
        return self.config.describe()

    def close(self) -> None:
        """Close the reply cache, if any."""
        if self.cache is not None:
            self.cache.close()


class _Failed(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def default_cache_path(cache_dir: str | Path | None) -> str:
    """``<cache_dir>/responses.sqlite``; default dir: the toolkit cache (ECHO4O_CACHE_DIR or
    ~/.cache/echo4o-eval) + ``/api``."""
    if cache_dir is None:
        from echo4o_eval.assets import default_cache_dir

        cache_dir = default_cache_dir() / "api"
    return str(Path(cache_dir) / "responses.sqlite")
