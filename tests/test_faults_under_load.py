"""A real server under load survives what happens to a production database: every backend terminated,
a database refusing connections, a statement stuck past its timeout (on the run's PostgreSQL server),
and, on a scratch cluster of the test's own, `max_connections` used up, its password changed, a restart.

Each test loads `graphql-api serve` (the execution path of the run, TEST_EXECUTION_PATH) with GraphQL,
REST and /readyz requests, breaks the database for a couple of seconds and repairs it. Every answer is
`ok` or the fault's code (never INTERNAL, a 500 or no answer), the log has warnings and no error, and the
same process serves every kind of request within 5 s of the repair. Skipped without TEST_DATABASE_URL.
The requests go to /graphql as well as REST, so .ci/run runs this file on both execution paths.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from graphql_api.settings import Settings
from tests.conftest import EXECUTION_PATH
from tests.databases import NO_POSTGRESQL, PostgresServer, admin_url
from tests.factories import Factory
from tests.fault_load import FaultReport, Load, assert_survived, serving
from tests.live import skip_loudly
from tests.scratch_cluster import Cluster, scratch_cluster, why_not

# Long enough for every kind of request to meet the fault, short enough for the suite.
FAULT_SECONDS = 2.0
UNAVAILABLE = frozenset({"SERVICE_UNAVAILABLE"})
COMPILED = {"COMPILED_EXECUTION": "true" if EXECUTION_PATH == "compiled" else "false"}


def seed(url: str) -> str:
    """A project with a page of logs; its key."""
    with Factory(url) as factory:
        project = factory.project()
        factory.logs(project, 20)
        return factory.api_key(project)


def sql(dsn: str, statement: str, *args: Any) -> list[Any]:
    async def run() -> list[Any]:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            return list(await conn.fetch(statement, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


def warm(load: Load) -> None:
    """Every kind of request served once before the fault."""
    load.wait_until("ok", since=time.monotonic(), timeout=30)


def report(name: str, result: FaultReport) -> None:
    print(f"\n{name}: recovered in {result.recovery_seconds:.2f} s; during the fault {result.during}")


# -- on the run's server ------------------------------------------------------------------------------


@pytest.fixture
def database(postgres: PostgresServer) -> Iterator[tuple[str, str]]:
    """A migrated database of the test's own (its faults end every session of it) and a key."""
    url = postgres.create(migrated=True)
    try:
        yield url, seed(url)
    finally:
        postgres.drop(url)


def _terminate(postgres: PostgresServer, name: str) -> int:
    rows = sql(
        postgres.dsn("postgres"),
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = $1 AND pid <> pg_backend_pid()",
        name,
    )
    return len(rows)


def test_every_backend_terminated_again_and_again_mid_load(
    postgres: PostgresServer, database: tuple[str, str], tmp_path: Path
) -> None:
    url, key = database
    name = make_url(url).database or ""
    with serving(url, tmp_path, **COMPILED) as server, Load(server.url, key) as load:
        warm(load)
        started = time.monotonic()
        terminated = 0
        while time.monotonic() < started + FAULT_SECONDS:
            terminated += _terminate(postgres, name)
            time.sleep(0.1)
        repaired = time.monotonic()
        result = assert_survived(load, server, started=started, repaired=repaired, expected=UNAVAILABLE)
    # Statements cut in flight answer SERVICE_UNAVAILABLE; idle connections are replaced unseen.
    assert terminated > 0
    report("backends terminated", result)


