"""Apollo's automatic persisted queries: a hash alone, PERSISTED_QUERY_NOT_FOUND for one the server does
not hold, then hash and document once; over POST and GET; checked, bounded, and under every limit."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import StatementCounter
from tests.factories import Factory

QUERY = "query Ids { whatsAppLogs(limit: 5) { id } }"


def sha(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def persisted(document: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha(document)}}


@pytest.fixture
def key(factory: Factory) -> str:
    project = factory.project()
    factory.logs(project, 2)
    return factory.api_key(project)


def post(client: TestClient, key: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post("/graphql", json=body, headers={"ApiKey": key, **headers})


def get(client: TestClient, key: str, **params: Any) -> Any:
    encoded = {
        name: json.dumps(value) if isinstance(value, dict) else value for name, value in params.items()
    }
    return client.get("/graphql", params=encoded, headers={"ApiKey": key})


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", ())]


def test_an_unknown_hash_answers_not_found_then_hash_and_document_register_it(
    client: TestClient, key: str, sql_statements: StatementCounter
) -> None:
    sql_statements.reset()
    missing = post(client, key, {"extensions": persisted(QUERY)})
    assert missing.status_code == 200
    # What Apollo Client's persisted query link looks for: the message and the code.
    assert missing.json() == {
        "errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]
    }
    assert sql_statements.count == 0

    registered = post(client, key, {"query": QUERY, "extensions": persisted(QUERY)})
    assert len(registered.json()["data"]["whatsAppLogs"]) == 2

    for _ in range(2):  # the second one on the compiled path's plan
        by_hash = post(client, key, {"extensions": persisted(QUERY)})
        assert by_hash.json() == registered.json()


def test_a_get_carries_the_hash_in_an_extensions_parameter(client: TestClient, key: str) -> None:
    query = "query One($limit: Int!) { whatsAppLogs(limit: $limit) { id } }"
    variables = {"limit": 1}
    assert codes(get(client, key, extensions=persisted(query), variables=variables).json()) == [
        "PERSISTED_QUERY_NOT_FOUND"
    ]
    first = get(
        client, key, query=query, extensions=persisted(query), variables=variables, operationName="One"
    )
    assert len(first.json()["data"]["whatsAppLogs"]) == 1
    again = get(client, key, extensions=persisted(query), variables=variables, operationName="One")
    assert again.status_code == 200
    assert again.json() == first.json()


def test_graphql_response_json_clients_get_404_for_an_unknown_hash(client: TestClient, key: str) -> None:
    answer = post(client, key, {"extensions": persisted(QUERY)}, Accept="application/graphql-response+json")
    assert answer.status_code == 404
    assert codes(answer.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


def test_a_document_whose_sha256_is_not_the_hash_is_refused_and_not_stored(
    client: TestClient, key: str
) -> None:
    other = "{ whatsAppLogs(limit: 1) { id } }"
    wrong = post(client, key, {"query": other, "extensions": persisted(QUERY)})
    assert codes(wrong.json()) == ["BAD_USER_INPUT"]
    assert "sha" in wrong.json()["errors"][0]["message"]
    assert codes(post(client, key, {"extensions": persisted(QUERY)}).json()) == ["PERSISTED_QUERY_NOT_FOUND"]


@pytest.mark.parametrize(
    "extensions",
    [
        {"persistedQuery": {"version": 1, "sha256Hash": "a" * 10_000}},
        {"persistedQuery": {"version": 1, "sha256Hash": "not hex"}},
        {"persistedQuery": {"version": 2, "sha256Hash": "a" * 64}},
        {"persistedQuery": "v1"},
    ],
    ids=["10kB-hash", "not-hex", "version-2", "not-an-object"],
)
def test_a_malformed_persisted_query_is_a_bad_user_input(
    client: TestClient, key: str, extensions: dict[str, Any]
) -> None:
    answer = post(client, key, {"extensions": extensions})
    assert answer.status_code == 200
    assert codes(answer.json()) == ["BAD_USER_INPUT"]
    assert len(answer.text) < 300  # the hash is not echoed


@pytest.mark.parametrize("overrides", [{"max_depth": 1}])
def test_a_registered_document_past_a_limit_is_refused_and_never_stored(client: TestClient, key: str) -> None:
    deep = "{ whatsAppLogs { incident { title } } }"
    first = post(client, key, {"query": deep, "extensions": persisted(deep)})
    assert codes(first.json()) == ["QUERY_TOO_COMPLEX"]
    assert codes(post(client, key, {"extensions": persisted(deep)}).json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    invalid = "{ whatsAppLogs { noSuchField } }"
    post(client, key, {"query": invalid, "extensions": persisted(invalid)})
    assert codes(post(client, key, {"extensions": persisted(invalid)}).json()) == [
        "PERSISTED_QUERY_NOT_FOUND"
    ]


@pytest.mark.parametrize("overrides", [{"persisted_queries_max_entries": 2}])
def test_the_store_keeps_the_most_recently_used_documents_up_to_its_bound(
    client: TestClient, key: str
) -> None:
    documents = [f"query Q{n} {{ whatsAppLogs(limit: {n + 1}) {{ id }} }}" for n in range(3)]
    for document in documents:
        post(client, key, {"query": document, "extensions": persisted(document)})
    assert codes(post(client, key, {"extensions": persisted(documents[0])}).json()) == [
        "PERSISTED_QUERY_NOT_FOUND"
    ]
    for document in documents[1:]:
        assert "data" in post(client, key, {"extensions": persisted(document)}).json()


@pytest.mark.parametrize("overrides", [{"persisted_queries_max_bytes": 100}])
def test_the_store_is_bounded_in_bytes(client: TestClient, key: str) -> None:
    small = "{ whatsAppLogs(limit: 1) { id } }"
    large = "{ whatsAppLogs(limit: 1) { id " + "createdAt " * 10 + "} }"
    for document in (small, large):
        post(client, key, {"query": document, "extensions": persisted(document)})
    assert "data" in post(client, key, {"extensions": persisted(small)}).json()
    assert codes(post(client, key, {"extensions": persisted(large)}).json()) == ["PERSISTED_QUERY_NOT_FOUND"]


@pytest.mark.parametrize("overrides", [{"persisted_queries": False}])
def test_with_persisted_queries_off_a_hash_answers_not_supported(client: TestClient, key: str) -> None:
    body = post(client, key, {"extensions": persisted(QUERY)}).json()
    assert body["errors"][0]["message"] == "PersistedQueryNotSupported"
    assert codes(body) == ["PERSISTED_QUERY_NOT_SUPPORTED"]
    assert "data" in post(client, key, {"query": QUERY}).json()
