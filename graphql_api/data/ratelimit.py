"""Per-key limits in each server process: an optional rate (a token bucket per API key id) and a cap on
requests in progress at once (KeyGate).

Each key may make `rate` requests per second on average and `burst` in a row. The buckets live in
the process, so with N workers a key may make up to N times the rate; that is the price of needing no
shared store, and the limit is meant to stop a runaway script, not to meter exactly.
"""

from __future__ import annotations

import asyncio
import hashlib
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


class KeyGate:
    """At most `per_key` requests of one API key in progress in this process; more wait their turn, up
    to `wait` seconds, then get RATE_LIMITED. So one key, however many connections it opens, cannot
    take every database connection of a process while other keys wait behind it.

    Keyed by a digest of the `ApiKey` header as sent (before it is verified), so the gate costs no
    lookup; a wrong key gets its answer from authentication as usual.

    A key with fewer than `per_key` requests in progress or waiting (nearly always: on SQLite a request
    holds the loop until it is answered) only counts them. Once one would be over, the key's requests
    take their turns through an asyncio.Semaphore, made then with the slots still free (none) and kept
    while the key has requests in progress; a semaphore made and awaited per request cost a page of
    10 about 3 us.
    """

    def __init__(self, per_key: int, wait: float) -> None:
        self.per_key = per_key
        self.wait = wait
        # digest -> the key's requests in progress or waiting, and their turns once there are too many
        self._keys: dict[bytes, _KeyTurns] = {}

    async def enter(self, api_key: bytes | None) -> Callable[[], None]:
        """Wait for a slot of the key's (RateLimited past `wait`); returns the function that frees it."""
        if self.per_key <= 0 or not api_key:
            return _nothing
        digest = hashlib.blake2b(api_key, digest_size=16).digest()
        turns = self._keys.get(digest)
        if turns is None:
            turns = self._keys[digest] = _KeyTurns(self._keys, digest)
        turns.users += 1
        if turns.slots is None:
            if turns.users <= self.per_key:  # a slot is free and nobody waits: counted, no await
                return turns.release
            # Every slot is held (no semaphore yet: nobody waits): the turns start here, none free.
            turns.slots = asyncio.Semaphore(0)
        slots = turns.slots
        try:
            if slots.locked():
                async with asyncio.timeout(self.wait):
                    await slots.acquire()
            else:  # a slot is free, without a timer
                await slots.acquire()
        except BaseException as exc:
            turns.leave()
            if isinstance(exc, TimeoutError):
                raise RateLimited(
                    f"Too many requests in progress with this API key (at most {self.per_key} at once per "
                    "server process); retry in 1 s.",
                    retry_after=1,
                ) from None
            raise
        return turns.release


class _KeyTurns:
    """One key's requests in progress or waiting (`users`), and their semaphore once some had to wait."""

    __slots__ = ("keys", "digest", "users", "slots")

    def __init__(self, keys: dict[bytes, _KeyTurns], digest: bytes) -> None:
        self.keys = keys  # the gate's map, where this key is while it has requests
        self.digest = digest
        self.users = 0
        self.slots: asyncio.Semaphore | None = None

    def release(self) -> None:
        """A request done: its slot to the next one waiting, if any."""
        if self.slots is not None:
            self.slots.release()
        self.leave()

    def leave(self) -> None:
        # No request of that key in progress or waiting: forget it (the map stays small).
        self.users -= 1
        if self.users == 0:
            del self.keys[self.digest]


def _nothing() -> None:
    pass
