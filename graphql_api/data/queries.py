"""Every SELECT the API runs: pages of logs, one log, counts, related records by id, API keys."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    FromClause,
    Result,
    Row,
    Select,
    Table,
    func,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from graphql_api.data import models
from graphql_api.data.fields import FIELDS, LOG, PROJECT, RELATIONS, Relation
from graphql_api.data.filters import Node, SortKey, order_by, reverse, seek, sort_keys, to_sql
from graphql_api.data.kinds import canonical_id
from graphql_api.settings import Settings

API_KEY = models.ApiKey.__table__
PROJECT_TABLE = models.Project.__table__
LIVE_COUNT = models.WhatsAppLogLiveCount.__table__


# A project id, or a bind parameter standing for one (compiled statements are cached without it).
ProjectId = str | BindParameter[str]


@lru_cache(maxsize=1024)
def record_type(keys: tuple[str, ...]) -> Any:
    return namedtuple("Record", keys)  # noqa: PYI024 - a new type per column set, made at run time


def records(result: Result[Any]) -> list[Any]:
    """The rows as plain named tuples, attributes named after the columns.

    GraphQL execution asks every object it completes whether it is awaitable (`hasattr(obj,
    "__await__")`); a SQLAlchemy Row answers that through its key-lookup fallback, raising and
    catching an exception each time, hundreds of times a page. A named tuple answers at C speed.
    """
    make = record_type(tuple(result.keys()))._make
    return [make(row) for row in result]


def _visible(project_id: ProjectId) -> ColumnElement[bool]:
    """The tenant filter and the soft delete: the only rows a key may ever see."""
    return (LOG.c.project_id == project_id) & LOG.c.deleted_at.is_(None)


@dataclass(frozen=True)
class LogScope:
    """The logs a statement may read: the project's live logs that match `where`, the filter held to the
    server's limits (nesting, `in` items) as it becomes SQL."""

    project_id: ProjectId
    where: Node | None = None
    max_filter_depth: int = 10
    max_in_items: int = 500
    max_conditions: int = 100

    @classmethod
    def of(cls, project_id: ProjectId, where: Node | None, settings: Settings) -> LogScope:
        return cls(
            project_id,
            where,
            settings.max_filter_depth,
            settings.max_in_items,
            settings.max_filter_conditions,
        )

    def conditions(self) -> list[ColumnElement[bool]]:
        return [
            _visible(self.project_id),
            to_sql(
                self.where,
                max_depth=self.max_filter_depth,
                max_in_items=self.max_in_items,
                max_conditions=self.max_conditions,
            ),
        ]


def _columns(fields: Iterable[str] | None) -> list[Any]:
    """The columns for the requested API fields (all when None); `id` always comes first."""
    names = FIELDS.keys() if fields is None else fields
    wanted = ["id", *(n for n in names if n != "id")]
    return [FIELDS[n].column for n in dict.fromkeys(wanted)]


async def list_logs(
    conn: AsyncConnection,
    *,
    scope: LogScope,
    order: Sequence[SortKey] = (),
    skip: int = 0,
    limit: int = 10,
    fields: Iterable[str] | None = None,
) -> Sequence[Any]:
    """One page of a project's logs; row attributes are the column names."""
    stmt = select_logs(scope=scope, order=order, skip=skip, limit=limit, fields=fields)
    return records(await conn.execute(stmt))


# From this many skipped logs on, a page's ids are found first and only its own rows are read (a
# "deferred join"): PostgreSQL reads every skipped row otherwise, where the ids come from the index
# alone (100,000 deep on the benchmark's data: 367 ms -> 24 ms). Shallow pages keep the single scan.
DEFERRED_JOIN_SKIP = 1000


