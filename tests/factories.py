"""Test data through the project's own bulk writer: projects, related records, logs and API keys."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from graphql_api.data import models, writes
from graphql_api.data.fields import FIELDS, RELATIONS, Field
from graphql_api.data.kinds import DATETIME, ID, INT, STRING
from graphql_api.data.models import new_id

T = TypeVar("T")

READ = ["ReadWhatsAppLog"]
BASE_TIME = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)

# relation name (API) -> table name
TABLES = {name: relation.table.name for name, relation in RELATIONS.items()}
LOG_COLUMNS = frozenset(models.WhatsAppLog.__table__.c.keys())


def sample(field: Field, i: int) -> Any:
    """The i-th of many distinct values of a log's `field`, of its kind and within its column's length.

    For the fields a test does not name: a field added to the registry is then written and read back by
    the tests that go over every field. Ids are left to the caller (they link records)."""
    if field.kind is DATETIME:
        return BASE_TIME + timedelta(days=i % 11, hours=i % 7, microseconds=(i * 250_001) % 1_000_000)
    if field.kind is INT:
        return (i * 7919) % 2001 - 1000
    if field.kind is STRING:
        return text_for(field, f"{field.name} {i} ü%_")
    raise ValueError(f"{field.name} is an id: link a record instead")


def text_for(field: Field, text: str) -> str:
    """`text` cut to what the field's column holds."""
    length: int | None = getattr(field.column.type, "length", None)
    return text[:length] if length else text


def unnamed_values(i: int, named: Mapping[str, Any], *, nulls: bool = True) -> dict[str, Any]:
    """`sample` values (columns) for every field of a log that is not an id and not in `named` (columns);
    with `nulls`, now and then None for a nullable field."""
    return {
        f.attribute: None if nulls and f.nullable and i % 5 == 4 else sample(f, i)
        for f in FIELDS.values()
        if f.kind is not ID and f.attribute not in named
    }


# Fields a log cannot be written without (not null, no default), ids aside.
REQUIRED = [
    f
    for f in FIELDS.values()
    if not f.nullable and f.kind is not ID and f.column.default is None and f.column.server_default is None
]


class Factory:
    """Writes test records into the database at `url`; every method returns what it made."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._clock = itertools.count()
        # Inside `with`: one event loop and one pooled connection for every write (a third of the cost
        # of a new loop, engine and connection per write); outside: each write stands alone.
        self._runner: asyncio.Runner | None = None
        self._engine: AsyncEngine | None = None

    def __enter__(self) -> Factory:
        self._runner = asyncio.Runner()
        self._engine = create_async_engine(self.url, pool_size=1)
        return self

    def __exit__(self, *_: object) -> None:
        assert self._runner is not None and self._engine is not None
        try:
            self._runner.run(self._engine.dispose())
        finally:
            self._runner.close()
            self._runner = self._engine = None

    def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        if self._runner is not None and self._engine is not None:
            return self._runner.run(self._write(self._engine, work))

        async def alone() -> T:
            engine = create_async_engine(self.url, poolclass=NullPool)
            try:
                return await self._write(engine, work)
            finally:
                await engine.dispose()

        return asyncio.run(alone())

    @staticmethod
    async def _write(engine: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with engine.begin() as conn:
            return await work(conn)

    def _insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        self.run(lambda conn: writes.insert_rows(conn, models.Base.metadata.tables[table], rows))

    def project(self, name: str = "Project") -> str:
        project_id = new_id()
        self._insert("project", [{"id": project_id, "name": name, "created_at": BASE_TIME}])
        return project_id

    def related(self, relation: str, project_id: str | None, label: str | None = None) -> str:
        """A record of a related type (`incident`, `monitor`, `user`…); users take no project."""
        record_id = new_id()
        table = TABLES[relation]
        label_column = RELATIONS[relation].label
        row: dict[str, Any] = {
            "id": record_id,
            label_column: label or f"{relation} {record_id[:8]}",
            "created_at": BASE_TIME - timedelta(days=1),
        }
        if RELATIONS[relation].project_scoped:
            row["project_id"] = project_id
        else:
            row["email"] = f"{record_id[:8]}@example.com"
        self._insert(table, [row])
        return record_id

    def log_row(self, project_id: str, **fields: Any) -> dict[str, Any]:
        """A log's row for `project_id`, not written: for tests that write it in transactions of their own."""
        return self._log_row(project_id, fields)

    def _log_row(self, project_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        # The writer ignores keys that are no column: a misspelt one would leave its field unset unseen.
        unknown = set(fields) - LOG_COLUMNS
        if unknown:
            raise TypeError(f"whatsapp_log has no column {', '.join(sorted(unknown))}")
        created = BASE_TIME + timedelta(minutes=next(self._clock))
        row: dict[str, Any] = {
            "id": new_id(),
            "created_at": created,
            "updated_at": created,
            "project_id": project_id,
            "to_number": "+1-555-000-0000",
            "status": "Sent",
            "whatsapp_cost_in_usd_cents": 1,
        }
        # A required field added since the lines above were written gets a value of its kind.
        row.update({f.attribute: sample(f, 0) for f in REQUIRED if f.attribute not in row})
        row.update(fields)
        return row

    def log(self, project_id: str, **fields: Any) -> str:
        """One log; `fields` are column names (`to_number`, `incident_id`, `deleted_at`…)."""
        row = self._log_row(project_id, fields)
        self._insert("whatsapp_log", [row])
        return str(row["id"])

    def logs(self, project_id: str, count: int, **fields: Any) -> list[str]:
        """`count` logs with the same fields, one minute apart."""
        rows = [self._log_row(project_id, fields) for _ in range(count)]
        self._insert("whatsapp_log", rows)
        return [str(row["id"]) for row in rows]

    def api_key(
        self,
        project_id: str,
        permissions: Sequence[str] = READ,
        *,
        expires_at: datetime | None = None,
        revoked: bool = False,
    ) -> str:
        """A key's secret."""

        async def work(conn: AsyncConnection) -> str:
            key = await writes.create_api_key(
                conn, project_id=project_id, permissions=permissions, expires_at=expires_at
            )
            if revoked:
                await writes.revoke_api_key(conn, key_id=key.id)
            return key.secret

        return self.run(work)


def run_sync(coro: Awaitable[T]) -> T:
    async def go() -> T:
        return await coro

    return asyncio.run(go())
