"""The statements of whatsAppLogStream: how far the change feed is complete, and a batch of it.

A log's `change_position` (migration 0005) is where its latest insert or update sits in the feed. A
reader never reads past the *bound*, the position up to which no transaction can still add a change:

- PostgreSQL: positions are the writing transactions' ids, so the bound is the oldest transaction id
  still running, minus one (`pg_snapshot_xmin(pg_current_snapshot())`): every transaction below it has
  committed (and is visible) or rolled back. A transaction that began earlier but commits later keeps
  the bound below its own id until it ends, so no cursor can move past its changes.
- SQLite: writers are serialised, so the clock's order is the commit order, and the bound is the clock's
  committed value.

A batch is the next logs in (position, id) order after the cursor, up to the bound. docs/subscriptions.md
has the whole argument.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from graphql_api.data import models
from graphql_api.data.fields import FIELDS, LOG
from graphql_api.data.queries import LogScope, records

CLOCK = models.WhatsAppLogChangeClock.__table__
change_position = LOG.c.change_position


@dataclass(frozen=True)
class FeedPosition:
    """Everything up to here was read: logs at `position` with an id up to `last_id`, or every log at
    `position` when `last_id` is None (then all positions up to it are complete)."""

    position: int
    last_id: str | None = None

    def after(self) -> ColumnElement[bool]:
        """The logs that come after this place in the feed."""
        if self.last_id is None:
            return change_position > self.position
        return (change_position > self.position) | (
            (change_position == self.position) & (LOG.c.id > self.last_id)
        )


@dataclass(frozen=True)
class FeedBatch:
    rows: Sequence[Any]
    position: FeedPosition  # after the batch


def select_bound(dialect: str) -> Select[Any]:
    """The position up to which the feed is complete (see the module's docstring)."""
    if dialect == "postgresql":
        xmin = literal_column("pg_snapshot_xmin(pg_current_snapshot())::text::bigint", BigInteger())
        return select(xmin - 1)
    return select(func.coalesce(select(CLOCK.c.position).scalar_subquery(), 0))


async def feed_bound(conn: AsyncConnection) -> int:
    """Where a stream that starts now starts."""
    return int((await conn.execute(select_bound(conn.dialect.name))).scalar_one())


def _columns(fields: Iterable[str]) -> list[Any]:
    names = dict.fromkeys(["id", *fields])
    return [*(FIELDS[name].column for name in names), change_position]


def select_batch(
    *, scope: LogScope, after: FeedPosition, bound: int, limit: int, fields: Iterable[str]
) -> Select[Any]:
    """The scope's next `limit` logs in feed order after `after`, none past `bound`."""
    return (
        select(*_columns(fields))
        .where(*scope.conditions(), after.after(), change_position <= bound)
        .order_by(change_position, LOG.c.id)
        .limit(limit)
    )


async def read_batch(
    conn: AsyncConnection, *, scope: LogScope, after: FeedPosition, limit: int, fields: Iterable[str]
) -> FeedBatch:
    """The next logs of the feed and the place after them.

    The bound is read first, in a statement of its own: every change up to it was committed before that
    statement, so the batch (read a moment later) holds all of them that still match; a log changed again
    in between has moved past the bound and comes in a later batch. A full batch ends at its last log; a
    short one read everything up to the bound, which becomes the place, so that logs that do not match
    are not read again.
    """
    bound = await feed_bound(conn)
    stmt = select_batch(scope=scope, after=after, bound=bound, limit=limit, fields=fields)
    rows = records(await conn.execute(stmt))
    if len(rows) == limit:
        last = rows[-1]
        return FeedBatch(rows, FeedPosition(int(last.change_position), str(last.id)))
    if bound > after.position or (bound == after.position and after.last_id is not None):
        return FeedBatch(rows, FeedPosition(bound))
    return FeedBatch(rows, after)
