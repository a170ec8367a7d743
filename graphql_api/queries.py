"""Every SELECT the API runs: pages of logs, one log, counts, related records by id, API keys."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from graphql_api import models
from graphql_api.fields import FIELDS, LOG, PROJECT, RELATIONS, Relation
from graphql_api.filters import Node, SortKey, canonical_id, order_by, to_sql

API_KEY = models.ApiKey.__table__
PROJECT_TABLE = models.Project.__table__


def _visible(project_id: str) -> ColumnElement[bool]:
    """The tenant filter and the soft delete: the only rows a key may ever see."""
    return (LOG.c.project_id == project_id) & LOG.c.deleted_at.is_(None)


def _columns(fields: Iterable[str] | None) -> list[Any]:
    """The columns for the requested API fields (all when None); `id` always comes first."""
    names = FIELDS.keys() if fields is None else fields
    wanted = ["id", *(n for n in names if n != "id")]
    return [FIELDS[n].column for n in dict.fromkeys(wanted)]


async def list_logs(
    conn: AsyncConnection,
    *,
    project_id: str,
    where: Node | None = None,
    order: Sequence[SortKey] = (),
    skip: int = 0,
    limit: int = 10,
    fields: Iterable[str] | None = None,
    max_filter_depth: int = 10,
    max_in_items: int = 500,
) -> Sequence[Row[Any]]:
    """One page of a project's logs; row attributes are the column names."""
    stmt = (
        select(*_columns(fields))
        .where(_visible(project_id), to_sql(where, max_depth=max_filter_depth, max_in_items=max_in_items))
        .order_by(*order_by(order))
        .offset(skip)
        .limit(limit)
    )
    return (await conn.execute(stmt)).all()


async def get_log(
    conn: AsyncConnection, *, project_id: str, log_id: str, fields: Iterable[str] | None = None
) -> Row[Any] | None:
    """One log of the project by id, or None (also for ids that are not UUIDs)."""
    canonical = canonical_id(log_id)
    if canonical is None:
        return None
    stmt = select(*_columns(fields)).where(_visible(project_id), LOG.c.id == canonical)
    return (await conn.execute(stmt)).first()


async def count_logs(
    conn: AsyncConnection,
    *,
    project_id: str,
    where: Node | None = None,
    max_filter_depth: int = 10,
    max_in_items: int = 500,
) -> int:
    """How many of the project's logs match the filter."""
    stmt = (
        select(func.count())
        .select_from(LOG)
        .where(_visible(project_id), to_sql(where, max_depth=max_filter_depth, max_in_items=max_in_items))
    )
    return int((await conn.execute(stmt)).scalar_one())


async def load_related(
    conn: AsyncConnection, *, relation: Relation, project_id: str, ids: Collection[str]
) -> dict[str, Row[Any]]:
    """Rows of one related type by id, in one `IN` query, limited to the project's own records."""
    table = relation.table
    stmt = select(
        table.c.id,
        table.c[relation.label],
        table.c.created_at,
    ).where(table.c.id.in_(list(ids)))
    if relation.project_scoped:
        stmt = stmt.where(table.c.project_id == project_id)
    elif relation is PROJECT:
        stmt = stmt.where(table.c.id == project_id)
    return {row.id: row for row in await conn.execute(stmt)}


def relation(name: str) -> Relation:
    return PROJECT if name == PROJECT.name else RELATIONS[name]


async def find_api_key(conn: AsyncConnection, *, secret_hash: str) -> Row[Any] | None:
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


async def list_projects(conn: AsyncConnection) -> Sequence[Row[Any]]:
    stmt = select(PROJECT_TABLE.c.id, PROJECT_TABLE.c.name).order_by(
        PROJECT_TABLE.c.created_at, PROJECT_TABLE.c.id
    )
    return (await conn.execute(stmt)).all()


async def list_api_keys(conn: AsyncConnection, *, project_id: str) -> Sequence[Row[Any]]:
    stmt = (
        select(
            API_KEY.c.id,
            API_KEY.c.name,
            API_KEY.c.prefix,
            API_KEY.c.permissions,
            API_KEY.c.created_at,
            API_KEY.c.expires_at,
            API_KEY.c.revoked_at,
        )
        .where(API_KEY.c.project_id == project_id)
        .order_by(API_KEY.c.created_at, API_KEY.c.id)
    )
    return (await conn.execute(stmt)).all()


async def ping(conn: AsyncConnection) -> None:
    await conn.execute(select(1))
