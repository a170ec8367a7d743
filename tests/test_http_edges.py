"""`/graphql` on the wire: what it accepts, how it refuses (always JSON with a code, never a 500), body
size, content types, methods, `Accept` negotiation and request ids."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from tests.conftest import GraphQL
from tests.factories import Factory
from tests.live import serve

LIMIT = 64 * 1024
COUNT = "{ whatsAppLogCount }"


@pytest.fixture
def key(factory: Factory, gql: GraphQL) -> str:
    project = factory.project()
    factory.logs(project, 2)
    gql.key = factory.api_key(project)
    return gql.key


def post(
    client: TestClient, key: str, content: bytes | str, content_type: str = "application/json", **headers: str
) -> Any:
    return client.post(
        "/graphql", content=content, headers={"ApiKey": key, "Content-Type": content_type, **headers}
    )


def refusal(response: Any, status: int) -> str:
    """The message of an HTTP-level refusal, after checking its status, JSON body, code and request id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"]
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    return str(error["message"])


def _body_of_size(size: int) -> bytes:
    """A valid request of exactly `size` bytes (the query padded with spaces)."""
    empty = json.dumps({"query": COUNT}).encode()
    body = json.dumps({"query": COUNT + " " * (size - len(empty))}).encode()
    assert len(body) == size
    return body


# --- body size ----------------------------------------------------------------------------------------


def test_a_body_of_64_kib_is_answered(client: TestClient, key: str) -> None:
    response = post(client, key, _body_of_size(LIMIT))
    assert response.json() == {"data": {"whatsAppLogCount": 2}}


def test_a_byte_more_is_refused_with_413(client: TestClient, key: str) -> None:
    message = refusal(post(client, key, _body_of_size(LIMIT + 1)), 413)
    assert message == "The request body must be at most 65536 bytes."


def test_a_body_without_content_length_is_counted_as_it_streams(client: TestClient, key: str) -> None:
    def chunks(body: bytes) -> Iterator[bytes]:
        yield from (body[i : i + 1000] for i in range(0, len(body), 1000))

    within = client.post(
        "/graphql",
        content=chunks(_body_of_size(LIMIT)),
        headers={"ApiKey": key, "Content-Type": "application/json"},
    )
    assert "content-length" not in within.request.headers
    assert within.json() == {"data": {"whatsAppLogCount": 2}}
    refusal(
        client.post(
            "/graphql", content=chunks(_body_of_size(LIMIT + 1)), headers={"Content-Type": "application/json"}
        ),
        413,
    )


def test_a_real_server_refuses_a_chunked_body_past_the_limit(database_url: str, key: str) -> None:
    with serve(database_url) as url:
        address = urlsplit(url)
        for size, status in [(1000, 200), (LIMIT + 1, 413)]:
            connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=30)
            body = _body_of_size(size)
            chunks = (body[i : i + 4096] for i in range(0, len(body), 4096))
            connection.request(
                "POST", "/graphql", body=chunks, encode_chunked=True,
                headers={"ApiKey": key, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
            )  # fmt: skip
            response = connection.getresponse()
            payload = json.loads(response.read())
            connection.close()
            assert response.status == status, payload
            assert ("data" in payload) == (status == 200)


# --- content types and methods -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
        "text/plain; charset=utf-8",
        "application/xml",
        "",
        "application/json; charset=latin-1",
    ],
)
def test_post_bodies_other_than_json_are_refused_with_415(
    client: TestClient, key: str, content_type: str
) -> None:
    response = client.post(
        "/graphql",
        content=json.dumps({"query": COUNT}),
        headers={"ApiKey": key, "Content-Type": content_type},
    )
    assert "application/json" in refusal(response, 415) or "UTF-8" in response.text


def test_json_with_a_utf8_charset_is_accepted(client: TestClient, key: str) -> None:
    response = post(client, key, json.dumps({"query": COUNT}), "Application/JSON; charset=UTF-8")
    assert response.json() == {"data": {"whatsAppLogCount": 2}}