def test_a_database_refusing_connections_mid_load(
    postgres: PostgresServer, database: tuple[str, str], tmp_path: Path
) -> None:
    url, key = database
    name = make_url(url).database or ""
    admin = postgres.dsn("postgres")
    with serving(url, tmp_path, **COMPILED) as server, Load(server.url, key) as load:
        warm(load)
        started = time.monotonic()
        sql(admin, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            _terminate(postgres, name)
            load.wait_until("fault", since=started, timeout=10)
            time.sleep(FAULT_SECONDS)
        finally:
            sql(admin, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        repaired = time.monotonic()
        result = assert_survived(load, server, started=started, repaired=repaired, expected=UNAVAILABLE)
    assert any("ObjectNotInPrerequisiteStateError" in w for w in server.warnings_logged())
    report("ALLOW_CONNECTIONS false", result)


def test_a_statement_stuck_behind_a_lock_past_the_timeout_mid_load(
    postgres: PostgresServer, database: tuple[str, str], tmp_path: Path
) -> None:
    url, key = database
    name = make_url(url).database or ""
    with (
        # Production's timeouts and work budget: LOCK_TIMEOUT_MS answers it.
        serving(
            url, tmp_path, REQUEST_WORK_SECONDS=str(Settings().request_work_seconds), **COMPILED
        ) as server,
        Load(server.url, key) as load,
        asyncio.Runner() as runner,
    ):
        warm(load)
        locker = runner.run(asyncpg.connect(postgres.dsn(name), timeout=10))
        started = time.monotonic()
        try:
            runner.run(locker.execute("BEGIN; LOCK TABLE whatsapp_log IN ACCESS EXCLUSIVE MODE"))
            # Pages wait for the lock until PostgreSQL gives up on it (lock_timeout, before the work budget
            # could call the wait QUERY_TOO_COMPLEX). The database itself answers, so
            # /readyz stays 200: one locked table is no reason to take the server out of rotation.
            load.wait_until("fault", since=started, timeout=10, kinds=("graphql", "rest"))
            time.sleep(FAULT_SECONDS)
        finally:
            runner.run(locker.execute("ROLLBACK"))
            runner.run(locker.close())
        repaired = time.monotonic()
        result = assert_survived(
            load, server, started=started, repaired=repaired, expected=frozenset({"TIMEOUT"})
        )
    assert result.during.get("readyz SERVICE_UNAVAILABLE", 0) == 0
    report("statement past the timeout", result)


# -- on a scratch cluster -----------------------------------------------------------------------------

READER, PASSWORD = "reader", "first-password"


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    if admin_url() is None:
        pytest.skip(NO_POSTGRESQL)
    if reason := why_not():
        skip_loudly(request, reason)
    with scratch_cluster() as started:
        yield started


def _app_on(cluster: Cluster) -> tuple[str, str]:
    """The app's database on the cluster: the server's URL (a reader role with a password) and a key."""
    key = seed(cluster.create_database("app"))
    return cluster.create_reader("app", READER, PASSWORD), key


def _terminate_reader(cluster: Cluster, *, keep: frozenset[int] = frozenset()) -> int:
    """End the reader's sessions but those in `keep`; how many. The superuser's own connection may find
    every slot taken for a moment (backends ended a moment ago still hold theirs while they exit): it
    tries again for a few seconds."""
    deadline = time.monotonic() + 5
    while True:
        try:
            rows = cluster.sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE usename = $1 AND pid <> ALL($2)",
                READER,
                list(keep),
            )
            return len(rows)
        except asyncpg.TooManyConnectionsError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_max_connections_used_up_mid_load(cluster: Cluster, tmp_path: Path) -> None:
    # 7 connections for roles other than the superuser; the server needs up to 3 + 3 (engine, compiled).
    cluster.configure(max_connections=10, superuser_reserved_connections=3)
    cluster.restart()
    url, key = _app_on(cluster)
    pool = {"POOL_SIZE": "2", "MAX_OVERFLOW": "1"}
    with (
        serving(url, tmp_path, **pool, **COMPILED) as server,
        Load(server.url, key) as load,
        asyncio.Runner() as runner,
    ):
        warm(load)
        held: list[asyncpg.Connection[Any]] = []
        started = time.monotonic()
        try:
            # Another client of the same database takes every connection left, and those the server's
            # backends leave when they are cut: it cannot get one back ("sorry, too many clients").
            # The server reconnects between the two: take and cut until it holds none.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                while True:
                    try:
                        dsn = cluster.dsn("app", READER, PASSWORD)
                        held.append(runner.run(asyncpg.connect(dsn, timeout=5)))
                    except asyncpg.TooManyConnectionsError:
                        break
                if not _terminate_reader(cluster, keep=frozenset(c.get_server_pid() for c in held)):
                    break
            load.wait_until("fault", since=started, timeout=10)
            time.sleep(FAULT_SECONDS)
        finally:
            while held:
                runner.run(held.pop().close())
        repaired = time.monotonic()
        result = assert_survived(load, server, started=started, repaired=repaired, expected=UNAVAILABLE)
    assert any("TooManyConnectionsError" in w for w in server.warnings_logged())
    report("max_connections used up", result)


def test_a_password_changed_under_the_server_then_changed_back(cluster: Cluster, tmp_path: Path) -> None:
    url, key = _app_on(cluster)
    with serving(url, tmp_path, **COMPILED) as server, Load(server.url, key) as load:
        warm(load)
        started = time.monotonic()
        cluster.sql(f"ALTER ROLE {READER} PASSWORD 'rotated-password'")
        try:
            _terminate_reader(cluster)
            load.wait_until("fault", since=started, timeout=10)
            time.sleep(FAULT_SECONDS)
        finally:
            # The operator puts back the password the running server was given.
            cluster.sql(f"ALTER ROLE {READER} PASSWORD '{PASSWORD}'")
        repaired = time.monotonic()
        result = assert_survived(load, server, started=started, repaired=repaired, expected=UNAVAILABLE)
    assert any("InvalidPasswordError" in w for w in server.warnings_logged())
    report("password changed", result)


def test_the_database_restarted_mid_load(cluster: Cluster, tmp_path: Path) -> None:
    url, key = _app_on(cluster)
    with serving(url, tmp_path, **COMPILED) as server, Load(server.url, key) as load:
        warm(load)
        started = time.monotonic()
        cluster.stop("fast")  # sessions ended by the server shutting down, then connections refused
        try:
            load.wait_until("fault", since=started, timeout=10)
            time.sleep(FAULT_SECONDS)
        finally:
            cluster.start()
        repaired = time.monotonic()
        result = assert_survived(load, server, started=started, repaired=repaired, expected=UNAVAILABLE)
    report("database restarted", result)
