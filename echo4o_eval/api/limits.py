"""Client-side rate limits and retry back-off for API calls.

:class:`RateLimiter` enforces requests-per-minute and tokens-per-minute budgets with two
token buckets refilled continuously; :func:`backoff_delay` gives exponential back-off with
full jitter, or the server's ``Retry-After`` when it sent one.

Example:
    >>> import asyncio
    >>> limiter = RateLimiter(requests_per_minute=600, tokens_per_minute=None)
    >>> asyncio.run(limiter.acquire(tokens=10))
    >>> 0 <= backoff_delay(3, base=0.5, cap=30.0) <= 4.0
    True
    >>> backoff_delay(1, base=0.5, cap=30.0, retry_after=2.5)
    2.5
"""

from __future__ import annotations

import asyncio
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
