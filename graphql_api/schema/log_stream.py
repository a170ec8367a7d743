"""`whatsAppLogStream`: the root Subscription type, the logs created or changed since a cursor, a batch at a
time (docs/subscriptions.md).

A stream registers with the process's StreamHub (which counts it against the limits and wakes it when
its project's logs change), sends its first message at once (the logs after `after`, none when it
starts now: the client holds a cursor from the start), then a message per batch of changes. Each read
is a request of its own for the limits: the work budget and REQUEST_TIMEOUT_SECONDS. The key is checked
again at least every AUTH_CACHE_SECONDS (every second when that is 0): a revoked key's streams end with
UNAUTHENTICATED. A read that fails for want of time, a pooled connection or the database is tried
again after pauses of 0.5, 1, 2 and 4 s (RETRY_AFTER) from the same place; when the last try fails
too, the stream ends with that error (SERVICE_UNAVAILABLE for a lost database) and the client
subscribes again with its last cursor, missing nothing.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import strawberry

from graphql_api.data import feed_queries, work_budget
from graphql_api.data.feed_queries import FeedBatch, FeedPosition
from graphql_api.errors import ServiceUnavailable, Timeout, WorkLimitExceeded
from graphql_api.schema import roots
from graphql_api.schema.context import Context
from graphql_api.schema.inputs import Where
from graphql_api.schema.loaders import Loaders
from graphql_api.schema.selection import log_selection
from graphql_api.schema.types import WhatsAppLog

Info = strawberry.Info[Context, None]


@strawberry.type(description="Logs created or changed since the stream's previous message, in commit order.")
class WhatsAppLogBatch:
    cursor: str = strawberry.field(
        description=(
            "Pass as `after` to a new `whatsAppLogStream` with the same `where` to resume after this "
            "message, without gaps or repeats."
        )
    )
    logs: list[WhatsAppLog] = strawberry.field(
        description="The logs that match `where` now, at most `batchSize`; none in a stream's first "
        "message when it starts now."
    )
    # The streams that share this batch's read share its results too (PlainFieldsExecutor).
    rendered: strawberry.Private[dict[Any, Any] | None] = None


@dataclass(frozen=True)
class _Read:
    """A batch with its relations loaded: what the streams that share a read receive."""

    batch: FeedBatch
    loaders: Loaders
    cursor: str  # after the batch (the streams that share a read have the same `where`)
    rendered: dict[Any, Any] = field(default_factory=dict)  # by operation and variables


async def _read(
    context: Context,
    spec: roots.LogStream,
    reader: feed_queries.BatchReader,
    position: FeedPosition | None,
) -> _Read:
    """The next batch after `position` (None: from now), its relations loaded, as one request would."""
    settings = context.settings
    principal = await context.principal()
    # New loaders per batch: a connection lives for hours, its records change.
    loaders = Loaders(context.services, context.principal)
    try:
        async with asyncio.timeout(settings.request_timeout_seconds):
            with work_budget.budget(settings.request_work_seconds):
                async with context.services.database.reader(ping_recent=False) as conn:
                    if position is None:  # a stream that starts now: nothing to read before it
                        batch = FeedBatch([], FeedPosition(await feed_queries.feed_bound(conn)))
                    else:
                        bound = context.services.streams.bound
                        batch = await reader.read(conn, principal.project_id, position, bound)
                        loaders.add(batch.related)
    except TimeoutError:
        raise Timeout() from None
    cursor = spec.cursor(context.services.cursor_secret, principal.project_id, batch.position)
    return _Read(batch, loaders, cursor)


T = TypeVar("T")

# Seconds before reading again after a read failed for want of time, a connection or the database.
RETRY_AFTER = (0.5, 1.0, 2.0, 4.0)


async def _riding_out(read: Callable[[], Awaitable[T]]) -> T:
    """`read()`, again after each pause of RETRY_AFTER while it fails with TIMEOUT, SERVICE_UNAVAILABLE or
    the work budget (a saturated server, a pool with nothing to give, a database restarting): the stream
    pauses where it is, so nothing is lost, and ends with the error only when the last try fails."""
    for pause in RETRY_AFTER:
        try:
            return await read()
        except (Timeout, ServiceUnavailable, WorkLimitExceeded):
            await asyncio.sleep(pause)
    return await read()


async def _next(
    context: Context,
    what: tuple[Any, ...],
    read: Callable[[], Awaitable[_Read]],
    *,
    lasting: bool,
    first: bool,
    limit: int,
) -> tuple[WhatsAppLogBatch | None, FeedPosition, bool]:
    """The stream's next message (None when the batch is empty, except the first), the place after it,
    and whether more may be waiting (a full batch). The read is shared (StreamHub.shared)."""
    principal = await context.principal()
    shared = await _riding_out(
        functools.partial(context.services.streams.shared, principal.project_id, what, read, lasting=lasting)
    )
    batch, context.loaders = shared.batch, shared.loaders
    message = None
    if batch.rows or first:
        message = WhatsAppLogBatch(
            cursor=shared.cursor,
            logs=batch.rows,  # type: ignore[arg-type]
            rendered=shared.rendered,
        )
    return message, batch.position, len(batch.rows) == limit


@strawberry.type(description="Live WhatsApp logs of the API key's project, as they are written.")
class Subscription:
    @strawberry.subscription(
        description=(
            "The project's logs as they are created or changed (a status going Sent, Delivered, Read is "
            "a change), in commit order: a first message at once, then one per batch of changes. Each "
            "log is sent when it changes and matches `where`; a log that stops matching or is deleted "
            "is not sent again."
        )
    )
    async def whats_app_log_stream(
        self,
        info: Info,
        where: Where = None,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="Resume after this `cursor` of an earlier message of a stream with the same "
                "`where`; without it, the stream starts now."
            ),
        ] = None,
        batch_size: Annotated[
            int,
            strawberry.argument(description="At most this many logs per message, 1 to 100."),
        ] = roots.DEFAULT_BATCH,
    ) -> AsyncGenerator[WhatsAppLogBatch, None]:
        spec = roots.log_stream({"where": where, "after": after, "batch_size": batch_size})
        context = info.context
        services = context.services
        principal = await context.principal()
        position = spec.start(services.cursor_secret, principal.project_id)
        selection = log_selection(info, ("logs",))
        reader = feed_queries.BatchReader(
            where=spec.where,
            settings=context.settings,
            limit=spec.batch_size,
            fields=selection.fields,
            relations=selection.relations,
            dialect=services.database.read_engine.dialect,
        )
        # What a read depends on besides the project and the place: streams that agree share it.
        # As one string: its hash is computed once, not at every read.
        reads = repr((repr(spec.where), spec.batch_size, tuple(selection.fields), tuple(selection.relations)))
        recheck_every = max(context.settings.auth_cache_seconds, 1.0)
        checked = time.monotonic()
        own_loaders = context.loaders
        async with services.streams.open(key_id=principal.key_id, project_id=principal.project_id) as waiter:
            first = woken = True
            while not waiter.closed:
                if time.monotonic() - checked >= recheck_every:
                    # UNAUTHENTICATED once revoked
                    await _riding_out(functools.partial(services.recheck, context.credential()))
                    checked = time.monotonic()
                if woken:
                    message, position, more = await _next(
                        context,
                        (reads, position),
                        functools.partial(_read, context, spec, reader, position),
                        # where "now" is must not be an earlier stream's "now"
                        lasting=position is not None,
                        first=first,
                        limit=spec.batch_size,
                    )
                    if message is not None:
                        yield message
                    # Nothing of the batch stays with the stream while it waits (idle streams are many).
                    message, first, context.loaders = None, False, own_loaders
                    if more:
                        continue
                woken = await waiter.wait(max(recheck_every - (time.monotonic() - checked), 0.0))
