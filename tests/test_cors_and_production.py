"""CORS from an allowlist (none by default), and the production switches: INTROSPECTION=false (which
also stops "Did you mean" suggestions) and GRAPHIQL=false."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.factories import Factory

SPA = "https://app.example.com"
ELSEWHERE = "https://evil.example.net"


def preflight(client: TestClient, origin: str) -> Any:
    return client.options(
        "/graphql",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "apikey, content-type",
        },
    )


# --- CORS ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides", [{"cors_origins": (SPA,)}])
def test_a_listed_origin_gets_its_preflight_answered_with_the_apikey_header_allowed(
    client: TestClient,
) -> None:
    response = preflight(client, SPA)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SPA
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"apikey", "content-type"} <= allowed
    assert "POST" in response.headers["access-control-allow-methods"]


@pytest.mark.parametrize("overrides", [{"cors_origins": (SPA,)}])
def test_a_listed_origin_can_read_answers_and_their_request_id(client: TestClient, factory: Factory) -> None:
    key = factory.api_key(factory.project())
    response = client.post(
        "/graphql", json={"query": "{ whatsAppLogCount }"}, headers={"Origin": SPA, "ApiKey": key}
    )
    assert response.json() == {"data": {"whatsAppLogCount": 0}}
    assert response.headers["access-control-allow-origin"] == SPA
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


@pytest.mark.parametrize("overrides", [{"cors_origins": (SPA,)}])
def test_an_unlisted_origin_gets_no_cors_headers(client: TestClient) -> None:
    refused = preflight(client, ELSEWHERE)
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers

    response = client.post("/graphql", json={"query": "{ __typename }"}, headers={"Origin": ELSEWHERE})
    assert "access-control-allow-origin" not in response.headers


def _socket_from(client: TestClient, origin: str) -> bool:
    """Whether a page on `origin` may open the subscription socket (refused: closed before it is
    accepted, which uvicorn answers 403)."""
    try:
        with client.websocket_connect(
            "/graphql", subprotocols=["graphql-transport-ws"], headers={"Origin": origin}
        ):
            return True
    except WebSocketDisconnect:
        return False


@pytest.mark.parametrize("overrides", [{"cors_origins": (SPA,)}])
def test_a_listed_origin_may_open_the_subscription_socket_and_no_other(client: TestClient) -> None:
    assert _socket_from(client, SPA)
    assert not _socket_from(client, ELSEWHERE)
    assert _socket_from(client, "http://testserver")  # the server's own origin


def test_no_origin_may_open_the_subscription_socket_by_default(client: TestClient) -> None:
    assert not _socket_from(client, SPA)


def test_no_origin_is_allowed_by_default(client: TestClient) -> None:
    response = preflight(client, SPA)
    assert "access-control-allow-origin" not in response.headers
    assert response.status_code == 405
    simple = client.post("/graphql", json={"query": "{ __typename }"}, headers={"Origin": SPA})
    assert "access-control-allow-origin" not in simple.headers


# --- production switches --------------------------------------------------------------------------------

TYPOS: list[tuple[str, dict[str, Any] | None]] = [
    ("{ whatsAppLogz }", None),
    ("{ whatsAppLogs(limt: 1) { id } }", None),
    ("{ whatsAppLogs { stauts } }", None),
    ("{ whatsAppLogCount(where: {stauts: {eq: 1}}) }", None),
    ("query($w: WhatsAppLogFilter) { whatsAppLogCount(where: $w) }", {"w": {"stauts": {"eq": "x"}}}),
    ("query($w: WhatsAppLogFiltr) { whatsAppLogCount(where: $w) }", None),
    ("{ whatsAppLogs(orderBy: [{status: ASCC}]) { id } }", None),
    ("query($o: [WhatsAppLogOrderBy!]) { whatsAppLogs(orderBy: $o) { id } }", {"o": [{"status": "ASCC"}]}),
]


def _messages(client: TestClient, query: str, variables: dict[str, Any] | None) -> str:
    body = client.post("/graphql", json={"query": query, "variables": variables}).json()
    assert body.get("data") is None
    return " ".join(error["message"] for error in body["errors"])


@pytest.mark.parametrize(("query", "variables"), TYPOS)
def test_with_introspection_on_typos_get_suggestions(client: TestClient, query: str, variables: Any) -> None:
    assert "Did you mean" in _messages(client, query, variables)


@pytest.mark.parametrize("overrides", [{"introspection": False}])
@pytest.mark.parametrize(("query", "variables"), TYPOS)
def test_with_introspection_off_typos_get_no_suggestions(
    client: TestClient, query: str, variables: Any
) -> None:
    messages = _messages(client, query, variables)
    assert "Did you mean" not in messages
    if "status" not in query and "status" not in str(variables):
        assert "status" not in messages.replace("stauts", "")  # the name it would have suggested


@pytest.mark.parametrize("overrides", [{"introspection": False}])
@pytest.mark.parametrize(
    "query", ["{ __schema { types { name } } }", '{ __type(name: "WhatsAppLog") { fields { name } } }']
)
def test_introspection_can_be_turned_off(client: TestClient, query: str) -> None:
    body = client.post("/graphql", json={"query": query}).json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "introspection" in body["errors"][0]["message"].lower()
    # __typename is not introspection of the schema: clients add it everywhere.
    assert client.post("/graphql", json={"query": "{ __typename }"}).json() == {
        "data": {"__typename": "Query"}
    }


def test_graphiql_is_served_by_default(client: TestClient) -> None:
    response = client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("overrides", [{"graphiql": False}])
def test_graphiql_can_be_turned_off(client: TestClient) -> None:
    response = client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
