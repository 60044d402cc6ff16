"""One event loop's worth of API calls: the client, the adaptive in-flight limit, the rate
limiter, a shared pause after Retry-After, and the per-call logic (cache, lazy payload,
transport retries, re-asks of unusable replies).

A :class:`Session` is made by :meth:`echo4o_eval.api.engine.ApiEngine.session` inside a
running loop; :meth:`Session.call` runs one :class:`~echo4o_eval.api.engine.ApiCall` and
returns its :class:`~echo4o_eval.api.engine.CallResult` (failures are values).

Order of work for one call: the cache is asked first (under a key that never needs the
payload), so a cached call neither reads nor encodes an image; on a miss the payload is
built (a callable payload runs in the engine's thread pool, outside the in-flight limit, so
image preparation overlaps the requests in flight), then the request waits for a free
in-flight slot and the rate limiter, and is sent.

Example (a cache hit: the payload builder is never called):
    >>> import asyncio, os, tempfile
    >>> from echo4o_eval.api.engine import ApiCall, ApiEngine, EngineConfig
    >>> engine = ApiEngine(EngineConfig(model="m", cache_path=os.path.join(tempfile.mkdtemp(), "c.sqlite")))
    >>> call = ApiCall(kind="chat", payload=lambda: 1 / 0, key_payload={"q": "hi"})
    >>> engine.cache.put(engine.call_key(call), "v0.a0", {"choices": [{"message": {"content": "yo"}}]})
    >>> async def main():
    ...     async with engine.session() as session:
    ...         return await session.call(call)
    >>> result = asyncio.run(main())
    >>> result.status, result.cached, result.calls, result.cost_usd
    ('ok', True, 0, 0.0)
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from echo4o_eval.api.limits import AdaptiveLimit, RateLimiter, backoff_delay
from echo4o_eval.api.prices import estimate_cost

if TYPE_CHECKING:  # pragma: no cover
    from echo4o_eval.api.engine import ApiCall, ApiEngine, CallResult

REFUSAL_CODES = {"moderation_blocked", "content_policy_violation", "content_filter"}
RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529}
NOT_RETRYABLE_CODES = {"insufficient_quota"}  # a 429 that waiting does not fix
PACING = 0.97  # share of a server-announced rate limit we pace to


class Failed(Exception):
    """A call that ended without a usable reply (status api_error / refused / input_error)."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def error_code(exc: Any) -> str | None:
    """The ``code`` of an OpenAI error body (top level or under ``error``)."""
    body = getattr(exc, "body", None)
    if not isinstance(body, dict):
        return None
    inner = body.get("error") if isinstance(body.get("error"), dict) else {}
    return body.get("code") or inner.get("code")


