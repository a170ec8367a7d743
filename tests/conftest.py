"""Fixtures: a migrated database per test and backend, the app over HTTP, data factories, SQL counting."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from graphql_api.http.app import create_app
from graphql_api.settings import Settings
from tests.databases import (
    BACKENDS,
    NO_POSTGRESQL,
    TEST_DATABASE_URL,
    Cleaner,
    PostgresServer,
    admin_url,
    migrate,
)
from tests.factories import Factory
from tests.rest_client import Rest
from tests.suite import suite_settings

# Real servers and Chromium for the browser and client-library tests.
pytest_plugins = ["tests.live"]


# GraphQL tests run on the compiled path (the default) or, with TEST_EXECUTION_PATH=regular, on
# Strawberry's regular execution; .ci/run runs both.
EXECUTION_PATH = os.environ.get("TEST_EXECUTION_PATH", "compiled")
if EXECUTION_PATH not in ("compiled", "regular"):
    raise ValueError(f"TEST_EXECUTION_PATH must be 'compiled' or 'regular', not {EXECUTION_PATH!r}")


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "backends(*names): run only on these backends ('sqlite', 'postgresql'), not on both"
    )
    config.addinivalue_line(
        "markers", "regular_path: pins the regular (Strawberry) execution's own behaviour; never compiled"
    )


def backend_params(*names: str) -> list[Any]:
    """The backends to run on as pytest params (ids `sqlite`, `postgresql`): `names`, or both.

    Without a server, PostgreSQL is left out (the header says so once) unless asked for by name: then it
    is skipped with the reason. Also for fixtures wider than a test: `@pytest.fixture(params=...)`.
    """
    wanted = names or tuple(b for b in BACKENDS if b != "postgresql" or admin_url() is not None)
    no_server = pytest.mark.skipif(admin_url() is None, reason=NO_POSTGRESQL)
    return [pytest.param(b, id=b, marks=[no_server] if b == "postgresql" else []) for b in wanted]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that touches a database runs once per backend: test_x[sqlite], test_x[postgresql]."""
    if "backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backends")
    metafunc.parametrize("backend", backend_params(*(marker.args if marker else ())), indirect=True)


def pytest_report_header(config: pytest.Config) -> str:
    url = admin_url()
    if url is None:
        return f"backends: sqlite only ({NO_POSTGRESQL})"
    return f"backends: sqlite, postgresql (databases created through {TEST_DATABASE_URL}={url})"


# A test's figure for the run's output: `report(request.node, line)`. The lines are printed together at
# the end, from every worker: under pytest-xdist a test has no terminal of its own.
_REPORT = "report"


def report(node: pytest.Item, line: str) -> None:
    node.user_properties.append((_REPORT, line))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = [
        value
        for reports in terminalreporter.stats.values()
        for r in reports
        if isinstance(r, pytest.TestReport) and r.when == "teardown"
        for name, value in r.user_properties
        if name == _REPORT
    ]
    if lines:
        terminalreporter.section("reported by the tests")
        for line in sorted(lines):
            terminalreporter.write_line(line)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """'sqlite' or 'postgresql': the backend of this run of the test."""
    return str(request.param)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated once by Alembic; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(migrate(_sqlite_url(path)))
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The server behind TEST_DATABASE_URL; the databases made through it are dropped at the end."""
    url = admin_url()
    if url is None:
        pytest.skip(NO_POSTGRESQL)
    server = PostgresServer(url)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def migrated_postgres(postgres: PostgresServer) -> tuple[str, Cleaner]:
    """One PostgreSQL database migrated once by Alembic, shared by the run, emptied before each test."""
    url = postgres.create(migrated=True)
    return url, postgres.cleaner(url)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    """A migrated database with no rows, for this test alone."""
    if backend == "postgresql":
        url, cleaner = request.getfixturevalue("migrated_postgres")
        cleaner.clean()
        return str(url)
    path: Path = request.getfixturevalue("tmp_path") / "test.db"
    shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
    return _sqlite_url(path)


def empty_database_url(backend: str, directory: Path, request: pytest.FixtureRequest) -> str:
    """A new database without any schema, for tests of `db upgrade` and of what the CLI fills: an SQLite
    file in `directory`, or a PostgreSQL database that the run drops at its end."""
    if backend == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        return server.create()
    return _sqlite_url(directory / "database.db")


@pytest.fixture
def overrides() -> dict[str, Any]:
    """Settings fields a test changes: parametrize `overrides` with a dict (`{"max_depth": 3}`)."""
    return {}


@pytest.fixture
def settings(database_url: str, overrides: dict[str, Any], request: pytest.FixtureRequest) -> Settings:
    compiled = EXECUTION_PATH == "compiled" and not request.node.get_closest_marker("regular_path")
    return suite_settings(database_url, **{"compiled_execution": compiled, **overrides})


@pytest.fixture
def factory(database_url: str) -> Iterator[Factory]:
    with Factory(database_url) as test_factory:
        yield test_factory


@pytest.fixture
def app(settings: Settings) -> Any:
    return create_app(settings)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@dataclass
class GraphQL:
    """Posts GraphQL requests the way a client does."""

    client: TestClient
    key: str | None = None

    def __call__(
        self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = None
    ) -> dict[str, Any]:
        headers = {}
        api_key = key if key is not None else self.key
        if api_key is not None:
            headers["ApiKey"] = api_key
        response = self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def data(self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = None) -> Any:
        """The `data` of a request that must succeed."""
        body = self(query, variables, key=key)
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture
def gql(client: TestClient) -> GraphQL:
    return GraphQL(client)


@pytest.fixture
def rest(client: TestClient) -> Rest:
    return Rest(client)


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()


@pytest.fixture
def sql_statements(app: Any) -> Iterator[StatementCounter]:
    """Counts the SQL statements the app's engines execute."""
    counter = StatementCounter()
    database = app.state.services.database
    engines = {id(e.sync_engine): e.sync_engine for e in (database.engine, database.read_engine)}

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        counter.statements.append(statement)

    for engine in engines.values():
        event.listen(engine, "before_cursor_execute", record)
    yield counter
    for engine in engines.values():
        event.remove(engine, "before_cursor_execute", record)
