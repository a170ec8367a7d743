"""Internal errors are masked ("Unexpected error." and a request id, the traceback in the log only), and
no response ever shows a traceback, SQL, a file path or a library name."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from tests.factories import Factory

# What must never reach a client: traceback lines, SQL, paths, and the libraries underneath.
LEAKS = re.compile(
    r"Traceback|File \"|\.py\b|/work/|site-packages|SELECT|FROM |JOIN |WHERE |whatsapp_log|"
    r"sqlalchemy|sqlite|aiosqlite|asyncpg|postgres|psycopg|strawberry|graphql-core|graphql\.|starlette|"
    r"uvicorn|OperationalError|ProgrammingError|no such table|does not exist",
    re.IGNORECASE,
)


@pytest.fixture
def key(factory: Factory) -> str:
    project = factory.project()
    factory.log(project, incident_id=factory.related("incident", project, "Outage"))
    return factory.api_key(project)


@pytest.fixture
def incident_table_gone(factory: Factory, key: str) -> Iterator[None]:
    """The incident table renamed away behind the server's back: every query that reads it fails."""
    factory.run(lambda conn: conn.execute(text("ALTER TABLE incident RENAME TO incident_gone")))
    yield
    factory.run(lambda conn: conn.execute(text("ALTER TABLE incident_gone RENAME TO incident")))


def test_a_database_failure_is_masked_and_logged_with_its_request_id(
    client: TestClient, key: str, incident_table_gone: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="graphql_api"):
        response = client.post(
            "/graphql",
            json={"query": "{ whatsAppLogs { id incident { title } } }"},
            headers={"ApiKey": key, "X-Request-Id": "req-internal-1"},
        )

    assert response.status_code == 200
    body = response.json()
    errors = body["errors"]
    assert {e["message"] for e in errors} == {"Unexpected error."}
    assert {e["extensions"]["code"] for e in errors} == {"INTERNAL"}
    assert {e["extensions"]["requestId"] for e in errors} == {"req-internal-1"}
    assert response.headers["x-request-id"] == "req-internal-1"
    assert not LEAKS.search(response.text), response.text

    # The log has what the response leaves out: the request id and the traceback.
    logged = [r for r in caplog.records if "req-internal-1" in r.getMessage()]
    assert logged, [r.getMessage() for r in caplog.records]
    assert any(r.exc_info for r in logged)


def test_the_rest_endpoints_mask_it_too(
    client: TestClient, key: str, incident_table_gone: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="graphql_api"):
        response = client.post(
            "/api/whatsapp-log/get-list",
            json={"select": {"incident": {"title": True}}},
            headers={"ApiKey": key},
        )
    assert response.status_code == 500
    assert response.json() == {"message": "Unexpected error."}
    assert not LEAKS.search(response.text), response.text


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"query": "{ whatsAppLogs { id incident { title } } }"}', "application/json"),
        (b'{"query": "{ whatsAppLogs { id incident { titel } } }"}', "application/json"),
        (b'{"query": "{ whatsAppLogs(where: {id: {eq: 5}}) { id } }"}', "application/json"),
        (
            b'{"query": "query($d: DateTime) { whatsAppLogCount(where: {createdAt: {gt: $d}}) }", '
            b'"variables": {"d": "2026-02-30"}}',
            "application/json",
        ),  # fmt: skip
        (b'{"query": "{ whatsAppLogs { id ", "variables": {}}', "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"{", "application/json"),
        (b"query=1", "application/x-www-form-urlencoded"),
    ],
)
def test_no_answer_shows_internals(
    client: TestClient, key: str, incident_table_gone: None, content: bytes, content_type: str
) -> None:
    response = client.post("/graphql", content=content, headers={"ApiKey": key, "Content-Type": content_type})
    assert response.status_code < 500
    assert not LEAKS.search(response.text), response.text
