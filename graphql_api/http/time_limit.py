"""The per-request time limit: an execution still running after REQUEST_TIMEOUT_SECONDS is cancelled,
its SQL with it, and answered with a TIMEOUT error.

Cancelling the request's task cancels the statement it awaits: asyncpg then asks PostgreSQL to cancel
it, and database.reader() interrupts SQLite's. DataLoader batches run in tasks of their own, so the
request's loaders cancel theirs. The database's statement timeout stays as a second line of defence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from graphql import GraphQLError
from strawberry.types import ExecutionResult

from graphql_api.errors import Timeout

logger = logging.getLogger("graphql_api.time_limit")

T = TypeVar("T")


async def within_time_limit(seconds: float, work: Awaitable[T]) -> T:
    """The result of `work`, or errors.Timeout once `seconds` have passed (its SQL cancelled with it)."""
    if seconds <= 0:
        return await work
    try:
        async with asyncio.timeout(seconds):
            return await work
    except TimeoutError:
        raise Timeout() from None


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
