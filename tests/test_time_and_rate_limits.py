"""The per-request time limit (TIMEOUT, and the SQL cancelled with it) and the optional per-key rate
limit (429 with Retry-After)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from tests.conftest import GraphQL
from tests.factories import Factory

PAGE = "{ whatsAppLogs { id incident { title } } }"


@pytest.fixture
def key(factory: Factory, gql: GraphQL) -> str:
    project = factory.project()
    factory.logs(project, 2, incident_id=factory.related("incident", project, "Outage"))
    gql.key = factory.api_key(project)
    return gql.key


# --- time limit ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides", [{"request_timeout_seconds": 1e-9}])
def test_a_request_past_its_time_limit_is_answered_with_timeout(client: TestClient, key: str) -> None:
    response = client.post("/graphql", json={"query": PAGE}, headers={"ApiKey": key})
    assert response.status_code == 200
    assert response.json() == {
        "data": None,
        "errors": [
            {"message": "The request took too long and was cancelled.", "extensions": {"code": "TIMEOUT"}}
        ],
    }
    # The server is fine afterwards: the cancelled connection went back to the pool in a usable state.
    assert client.get("/readyz").json() == {"status": "ok"}


@pytest.mark.parametrize("overrides", [{"request_timeout_seconds": 1e-9}])
@pytest.mark.parametrize("path", ["/api/whatsapp-log/get-list", "/api/whatsapp-log/count"])
def test_a_rest_request_past_its_time_limit_is_504(client: TestClient, key: str, path: str) -> None:
    response = client.post(path, json={"select": {"incident": {"title": True}}}, headers={"ApiKey": key})
    assert response.status_code == 504
    assert response.json() == {"message": "The request took too long and was cancelled."}
    assert client.get("/readyz").json() == {"status": "ok"}


@pytest.mark.parametrize("overrides", [{"request_timeout_seconds": 1e-9}])
def test_a_timeout_is_504_with_graphql_response_json(client: TestClient, key: str) -> None:
    response = client.post(
        "/graphql",
        json={"query": PAGE},
        headers={"ApiKey": key, "Accept": "application/graphql-response+json"},
    )
    assert response.status_code == 504
    assert response.json()["errors"][0]["extensions"]["code"] == "TIMEOUT"


# A time limit of a second, and no other limit that would stop a statement waiting for a lock first (the
# work budget counts time waiting for a statement on PostgreSQL: tests/test_request_bounds.py pins that).
ONE_SECOND_WHILE_LOCKED = pytest.mark.parametrize(
    "overrides",
    [
        {
            "request_timeout_seconds": 1.0,
            "statement_timeout_ms": 120_000,
            "request_work_seconds": 0,
            "lock_timeout_ms": 0,
        }
    ],
)


def _dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def _table_locked(dsn: str, table: str) -> Iterator[None]:
    """Holds an exclusive lock on `table` from another connection, in a thread of its own, until the
    block ends."""
    ready, release = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    async def hold() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            async with connection.transaction():
                await connection.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
                ready.set()
                while not release.is_set():
                    await asyncio.sleep(0.05)
        finally:
            await connection.close()

    def run() -> None:
        try:
            asyncio.run(hold())
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run)
    thread.start()
    ready.wait(30)
    try:
        assert not failure, failure
        yield
    finally:
        release.set()
        thread.join(30)


def _waiting_on_locks(dsn: str) -> int:
    """How many of the server's statements are waiting for a lock in this database."""

    async def count() -> int:
        connection = await asyncpg.connect(dsn)
        try:
            return int(
                await connection.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = 'graphql_api' AND wait_event_type = 'Lock'"
                )
            )
        finally:
            await connection.close()

    return asyncio.run(count())


@pytest.mark.backends("postgresql")
@ONE_SECOND_WHILE_LOCKED
def test_a_timed_out_request_cancels_its_sql_on_the_server(
    client: TestClient, key: str, database_url: str
) -> None:
    dsn = _dsn(database_url)
    with _table_locked(dsn, "whatsapp_log"):
        response = client.post("/graphql", json={"query": PAGE}, headers={"ApiKey": key})
        assert response.json()["errors"][0]["extensions"]["code"] == "TIMEOUT"
        # The statement would wait for the lock for two minutes (its statement timeout) unless cancelled.
        deadline = time.monotonic() + 20
        while _waiting_on_locks(dsn) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _waiting_on_locks(dsn) == 0


