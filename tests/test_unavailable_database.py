"""A server that cannot get a connection, whatever the database answers, tells clients the database is
unavailable (GraphQL SERVICE_UNAVAILABLE on both execution paths, REST 503, /readyz 503), logs one warning
line per failure and no error, and serves again as soon as the database takes connections. The faults are
an operator's: a database renamed away (being restored), one not accepting connections, credentials the
database refuses, a role's connections used up. Skipped without TEST_DATABASE_URL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from graphql_api import errors
from graphql_api.http.app import create_app
from tests.conftest import GraphQL
from tests.databases import PostgresServer
from tests.factories import Factory
from tests.suite import suite_settings

pytestmark = pytest.mark.backends("postgresql")

# One root field the compiled path covers and that cannot be null: `data` is null with one error.
QUERY = "{ whatsAppLogCount whatsAppLogs(limit: 5) { id status } }"
UNAVAILABLE = errors.ServiceUnavailable().message


@dataclass
class Target:
    """A migrated database of the test's own, with a log and two keys, and an admin connection to the
    server to break it with."""

    url: str
    name: str
    warm_key: str  # verified before the fault: cached, only the request's statements need a connection
    cold_key: str  # first seen during the fault: its lookup needs a connection
    admin: asyncpg.Connection[Any]
    runner: asyncio.Runner

    def sql(self, statement: str, *args: Any) -> Any:
        return self.runner.run(self.admin.execute(statement, *args))

    def cut_sessions(self) -> None:
        """End every session of the database, as an operator does before a restore or a rename."""
        self.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            self.name,
        )


@pytest.fixture
def target(postgres: PostgresServer) -> Iterator[Target]:
    url = postgres.create(migrated=True)
    name = make_url(url).database or ""
    with Factory(url) as factory:
        project = factory.project()
        factory.log(project, status="Delivered")
        keys = factory.api_key(project), factory.api_key(project)
    with asyncio.Runner() as runner:
        admin = runner.run(asyncpg.connect(postgres.dsn("postgres"), timeout=10))
        try:
            yield Target(url, name, *keys, admin, runner)
        finally:
            runner.run(admin.close())
            postgres.drop(url)


def _codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


def assert_unavailable_then_back(
    target: Target,
    caplog: pytest.LogCaptureFixture,
    *,
    break_it: Callable[[], None],
    mend_it: Callable[[], None],
    driver_error: str,
    url: str | None = None,
) -> None:
    """On both execution paths: served before, SERVICE_UNAVAILABLE while broken (warnings naming
    `driver_error`, no error), served again by the same app once mended."""
    for compiled_execution in (True, False):
        settings = suite_settings(
            url or target.url,
            compiled_execution=compiled_execution,
            auth_cache_seconds=60,
            connect_timeout=2,
            pool_timeout=2,
        )
        app = create_app(settings)
        with TestClient(app) as client:
            warm, cold = GraphQL(client, target.warm_key), GraphQL(client, target.cold_key)
            assert warm.data(QUERY)["whatsAppLogCount"] == 1
            assert client.get("/readyz").status_code == 200

            break_it()
            caplog.clear()
            try:
                for gql in (warm, cold):
                    body = gql(QUERY)
                    assert (body["data"], _codes(body)) == (None, ["SERVICE_UNAVAILABLE"]), body
                    assert body["errors"][0]["message"] == UNAVAILABLE
                for key in (target.warm_key, target.cold_key):
                    rest = client.post("/api/whatsapp-log/get-list", headers={"ApiKey": key}, json={})
                    assert (rest.status_code, rest.json()) == (503, {"message": UNAVAILABLE})
                assert client.get("/readyz").status_code == 503
            finally:
                mend_it()

            if compiled_execution:
                # The cached key's request was answered by the compiled path itself.
                assert app.state.compiled.stats.database_failures >= 1
            problems = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert problems == [], [r.getMessage() for r in problems]
            warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert warnings and all(m.startswith("database SERVICE_UNAVAILABLE: ") for m in warnings)
            assert any(f": {driver_error}: " in m for m in warnings), warnings

            assert warm.data(QUERY)["whatsAppLogCount"] == 1
            assert cold.data(QUERY)["whatsAppLogCount"] == 1
            assert client.get("/readyz").status_code == 200


def test_a_database_renamed_away_is_unavailable_until_it_is_back(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    aside = f"{target.name}_aside"

    def rename_away() -> None:
        target.cut_sessions()
        target.sql(f'ALTER DATABASE "{target.name}" RENAME TO "{aside}"')

    def rename_back() -> None:
        target.sql(f'ALTER DATABASE "{aside}" RENAME TO "{target.name}"')

    # `database "…" does not exist` (SQLSTATE 3D000)
    assert_unavailable_then_back(
        target, caplog, break_it=rename_away, mend_it=rename_back, driver_error="InvalidCatalogNameError"
    )


def test_a_database_not_accepting_connections_is_unavailable_until_it_does(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse() -> None:
        target.sql(f'ALTER DATABASE "{target.name}" ALLOW_CONNECTIONS false')
        target.cut_sessions()

    def accept() -> None:
        target.sql(f'ALTER DATABASE "{target.name}" ALLOW_CONNECTIONS true')

    # `database "…" is not currently accepting connections` (SQLSTATE 55000)
    assert_unavailable_then_back(
        target, caplog, break_it=refuse, mend_it=accept, driver_error="ObjectNotInPrerequisiteStateError"
    )


def _as(url: str, role: str) -> str:
    return make_url(url).set(username=role).render_as_string(hide_password=False)


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def _role(target: Target) -> Iterator[str]:
    """A login role of the test's own that may read the target database (roles are the server's, not
    the database's: dropped at the end, its grants first)."""
    role = f"{target.name}_reader"
    target.sql(f'CREATE ROLE "{role}" LOGIN')
    try:
        target.runner.run(_as_owner(target, f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"'))
        yield role
    finally:
        target.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
        target.runner.run(_as_owner(target, f'DROP OWNED BY "{role}"'))
        target.sql(f'DROP ROLE "{role}"')


async def _as_owner(target: Target, statement: str) -> None:
    owner = await asyncpg.connect(_dsn(target.url), timeout=10)
    try:
        await owner.execute(statement)
    finally:
        await owner.close()


def test_credentials_the_database_refuses_are_unavailable_until_they_are_accepted(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    with _role(target) as role:

        def refuse_login() -> None:
            target.sql(f'ALTER ROLE "{role}" NOLOGIN')
            target.cut_sessions()

        def allow_login() -> None:
            target.sql(f'ALTER ROLE "{role}" LOGIN')

        # `role "…" is not permitted to log in` (SQLSTATE 28000)
        assert_unavailable_then_back(
            target,
            caplog,
            break_it=refuse_login,
            mend_it=allow_login,
            driver_error="InvalidAuthorizationSpecificationError",
            url=_as(target.url, role),
        )


def test_a_role_whose_connections_are_all_taken_is_unavailable_until_one_is_free(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    held: list[asyncpg.Connection[Any]] = []
    with _role(target) as role:

        def take_them_all() -> None:
            target.sql(f'ALTER ROLE "{role}" CONNECTION LIMIT 2')
            target.cut_sessions()
            for _ in range(2):  # another client of the same role took what the limit allows
                held.append(target.runner.run(asyncpg.connect(_as(_dsn(target.url), role), timeout=10)))

        def free_them() -> None:
            while held:
                target.runner.run(held.pop().close())
            target.sql(f'ALTER ROLE "{role}" CONNECTION LIMIT -1')

        # `too many connections for role "…"` (SQLSTATE 53300)
        assert_unavailable_then_back(
            target,
            caplog,
            break_it=take_them_all,
            mend_it=free_them,
            driver_error="TooManyConnectionsError",
            url=_as(target.url, role),
        )
