"""PostgreSQL in production: the migration from empty, the statement timeout, losing the database and
getting it back. Skipped, with the reason, when TEST_DATABASE_URL does not point at a server."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from graphql_api import cli, errors
from graphql_api.data.database import Database
from graphql_api.data.migrate import alembic_config
from graphql_api.http.app import create_app
from graphql_api.settings import Settings
from tests.conftest import GraphQL
from tests.databases import PostgresServer
from tests.factories import Factory
from tests.live import free_port
from tests.tcp_proxy import tcp_proxy

pytestmark = pytest.mark.backends("postgresql")

LOGS = "{ whatsAppLogs { id status } }"


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


@dataclass
class Serving:
    """A project with one log and a key in the test's database; apps over variations of the settings."""

    settings: Settings
    key: str

    def __call__(self, **changes: Any) -> tuple[TestClient, GraphQL]:
        client = TestClient(create_app(self.settings.with_(**changes)))
        return client, GraphQL(client, self.key)


@pytest.fixture
def serving(settings: Settings, factory: Factory) -> Serving:
    project = factory.project()
    factory.log(project, status="Delivered")
    return Serving(settings, factory.api_key(project))


def test_db_upgrade_migrates_an_empty_database_with_native_types_and_partial_indexes(
    postgres: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = postgres.create()
    name = make_url(url).database

    assert cli.main(["--database-url", url, "db", "upgrade"]) == 0
    assert cli.main(["--database-url", url, "seed", "--demo", "--projects", "2", "--logs", "40"]) == 0
    capsys.readouterr()
    assert cli.main(["--database-url", url, "projects", "--json"]) == 0
    projects = json.loads(capsys.readouterr().out)
    assert len(projects) == 2

    async def catalog() -> dict[str, Any]:
        conn = await asyncpg.connect(postgres.dsn(name or ""))
        try:
            types = {
                (row["column_name"]): row["data_type"]
                for row in await conn.fetch(
                    "SELECT column_name, data_type FROM information_schema.columns"
                    " WHERE table_name = 'whatsapp_log'"
                )
            }
            indexes = {
                row["indexname"]: row["indexdef"]
                for row in await conn.fetch(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'whatsapp_log'"
                )
            }
            version = await conn.fetchval("SELECT version_num FROM alembic_version")
            return {"types": types, "indexes": indexes, "version": version}
        finally:
            await conn.close()

    found = asyncio.run(catalog())
    assert found["types"]["id"] == "uuid"
    assert found["types"]["project_id"] == "uuid"
    assert found["types"]["created_at"] == "timestamp with time zone"
    assert found["types"]["deleted_at"] == "timestamp with time zone"
    for index in (
        "ix_whatsapp_log_project_created",
        "ix_whatsapp_log_project_status_created",
        "ix_whatsapp_log_live_project",
    ):
        assert found["indexes"][index].endswith("WHERE (deleted_at IS NULL)"), found["indexes"][index]
    from alembic.script import ScriptDirectory

    assert found["version"] == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_a_statement_past_the_timeout_is_cancelled_with_a_timeout_error(settings: Settings) -> None:
    async def sleep_through_the_server() -> None:
        database = Database(settings.with_(statement_timeout_ms=50))
        try:
            async with database.reader() as conn:
                await conn.execute(text("SELECT pg_sleep(30)"))
        finally:
            await database.dispose()

    with pytest.raises(errors.Timeout):
        asyncio.run(sleep_through_the_server())


def read_while_locked(runner: asyncio.Runner, client: TestClient, gql: GraphQL, dsn: str) -> tuple[Any, Any]:
    """A GraphQL page and a REST list asked while another session holds the log table."""
    locker = runner.run(asyncpg.connect(dsn))
    runner.run(locker.execute("BEGIN; LOCK TABLE whatsapp_log IN ACCESS EXCLUSIVE MODE"))
    try:
        body = gql(LOGS)
        rest = client.post("/api/whatsapp-log/get-list", headers={"ApiKey": gql.key or ""}, json={})
    finally:
        runner.run(locker.execute("ROLLBACK"))
        runner.run(locker.close())
    return body, rest


def test_a_query_stuck_behind_a_lock_is_answered_timeout_and_the_next_one_succeeds(
    serving: Serving, postgres: PostgresServer, database_url: str
) -> None:
    client, gql = serving(statement_timeout_ms=200)
    with asyncio.Runner() as runner, client:
        # Another session holds the log table: every read of it waits until statement_timeout.
        body, rest = read_while_locked(
            runner, client, gql, postgres.dsn(make_url(database_url).database or "")
        )

        assert body["data"] is None
        assert codes(body) == ["TIMEOUT"]
        assert body["errors"][0]["message"] == errors.Timeout().message
        assert (rest.status_code, rest.json()) == (504, {"message": errors.Timeout().message})
        assert [log["status"] for log in gql.data(LOGS)["whatsAppLogs"]] == ["Delivered"]


def test_with_the_default_timeouts_a_read_behind_a_lock_is_timeout_not_query_too_complex(
    serving: Serving, postgres: PostgresServer, database_url: str
) -> None:
    """Waiting for a lock is no work of the request's: LOCK_TIMEOUT_MS (0.5 s) ends it as TIMEOUT before
    the work budget (0.8 s of PostgreSQL's time) would answer QUERY_TOO_COMPLEX, 'narrow your filter'."""
    defaults = Settings()
    client, gql = serving(
        request_work_seconds=defaults.request_work_seconds,
        lock_timeout_ms=defaults.lock_timeout_ms,
        statement_timeout_ms=defaults.statement_timeout_ms,
    )
    assert defaults.lock_timeout_ms / 1000 < defaults.request_work_seconds
    with asyncio.Runner() as runner, client:
        gql(LOGS)  # the key is checked before the lock
        body, rest = read_while_locked(
            runner, client, gql, postgres.dsn(make_url(database_url).database or "")
        )

    assert codes(body) == ["TIMEOUT"], body
    assert "locked" in body["errors"][0]["message"]
    assert rest.status_code == 504, rest.text


def test_losing_the_database_is_service_unavailable_and_the_same_app_serves_when_it_is_back(
    serving: Serving, postgres: PostgresServer, database_url: str
) -> None:
    with tcp_proxy(postgres.host, postgres.port) as proxy:
        proxy.start()
        through_proxy = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
        client, gql = serving(database_url=through_proxy.render_as_string(hide_password=False))
        with client:
            assert len(gql.data(LOGS)["whatsAppLogs"]) == 1
            assert client.get("/readyz").status_code == 200

            proxy.stop()  # open connections cut, new ones refused
            body = gql(LOGS)
            assert body["data"] is None
            assert codes(body) == ["SERVICE_UNAVAILABLE"]
            assert body["errors"][0]["message"] == errors.ServiceUnavailable().message
            rest = client.post("/api/whatsapp-log/count", headers={"ApiKey": gql.key or ""}, json={})
            assert (rest.status_code, rest.json()) == (503, {"message": errors.ServiceUnavailable().message})
            assert client.get("/readyz").status_code == 503

            proxy.start()
            assert len(gql.data(LOGS)["whatsAppLogs"]) == 1
            assert client.get("/readyz").status_code == 200

            # A restart between two requests: the pooled connection died idle and is replaced, not used.
            proxy.stop()
            proxy.start()
            assert len(gql.data(LOGS)["whatsAppLogs"]) == 1


def test_the_compiled_path_answers_a_lost_database_itself_instead_of_trying_again_on_the_regular_path(
    serving: Serving, postgres: PostgresServer, database_url: str
) -> None:
    query = "query($id: ID!) { count: whatsAppLogCount kind: __typename one: whatsAppLog(id: $id) { id } }"
    with tcp_proxy(postgres.host, postgres.port) as proxy:
        proxy.start()
        through_proxy = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
        answers = {}
        for compiled_execution in (True, False):
            client, gql = serving(
                database_url=through_proxy.render_as_string(hide_password=False),
                compiled_execution=compiled_execution,
                connect_timeout=0.3,
                auth_cache_seconds=60,  # the key is known: only the log statements need the database
            )
            with client:
                log_id = gql.data(LOGS)["whatsAppLogs"][0]["id"]
                assert gql.data(query, {"id": log_id}) == {"count": 1, "kind": "Query", "one": {"id": log_id}}

                # Connections open now are cut; a new one would be accepted and never answered.
                proxy.stop()
                proxy.start("blackhole")
                accepted = proxy.accepted
                answers[compiled_execution] = gql(query, {"id": log_id})
                if compiled_execution:
                    stats = client.app.state.compiled.stats  # type: ignore[attr-defined]
                    # One new connection, in place of the one found closed, waited for until
                    # connect_timeout; the regular path would have connected and waited a second time.
                    assert proxy.accepted == accepted + 1
                    assert (stats.database_failures, stats.fallbacks) == (1, 0)
            proxy.stop()
            proxy.start()

    def without_request_ids(body: dict[str, Any]) -> dict[str, Any]:
        """The body with its errors in path order (the regular path's come as its fields fail)."""
        for error in body["errors"]:
            error["extensions"].pop("requestId", None)
        return {**body, "errors": sorted(body["errors"], key=lambda e: e["path"])}

    compiled, regular = (without_request_ids(answers[path]) for path in (True, False))
    # The regular path's answer for a lost database: `data` null because whatsAppLogCount cannot be
    # null, and its error (the regular path also reports `one`'s when it failed before `count`'s).
    assert compiled["data"] is regular["data"] is None
    assert [(e["path"], e["extensions"]["code"]) for e in compiled["errors"]] == [
        (["count"], "SERVICE_UNAVAILABLE")
    ]
    assert all(error in regular["errors"] for error in compiled["errors"])


def test_a_database_that_accepts_connections_but_never_answers_is_service_unavailable(
    serving: Serving, postgres: PostgresServer
) -> None:
    with tcp_proxy(postgres.host, postgres.port) as proxy:
        proxy.start("blackhole")
        client, gql = serving(
            database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/postgres", connect_timeout=0.3
        )
        with client:
            assert codes(gql(LOGS)) == ["SERVICE_UNAVAILABLE"]
            assert client.get("/readyz").status_code == 503


def test_a_database_that_stops_answering_mid_session_is_service_unavailable_not_a_hang(
    serving: Serving, postgres: PostgresServer, database_url: str
) -> None:
    with tcp_proxy(postgres.host, postgres.port) as proxy:
        proxy.start()
        through_proxy = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
        client, gql = serving(
            database_url=through_proxy.render_as_string(hide_password=False),
            statement_timeout_ms=200,
            connect_timeout=0.3,
        )
        with client:
            assert len(gql.data(LOGS)["whatsAppLogs"]) == 1

            proxy.freeze()  # the pooled connection stays open; nothing comes back on it
            assert codes(gql(LOGS)) == ["SERVICE_UNAVAILABLE"]
            assert client.get("/readyz").status_code == 503

            proxy.stop()
            proxy.start()
            assert len(answered_once_back(gql)["whatsAppLogs"]) == 1


def answered_once_back(gql: GraphQL, *, seconds: float = 10.0) -> Any:
    """The data of the first request that succeeds once the database is back, within `seconds`.

    Until then every answer must be SERVICE_UNAVAILABLE: a new connection has `connect_timeout` (0.3 s
    here, to keep the hang short) to be made, which a busy machine can miss once.
    """
    deadline = time.monotonic() + seconds
    while True:
        body = gql(LOGS)
        if "errors" not in body:
            return body["data"]
        assert codes(body) == ["SERVICE_UNAVAILABLE"]
        assert time.monotonic() < deadline, "still unavailable after the database came back"
        time.sleep(0.1)


def test_every_pooled_connection_busy_past_the_pool_timeout_is_service_unavailable(
    settings: Settings,
) -> None:
    async def two_readers_on_a_pool_of_one() -> None:
        database = Database(settings.with_(pool_size=1, max_overflow=0, pool_timeout=0.1))
        try:
            async with database.reader() as first:
                await first.execute(text("SELECT 1"))
                async with database.reader() as second:
                    await second.execute(text("SELECT 1"))
        finally:
            await database.dispose()

    with pytest.raises(errors.ServiceUnavailable):
        asyncio.run(two_readers_on_a_pool_of_one())


def test_a_missing_server_is_service_unavailable_not_an_internal_error(serving: Serving) -> None:
    client, gql = serving(database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/postgres")
    with client:
        assert codes(gql(LOGS)) == ["SERVICE_UNAVAILABLE"]
        assert client.get("/readyz").status_code == 503