class Session:
    """Shared state of the calls running on one event loop (see the module docstring)."""

    def __init__(self, engine: "ApiEngine") -> None:
        config = engine.config
        self.engine = engine
        self.gate = AdaptiveLimit(config.concurrency, adaptive=config.adaptive)
        self.limiter = RateLimiter(config.requests_per_minute, config.tokens_per_minute)
        self.not_before = 0.0  # monotonic time before which nothing is sent (Retry-After)
        self._clients: dict[str, Any] = {}  # "json" and "upload" (multipart), made on first use

    def client(self, kind: str = "chat"):
        """The HTTP client for requests of ``kind``, made on first use; MissingApiKey
        propagates."""
        family = "upload" if kind == "images.edit" else "json"
        client = self._clients.get(family)
        if client is None:
            client = self._clients[family] = self.engine._make_client(kind)
        return client

    async def close(self) -> None:
        """Close the HTTP clients that were made."""
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.close()

    def _adopt_limits(self, headers: Any) -> None:
        """After a 429, pace requests to the limits the server announces (OpenAI sends
        x-ratelimit-limit-requests / -tokens), a little under them."""
        def number(name: str) -> float | None:
            try:
                value = float(headers.get(name))
            except (TypeError, ValueError, AttributeError):
                return None
            return value * PACING if value > 0 else None

        rpm = number("x-ratelimit-limit-requests")
        if self.limiter.adopt(rpm, number("x-ratelimit-limit-tokens")) and rpm is not None:
            self.engine.totals["adopted_rpm"] = rpm  # absent when only a token limit was announced

    async def _pause(self) -> None:
        while (wait := self.not_before - time.monotonic()) > 0:
            await asyncio.sleep(wait)

    async def _payload(self, call: "ApiCall") -> Any:
        if not callable(call.payload):
            return call.payload
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.engine.pool(), call.payload)
        except Exception as exc:  # unreadable input (e.g. an image): this call's failure only
            raise Failed("input_error", f"cannot prepare the request: {type(exc).__name__}: {exc}") from exc

    async def _fetch(self, call: "ApiCall", payload: Any, result: "CallResult") -> dict:
        """One reply, with transport retries; raises Failed when they are exhausted."""
        from echo4o_eval.api.engine import MalformedResponse
        from echo4o_eval.api.http import APIConnectionError, HttpStatusError

        engine, config, totals = self.engine, self.engine.config, self.engine.totals
        attempt = throttled = sends = 0
        while True:
            retry_after = None
            await self._pause()
            await self.gate.acquire()
            try:
                await self.limiter.acquire(call.estimated_tokens)
                await self._pause()  # a Retry-After may have arrived while waiting
                client = self.client(call.kind)
                result.calls += 1
                sends += 1
                totals["calls"] += 1
                sent = time.monotonic()
                try:
                    reply = await engine._send(client, call.kind, payload)
                    self.gate.succeeded()
                    return reply
                except HttpStatusError as exc:
                    code = error_code(exc)
                    error = f"HTTP {exc.status_code}: {exc.message}"
                    if code in REFUSAL_CODES:
                        raise Failed("refused", f"refused by the API ({code}): {exc.message}")
                    if exc.status_code not in RETRYABLE_STATUS or code in NOT_RETRYABLE_CODES:
                        raise Failed("api_error", error)
                    retry_after = _retry_after(exc.headers)
                    if exc.status_code == 429:
                        throttled += 1
                        totals["throttled"] += 1
                        self.gate.throttled(sent)
                        self._adopt_limits(exc.headers)
                        if retry_after is not None:
                            wait = min(retry_after, config.retry_after_cap)
                            self.not_before = max(self.not_before, time.monotonic() + wait)
                except APIConnectionError as exc:  # APITimeoutError included
                    error = f"{type(exc).__name__}: {exc}"
                    if exc.sent:  # it reached the server: it may have been processed and billed
                        result.unanswered += 1
                        totals["unanswered"] += 1
                    else:  # never left this machine: not a request the server saw
                        result.calls -= 1
                        totals["calls"] -= 1
                except MalformedResponse as exc:
                    error = f"{type(exc).__name__}: {exc}"
            finally:
                self.gate.release()
            if _rate_limited(error):  # the server asked us to slow down: its own budget
                tries = throttled
                exhausted = throttled > config.rate_limit_retries
            else:
                attempt += 1
                tries, exhausted = attempt, attempt > config.max_retries
            if exhausted:
                raise Failed("api_error", f"gave up after {sends} attempts; last error: {error}")
            totals["retries"] += 1
            if retry_after is not None:
                retry_after = min(retry_after, config.retry_after_cap)
            await asyncio.sleep(backoff_delay(tries, config.backoff_base, config.backoff_cap, retry_after))

    async def call(self, call: "ApiCall") -> "CallResult":
        """Run one call: cached replies first, then network requests (see the module doc)."""
        from echo4o_eval.api.engine import CallResult, MissingApiKey

        engine = self.engine
        result = CallResult(status="ok", cached=True, cost_usd=0.0)
        key = engine.call_key(call) if engine.cache is not None else None
        payload: Any = None
        built = False
        for ask in range(engine.config.parse_retries + 1):
            slot = f"{call.slot}.a{ask}"
            reply = engine.cache.get(key, slot) if engine.cache is not None else None
            if reply is not None:
                engine.totals["cache_hits"] += 1
                result.cached_replies += 1
            else:
                result.cached = False
                try:
                    if not built:
                        payload, built = await self._payload(call), True
                    reply = await self._fetch(call, payload, result)
                except Failed as failure:
                    result.status, result.error = failure.status, engine.redact(failure.message)
                    break
                except MissingApiKey:
                    raise
                except Exception as exc:  # a bug or an unexpected client error: keep it as a value
                    result.status = "api_error"
                    result.error = engine.redact(f"{type(exc).__name__}: {exc}")
                    break
                engine.totals["replies"] += 1
                _add_usage(engine.usage, reply.get("usage"))
                _add_usage(result.usage, reply.get("usage"))
                cost = estimate_cost(engine.prices, engine.config.model, reply.get("usage") or {})
                if cost is None:  # no known price: counted, not added as $0
                    engine.totals["unpriced_replies"] += 1
                else:
                    engine.totals["cost_usd"] += cost
                result.cost_usd = None if cost is None or result.cost_usd is None else result.cost_usd + cost
                if engine.cache is not None:
                    engine.cache.put(key, slot, reply, kind=call.kind)
            result.replies.append(reply)
            if call.validate is None:
                result.status, result.error = "ok", None
                break
            try:
                result.value = call.validate(reply)
                result.status, result.error = "ok", None
                break
            except ValueError as exc:
                result.status, result.error = "parse_error", engine.redact(f"unusable reply: {exc}")
        if result.cost_usd is not None:
            result.cost_usd = round(result.cost_usd, 10)
        return result


def _rate_limited(error: str) -> bool:
    return error.startswith("HTTP 429")


def _retry_after(headers: Any) -> float | None:
    import email.utils

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


def _add_usage(total: dict[str, int], usage: Any) -> None:
    for name, value in (usage or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            total[name] = total.get(name, 0) + value
