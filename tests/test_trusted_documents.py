"""TRUSTED_DOCUMENTS=manifest.json: only the manifest's documents run, by id (`documentId`), by hash
(`extensions.persistedQuery`) or sent in full; anything else is refused before parsing, over POST, GET,
the WebSocket and the event stream. Both manifest formats: GraphQL Code Generator's and Apollo's."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from graphql_api.http.app import create_app
from graphql_api.settings import Settings
from tests.conftest import StatementCounter
from tests.factories import Factory
from tests.test_subscriptions import SSE, STREAM, events
from tests.ws_client import connect

LOGS = "query Logs { whatsAppLogs(limit: 5) { id } }"
COUNT = "query Count { whatsAppLogCount }"
LOGS_ID = hashlib.sha256(LOGS.encode()).hexdigest()
STREAM_ID = "stream-v1"  # manifests may name documents as they like


def codegen_manifest(directory: Path) -> str:
    """persisted-documents.json as the client preset writes it: {hash: document}."""
    path = directory / "persisted-documents.json"
    path.write_text(json.dumps({f"sha256:{LOGS_ID}": LOGS, STREAM_ID: STREAM}))
    return str(path)


def apollo_manifest(directory: Path) -> str:
    path = directory / "persisted-query-manifest.json"
    operations = [
        {"id": LOGS_ID, "name": "Logs", "type": "query", "body": LOGS},
        {"id": STREAM_ID, "name": "Stream", "type": "subscription", "body": STREAM},
    ]
    path.write_text(
        json.dumps({"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations})
    )
    return str(path)


@pytest.fixture(params=["codegen", "apollo"])
def overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    write = codegen_manifest if request.param == "codegen" else apollo_manifest
    return {"trusted_documents": write(tmp_path)}


@pytest.fixture
def key(factory: Factory) -> str:
    project = factory.project()
    factory.logs(project, 2)
    return factory.api_key(project)


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", ())]


def test_a_manifest_document_runs_by_id_by_hash_and_in_full(client: TestClient, key: str) -> None:
    headers = {"ApiKey": key}
    bodies = [
        {"documentId": LOGS_ID},
        {"documentId": f"sha256:{LOGS_ID}"},
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": LOGS_ID}}},
        {"query": LOGS},
    ]
    for body in bodies:
        answer = client.post("/graphql", json=body, headers=headers).json()
        assert len(answer["data"]["whatsAppLogs"]) == 2, (body, answer)
    by_get = client.get("/graphql", params={"documentId": LOGS_ID}, headers=headers)
    assert len(by_get.json()["data"]["whatsAppLogs"]) == 2


def test_anything_else_is_refused_before_parsing(
    client: TestClient, key: str, sql_statements: StatementCounter
) -> None:
    headers = {"ApiKey": key}
    sql_statements.reset()
    for body, code in [
        ({"query": COUNT}, "PERSISTED_QUERY_REQUIRED"),
        ({"query": "{ __schema { types { name } } }"}, "PERSISTED_QUERY_REQUIRED"),
        ({"query": "{ not graphql"}, "PERSISTED_QUERY_REQUIRED"),
        ({"documentId": "unknown"}, "PERSISTED_QUERY_NOT_FOUND"),
        ({"documentId": "x" * 10_000}, "BAD_USER_INPUT"),
        (
            {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
            "PERSISTED_QUERY_NOT_FOUND",
        ),
        # Apollo's link sends hash and document after a not-found: still only the manifest's.
        (
            {"query": COUNT, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
            "PERSISTED_QUERY_NOT_FOUND",
        ),
    ]:
        answer = client.post("/graphql", json=body, headers=headers)
        assert answer.status_code == 200
        assert codes(answer.json()) == [code], body
    assert sql_statements.count == 0  # not even the key was looked up
    strict = client.get(
        "/graphql",
        params={"query": COUNT},
        headers={**headers, "Accept": "application/graphql-response+json"},
    )
    assert strict.status_code == 400
    assert codes(strict.json()) == ["PERSISTED_QUERY_REQUIRED"]
    unknown = client.get(
        "/graphql",
        params={"documentId": "unknown"},
        headers={**headers, "Accept": "application/graphql-response+json"},
    )
    assert unknown.status_code == 404


def test_graphiql_is_not_served(client: TestClient) -> None:
    page = client.get("/graphql", headers={"Accept": "text/html"})
    assert not page.headers["content-type"].startswith("text/html")


def test_a_subscription_runs_by_id_and_nothing_else_over_the_websocket(client: TestClient, key: str) -> None:
    with connect(client, key) as socket:
        socket.send(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": "subscription { whatsAppLogStream { cursor } }"},
            }
        )
        refused = socket.message("1")
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
        socket.send({"id": "2", "type": "subscribe", "payload": {"documentId": "unknown"}})
        assert socket.message("2")["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        socket.send({"id": "3", "type": "subscribe", "payload": {"documentId": STREAM_ID, "variables": {}}})
        assert socket.next_data("3")["whatsAppLogStream"]["logs"] == []


def test_a_subscription_runs_by_id_and_nothing_else_over_the_event_stream(
    client: TestClient, key: str
) -> None:
    headers = {**SSE, "ApiKey": key}
    refused = client.post(
        "/graphql/stream", json={"query": "subscription { whatsAppLogStream { cursor } }"}, headers=headers
    )
    assert refused.status_code == 400
    assert codes(refused.json()) == ["PERSISTED_QUERY_REQUIRED"]
    got = events(client, {"documentId": STREAM_ID}, {"ApiKey": key}, 1)
    assert got[0][1]["data"]["whatsAppLogStream"]["logs"] == []


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("not json", "not a JSON file"),
        ("[1]", "expected a JSON object"),
        ('{"a": 1}', "expected {id: document}"),
        ('{"format": "apollo-persisted-query-manifest", "version": 2, "operations": []}', "version 1"),
        (
            '{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id": 1}]}',
            "operations[0]",
        ),
    ],
)
def test_a_bad_manifest_stops_the_server_with_the_reason(
    settings: Settings, tmp_path: Path, content: str, says: str
) -> None:
    manifest = tmp_path / "bad.json"
    manifest.write_text(content)
    with pytest.raises(ValueError, match="TRUSTED_DOCUMENTS") as raised:
        create_app(settings.with_(trusted_documents=str(manifest)))
    assert says in str(raised.value)
    with pytest.raises(ValueError, match="cannot read"):
        create_app(settings.with_(trusted_documents=str(tmp_path / "missing.json")))
