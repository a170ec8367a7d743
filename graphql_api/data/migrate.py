"""Alembic, driven from code: the migrations are the only source of the database schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate the database behind `engine` to `revision`."""

    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(read)


def head_revision() -> str | None:
    """The revision this version of the code migrates to."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL, or None (PostgreSQL, an in-memory or `file:` URI database)."""
    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name).resolve()


def location(url: str) -> str:
    """Where a database is, for people: an SQLite file's absolute path, or the URL without its password."""
    path = sqlite_path(url)
    if path is not None:
        return str(path)
    parsed = make_url(url)
    return parsed.set(drivername=parsed.get_backend_name()).render_as_string(hide_password=True)


async def schema_problem(url: str, engine: AsyncEngine) -> str | None:
    """Why the database at `url` cannot be used as it is (one line that says what to run), or None.

    Checks that an SQLite file exists before connecting, as connecting would create an empty one.
    """
    where = location(url)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return f"there is no database at {where}: run `graphql-api db upgrade` to create it"
    revision = await current_revision(engine)
    head = head_revision()
    if revision is None:
        return f"the database at {where} has no tables: run `graphql-api db upgrade`"
    if revision == head:
        return None
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError:
        return (
            f"the database at {where} is at migration {revision}, which this version of graphql-api does "
            f"not know (it needs {head}): a newer release migrated it"
        )
    return f"the database at {where} is at migration {revision}, not {head}: run `graphql-api db upgrade`"
