"""The databases the tests run on: SQLite always, PostgreSQL when TEST_DATABASE_URL points at a server.

TEST_DATABASE_URL is an administrative database on that server (`postgresql+asyncpg://postgres@host/postgres`)
used only to CREATE and DROP the run's own databases, named `graphql_api_test_<host>_<pid>_<random>`.
One of them is migrated once per run; each test empties its tables (DELETE, child tables first: about a
millisecond for the little data a test writes, where TRUNCATE takes 30 ms and a CREATE DATABASE from a
template 50 ms).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import socket
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from graphql_api.data.migrate import upgrade

TEST_DATABASE_URL = "TEST_DATABASE_URL"
BACKENDS = ("sqlite", "postgresql")
PREFIX = "graphql_api_test_"
# Runs on other machines may share the server: only this host's pids can be checked for life.
HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
NO_POSTGRESQL = (
    f"PostgreSQL tests need {TEST_DATABASE_URL} (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/postgres)"
)


def admin_url() -> str | None:
    return os.environ.get(TEST_DATABASE_URL) or None


async def migrate(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresServer:
    """Creates and drops this run's databases; every one it made is dropped by close()."""

    def __init__(self, url: str) -> None:
        self.admin: URL = make_url(url)
        if self.admin.get_backend_name() != "postgresql":
            raise ValueError(f"{TEST_DATABASE_URL} must be a postgresql+asyncpg:// URL, not {url!r}")
        # One event loop for the run, so the admin connection and the cleaners' connections live on.
        self.runner = asyncio.Runner()
        self._admin: asyncpg.Connection[Any] | None = None
        self._created: list[str] = []
        self._cleaners: list[Cleaner] = []

    def url(self, database: str) -> str:
        """The app's URL (SQLAlchemy, asyncpg driver) of one database on the server."""
        return self.admin.set(database=database).render_as_string(hide_password=False)

    def dsn(self, database: str) -> str:
        """The same database as a plain asyncpg DSN."""
        return self.admin.set(drivername="postgresql", database=database).render_as_string(
            hide_password=False
        )

    @property
    def host(self) -> str:
        return self.admin.host or "127.0.0.1"

    @property
    def port(self) -> int:
        return self.admin.port or 5432

    def _connection(self) -> asyncpg.Connection[Any]:
        if self._admin is None:
            try:
                self._admin = self.runner.run(
                    asyncpg.connect(self.dsn(self.admin.database or "postgres"), timeout=10)
                )
            except (OSError, asyncpg.PostgresError) as exc:
                # A set but dead URL fails the PostgreSQL tests (CI must not pass on SQLite alone).
                shown = self.admin.render_as_string(hide_password=True)
                raise RuntimeError(f"{TEST_DATABASE_URL}={shown} does not answer: {exc}") from exc
            self.runner.run(self._drop_stale())
        return self._admin

    async def _drop_stale(self) -> None:
        """Databases left by runs that were killed before they could drop them."""
        assert self._admin is not None
        mine = f"{PREFIX}{HOST}_"
        query = "SELECT datname FROM pg_database WHERE starts_with(datname, $1)"
        names = await self._admin.fetch(query, mine)
        for (name,) in names:
            pid = name.removeprefix(mine).split("_")[0]
            if pid.isdigit() and not _pid_alive(int(pid)):
                await self._admin.execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")

    def create(self, *, migrated: bool = False) -> str:
        """A new empty (or migrated) database; returns its app URL."""
        admin = self._connection()
        name = f"{PREFIX}{HOST}_{os.getpid()}_{secrets.token_hex(4)}"
        ctype = self.runner.run(
            admin.fetchval("SELECT datctype FROM pg_database WHERE datname = current_database()")
        )
        if "utf" not in str(ctype).lower():
            ctype = "C.UTF-8"  # lower() and ILIKE fold non-ASCII letters only under a UTF-8 ctype
        # C collation: text sorts by code point, as SQLite's does.
        self.runner.run(
            admin.execute(
                f"CREATE DATABASE {_quote(name)} TEMPLATE template0 ENCODING 'UTF8' "
                f"LC_COLLATE 'C' LC_CTYPE '{ctype}'"
            )
        )
        self._created.append(name)
        url = self.url(name)
        if migrated:
            self.runner.run(migrate(url))
        return url

    def drop(self, url: str) -> None:
        name = make_url(url).database
        assert name is not None and name in self._created
        self.runner.run(self._connection().execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)"))
        self._created.remove(name)

    def cleaner(self, url: str) -> Cleaner:
        cleaner = Cleaner(self, make_url(url).database or "")
        self._cleaners.append(cleaner)
        return cleaner

    def close(self) -> None:
        for cleaner in self._cleaners:
            cleaner.close()
        for name in list(self._created):
            self.runner.run(
                self._connection().execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")
            )
        self._created.clear()
        if self._admin is not None:
            self.runner.run(self._admin.close())
        self.runner.close()


# The tables as they are now: a test that migrates the shared database (down and up, or to a revision
# added while the run goes on) recreates or adds tables, and the DELETE script must follow.
_TABLES_NOW = """SELECT string_agg(oid::text, ',' ORDER BY oid) FROM pg_class
                 WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')"""


class Cleaner:
    """Empties every table of one database but alembic_version, children before parents."""

    def __init__(self, server: PostgresServer, database: str) -> None:
        self.server = server
        self._conn: asyncpg.Connection[Any] = server.runner.run(
            asyncpg.connect(server.dsn(database), timeout=10)
        )
        self._tables = ""
        self._script = ""

    async def _delete_script(self) -> str:
        tables = {
            row["name"]
            for row in await self._conn.fetch(
                "SELECT tablename AS name FROM pg_tables"
                " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        }
        references = await self._conn.fetch(
            """SELECT child.relname AS child, parent.relname AS parent
               FROM pg_constraint c
               JOIN pg_class child ON child.oid = c.conrelid
               JOIN pg_class parent ON parent.oid = c.confrelid
               WHERE c.contype = 'f' AND child.relname <> parent.relname"""
        )
        order: list[str] = []
        remaining = set(tables)
        while remaining:
            # a table can be emptied once no table still holding rows points at it
            ready = sorted(
                t
                for t in remaining
                if not any(r["parent"] == t and r["child"] in remaining for r in references)
            )
            if not ready:
                raise RuntimeError(f"foreign keys form a cycle among {sorted(remaining)}")
            order.extend(ready)
            remaining.difference_update(ready)
        return "; ".join(f"DELETE FROM {_quote(t)}" for t in order)

    def clean(self) -> None:
        self.server.runner.run(self._clean())

    async def _clean(self) -> None:
        tables = await self._conn.fetchval(_TABLES_NOW)
        if tables != self._tables:
            self._script, self._tables = await self._delete_script(), tables
        await self._conn.execute(self._script)

    def close(self) -> None:
        self.server.runner.run(self._conn.close())
