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

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, bindparam, func, literal_column, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from graphql_api.data import models
from graphql_api.data.fields import FIELDS, LOG
from graphql_api.data.queries import LogScope, records

CLOCK = models.WhatsAppLogChangeClock.__table__
NO_LIMIT = 2**62  # a position past any the feed reaches
change_position = LOG.c.change_position


@dataclass(frozen=True)
class FeedPosition:
    """Everything up to here was read: logs at `position` with an id up to `last_id`, or every log at
    `position` when `last_id` is None (then all positions up to it are complete)."""

    position: int
    last_id: str | None = None

    def parameters(self) -> dict[str, Any]:
        """The values of `_after`'s parameters for this place."""
        if self.last_id is None:
            return {"after_position": self.position}
        return {"after_position": self.position, "after_id": self.last_id}


def _after(*, within_position: bool) -> ColumnElement[bool]:
    """The logs that come after a place in the feed (FeedPosition.parameters): after its position, or,
    `within_position`, also those at its position with a greater id."""
    position = bindparam("after_position", type_=BigInteger())
    if not within_position:
        return change_position > position
    last_id = bindparam("after_id", type_=LOG.c.id.type)
    return (change_position > position) | ((change_position == position) & (LOG.c.id > last_id))


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
    *, scope: LogScope, within_position: bool, limit: int, fields: Iterable[str], dialect: str
) -> Select[Any]:
    """The scope's next `limit` logs in feed order after a place (`_after`'s parameters), none past the
    bound, each row with the bound (`feed_bound`); one row with the bound and nothing else when there
    are none.

    The bound and the logs come from one statement, so from one snapshot: every change up to the bound
    was committed before the statement began (PostgreSQL's snapshot xmin; SQLite's clock, which its
    writers advance in their own transactions), so the batch holds all of them that still match.
    """
    # At most `up_to`: streams woken by one change read to the same place (the watcher's bound), so that
    # they stay at one place and share their reads; less than the feed's bound is always safe.
    complete = select_bound(dialect).scalar_subquery()
    up_to = bindparam("up_to", type_=BigInteger())
    bound = func.least(complete, up_to) if dialect == "postgresql" else func.min(complete, up_to)
    page = (
        select(*_columns(fields))
        .where(*scope.conditions(), _after(within_position=within_position), change_position <= bound)
        .order_by(change_position, LOG.c.id)
        .limit(limit)
        .subquery("page")
    )
    bounds = select(bound.label("feed_bound")).subquery("bounds")
    return (
        select(bounds.c.feed_bound, *page.c)
        .select_from(bounds.outerjoin(page, true()))
        .order_by(page.c.change_position, page.c.id)
    )


STATEMENTS_KEPT = 1024
_STATEMENTS: OrderedDict[tuple[Any, ...], Select[Any]] = OrderedDict()


class BatchReader:
    """The batches of one stream (its scope, batch size and fields), read with statements built once
    and then only given the place: a stream reads for hours, and building the statement cost more than
    running it. Streams that read the same (a dashboard's tabs, a shared read's next reader) use the
    same statements (STATEMENTS_KEPT of them per process)."""

    def __init__(self, *, scope: LogScope, limit: int, fields: Iterable[str], dialect: str) -> None:
        self.scope, self.limit, self.fields, self.dialect = scope, limit, tuple(fields), dialect
        self._key = (repr(scope), limit, self.fields, dialect)

    def _statement(self, within_position: bool) -> Select[Any]:
        key = (*self._key, within_position)
        statement = _STATEMENTS.get(key)
        if statement is None:
            statement = select_batch(
                scope=self.scope,
                within_position=within_position,
                limit=self.limit,
                fields=self.fields,
                dialect=self.dialect,
            )
            _STATEMENTS[key] = statement
            if len(_STATEMENTS) > STATEMENTS_KEPT:
                _STATEMENTS.popitem(last=False)
        else:
            _STATEMENTS.move_to_end(key)
        return statement

    async def read(self, conn: AsyncConnection, after: FeedPosition, up_to: int | None = None) -> FeedBatch:
        """The next logs of the feed after `after`, none past `up_to` (when given) or the feed's bound,
        and the place after them, in one statement.

        A full batch ends at its last log; a short one read everything up to the bound, which becomes
        the place, so that logs that do not match are not read again. A log changed again after the
        bound has moved past it and comes in a later batch.
        """
        statement = self._statement(within_position=after.last_id is not None)
        parameters = {**after.parameters(), "up_to": NO_LIMIT if up_to is None else up_to}
        found = records(await conn.execute(statement, parameters))
        bound = int(found[0].feed_bound)
        rows = [row for row in found if row.id is not None]
        if len(rows) == self.limit:
            last = rows[-1]
            return FeedBatch(rows, FeedPosition(int(last.change_position), str(last.id)))
        if bound > after.position or (bound == after.position and after.last_id is not None):
            return FeedBatch(rows, FeedPosition(bound))
        return FeedBatch(rows, after)


async def read_batch(
    conn: AsyncConnection, *, scope: LogScope, after: FeedPosition, limit: int, fields: Iterable[str]
) -> FeedBatch:
    """One batch (BatchReader.read) for a reader that reads once."""
    reader = BatchReader(scope=scope, limit=limit, fields=fields, dialect=conn.dialect.name)
    return await reader.read(conn, after)


PROJECT = models.Project.__table__


def select_changed_projects(projects: Sequence[str], *, after: int, bound: int) -> Select[Any]:
    """Which of `projects` have a live log whose latest change lies in (after, bound]: one index seek
    each, stopping at the first such log."""
    changed = (
        select(LOG.c.id)
        .where(
            LOG.c.project_id == PROJECT.c.id,
            LOG.c.deleted_at.is_(None),
            change_position > after,
            change_position <= bound,
        )
        .exists()
    )
    return select(PROJECT.c.id).where(PROJECT.c.id.in_(projects), changed)


async def changed_projects(
    conn: AsyncConnection, projects: Sequence[str], *, after: int, bound: int
) -> set[str]:
    """select_changed_projects, a few hundred projects per statement."""
    changed: set[str] = set()
    for start in range(0, len(projects), 500):
        chunk = projects[start : start + 500]
        result = await conn.execute(select_changed_projects(chunk, after=after, bound=bound))
        changed.update(str(project_id) for project_id in result.scalars())
    return changed
