"""The few writes there are, all from the CLI: API keys, demo data and imports. The server never writes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from graphql_api.data import models
from graphql_api.data.auth import DISPLAY_PREFIX_LENGTH, hash_secret, new_secret
from graphql_api.data.models import new_id, utcnow

API_KEY: Table = models.ApiKey.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class CreatedKey:
    id: str
    secret: str
    prefix: str


async def create_api_key(
    conn: AsyncConnection,
    *,
    project_id: str,
    permissions: Sequence[str],
    name: str = "API key",
    expires_at: datetime | None = None,
) -> CreatedKey:
    """Store a new key's hash and return its secret, which is not kept anywhere."""
    secret = new_secret()
    key = CreatedKey(id=new_id(), secret=secret, prefix=secret[:DISPLAY_PREFIX_LENGTH])
    await conn.execute(
        insert(API_KEY).values(
            id=key.id,
            project_id=project_id,
            name=name,
            secret_hash=hash_secret(secret),
            prefix=key.prefix,
            permissions=list(dict.fromkeys(permissions)),
            created_at=utcnow(),
            expires_at=expires_at,
        )
    )
    return key


async def revoke_api_key(conn: AsyncConnection, *, key_id: str) -> bool:
    """Mark a key revoked; False when there is no such key (or it was revoked already)."""
    result = await conn.execute(
        update(API_KEY)
        .where(API_KEY.c.id == key_id, API_KEY.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)


async def insert_rows(
    conn: AsyncConnection, table: Table, rows: Iterable[Mapping[str, Any]], *, chunk: int = 5000
) -> int:
    """Bulk-insert rows in chunks; returns how many.

    RETURNING makes SQLAlchemy send each chunk as a few multi-row INSERTs ("insertmanyvalues"),
    where a plain executemany runs one statement per row on asyncpg: a statement-level trigger (the
    live-log counts) then fires once per few hundred rows, not once per row.
    """
    total = 0
    batch: list[Mapping[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            total += await _insert_batch(conn, table, batch)
            batch = []
    if batch:
        total += await _insert_batch(conn, table, batch)
    return total


async def _insert_batch(conn: AsyncConnection, table: Table, batch: list[Mapping[str, Any]]) -> int:
    result = await conn.execute(insert(table).returning(table.c.id), batch)
    return len(result.all())


async def upsert_rows(conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows, updating every given column of those whose id exists already (multi-row statements)."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    else:
        raise NotImplementedError(f"upsert on {dialect}")
    stmt = dialect_insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={key: stmt.excluded[key] for key in rows[0] if key != "id"},
    )
    # RETURNING: multi-row statements instead of one per row (see insert_rows).
    await conn.execute(stmt.returning(table.c.id), list(rows))
