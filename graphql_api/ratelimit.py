"""An optional per-key rate limit: a token bucket per API key id, in each server process.

Each key may make `rate` requests per second on average and `burst` in a row. The buckets live in
the process, so with N workers a key may make up to N times the rate; that is the price of needing no
shared store, and the limit is meant to stop a runaway script, not to meter exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from graphql_api.errors import RateLimited

# Beyond this many keys, the buckets that are full again (idle keys) are dropped.
MAX_TRACKED_KEYS = 10_000


class RateLimiter:
    def __init__(self, rate: float, burst: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst if burst > 0 else max(1, math.ceil(rate)))
        self._clock = clock
        # key id -> (tokens left, when they were counted)
        self._buckets: dict[str, tuple[float, float]] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def check(self, key_id: str) -> None:
        """Take one token from the key's bucket; raise RateLimited (with Retry-After) when it is empty."""
        if not self.enabled:
            return
        now = self._clock()
        tokens, then = self._buckets.get(key_id, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1:
            self._buckets[key_id] = (tokens, now)
            raise RateLimited.after(math.ceil((1 - tokens) / self.rate))
        if len(self._buckets) >= MAX_TRACKED_KEYS and key_id not in self._buckets:
            self._forget_idle(now)
        self._buckets[key_id] = (tokens - 1, now)

    def _forget_idle(self, now: float) -> None:
        idle = [
            key
            for key, (tokens, then) in self._buckets.items()
            if tokens + (now - then) * self.rate >= self.burst
        ]
        for key in idle:
            del self._buckets[key]