def test_get_runs_queries(client: TestClient, key: str) -> None:
    response = client.get("/graphql", params={"query": COUNT}, headers={"ApiKey": key})
    assert response.json() == {"data": {"whatsAppLogCount": 2}}


def test_get_runs_nothing_but_queries(client: TestClient, key: str) -> None:
    response = client.get("/graphql", params={"query": "mutation { x }"}, headers={"ApiKey": key})
    assert "not allowed when using GET" in refusal(response, 400)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "HEAD"])
def test_other_methods_are_refused_with_405_and_allow(client: TestClient, method: str) -> None:
    response = client.request(method, "/graphql")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    if method != "HEAD":
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# --- malformed requests -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"query": "{ whatsAppLogCount }"', "Malformed JSON"),
        (b"", "Malformed JSON"),
        (b'{"query": "{ whatsAppLogCount }\xff"}', "not valid UTF-8"),
        (b'\xfe\xff{"query": 1}', "not valid UTF-8"),
        (b'"{ whatsAppLogCount }"', "JSON object"),
        (b"42", "JSON object"),
        (b"null", "JSON object"),
        (b"[]", "non-empty JSON array of objects"),
        (b'[{"query": "{ whatsAppLogCount }"}, 1]', "non-empty JSON array of objects"),
        (b"{}", "No GraphQL query found"),
        (b'{"query": null}', "No GraphQL query found"),
        (b'{"query": ["{ whatsAppLogCount }"]}', "must be a string"),
        (b'{"query": "{ whatsAppLogCount }", "variables": [1]}', "`variables` must be an object"),
        (b'{"query": "{ whatsAppLogCount }", "variables": "{}"}', "`variables` must be an object"),
        (b'{"query": "{ whatsAppLogCount }", "operationName": "Nope"}', 'Unknown operation named "Nope"'),
        (
            b'{"query": "query($n: Int) { whatsAppLogs(limit: $n) { id } }", "variables": {"n": NaN}}',
            "NaN is not JSON",
        ),
        (b'{"query": "{ whatsAppLogCount }", "variables": {"n": Infinity}}', "Infinity is not JSON"),
        (b'{"query": "{ whatsAppLogCount }", "variables": {"n": -Infinity}}', "-Infinity is not JSON"),
        (b'{"query": "{ whatsAppLogCount }", "variables": {"n": 1e999}}', "a number is too large"),
        (
            b'{"query": "{ whatsAppLogCount }", "variables": {"n": ' + b"9" * 5000 + b"}}",
            "a number is too large",
        ),
        (b'{"variables": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "The request body must be at most"),
        (b'{"variables": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", "nested too deeply"),
    ],
)
def test_malformed_requests_get_a_4xx_with_a_reason(
    client: TestClient, key: str, content: bytes, reason: str
) -> None:
    response = post(client, key, content)
    assert 400 <= response.status_code < 500
    assert reason in refusal(response, response.status_code)


