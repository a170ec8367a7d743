"""The Alembic migrations: they build exactly the models' schema, and go down to nothing and back up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from graphql_api.data.migrate import alembic_config
from graphql_api.data.models import Base

T = TypeVar("T")


def on(url: str, work: Callable[[Connection], T]) -> T:
    """Run `work` on a connection to `url`, in one committed transaction."""

    async def go() -> T:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def differences(connection: Connection) -> list[Any]:
    """What autogenerate would change to make the database match the models (nothing, we hope)."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


def downgrade(connection: Connection) -> None:
    command.downgrade(alembic_config(connection), "base")


def revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def test_the_migrated_database_matches_the_models(database_url: str) -> None:
    assert on(database_url, differences) == []
    assert on(database_url, tables) == set(Base.metadata.tables) | {"alembic_version"}


def test_downgrade_to_base_empties_the_database_and_upgrade_rebuilds_it(database_url: str) -> None:
    try:
        on(database_url, downgrade)
        assert on(database_url, tables) <= {"alembic_version"}
        assert on(database_url, revision) is None
    finally:
        # Whatever happens, leave the database at head for the tests that share it.
        on(database_url, upgrade)

    assert on(database_url, differences) == []
    assert on(database_url, revision) is not None


def test_upgrading_a_database_at_head_changes_nothing(database_url: str) -> None:
    before = on(database_url, revision)

    on(database_url, upgrade)

    assert on(database_url, revision) == before
    assert on(database_url, differences) == []
