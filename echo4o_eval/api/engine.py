"""The shared API engine: concurrent, rate-limited, retrying, cached calls to an
OpenAI-compatible server, with a plain synchronous facade.

Generic over request kinds (``"chat"``, ``"images.generate"``, ``"images.edit"``): the VLM
judge, the image-API model adapter and data generation all build :class:`ApiCall` records
and hand a list to :meth:`ApiEngine.run_all`, which returns one :class:`CallResult` each,
in order, or stream work through :meth:`ApiEngine.stream`, which yields each result as it
completes. Failures are results (``status`` api_error / parse_error / refused /
input_error), never raises. The per-call logic lives in :mod:`echo4o_eval.api.session`.

- at most ``concurrency`` requests in flight, adapted to the server (halved on a 429, raised
  again by successes) and client-side requests/tokens per minute;
- retries with exponential back-off and jitter on 429, 5xx, timeouts, connection errors and
  malformed bodies, honouring ``Retry-After`` / ``retry-after-ms`` (a Retry-After pauses every
  request of the session; rate-limit waits have their own budget, ``rate_limit_retries``);
- the cache key covers the model and the request (never the server's address or the retry
  settings); a callable payload is only built (in a thread pool) when a request is sent;
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
import contextlib
import json
import logging
import os
import queue
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence

from echo4o_eval.api.cache import ResponseCache, request_hash
from echo4o_eval.api.prices import load_prices
from echo4o_eval.api.session import REFUSAL_CODES, RETRYABLE_STATUS, Session  # noqa: F401


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
        'no API key for the OpenAI API: --judge-api-key-env must be the NAME of an environment variable holding the key (letters, digits, _), not the key itself'
        >>> missing_key_message("OPENAI_API_KEY", None)
        'no API key for the OpenAI API: set the environment variable OPENAI_API_KEY (or name another variable with --judge-api-key-env NAME)'
    """
    where = base_url or "the OpenAI API"
    if not ENV_NAME.match(api_key_env or ""):
        return (f"no API key for {where}: --judge-api-key-env must be the NAME of an environment "
                "variable holding the key (letters, digits, _), not the key itself")
    return (f"no API key for {where}: set the environment variable {api_key_env} "
            "(or name another variable with --judge-api-key-env NAME)")


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
    adaptive: bool = True  # lower the in-flight limit on 429s, raise it again on successes
    rate_limit_retries: int = 30  # waits after 429 (rate limited) per reply, apart from max_retries
    workers: int = 0  # threads building callable payloads (0: min(4, CPUs))

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
    ``model``, or is a callable returning them (built in the engine's thread pool only when a
    request must be sent); ``key_payload`` (default: payload; required with a callable) is
    what is hashed for the cache and must be JSON-able (digests of images, not their bytes).
    ``slot`` separates votes and retry rounds."""

    kind: str
    payload: Mapping[str, Any] | Callable[[], Mapping[str, Any]]
    key_payload: Mapping[str, Any] | None = None
    estimated_tokens: int = 0
    validate: Callable[[dict], Any] | None = field(default=None, compare=False)
    slot: str = "v0"


@dataclass
class CallResult:
    """What came back for one ApiCall (``replies``: every reply received, last one last)."""

    status: str  # "ok", "api_error", "parse_error", "refused", "input_error"
    replies: list[dict] = field(default_factory=list)
    value: Any = None  # validate() result of the accepted reply
    error: str | None = None
    calls: int = 0  # requests that reached the server for this call, retries included
    unanswered: int = 0  # of those, requests that got no reply (timeout, broken connection): may be billed
    cached: bool = False  # every reply came from the cache
    cached_replies: int = 0  # replies replayed from the cache (they cost nothing)
    usage: dict[str, int] = field(default_factory=dict)  # tokens of replies fetched now
    cost_usd: float | None = None  # of replies fetched now; None when one has no known price

    @property
    def reply(self) -> dict | None:
        """The last reply received, or None."""
        return self.replies[-1] if self.replies else None


class ApiEngine:
    """Runs ApiCalls against one model on one OpenAI-compatible server."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.cache = ResponseCache(config.cache_path) if config.cache_path else None
        self.prices = load_prices(config.prices)
        self.totals: dict[str, float] = {
            "calls": 0, "unanswered": 0, "retries": 0, "cache_hits": 0, "replies": 0, "cost_usd": 0.0,
            "unpriced_replies": 0,  # replies fetched with no known price (not in cost_usd)
            "throttled": 0, "peak_in_flight": 0, "lowest_limit": float(max(1, config.concurrency)),
        }
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.usage: dict[str, int] = {}  # tokens of replies fetched by this engine (not cache)
        self._warned_no_key = False
        self._tls = None

    # -- keys and secrets -------------------------------------------------------------
    def call_key(self, call: ApiCall) -> str:
        """Cache key: hash of what decides the answer, (kind, model, request), never where
        the server lives or how we retry, so a moved server still replays the same replies."""
        body = call.key_payload if call.key_payload is not None else call.payload
        if callable(body):
            raise ValueError("an ApiCall with a callable payload needs a key_payload")
        return request_hash({"kind": call.kind, "model": self.config.model, "request": body})

    def _secret(self) -> str | None:
        name = self.config.api_key_env
        return (os.environ.get(name) or None) if name and ENV_NAME.match(name) else None

    def redact(self, text: str) -> str:
        """Remove the API key (if set) from a message."""
        key = self._secret()
        return text.replace(key, "***") if key and len(key) >= 4 else text

    def _make_client(self, kind: str = "chat"):
        """A client for requests of ``kind``: our own keep-alive JSON client for direct
        connections, the ``openai`` client through a proxy and for multipart uploads."""
        from echo4o_eval.api.http import JsonClient, proxy_for

        key = self._secret()
        if key is None:
            message = missing_key_message(self.config.api_key_env, self.config.base_url)
            if needs_api_key(self.config.base_url):
                raise MissingApiKey(message)
            if not self._warned_no_key:
                self._warned_no_key = True
                log.warning("%s; sending requests without a key (fine for a local server)", message)
        if self._tls is None:  # one TLS context for every client (loading CAs takes ~0.1 s)
            import ssl

            self._tls = ssl.create_default_context()
        if kind == "images.edit" or proxy_for(self.config.base_url) is not None:
            from echo4o_eval.api.openai_client import OpenAIClient

            return OpenAIClient(self.config.base_url, key, self.config.timeout, self._tls)
        return JsonClient(self.config.base_url, key, self.config.timeout, self._tls)

    # -- one network request ------------------------------------------------------------
    async def _send(self, client, kind: str, payload: Mapping[str, Any]) -> dict:
        args = {"model": self.config.model, **payload}
        if kind == "chat":
            reply = await client.post_json("/chat/completions", args)
        elif kind == "images.generate":
            reply = await client.post_json("/images/generations", args)
        elif kind == "images.edit":
            reply = await client.edit_image(args)
        else:
            raise ValueError(f"unknown API call kind {kind!r}")
        text = reply.text
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise MalformedResponse(f"reply body is not JSON: {text[:120]!r}") from exc
        if not isinstance(data, dict) or ("choices" not in data and "data" not in data):
            raise MalformedResponse(f"reply JSON lacks choices/data: {str(data)[:120]!r}")
        return data

    # -- sessions, batches and streams ----------------------------------------------------
    def pool(self) -> concurrent.futures.ThreadPoolExecutor:
        """The thread pool that builds callable payloads (image decoding and encoding)."""
        if self._pool is None:
            workers = self.config.workers or min(4, os.cpu_count() or 1)
            self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="echo4o-prep")
        return self._pool

    @contextlib.asynccontextmanager
    async def session(self):
        """A :class:`~echo4o_eval.api.session.Session` for the running loop (closed after)."""
        session = Session(self)
        try:
            yield session
        finally:
            self.totals["peak_in_flight"] = max(self.totals["peak_in_flight"], session.gate.peak)
            self.totals["lowest_limit"] = min(self.totals["lowest_limit"], session.gate.lowest)
            await session.close()

    async def run_all_async(self, calls: Sequence[ApiCall]) -> list[CallResult]:
        """Run every call concurrently within the limits; results in input order."""
        async with self.session() as session:
            async def guarded(call):
                """One call; a RuntimeError becomes an api_error result; MissingApiKey propagates."""
                try:
                    return await session.call(call)
                except MissingApiKey:
                    raise  # one configuration error for the whole batch, before any request
                except RuntimeError as exc:
                    return CallResult(status="api_error", error=self.redact(str(exc)), cached=False)

            return list(await asyncio.gather(*(guarded(c) for c in calls)))

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

    def stream(self, items: Iterable[Any], work: Callable[[Session, Any], Awaitable[Any]],
               window: int) -> Iterator[tuple[Any, Any]]:
        """Run ``await work(session, item)`` for every item, at most ``window`` items at once,
        on an event loop in a background thread; yield ``(item, result)`` as each finishes
        (completion order), so the caller can record it at once. An exception raised by
        ``work`` stops the stream and is raised here; leaving the loop early cancels the rest.

            >>> engine = ApiEngine(EngineConfig(model="m"))
            >>> async def double(session, n):
            ...     return 2 * n
            >>> sorted(engine.stream(range(3), double, window=2))
            [(0, 0), (1, 2), (2, 4)]
        """
        return _stream(self, items, work, window)

    def describe(self) -> dict[str, Any]:
        """Settings for the manifest: never the key itself, only the variable's name."""
        return self.config.describe()

    def close(self) -> None:
        """Close the reply cache and the thread pool, if any."""
        if self.cache is not None:
            self.cache.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _stream(engine: ApiEngine, items, work, window: int):
    """Generator behind :meth:`ApiEngine.stream` (see there)."""
    done: queue.Queue = queue.Queue()
    state: dict[str, Any] = {}
    stop = threading.Event()

    async def produce() -> None:
        state["loop"] = asyncio.get_running_loop()
        admission = asyncio.Semaphore(max(1, int(window)))
        tasks: set[asyncio.Task] = set()

        async def one(item) -> None:
            try:
                done.put(("item", (item, await work(session, item))))
            except BaseException as exc:  # noqa: BLE001 (handed to the consumer)
                if not isinstance(exc, asyncio.CancelledError):
                    done.put(("error", exc))
                    stop.set()
                raise
            finally:
                admission.release()

        async with engine.session() as session:
            try:
                for item in items:
                    await admission.acquire()
                    if stop.is_set():
                        break
                    task = asyncio.create_task(one(item))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                await asyncio.gather(*tasks, return_exceptions=True)
            finally:
                for task in tasks:
                    task.cancel()

    def run() -> None:
        try:
            asyncio.run(produce())
        except BaseException as exc:  # noqa: BLE001
            if not stop.is_set() and not isinstance(exc, asyncio.CancelledError):
                done.put(("error", exc))
        done.put(("end", None))

    thread = threading.Thread(target=run, name="echo4o-api-stream", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = done.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        loop = state.get("loop")
        if loop is not None and thread.is_alive():
            try:
                loop.call_soon_threadsafe(_cancel_all, loop)
            except RuntimeError:
                pass  # the loop already closed
        thread.join()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()


def default_cache_path(cache_dir: str | Path | None) -> str:
    """``<cache_dir>/responses.sqlite``; default dir: the toolkit cache (ECHO4O_CACHE_DIR or
    ~/.cache/echo4o-eval) + ``/api``."""
    if cache_dir is None:
        from echo4o_eval.assets import default_cache_dir

        cache_dir = default_cache_dir() / "api"
    return str(Path(cache_dir) / "responses.sqlite")


CACHE_OFF = frozenset({"off", "none", "false", "no", "0"})


def cache_path_from(options: Mapping[str, Any]) -> str | None:
    """The response cache file from the ``cache`` (on/off) and ``cache_dir`` options: on by
    default, under :func:`default_cache_path`; ``cache=off`` (or ``cache_dir=none``) disables it.

        >>> cache_path_from({"cache": "off"}) is None, cache_path_from({"cache_dir": "/tmp/c"})
        (True, '/tmp/c/responses.sqlite')
    """
    switch, where = options.get("cache"), options.get("cache_dir")
    if switch is False or str(switch).lower() in CACHE_OFF - {"none"}:
        return None
    if where is not None and str(where).lower() in CACHE_OFF:
        return None
    return default_cache_path(where)