def select_logs(
    *,
    scope: LogScope,
    order: Sequence[SortKey] = (),
    skip: int = 0,
    limit: int = 10,
    fields: Iterable[str] | None = None,
) -> Select[Any]:
    """The SELECT of one page of logs (also the inner query of the compiled path)."""
    page = select(*_columns(fields))
    if skip >= DEFERRED_JOIN_SKIP:
        ids = select(LOG.c.id).where(*scope.conditions()).order_by(*order_by(order)).offset(skip).limit(limit)
        found = ids.subquery("page")
        # The page's rows in the same total order (it ends with `id`); LIMIT again keeps SQLite from
        # flattening the compiled path's subquery and losing that order.
        return (
            page.select_from(LOG.join(found, LOG.c.id == found.c.id))
            .where(_visible(scope.project_id))  # found by the scoped query; kept for every read of logs
            .order_by(*order_by(order))
            .limit(limit)
        )
    return page.where(*scope.conditions()).order_by(*order_by(order)).offset(skip).limit(limit)


async def seek_logs(
    conn: AsyncConnection,
    *,
    scope: LogScope,
    order: Sequence[SortKey] = (),
    limit: int = 10,
    after: tuple[Sequence[Any], str] | None = None,
    before: tuple[Sequence[Any], str] | None = None,
    backward: bool = False,
    fields: Iterable[str] | None = None,
) -> Sequence[Any]:
    """Keyset pages: the first `limit` logs strictly between the `after` and `before` positions (each
    the sort values and id of a row), or the last `limit` when `backward`; always in the sort order."""
    stmt = select_seek_logs(
        scope=scope, order=order, limit=limit, after=after, before=before, backward=backward, fields=fields
    )
    rows = records(await conn.execute(stmt))
    return rows[::-1] if backward else rows


def select_seek_logs(
    *,
    scope: LogScope,
    order: Sequence[SortKey] = (),
    limit: int = 10,
    after: tuple[Sequence[Any], str] | None = None,
    before: tuple[Sequence[Any], str] | None = None,
    backward: bool = False,
    fields: Iterable[str] | None = None,
) -> Select[Any]:
    """The SELECT of a keyset page, in the sort order (reversed when `backward`); also the inner query
    of the compiled path."""
    keys = sort_keys(order)
    conditions = scope.conditions()
    if after is not None:
        conditions.append(seek(keys, *after))
    if before is not None:
        conditions.append(seek(reverse(keys), *before))
    # The sort columns are always read: the page's cursors are made of them.
    columns = _columns(None if fields is None else [*fields, *(k.field for k in keys)])
    return (
        select(*columns)
        .where(*conditions)
        .order_by(*order_by(reverse(keys) if backward else keys))
        .limit(limit)
    )


async def get_log(
    conn: AsyncConnection, *, project_id: str, log_id: str, fields: Iterable[str] | None = None
) -> Any | None:
    """One log of the project by id, or None (also for ids that are not UUIDs)."""
    stmt = select_log(project_id=project_id, log_id=log_id, fields=fields)
    if stmt is None:
        return None
    rows = records(await conn.execute(stmt))
    return rows[0] if rows else None


def select_log(
    *, project_id: ProjectId, log_id: str, fields: Iterable[str] | None = None
) -> Select[Any] | None:
    """The SELECT of one log by id; None when the id is not a UUID (no log can match)."""
    canonical = canonical_id(log_id)
    if canonical is None:
        return None
    return select(*_columns(fields)).where(_visible(project_id), LOG.c.id == canonical)


async def count_logs(conn: AsyncConnection, *, scope: LogScope) -> int:
    """How many of the project's logs match the filter."""
    return int((await conn.execute(select_count(scope=scope))).scalar_one())


def select_count(*, scope: LogScope) -> Select[Any]:
    """The SELECT counting the project's logs that match the filter."""
    if scope.where is None:
        # Kept by triggers (migration 0003): one row to read, whatever the project's size.
        live = select(LIVE_COUNT.c.live_logs).where(LIVE_COUNT.c.project_id == scope.project_id)
        return select(func.coalesce(live.scalar_subquery(), 0))
    return select(func.count()).select_from(LOG).where(*scope.conditions())