@pytest.mark.parametrize(
    ("query", "variables", "code", "message"),
    [
        ("{ whatsAppLogz }", None, "GRAPHQL_VALIDATION_FAILED", "Cannot query field 'whatsAppLogz'"),
        ("{ whatsAppLogs { nope } }", None, "GRAPHQL_VALIDATION_FAILED", "Cannot query field 'nope'"),
        ("{ whatsAppLogs(page: 2) { id } }", None, "GRAPHQL_VALIDATION_FAILED", "Unknown argument 'page'"),
        ('{ whatsAppLogs(limit: "ten") { id } }', None, "GRAPHQL_VALIDATION_FAILED", "Int cannot represent"),
        ("{ whatsAppLogs(limit: 1.5) { id } }", None, "GRAPHQL_VALIDATION_FAILED", "non-integer value: 1.5"),
        (
            "{ whatsAppLogs(limit: 99999999999999999999) { id } }",
            None,
            "GRAPHQL_VALIDATION_FAILED",
            "non 32-bit",
        ),
        (
            "{ whatsAppLogs(limit: 0) { id } }",
            None,
            "BAD_USER_INPUT",
            "`limit` must be an integer between 1 and 100",
        ),
        (
            "{ whatsAppLogs(skip: -1) { id } }",
            None,
            "BAD_USER_INPUT",
            "`skip` must be an integer of at least 0",
        ),
        (
            "query($n: Int) { whatsAppLogs(limit: $n) { id } }",
            {"n": "ten"},
            "BAD_USER_INPUT",
            "Variable '$n'",
        ),
        ("query($n: Int) { whatsAppLogs(limit: $n) { id } }", {"n": 2**31}, "BAD_USER_INPUT", "non 32-bit"),
        ("query($n: Int) { whatsAppLogs(limit: $n) { id } }", {"n": 1.5}, "BAD_USER_INPUT", "non-integer"),
        (
            '{ whatsAppLogCount(where: {createdAt: {gt: "2026-13-45"}}) }',
            None,
            "GRAPHQL_VALIDATION_FAILED",
            "an ISO 8601 date-time string such as",
        ),
        (
            "query($d: DateTime) { whatsAppLogCount(where: {createdAt: {gt: $d}}) }",
            {"d": "yesterday"},
            "BAD_USER_INPUT",
            "an ISO 8601 date-time string such as",
        ),
        (
            "query($d: DateTime) { whatsAppLogCount(where: {createdAt: {gt: $d}}) }",
            {"d": 1700000000},
            "BAD_USER_INPUT",
            "ISO 8601",
        ),
        (
            "{ whatsAppLogCount(where: {nope: {eq: 1}}) }",
            None,
            "GRAPHQL_VALIDATION_FAILED",
            "unknown field 'nope'",
        ),
        (
            "query($w: WhatsAppLogFilter) { whatsAppLogCount(where: $w) }",
            {"w": {"nope": 1}},
            "BAD_USER_INPUT",
            "unknown field 'nope'",
        ),
        (
            "query($w: WhatsAppLogFilter) { whatsAppLogCount(where: $w) }",
            {"w": {"status": "Sent"}},
            "BAD_USER_INPUT",
            "Variable '$w'",
        ),
        (
            "{ whatsAppLogs(orderBy: [{status: ASC, createdAt: DESC}]) { id } }",
            None,
            "GRAPHQL_VALIDATION_FAILED",
            "exactly one",
        ),
        (
            "{ whatsAppLogs(orderBy: [{status: UP}]) { id } }",
            None,
            "GRAPHQL_VALIDATION_FAILED",
            "Value 'UP' does not exist",
        ),
        ("{ whatsAppLogs { id } ", None, "GRAPHQL_PARSE_FAILED", "Syntax Error"),
        (
            "query A { whatsAppLogCount } query A { whatsAppLogCount }",
            None,
            "GRAPHQL_VALIDATION_FAILED",
            "only one operation named 'A'",
        ),
    ],
)
def test_invalid_values_fields_and_arguments_get_a_coded_error(
    gql: GraphQL, key: str, query: str, variables: dict[str, Any] | None, code: str, message: str
) -> None:
    body = gql(query, variables)
    codes = [error["extensions"]["code"] for error in body["errors"]]
    assert codes[0] == code, body
    assert message in body["errors"][0]["message"], body


@pytest.mark.parametrize(
    "value", ["not-a-uuid", "", "00000000-0000-0000-0000-000000000000", "' OR 1=1 --", "x" * 10_000]
)
def test_ids_that_match_nothing_answer_null_or_nothing(gql: GraphQL, key: str, value: str) -> None:
    data = gql.data(
        "query($id: ID!) { whatsAppLog(id: $id) { id } whatsAppLogCount(where: {id: {eq: $id}}) }",
        {"id": value},
    )
    assert data == {"whatsAppLog": None, "whatsAppLogCount": 0}


