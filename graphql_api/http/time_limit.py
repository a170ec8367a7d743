"""The per-request time limit: an execution still running after REQUEST_TIMEOUT_SECONDS is cancelled,
its SQL with it, and answered with a TIMEOUT error.

Cancelling the request's task cancels the statement it awaits: asyncpg then asks PostgreSQL to cancel
it, and database.reader() interrupts SQLite's. DataLoader batches run in tasks of their own, so the
request's loaders cancel theirs. The database's statement timeout stays as a second line of defence.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable
from typing import Any, TypeVar

from graphql import GraphQLError
from strawberry.types import ExecutionResult

from graphql_api.errors import Timeout

logger = logging.getLogger("graphql_api.time_limit")

T = TypeVar("T")


async def within_time_limit(seconds: float, work: Awaitable[T]) -> T:
    """The result of `work`, or errors.Timeout once `seconds` have passed (its SQL cancelled with it).

    As `asyncio.timeout(seconds)` does it (the task cancelled at its deadline, that cancellation turned
    into the error, any other let through), but with a timer shared by all the requests in flight."""
    if seconds <= 0:
        return await work
    task = asyncio.current_task()
    assert task is not None
    clock = _clock(seconds)
    watch = _Watch(task, clock.loop.time() + seconds)
    clock.start(watch)
    cancelled = False
    try:
        return await work
    except asyncio.CancelledError:
        cancelled = True
        raise
    finally:
        clock.stop(watch)
        # Our cancellation, and no other pending: the time limit's error instead (as asyncio.timeout).
        if watch.expired and task.uncancel() <= watch.cancelling and cancelled:
            raise Timeout() from None


class _Watch:
    """One request's deadline."""

    __slots__ = ("task", "deadline", "cancelling", "expired")

    def __init__(self, task: asyncio.Task[Any], deadline: float) -> None:
        self.task = task
        self.deadline = deadline
        self.cancelling = task.cancelling()
        self.expired = False


class _Clock:
    """The deadlines of one time limit's requests in flight, on one event loop.

    asyncio.timeout arms and cancels a timer of the loop's per request, and builds a context manager
    around it: a twentieth of a page of 10's time. The deadlines of requests with the same time limit
    come in the order the requests began, so they are kept in that order (a dict: adding and removing
    one is a dict operation) and one timer is armed, for the earliest. When it fires, it cancels the
    requests past their deadline and is armed again for the next still in flight."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: dict[_Watch, None] = {}
        self.timer: asyncio.TimerHandle | None = None

    def start(self, watch: _Watch) -> None:
        self.waiting[watch] = None
        if self.timer is None:
            self.timer = self.loop.call_at(watch.deadline, self._expire)

    def stop(self, watch: _Watch) -> None:
        self.waiting.pop(watch, None)

    def _expire(self) -> None:
        self.timer = None
        now = self.loop.time()
        while self.waiting:
            watch = next(iter(self.waiting))
            if watch.deadline > now:
                self.timer = self.loop.call_at(watch.deadline, self._expire)
                return
            del self.waiting[watch]
            watch.expired = True
            watch.task.cancel()


# Each event loop's clocks, by time limit (the server has one loop and one limit; tests make more).
_clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[float, _Clock]] = (
    weakref.WeakKeyDictionary()
)


def _clock(seconds: float) -> _Clock:
    loop = asyncio.get_running_loop()
    clocks = _clocks.get(loop)
    if clocks is None:
        clocks = _clocks[loop] = {}
    clock = clocks.get(seconds)
    if clock is None:
        clock = clocks[seconds] = _Clock(loop)
    return clock


def timed_out() -> ExecutionResult:
    error = Timeout()
    return ExecutionResult(data=None, errors=[GraphQLError(error.message, original_error=error)])


async def execute_within(
    seconds: float, execution: Awaitable[Any], *, context: Any, operations: int | None
) -> Any:
    """The result of `execution`, or TIMEOUT results (`operations` of them for a batch) past `seconds`."""
    try:
        return await within_time_limit(seconds, execution)
    except Timeout:
        loaders = getattr(context, "loaders", None)
        if loaders is not None:
            loaders.cancel()
        request_id = getattr(getattr(getattr(context, "request", None), "state", None), "request_id", None)
        logger.warning("request %s cancelled after %ss", request_id, seconds)
        return timed_out() if operations is None else [timed_out() for _ in range(operations)]
