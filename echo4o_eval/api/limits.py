"""Client-side rate limits and retry back-off for API calls.

:class:`RateLimiter` enforces requests-per-minute and tokens-per-minute budgets with two
token buckets refilled continuously; :class:`AdaptiveLimit` bounds the requests in flight
and adapts the bound to the server (additive increase on success, multiplicative decrease on
429); :func:`backoff_delay` gives exponential back-off with full jitter, or the server's
``Retry-After`` when it sent one.

Example:
    >>> import asyncio
    >>> limiter = RateLimiter(requests_per_minute=600, tokens_per_minute=None)
    >>> asyncio.run(limiter.acquire(tokens=10))
    >>> 0 <= backoff_delay(3, base=0.5, cap=30.0) <= 4.0
    True
    >>> backoff_delay(1, base=0.5, cap=30.0, retry_after=2.5)
    2.5
    >>> gate = AdaptiveLimit(8)
    >>> gate.throttled(sent=1.0); gate.limit
    4.0
    >>> gate.succeeded(); round(gate.limit, 2)
    4.25
"""

from __future__ import annotations

import asyncio
import collections
import random
import time


class _Bucket:
    def __init__(self, per_minute: float) -> None:
        # burst of at most one second's worth, so limits hold over any window, not just minutes
        self.capacity = max(1.0, per_minute / 60.0)
        self.level = self.capacity
        self.rate = per_minute / 60.0  # units per second
        self.stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self, amount: float) -> float:
        """Seconds until ``amount`` (capped at capacity) is available."""
        self._refill()
        amount = min(amount, self.capacity)  # a single huge request must still pass
        return 0.0 if self.level >= amount else (amount - self.level) / self.rate

    def take(self, amount: float) -> None:
        """Remove ``amount`` (capped at capacity) from the bucket."""
        self.level -= min(amount, self.capacity)


class RateLimiter:
    """Requests- and tokens-per-minute limiter for one event loop (None = unlimited)."""

    def __init__(self, requests_per_minute: float | None, tokens_per_minute: float | None) -> None:
        self._requests = _Bucket(requests_per_minute) if requests_per_minute else None
        self._tokens = _Bucket(tokens_per_minute) if tokens_per_minute else None
        self._lock: asyncio.Lock | None = None

    def adopt(self, requests_per_minute: float | None, tokens_per_minute: float | None) -> bool:
        """Pace to limits the server announced (its x-ratelimit-limit-* headers) where no
        stricter limit is set; True when a limit was adopted."""
        adopted = False
        if requests_per_minute and (self._requests is None or
                                    self._requests.rate * 60 > requests_per_minute):
            self._requests, adopted = _Bucket(requests_per_minute), True
        if tokens_per_minute and (self._tokens is None or self._tokens.rate * 60 > tokens_per_minute):
            self._tokens, adopted = _Bucket(tokens_per_minute), True
        return adopted

    async def acquire(self, tokens: float = 0.0) -> None:
        """Wait until one request of ``tokens`` estimated tokens fits both budgets."""
        if self._requests is None and self._tokens is None:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            while True:
                wait = 0.0
                if self._requests is not None:
                    wait = max(wait, self._requests.wait_time(1))
                if self._tokens is not None:
                    wait = max(wait, self._tokens.wait_time(tokens))
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            if self._requests is not None:
                self._requests.take(1)
            if self._tokens is not None:
                self._tokens.take(tokens)


class AdaptiveLimit:
    """At most ``limit`` requests in flight, for one event loop; ``limit`` starts at
    ``maximum`` (the configured concurrency, never exceeded) and adapts when ``adaptive``:
    a 429 halves it (once per round trip: only for a request sent after the last cut), each
    success adds ``1/limit`` (about one more slot per round trip), down to 1 at least."""

    def __init__(self, maximum: int, adaptive: bool = True) -> None:
        self.maximum = max(1, int(maximum))
        self.limit = float(self.maximum)
        self.adaptive = adaptive
        self.in_flight = 0
        self.peak = 0  # most requests in flight at once
        self.lowest = self.limit  # lowest limit reached
        self._cut_at = float("-inf")
        self._waiters: collections.deque = collections.deque()

    def _free(self) -> int:
        return max(1, int(self.limit)) - self.in_flight

    async def acquire(self) -> None:
        """Wait for a free slot and take it."""
        while self._free() <= 0:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # pass the wake-up on
                raise
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def release(self) -> None:
        """Give a slot back."""
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        free = self._free()
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    def succeeded(self) -> None:
        """A request succeeded: additive increase (up to ``maximum``)."""
        if self.adaptive and self.limit < self.maximum:
            self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)
            self._wake()

    def throttled(self, sent: float) -> None:
        """A request sent at monotonic time ``sent`` got a 429: multiplicative decrease."""
        if self.adaptive and sent > self._cut_at:
            self.limit = max(1.0, self.limit / 2.0)
            self.lowest = min(self.lowest, self.limit)
            self._cut_at = time.monotonic()


def backoff_delay(
    retry: int, base: float, cap: float, retry_after: float | None = None
) -> float:
    """Seconds to wait before retry number ``retry`` (1-based).

    The server's Retry-After wins when given; otherwise full jitter over
    ``min(cap, base * 2**(retry-1))``.
    """
    if retry_after is not None and retry_after >= 0:
        return float(retry_after)
    return random.uniform(0, min(cap, base * 2 ** (retry - 1)))
