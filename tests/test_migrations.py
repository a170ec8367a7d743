"""The Alembic migrations: they build exactly the models' schema, go down to nothing and back up, and no
step leaves whatsapp_log without the triggers that keep its live counts."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Integer, String, column, delete, insert, inspect, select, table, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from graphql_api.data.migrate import alembic_config
from graphql_api.data.models import GUID, Base, UTCDateTime, new_id
from tests.conftest import empty_database_url

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


def rolled_back(url: str, work: Callable[[Connection], T]) -> T:
    """Run `work` on a connection to `url`, in one transaction that is rolled back."""

    async def go() -> T:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                try:
                    return await conn.run_sync(work)
                finally:
                    await conn.rollback()
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


# The revision that created whatsapp_log_live_count and its triggers: every later one must keep them.
TRIGGERS_SINCE = "0003"
EVENTS = {"INSERT", "DELETE", "UPDATE"}
# pg_trigger.tgtype bits of the events
POSTGRESQL_EVENT_BITS = {"INSERT": 1 << 2, "DELETE": 1 << 3, "UPDATE": 1 << 4}
SQLITE_TRIGGER_EVENT = re.compile(
    r"CREATE\s+TRIGGER\s+\S+\s+(?:BEFORE\s+|AFTER\s+|INSTEAD\s+OF\s+)?(\w+)", re.I
)

# The columns every revision since 0001 has, without the models' Python defaults: at an older revision
# the models may describe columns that the database does not have yet.
PROJECT = table(
    "project", column("id", GUID()), column("created_at", UTCDateTime()), column("name", String())
)
LOG = table(
    "whatsapp_log",
    column("id", GUID()),
    column("project_id", GUID()),
    column("created_at", UTCDateTime()),
    column("updated_at", UTCDateTime()),
    column("deleted_at", UTCDateTime()),
    column("to_number", String()),
    column("status", String()),
)
LIVE_COUNT = table("whatsapp_log_live_count", column("project_id", GUID()), column("live_logs", Integer()))
NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def revisions() -> list[str]:
    """Every revision, from the first to head."""
    script = ScriptDirectory.from_config(alembic_config())
    return [script_revision.revision for script_revision in reversed(list(script.walk_revisions()))]


def to_revision(target: str, move: Callable[[Config, str], None]) -> Callable[[Connection], None]:
    return lambda connection: move(alembic_config(connection), target)


def trigger_events(connection: Connection) -> set[str]:
    """The events on which an enabled, user-defined trigger of whatsapp_log fires."""
    if connection.dialect.name == "postgresql":
        types = connection.exec_driver_sql(
            "SELECT tgtype FROM pg_trigger WHERE tgrelid = 'whatsapp_log'::regclass"
            " AND NOT tgisinternal AND tgenabled <> 'D'"
        ).scalars()
        return {event for tgtype in types for event, bit in POSTGRESQL_EVENT_BITS.items() if tgtype & bit}
    definitions = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'whatsapp_log'"
    ).scalars()
    matches = (SQLITE_TRIGGER_EVENT.match(definition) for definition in definitions)
    return {match.group(1).upper() for match in matches if match}


def live_counts_through_a_log_life(connection: Connection) -> list[int]:
    """A project's live count after each step of one log's life: insert, soft delete, restore, delete."""
    project, log = new_id(), new_id()
    connection.execute(insert(PROJECT).values(id=project, created_at=NOW, name="Triggers"))

    def live_logs() -> int:
        count = connection.execute(select(LIVE_COUNT.c.live_logs).where(LIVE_COUNT.c.project_id == project))
        return count.scalar() or 0

    the_log = LOG.c.id == log
    steps = [
        insert(LOG).values(
            id=log, project_id=project, created_at=NOW, updated_at=NOW, to_number="+15550100", status="Sent"
        ),
        update(LOG).where(the_log).values(deleted_at=NOW),
        update(LOG).where(the_log).values(deleted_at=None),
        delete(LOG).where(the_log),
    ]
    counts = []
    for statement in steps:
        connection.execute(statement)
        counts.append(live_logs())
    return counts


def assert_live_counts_follow_the_logs(url: str, step: str) -> None:
    assert on(url, trigger_events) == EVENTS, f"whatsapp_log lacks live-count triggers after {step}"
    counts = rolled_back(url, live_counts_through_a_log_life)
    assert counts == [1, 0, 1, 0], f"the live count does not follow the logs after {step}"


def test_no_migration_step_leaves_whatsapp_log_without_its_live_count_triggers(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = empty_database_url(backend, tmp_path, request)
    every_revision = revisions()
    with_triggers = every_revision[every_revision.index(TRIGGERS_SINCE) :]

    for target in every_revision:
        on(url, to_revision(target, command.upgrade))
        if target in with_triggers:
            assert_live_counts_follow_the_logs(url, f"upgrading to {target}")

    for target in reversed(with_triggers[:-1]):
        on(url, to_revision(target, command.downgrade))
        assert_live_counts_follow_the_logs(url, f"downgrading to {target}")
