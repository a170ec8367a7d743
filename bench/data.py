"""The benchmark's databases: built once through the project's migrations and bulk loader, then reused.

SQLite: a file in the cache, keyed by the data's parameters. PostgreSQL (when a server is configured):
a database on that server named from the same key. A reused database is still migrated to head, so an
index added by a later migration is there without rebuilding a million rows.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from graphql_api.cli.seed import Plan, seed_demo
from graphql_api.data import writes
from graphql_api.data.migrate import upgrade

CACHE = Path(__file__).parent / ".cache"
POSTGRESQL_ENV = "BENCH_POSTGRESQL_URL"
POSTGRESQL_PREFIX = "graphql_api_bench_"
logger = logging.getLogger("bench")

BACKENDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
SERVER_VERSION = {"sqlite": "SELECT sqlite_version()", "postgresql": "SHOW server_version"}
# The planner's statistics after a build, as an operator would keep them. On PostgreSQL the VACUUM also
# sets the visibility map, which autovacuum would otherwise do for a fresh million rows mid-measurement.
AFTER_BUILD = {"sqlite": "ANALYZE", "postgresql": "VACUUM (ANALYZE)"}
PROJECT_SIZES = text(
    "SELECT project_id, count(*) FROM whatsapp_log WHERE deleted_at IS NULL "
    "GROUP BY project_id ORDER BY count(*) DESC, project_id"
)


@dataclass(frozen=True)
class Dataset:
    url: str  # the server's DATABASE_URL
    largest_project: str
    typical_project: str
    # A secret per project, made for this run (keys are cheap; the hash is all that is stored).
    keys: dict[str, str]
    built_seconds: float | None
    largest_logs: int
    typical_logs: int
    server: str  # "SQLite 3.40.1", "PostgreSQL 15.2 ..."

    @property
    def backend(self) -> str:
        return make_url(self.url).get_backend_name()

    @property
    def path(self) -> Path:
        """The SQLite file (the sqlite3 floor and EXPLAIN QUERY PLAN read it directly)."""
        if self.backend != "sqlite":
            raise ValueError(f"not an SQLite dataset: {self.location}")
        return Path(str(make_url(self.url).database))

    @property
    def location(self) -> str:
        """Where the data is, for people: the file, or the database's URL without its password."""
        return str(self.path) if self.backend == "sqlite" else make_url(self.url).render_as_string()


BENCH_NOW = datetime(2026, 11, 1, tzinfo=UTC)


def plan_for(logs: int, projects: int = 50, seed: int = 1) -> Plan:
    """The issue's data: 50 projects, one with 40% of the logs, texts of 50 to 1,000 characters."""
    return Plan(
        projects=projects,
        logs=logs,
        seed=seed,
        first_project_share=0.4,
        text_length=(50, 1000),
        now=BENCH_NOW,  # fixed, so that the cached databases stay valid and the measured dates mean the same
    )


def _key(plan: Plan) -> str:
    spec = {
        "projects": plan.projects, "logs": plan.logs, "seed": plan.seed, "share": plan.first_project_share,
        "text": list(plan.text_length), "days": plan.days, "now": plan.now.isoformat(), "format": 1,
    }  # fmt: skip
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def plain_dsn(url: str) -> str:
    """A PostgreSQL URL (SQLAlchemy's, asyncpg driver) as asyncpg's own DSN."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _on(url: str, database: str) -> str:
    """`url` with another database on the same server."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def _autocommit(engine: AsyncEngine, statement: str) -> None:
    """A statement outside a transaction (PostgreSQL runs VACUUM only so)."""
    async with engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text(statement))


async def _seed(url: str, plan: Plan) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await seed_demo(conn, plan)
        await _autocommit(engine, AFTER_BUILD[engine.dialect.name])
    finally:
        await engine.dispose()


def _build(url: str, plan: Plan, name: str) -> float:
    """Build `plan` at `url` with the project's own code; the seconds it took."""
    logger.info("building %s (%d logs); reused by later runs", name, plan.logs)
    started = time.perf_counter()
    asyncio.run(_seed(url, plan))
    built = time.perf_counter() - started
    logger.info("built in %.0f s", built)
    return built