@pytest.mark.backends("postgresql")
@ONE_SECOND_WHILE_LOCKED
def test_requests_in_flight_each_time_out_at_their_own_deadline(
    client: TestClient, key: str, database_url: str
) -> None:
    """The requests in flight share one timer, armed for the earliest deadline: one that ended first
    (refused at once), and then requests begun a moment apart, each cancelled a second after it began."""
    dsn = _dsn(database_url)
    answers: list[tuple[float, Any]] = []

    def waiting_request() -> None:
        started = time.monotonic()
        response = client.post("/graphql", json={"query": PAGE}, headers={"ApiKey": key})
        answers.append((time.monotonic() - started, response.json()))

    with _table_locked(dsn, "whatsapp_log"):
        refused = client.post("/graphql", json={"query": PAGE}, headers={"ApiKey": "wal_not-a-real-key"})
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        threads = []
        for _ in range(3):
            threads.append(threading.Thread(target=waiting_request))
            threads[-1].start()
            time.sleep(0.3)
        for thread in threads:
            thread.join(30)

    assert [answer["errors"][0]["extensions"]["code"] for _, answer in answers] == ["TIMEOUT"] * 3
    assert all(0.9 < seconds < 5 for seconds, _ in answers), answers


# --- rate limit -------------------------------------------------------------------------------------------


def test_there_is_no_rate_limit_by_default(client: TestClient, key: str) -> None:
    for _ in range(30):
        response = client.post("/graphql", json={"query": "{ whatsAppLogCount }"}, headers={"ApiKey": key})
        assert response.status_code == 200


@pytest.mark.parametrize("overrides", [{"rate_limit_per_second": 0.001, "rate_limit_burst": 2}])
def test_a_key_past_its_rate_gets_429_with_retry_after(
    client: TestClient, key: str, factory: Factory
) -> None:
    def ask(api_key: str, **headers: str) -> Any:
        return client.post("/graphql", json={"query": PAGE}, headers={"ApiKey": api_key, **headers})

    assert [ask(key).status_code for _ in range(2)] == [200, 200]

    limited = ask(key)
    assert limited.status_code == 429
    # One token per 1000 s: the next one is about 1000 s away.
    assert 990 <= int(limited.headers["retry-after"]) <= 1000
    [error] = limited.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] == int(limited.headers["retry-after"])
    assert error["message"].startswith("Too many requests with this API key; retry in")
    assert ask(key, Accept="application/graphql-response+json").status_code == 429

    # Another key, even of the same project, has its own bucket.
    other = factory.api_key(factory.project())
    assert ask(other).status_code == 200


@pytest.mark.parametrize("overrides", [{"rate_limit_per_second": 0.001, "rate_limit_burst": 1}])
def test_a_request_takes_one_token_whatever_its_root_fields(client: TestClient, key: str) -> None:
    query = "{ a: whatsAppLogCount b: whatsAppLogCount c: whatsAppLogs { id } }"
    first = client.post("/graphql", json={"query": query}, headers={"ApiKey": key})
    assert first.json()["data"]["a"] == 2
    second = client.post("/graphql", json={"query": query}, headers={"ApiKey": key})
    assert second.status_code == 429
    assert {e["extensions"]["code"] for e in second.json()["errors"]} == {"RATE_LIMITED"}


@pytest.mark.parametrize("overrides", [{"rate_limit_per_second": 0.001, "rate_limit_burst": 1}])
def test_the_rest_endpoints_share_the_keys_rate(client: TestClient, key: str) -> None:
    assert (
        client.post("/graphql", json={"query": "{ whatsAppLogCount }"}, headers={"ApiKey": key}).status_code
        == 200
    )
    response = client.post("/api/whatsapp-log/count", json={}, headers={"ApiKey": key})
    assert response.status_code == 429
    assert response.json()["message"].startswith("Too many requests with this API key")
    assert int(response.headers["Retry-After"]) >= 1
