"""EXPLAIN QUERY PLAN for the statements the benchmark's requests run, read from the app's own SQL."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from bench import queries as q
from bench.data import Dataset
from graphql_api.data import queries
from graphql_api.data.fields import RELATIONS
from graphql_api.data.filters import Condition, SortKey, seek

NEWEST = [SortKey("createdAt", descending=True)]
BY_STATUS = Condition("status", "eq", q.STATUS)


def _sql(stmt: Any) -> tuple[str, list[Any]]:
    compiled = stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    processors = compiled._bind_processors
    values = [
        processors[name](params[name]) if name in processors else params[name]
        for name in compiled.positiontup
    ]
    return str(compiled), values


def statements(data: Dataset, deep_position: tuple[list[Any], str] | None) -> dict[str, Any]:
    """The benchmark's statements, built by graphql_api.data.queries exactly as the API builds them."""
    project = data.largest_project
    by_status = queries.LogScope(project, BY_STATUS)
    incident = RELATIONS["incident"]
    found: dict[str, Any] = {
        "page (status filter, newest first)": queries.select_logs(scope=by_status, order=NEWEST, limit=100),
        "page skipping 100,000": queries.select_logs(scope=by_status, order=NEWEST, skip=100_000, limit=100),
        "count (no filter)": queries.select_count(scope=queries.LogScope(project)),
        "count by status": queries.select_count(scope=by_status),
        "related records by id (incident)": select(incident.table.c.id).where(
            incident.table.c.id.in_(["00000000-0000-4000-8000-000000000000"]),
            queries.related_scope(incident, project),
        ),
    }
    if deep_position is not None:
        found["connection page after a cursor"] = queries.select_logs(
            scope=by_status, order=NEWEST, limit=101
        ).where(seek(NEWEST, *deep_position))
    return found


def plans(data: Dataset, deep_position: tuple[list[Any], str] | None = None) -> dict[str, list[str]]:
    """Each statement's query plan, as SQLite reports it."""
    out: dict[str, list[str]] = {}
    with sqlite3.connect(data.path) as db:
        for name, stmt in statements(data, deep_position).items():
            sql, values = _sql(stmt)
            out[name] = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, values)]
    return out