async def _open(url: str, built: float | None) -> Dataset:
    """Migrate a built database to head, pick its largest and a typical (median-sized) project, and
    make a fresh API key for each."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        await upgrade(engine)
        # Later migrations may have added indexes since the data was analysed.
        await _autocommit(engine, "ANALYZE")
        async with engine.begin() as conn:
            version = (await conn.execute(text(SERVER_VERSION[engine.dialect.name]))).scalar_one()
            counts = [
                (str(project), int(logs)) for project, logs in (await conn.execute(PROJECT_SIZES)).all()
            ]
            (largest, largest_logs), (typical, typical_logs) = counts[0], counts[len(counts) // 2]
            keys = {}
            for project_id in (largest, typical):
                created = await writes.create_api_key(
                    conn, project_id=project_id, permissions=["ReadWhatsAppLog"], name="bench"
                )
                keys[project_id] = created.secret
        server = f"{BACKENDS[engine.dialect.name]} {version}"
    finally:
        await engine.dispose()
    return Dataset(url, largest, typical, keys, built, largest_logs, typical_logs, server)


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def prepare(plan: Plan, *, cache: Path = CACHE, rebuild: bool = False) -> Dataset:
    """The SQLite database for `plan`: reused from the cache when it is there, else built (and analysed)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"logs-{plan.logs}-{_key(plan)}.db"
    built: float | None = None
    if rebuild or not path.exists():
        partial = path.with_suffix(".partial")
        for leftover in cache.glob(partial.name + "*"):
            leftover.unlink()
        built = _build(_sqlite_url(partial), plan, path.name)
        with sqlite3.connect(partial) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        partial.replace(path)
    return asyncio.run(_open(_sqlite_url(path), built))


async def _admin(admin_url: str, query: str, *args: Any) -> Any:
    """One statement on the server's administrative database; its first value."""
    connection = await asyncpg.connect(plain_dsn(admin_url), timeout=10)
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


async def _rename(admin_url: str, old: str, new: str) -> None:
    """ALTER DATABASE ... RENAME, once the build's last session has ended (it ends just after its
    client disconnects)."""
    for _ in range(100):
        try:
            await _admin(admin_url, f'ALTER DATABASE "{old}" RENAME TO "{new}"')
            return
        except asyncpg.ObjectInUseError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{old} is still in use: cannot rename it to {new}")


def prepare_postgresql(plan: Plan, admin_url: str, *, rebuild: bool = False) -> Dataset:
    """The PostgreSQL database for `plan` on the server of `admin_url` (an administrative database
    there, used to create it): reused when it is there, else built into `<name>_partial` and renamed
    once complete, so an interrupted build is never reused."""
    if make_url(admin_url).get_backend_name() != "postgresql":
        raise ValueError(f"not a postgresql+asyncpg:// URL: {admin_url!r}")
    name = f"{POSTGRESQL_PREFIX}{_key(plan)}"
    url = _on(admin_url, name)
    exists = "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)"
    built: float | None = None
    if rebuild or not asyncio.run(_admin(admin_url, exists, name)):
        partial = f"{name}_partial"
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{partial}" WITH (FORCE)'))
        # Text sorts by code point, as on SQLite; a UTF-8 ctype folds every letter
        # (docs/production.md: "Text").
        asyncio.run(
            _admin(
                admin_url,
                f"CREATE DATABASE \"{partial}\" TEMPLATE template0 ENCODING 'UTF8' "
                "LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'",
            )
        )
        built = _build(_on(admin_url, partial), plan, name)
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(_rename(admin_url, partial, name))
    return asyncio.run(_open(url, built))


def dataset_arguments(parser: argparse.ArgumentParser, *, postgresql: str) -> None:
    """The options every benchmark over these databases takes: --rebuild, --cache, --postgresql (whose
    help says what the run does with it) and --json."""
    parser.add_argument("--rebuild", action="store_true", help="build the databases again even if cached")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where built databases are kept")
    parser.add_argument(
        "--postgresql",
        metavar="URL",
        default=os.environ.get(POSTGRESQL_ENV) or None,
        help=f"{postgresql} (default ${POSTGRESQL_ENV})",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
