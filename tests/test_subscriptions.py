"""`whatsAppLogStream` over graphql-transport-ws at /graphql: what a stream sends, from where it resumes,
who may open one, and the limits that hold for it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool
from starlette.testclient import TestClient

from graphql_api.data import writes
from graphql_api.data.fields import FIELDS, LOG, RELATIONS
from graphql_api.http.app import create_app
from tests.conftest import StatementCounter
from tests.databases import PostgresServer
from tests.factories import Factory
from tests.suite import suite_settings
from tests.tcp_proxy import TcpProxy, tcp_proxy
from tests.ws_client import Closed, Socket, connect

STREAM = """
subscription Stream($where: WhatsAppLogFilter, $after: String, $batchSize: Int) {
  whatsAppLogStream(where: $where, after: $after, batchSize: $batchSize) {
    cursor
    logs { id status incident { title } }
  }
}"""
NOW = datetime(2026, 7, 2, tzinfo=UTC)


def set_status(factory: Factory, log_id: str, **values: Any) -> None:
    async def work(conn: AsyncConnection) -> None:
        await conn.execute(update(LOG).where(LOG.c.id == log_id).values(**values))

    factory.run(work)


def start(socket: Socket, op: str = "1", **variables: Any) -> str:
    """Subscribe; the first message comes at once (no logs when starting now): its cursor."""
    socket.subscribe(op, STREAM, variables)
    first = socket.next_data(op)["whatsAppLogStream"]
    if "after" not in variables:
        assert first["logs"] == []
    return str(first["cursor"])


def ids(logs: list[dict[str, Any]]) -> list[str]:
    return [log["id"] for log in logs]


@pytest.fixture
def project(factory: Factory) -> str:
    return factory.project("Live")


@pytest.fixture
def key(factory: Factory, project: str) -> str:
    return factory.api_key(project)


def test_a_stream_sends_logs_written_after_it_started_and_their_changes(
    client: TestClient, factory: Factory, project: str, key: str
) -> None:
    before = factory.log(project)
    incident = factory.related("incident", project, "Checkout is down")
    with connect(client, key) as socket:
        start(socket)
        written = factory.logs(project, 3, incident_id=incident)
        logs, _ = socket.logs("1", 3)
        # In commit order; logs of one transaction by id. The log from before the stream is not sent.
        assert sorted(ids(logs)) == sorted(written)
        assert logs[0]["incident"] == {"title": "Checkout is down"}
        assert before not in ids(logs)

        set_status(factory, written[1], status="Delivered")
        changed, _ = socket.logs("1", 1)
        assert [(log["id"], log["status"]) for log in changed] == [(written[1], "Delivered")]
        socket.nothing("1", 0.5)


EVERY_FIELD = " ".join(
    [*(f.name for f in FIELDS.values()), *(f"{name} {{ id {r.label} }}" for name, r in RELATIONS.items())]
)


def test_a_streamed_log_reads_as_the_query_reads_it_every_field_and_relation(
    client: TestClient, factory: Factory, project: str, key: str
) -> None:
    # The stream reads a batch and the records it links to in one statement of its own (on PostgreSQL
    # through asyncpg itself): each value must come out as the query path gives it.
    elsewhere = factory.project("Elsewhere")
    own = {
        r.fk_column.key: factory.related(name, project) for name, r in RELATIONS.items() if name != "project"
    }
    foreign = {
        r.fk_column.key: factory.related(name, elsewhere) for name, r in RELATIONS.items() if r.project_scoped
    }
    stream = f"subscription {{ whatsAppLogStream {{ cursor logs {{ {EVERY_FIELD} }} }} }}"
    with connect(client, key) as socket:
        socket.subscribe("1", stream, {})
        assert socket.next_data("1")["whatsAppLogStream"]["logs"] == []
        linked = factory.log(project, to_number="+15550001", whatsapp_cost_in_usd_cents=7, **own)
        linked_elsewhere = factory.log(project, **{**foreign, "user_id": None})
        bare = factory.log(project, **dict.fromkeys(own, None))
        streamed, _ = socket.logs("1", 3)
    query = f"query($ids: [ID!]) {{ whatsAppLogs(where: {{ id: {{ in: $ids }} }}) {{ {EVERY_FIELD} }} }}"
    response = client.post(
        "/graphql",
        headers={"ApiKey": key},
        json={"query": query, "variables": {"ids": [linked, linked_elsewhere, bare]}},
    )
    queried = {log["id"]: log for log in response.json()["data"]["whatsAppLogs"]}
    assert {log["id"]: log for log in streamed} == queried
    assert queried[linked]["incident"]["id"] == own["incident_id"]
    assert queried[linked_elsewhere]["incident"] is None  # another project's, invisible on both


def test_a_log_that_stops_matching_or_is_deleted_is_not_sent_again(
    client: TestClient, factory: Factory, project: str, key: str
) -> None:
    failing = {"status": {"in": ["Failed", "Error"]}}
    with connect(client, key) as socket:
        start(socket, where=failing)
        failed = factory.log(project, status="Failed")
        factory.log(project, status="Sent")
        logs, _ = socket.logs("1", 1)
        assert ids(logs) == [failed]
        error = factory.log(project, status="Error")
        logs, _ = socket.logs("1", 1)
        assert ids(logs) == [error]

        # Each write below is a change the stream may wake for at any moment: none of them matches.
        set_status(factory, failed, status="Read")  # no longer matches
        set_status(factory, error, deleted_at=NOW)  # soft-deleted after it was sent
        factory.log(project, status="Error", deleted_at=NOW)  # written deleted
        last = factory.log(project, status="Error")
        logs, _ = socket.logs("1", 1)
        assert ids(logs) == [last]
        socket.nothing("1", 0.5)


def test_a_stream_resumes_from_a_cursor_without_gaps_or_repeats(
    client: TestClient, factory: Factory, project: str, key: str
) -> None:
    with connect(client, key) as socket:
        start(socket, batchSize=2)
        first = factory.logs(project, 3)
        seen, cursor = socket.logs("1", 2)  # one batch of two: the third is after the cursor
    missed = factory.logs(project, 4)  # while nobody listens
    with connect(client, key) as socket:
        socket.subscribe("2", STREAM, {"after": cursor, "batchSize": 2})
        logs, _ = socket.logs("2", 5)
        assert len(seen + logs) == 7
        assert sorted(ids(seen + logs)) == sorted(first + missed)
        assert sorted(ids(logs[1:])) == sorted(missed)  # the rest of the first transaction, then these
        socket.nothing("2", 0.5)


def _batch_reads(sql: StatementCounter) -> int:
    return sum("ORDER BY whatsapp_log.change_position" in statement for statement in sql.statements)


def test_streams_with_the_same_document_share_one_read_per_change(
    client: TestClient, factory: Factory, project: str, key: str, sql_statements: StatementCounter
) -> None:
    failing = {"status": {"in": ["Failed", "Error"]}}
    with ExitStack() as stack:
        alike = [stack.enter_context(connect(client, key)) for _ in range(4)]
        different = stack.enter_context(connect(client, key))
        for socket in alike:
            start(socket)
        start(different, where=failing)
        sql_statements.reset()

        written = factory.logs(project, 3, status="Failed")
        for socket in [*alike, different]:
            logs, _ = socket.logs("1", 3)
            assert sorted(ids(logs)) == sorted(written)
        # One read for the four streams that agree, one for the fifth.
        assert _batch_reads(sql_statements) == 2, sql_statements.statements


def test_streams_that_come_to_the_same_place_one_after_another_read_it_once(
    client: TestClient, factory: Factory, project: str, key: str, sql_statements: StatementCounter
) -> None:
    # A saturated worker serves streams in turn: the second comes to the place after the first's read
    # is done. Nothing changed in between, so the read is the same.
    with connect(client, key) as socket:
        cursor = start(socket)
    written = factory.logs(project, 2)
    time.sleep(0.3)  # the watcher has seen the writes: no wake comes between the two streams
    with connect(client, key) as first, connect(client, key) as second:
        sql_statements.reset()
        for socket in (first, second):
            socket.subscribe("1", STREAM, {"after": cursor})
            batch = socket.next_data("1")["whatsAppLogStream"]
            assert sorted(ids(batch["logs"])) == sorted(written)
        assert _batch_reads(sql_statements) == 1, sql_statements.statements


def test_streams_that_share_a_read_each_get_their_own_documents_shape(
    client: TestClient, factory: Factory, project: str, key: str
) -> None:
    # The same read (fields, where, batch size), rendered once per document and variables.
    aliased = STREAM.replace("logs { id status", "logs { logId: id state: status")
    with connect(client, key) as plain, connect(client, key) as renamed:
        start(plain)
        renamed.subscribe("1", aliased, {})
        assert renamed.next_data("1")["whatsAppLogStream"]["logs"] == []
        written = factory.log(project, status="Read")
        assert plain.logs("1", 1)[0] == [{"id": written, "status": "Read", "incident": None}]
        batch = renamed.next_data("1")["whatsAppLogStream"]
        assert batch["logs"] == [{"logId": written, "state": "Read", "incident": None}]


def test_a_cursor_works_only_with_its_own_where_and_project(
    client: TestClient, factory: Factory, project: str, key: str
) -> None:
    other_key = factory.api_key(factory.project("Other"))
    with connect(client, key) as socket:
        cursor = start(socket)
    refusals = [
        (key, {"after": cursor, "where": {"status": {"eq": "Read"}}}),
        (other_key, {"after": cursor}),
        (key, {"after": cursor[:-2]}),
    ]
    for secret, variables in refusals:
        with connect(client, secret) as socket:
            socket.subscribe("1", STREAM, variables)
            message = socket.message("1")
            assert message["payload"]["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", message
            assert socket.message("1")["type"] == "complete"


def test_connection_init_needs_a_key_that_may_read_logs(
    client: TestClient, factory: Factory, project: str
) -> None:
    no_permission = factory.api_key(project, permissions=["ReadIncident"])
    revoked = factory.api_key(project, revoked=True)
    for payload in ({}, {"ApiKey": "wal_" + "x" * 40}, {"ApiKey": revoked}, {"ApiKey": no_permission}):
        with connect(client, None, init=False) as socket:
            with pytest.raises(Closed) as closed:
                socket.init(payload)
            assert closed.value.code == 4403


def test_a_revoked_key_ends_its_streams_within_auth_cache_seconds(
    client: TestClient, factory: Factory, project: str
) -> None:
    secret, key_id = _key_with_id(factory, project)
    with connect(client, secret) as socket:
        start(socket)

        async def revoke(conn: AsyncConnection) -> None:
            await writes.revoke_api_key(conn, key_id=key_id)

        factory.run(revoke)
        # AUTH_CACHE_SECONDS is 0 in tests: the key is checked again every second.
        message = socket.message("1", seconds=5)
        assert message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", message
        assert socket.message("1")["type"] == "complete"


def _key_with_id(factory: Factory, project: str) -> tuple[str, str]:
    async def work(conn: AsyncConnection) -> tuple[str, str]:
        key = await writes.create_api_key(conn, project_id=project, permissions=["ReadWhatsAppLog"])
        return key.secret, key.id

    return factory.run(work)


@pytest.mark.parametrize("overrides", [{"max_subscriptions_per_key": 2, "max_subscriptions": 3}])
def test_open_subscriptions_are_limited_per_socket_per_key_and_per_process(
    client: TestClient, factory: Factory, project: str, key: str
) -> None:
    other = factory.api_key(factory.project("Other"))
    with connect(client, key) as socket, connect(client, key) as same_key, connect(client, other) as second:
        start(socket, "1")
        start(socket, "2")
        socket.subscribe("3", STREAM)  # refused before it is parsed: a socket holds one key's worth
        refused = socket.message("3")
        assert refused["type"] == "error", refused
        assert refused["payload"][0]["extensions"]["code"] == "RATE_LIMITED", refused
        assert "This connection has 2 operations open" in refused["payload"][0]["message"]

        same_key.subscribe("1", STREAM)  # the key's third, on another socket
        refused = same_key.message("1")
        assert refused["payload"]["errors"][0]["extensions"]["code"] == "RATE_LIMITED", refused
        assert "MAX_SUBSCRIPTIONS_PER_KEY" in refused["payload"]["errors"][0]["message"]

        start(second, "1")  # the process's third
        second.subscribe("2", STREAM)
        refused = second.message("2")
        assert refused["payload"]["errors"][0]["extensions"]["code"] == "RATE_LIMITED", refused
        assert "MAX_SUBSCRIPTIONS" in refused["payload"]["errors"][0]["message"], refused

        socket.complete("1")  # a slot is free again
        socket.nothing("1", 0.3)
        start(socket, "4")


@pytest.mark.parametrize(
    ("overrides", "query"),
    [
        ({"max_depth": 2}, "subscription { whatsAppLogStream { logs { incident { title } } } }"),
        ({"max_aliases": 2}, "subscription { whatsAppLogStream { a: cursor b: cursor c: cursor } }"),
        ({"max_cost": 50}, "subscription { whatsAppLogStream(batchSize: 60) { logs { id } } }"),
        (
            {"max_filter_conditions": 2},
            'subscription { whatsAppLogStream(where: {status: {eq: "A"}, toNumber: {eq: "1"}, '
            'fromNumber: {eq: "2"}}) { cursor } }',
        ),
        (
            {"max_filter_depth": 1},
            'subscription { whatsAppLogStream(where: {not: {not: {status: {eq: "A"}}}}) { cursor } }',
        ),
    ],
    ids=["depth", "aliases", "cost", "conditions", "filter-depth"],
)
def test_the_query_limits_hold_for_subscriptions(client: TestClient, key: str, query: str) -> None:
    with connect(client, key) as socket:
        socket.subscribe("1", query)
        message = socket.message("1")
        assert message["type"] == "error", message
        assert message["payload"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX", message


@pytest.mark.parametrize("overrides", [{"subscription_heartbeat_seconds": 0.2}])
def test_the_server_pings_an_idle_connection(client: TestClient, key: str) -> None:
    with connect(client, key) as socket:
        start(socket)
        assert socket.message(None, seconds=2) == {"type": "ping"}  # type: ignore[arg-type]


def test_a_batch_size_out_of_bounds_is_refused_before_anything_runs(client: TestClient, key: str) -> None:
    with connect(client, key) as socket:
        socket.subscribe("1", STREAM, {"batchSize": 101})
        message = socket.message("1")
        assert message["type"] == "error"
        assert message["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.backends("postgresql")
def test_a_transaction_that_commits_after_a_later_one_is_streamed_first(
    client: TestClient, factory: Factory, project: str, key: str, database_url: str
) -> None:
    elsewhere = factory.project("Elsewhere")

    early, late = factory.log_row(project), factory.log_row(project)

    async def out_of_order() -> None:
        engine = create_async_engine(database_url, poolclass=NullPool)
        try:
            async with engine.connect() as first, engine.connect() as second:
                # The lower transaction id.
                await first.execute(insert(LOG).values(factory.log_row(elsewhere)))
                await second.execute(insert(LOG).values(late))
                await second.commit()
                await _pause()
                await first.execute(insert(LOG).values(early))
                await first.commit()
        finally:
            await engine.dispose()

    with connect(client, key) as socket:
        start(socket)
        asyncio.run(out_of_order())
        logs, _ = socket.logs("1", 2)
        assert ids(logs) == [early["id"], late["id"]]
        socket.nothing("1", 0.5)


async def _pause() -> None:
    await asyncio.sleep(0.5)  # time for the stream to wake on the later commit and find it held back


@contextmanager
def behind_a_proxy(postgres: PostgresServer, database_url: str) -> Iterator[tuple[TcpProxy, TestClient]]:
    """An app whose database is reached through a proxy the test can cut."""
    url = make_url(database_url)
    with tcp_proxy(postgres.host, postgres.port) as proxy:
        proxy.start()
        through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        app = create_app(suite_settings(through, connect_timeout=1))
        with TestClient(app) as client:
            yield proxy, client


@pytest.mark.backends("postgresql")
def test_a_stream_pauses_while_the_database_is_briefly_away_and_misses_nothing(
    postgres: PostgresServer, database_url: str, factory: Factory, project: str, key: str
) -> None:
    with behind_a_proxy(postgres, database_url) as (proxy, client), connect(client, key) as socket:
        start(socket)
        proxy.stop()  # the listening connection is cut, and new connections refused
        written = factory.logs(project, 2)  # written directly, while the server cannot read
        time.sleep(1.5)  # the stream's reads fail meanwhile, and are tried again
        proxy.start()
        logs, _ = socket.logs("1", 2)
        assert sorted(ids(logs)) == sorted(written)


@pytest.mark.backends("postgresql")
def test_a_lost_database_ends_streams_with_service_unavailable(
    postgres: PostgresServer, database_url: str, factory: Factory, project: str, key: str
) -> None:
    with behind_a_proxy(postgres, database_url) as (proxy, client), connect(client, key) as socket:
        start(socket)
        factory.log(project)
        socket.logs("1", 1)
        proxy.stop()
        # Tried again after 0.5 + 1 + 2 + 4 s (and up to connect_timeout each), then ended.
        message = socket.message("1", seconds=30)
        assert message["payload"]["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE", message
        assert socket.message("1")["type"] == "complete"


def test_the_socket_serves_subscriptions_only(client: TestClient, key: str) -> None:
    with connect(client, key) as socket:
        socket.subscribe("1", "{ whatsAppLogCount }")
        message = socket.message("1")
        assert message["type"] == "error"
        assert message["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "queries are not allowed" in message["payload"][0]["message"]


# GraphQL over Server-Sent Events (graphql-sse, distinct connections mode) at POST /graphql/stream.
SSE = {"Accept": "text/event-stream"}


def events(client: TestClient, body: dict[str, Any], headers: dict[str, str], count: int) -> list[Any]:
    """The first `count` events (name, data) of an event stream (fewer when it completes first)."""
    found: list[Any] = []
    with client.stream("POST", "/graphql/stream", json=body, headers={**SSE, **headers}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: ") and name is not None:
                data = line.removeprefix("data: ")
                found.append((name, json.loads(data) if data else None))
                if len(found) == count or name == "complete":
                    break
    return found


def test_an_event_stream_sends_the_logs_as_they_are_written(
    client: TestClient, factory: Factory, project: str, key: str
) -> None:
    def write_soon() -> None:
        time.sleep(0.5)
        factory.logs(project, 2)

    writer = threading.Thread(target=write_soon)
    writer.start()
    got = events(client, {"query": STREAM, "variables": {"batchSize": 2}}, {"ApiKey": key}, 2)
    writer.join()
    assert [name for name, _ in got] == ["next", "next"]
    assert got[0][1]["data"]["whatsAppLogStream"]["logs"] == []
    assert len(got[1][1]["data"]["whatsAppLogStream"]["logs"]) == 2


def test_an_event_stream_refuses_with_a_code(client: TestClient, key: str) -> None:
    assert client.get("/graphql/stream", headers=SSE).status_code == 405
    plain = client.post("/graphql/stream", json={"query": STREAM}, headers={"ApiKey": key})
    assert plain.status_code == 406
    assert plain.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    for headers, variables, code in [
        ({}, {}, "UNAUTHENTICATED"),
        ({"ApiKey": key}, {"batchSize": 0}, "BAD_USER_INPUT"),
    ]:
        got = events(client, {"query": STREAM, "variables": variables}, headers, 2)
        assert got[0][0] == "next"
        assert got[0][1]["errors"][0]["extensions"]["code"] == code
        assert got[1][0] == "complete"
    query = events(client, {"query": "{ whatsAppLogCount }"}, {"ApiKey": key}, 2)
    assert query[0][1]["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_a_subscription_posted_to_graphql_is_refused(client: TestClient, key: str) -> None:
    response = client.post("/graphql", json={"query": STREAM}, headers={"ApiKey": key})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