# --- Accept negotiation (GraphQL over HTTP) -----------------------------------------------------------------

GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/*", "text/html, */*;q=0.8"])
def test_application_json_is_the_default_and_answers_200_even_for_errors(
    client: TestClient, key: str, accept: str | None
) -> None:
    headers = {"ApiKey": key, **({"Accept": accept} if accept else {})}
    ok = client.post("/graphql", json={"query": COUNT}, headers=headers)
    invalid = client.post("/graphql", json={"query": "{ nope }"}, headers=headers)
    for response in (ok, invalid):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
    assert invalid.json()["data"] is None


@pytest.mark.parametrize(
    "accept",
    [
        GRAPHQL_RESPONSE,
        f"{GRAPHQL_RESPONSE}, application/json;q=0.9",
        f"application/json, {GRAPHQL_RESPONSE}",
    ],
)
def test_graphql_response_json_answers_request_errors_with_400_and_no_data(
    client: TestClient, key: str, accept: str
) -> None:
    headers = {"ApiKey": key, "Accept": accept}
    ok = client.post("/graphql", json={"query": COUNT}, headers=headers)
    assert (ok.status_code, ok.headers["content-type"]) == (200, GRAPHQL_RESPONSE)
    assert ok.json() == {"data": {"whatsAppLogCount": 2}}

    for query in [
        "{ nope }",
        "{ whatsAppLogs {",
        "{ " + " ".join(f"c{i}: whatsAppLogCount" for i in range(11)) + " }",
    ]:
        invalid = client.post("/graphql", json={"query": query}, headers=headers)
        assert (invalid.status_code, invalid.headers["content-type"]) == (400, GRAPHQL_RESPONSE)
        assert "data" not in invalid.json()

    # A field error is an execution result: it has data (null here), so it is 200.
    unauthenticated = client.post("/graphql", json={"query": COUNT}, headers={"Accept": accept})
    assert unauthenticated.status_code == 200
    assert unauthenticated.json()["data"] is None


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "application/json;q=0", "image/*"])
def test_an_accept_header_that_allows_no_json_is_refused_with_406(
    client: TestClient, key: str, accept: str
) -> None:
    response = client.post("/graphql", json={"query": COUNT}, headers={"ApiKey": key, "Accept": accept})
    assert GRAPHQL_RESPONSE in refusal(response, 406)


# --- request ids ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/graphql", {"json": {"query": COUNT}}),
        ("POST", "/graphql", {"json": {"query": "{ nope }"}}),
        ("POST", "/graphql", {"content": b"{", "headers": {"Content-Type": "application/json"}}),
        (
            "POST",
            "/graphql",
            {"content": b"x" * (LIMIT + 1), "headers": {"Content-Type": "application/json"}},
        ),
        ("POST", "/graphql", {"content": b"query=x", "headers": {"Content-Type": "text/plain"}}),
        ("PUT", "/graphql", {}),
        ("GET", "/graphql?query={whatsAppLogCount}", {}),
        ("GET", "/healthz", {}),
        ("GET", "/readyz", {}),
        ("GET", "/nowhere", {}),
        ("GET", "/api/whatsapp-log/count", {}),
    ],
)
def test_every_response_carries_a_request_id(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    response = client.request(method, path, **kwargs)
    assert len(response.headers["x-request-id"]) == 32

    echoed = client.request(
        method, path, **{**kwargs, "headers": {**kwargs.get("headers", {}), "X-Request-Id": "trace-42"}}
    )
    assert echoed.headers["x-request-id"] == "trace-42"


@pytest.mark.parametrize("sent", ["a" * 129, "has space", "<script>", "semi;colon"])
def test_an_unusable_request_id_is_replaced(client: TestClient, sent: str) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": sent})
    assert response.headers["x-request-id"] != sent
    assert len(response.headers["x-request-id"]) == 32