async def load_related(
    conn: AsyncConnection, *, relation: Relation, project_id: str, ids: Collection[str]
) -> dict[str, Any]:
    """Rows of one related type by id, in one `IN` query, limited to the project's own records."""
    table = relation.table
    stmt = select(
        table.c.id,
        table.c[relation.label],
        table.c.created_at,
    ).where(table.c.id.in_(list(ids)), related_scope(relation, project_id))
    return {row.id: row for row in records(await conn.execute(stmt))}


def related_scope(
    relation: Relation, project_id: ProjectId, *, table: FromClause | None = None
) -> ColumnElement[bool]:
    """The related records a key may see: its own project's (users span projects; the project itself).
    `table`: an alias of the relation's table to say it of."""
    table = relation.table if table is None else table
    if relation.project_scoped:
        return table.c.project_id == project_id
    if relation is PROJECT:
        return table.c.id == project_id
    return true()


def relation(name: str) -> Relation:
    return PROJECT if name == PROJECT.name else RELATIONS[name]


async def find_api_key(
    conn: AsyncConnection, *, secret_hash: str
) -> Row[Any, Any, Any, Any, Any, Any] | None:
    """The API key whose secret hashes to `secret_hash`."""
    stmt = select(
        API_KEY.c.id,
        API_KEY.c.project_id,
        API_KEY.c.secret_hash,
        API_KEY.c.permissions,
        API_KEY.c.expires_at,
        API_KEY.c.revoked_at,
    ).where(API_KEY.c.secret_hash == secret_hash)
    return (await conn.execute(stmt)).first()


async def list_projects(conn: AsyncConnection) -> Sequence[Row[Any, Any]]:
    stmt = select(PROJECT_TABLE.c.id, PROJECT_TABLE.c.name).order_by(
        PROJECT_TABLE.c.created_at, PROJECT_TABLE.c.id
    )
    return (await conn.execute(stmt)).all()


async def list_api_keys(conn: AsyncConnection, *, project_id: str | None = None) -> Sequence[Any]:
    """A project's keys, or every project's (None), oldest first; never their hashes."""
    stmt = select(
        API_KEY.c.id,
        API_KEY.c.name,
        API_KEY.c.prefix,
        API_KEY.c.permissions,
        API_KEY.c.created_at,
        API_KEY.c.expires_at,
        API_KEY.c.revoked_at,
    ).order_by(API_KEY.c.created_at, API_KEY.c.id)
    if project_id is not None:
        stmt = stmt.where(API_KEY.c.project_id == project_id)
    return (await conn.execute(stmt)).all()


async def ping(conn: AsyncConnection) -> None:
    await conn.execute(select(1))


async def deleted_logs(conn: AsyncConnection, *, ids: Collection[str]) -> set[str]:
    """Which of `ids` are soft-deleted logs."""
    wanted = list(ids)
    found: set[str] = set()
    for start in range(0, len(wanted), 5000):
        stmt = select(LOG.c.id).where(
            LOG.c.id.in_(wanted[start : start + 5000]), LOG.c.deleted_at.is_not(None)
        )
        found.update(row.id for row in await conn.execute(stmt))
    return found


async def owners(conn: AsyncConnection, *, table: Table, ids: Collection[str]) -> dict[str, str | None]:
    """Which of `ids` exist in `table`, each with its project id (None where the table has none)."""
    project = table.c.get("project_id")
    columns = [table.c.id] if project is None else [table.c.id, project]
    wanted = list(ids)
    found: dict[str, str | None] = {}
    # In slices: SQLite and asyncpg both cap the number of bound parameters in one statement.
    for start in range(0, len(wanted), 5000):
        stmt = select(*columns).where(table.c.id.in_(wanted[start : start + 5000]))
        for row in await conn.execute(stmt):
            found[row.id] = None if project is None else row.project_id
    return found
