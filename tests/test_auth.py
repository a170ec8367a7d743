"""API keys: every kind of bad key looks the same, five permissions grant reading, the schema is public."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from tests.conftest import GraphQL
from tests.factories import Factory

INVALID_KEY = "Invalid or missing API key."
FORBIDDEN = (
    "You do not have permissions to read WhatsApp Log. You need one of these permissions: "
    "Project Owner, Project Admin, Project Member, Read WhatsApp Log, Read All Project Resources"
)
READ_PERMISSIONS = [
    "ProjectOwner",
    "ProjectAdmin",
    "ProjectMember",
    "ReadWhatsAppLog",
    "ReadAllProjectResources",
]
# One query per root field: each needs a key on its own.
ROOT_QUERIES = {
    "whatsAppLogs": "{ whatsAppLogs { id } }",
    "whatsAppLog": '{ whatsAppLog(id: "00000000-0000-4000-8000-000000000000") { id } }',
    "whatsAppLogCount": "{ whatsAppLogCount }",
}


def refusal(gql: GraphQL, query: str, key: str | None) -> tuple[str, str]:
    """The code and message of a request that must be refused, with no data (a nullable root is null)."""
    body = gql(query, key=key)
    data = body.get("data")
    assert data is None or set(data.values()) == {None}, body
    [error] = body["errors"]
    return error["extensions"]["code"], error["message"]


@pytest.fixture
def project(factory: Factory) -> str:
    project = factory.project()
    factory.log(project)
    return project


def _bad_key(kind: str, factory: Factory, project: str) -> str | None:
    if kind == "missing":
        return None
    if kind == "empty":
        return ""
    if kind == "malformed":
        return "not a key at all"
    if kind == "unknown":
        return "wal_" + "x" * 43
    if kind == "revoked":
        return factory.api_key(project, revoked=True)
    assert kind == "expired"
    return factory.api_key(project, expires_at=datetime.now(UTC) - timedelta(seconds=1))


@pytest.mark.parametrize("root", ROOT_QUERIES)
@pytest.mark.parametrize("kind", ["missing", "empty", "malformed", "unknown", "revoked", "expired"])
def test_every_kind_of_bad_key_is_the_same_unauthenticated_error(
    gql: GraphQL, factory: Factory, project: str, kind: str, root: str
) -> None:
    key = _bad_key(kind, factory, project)

    assert refusal(gql, ROOT_QUERIES[root], key) == ("UNAUTHENTICATED", INVALID_KEY)


@pytest.mark.parametrize("permission", READ_PERMISSIONS)
def test_each_read_permission_grants_reading(
    gql: GraphQL, factory: Factory, project: str, permission: str
) -> None:
    gql.key = factory.api_key(project, [permission])

    assert gql.data("{ whatsAppLogCount }") == {"whatsAppLogCount": 1}


@pytest.mark.parametrize("root", ROOT_QUERIES)
def test_a_permission_that_does_not_grant_reading_is_forbidden(
    gql: GraphQL, factory: Factory, project: str, root: str
) -> None:
    key = factory.api_key(project, ["ReadIncident"])

    assert refusal(gql, ROOT_QUERIES[root], key) == ("FORBIDDEN", FORBIDDEN)


def test_a_read_permission_among_others_is_enough(gql: GraphQL, factory: Factory, project: str) -> None:
    gql.key = factory.api_key(project, ["ReadIncident", "ReadMonitor", "ProjectMember"])

    assert gql.data("{ whatsAppLogCount }") == {"whatsAppLogCount": 1}


def test_a_key_that_expires_later_works(gql: GraphQL, factory: Factory, project: str) -> None:
    gql.key = factory.api_key(project, expires_at=datetime.now(UTC) + timedelta(days=1))

    assert gql.data("{ whatsAppLogCount }") == {"whatsAppLogCount": 1}


def test_surrounding_whitespace_in_the_header_is_not_part_of_the_key(
    gql: GraphQL, factory: Factory, project: str
) -> None:
    key = factory.api_key(project)

    assert gql.data("{ whatsAppLogCount }", key=f"  {key} ") == {"whatsAppLogCount": 1}


def test_a_key_with_one_character_changed_is_unknown(gql: GraphQL, factory: Factory, project: str) -> None:
    key = factory.api_key(project)
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")

    assert refusal(gql, "{ whatsAppLogCount }", tampered) == ("UNAUTHENTICATED", INVALID_KEY)


def test_secrets_are_prefixed_and_long(factory: Factory, project: str) -> None:
    secrets = {factory.api_key(project) for _ in range(3)}

    assert len(secrets) == 3
    for secret in secrets:
        assert secret.startswith("wal_")
        # 128 bits at least: 22 or more URL-safe base64 characters after the prefix
        assert len(secret) - len("wal_") >= 22


def test_introspection_needs_no_key(gql: GraphQL) -> None:
    data = gql.data('{ __schema { queryType { name } } __type(name: "WhatsAppLog") { fields { name } } }')

    assert data["__schema"] == {"queryType": {"name": "Query"}}
    assert {"id", "incident", "whatsAppCostInUSDCents"} <= {f["name"] for f in data["__type"]["fields"]}


def test_a_typename_alone_needs_no_key(gql: GraphQL) -> None:
    assert gql.data("{ __typename }") == {"__typename": "Query"}


def test_graphiql_is_served_without_a_key(client: TestClient) -> None:
    response = client.get("/graphql", headers={"Accept": "text/html"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


def test_a_query_by_get_needs_a_key_too(client: TestClient, factory: Factory, project: str) -> None:
    query = {"query": "{ whatsAppLogCount }"}

    refused = client.get("/graphql", params=query, headers={"Accept": "application/json"}).json()
    allowed = client.get(
        "/graphql", params=query, headers={"Accept": "application/json", "ApiKey": factory.api_key(project)}
    ).json()

    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert allowed == {"data": {"whatsAppLogCount": 1}}


def test_a_refused_key_or_filter_is_no_database_failure_in_the_log(
    gql: GraphQL, factory: Factory, project: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Errors raised while a connection is open are the client's, not the database's: no warning line."""
    caplog.set_level("WARNING", logger="graphql_api.database")
    assert refusal(gql, "{ whatsAppLogCount }", "wal_not_a_key")[0] == "UNAUTHENTICATED"
    key = factory.api_key(project)
    bad_filter = '{ whatsAppLogs(where: {id: {in: ["a"]}, and: [{status: {eq: "\\u0000"}}]}) { id } }'
    assert gql(bad_filter, key=key)["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert [r.getMessage() for r in caplog.records if r.name == "graphql_api.database"] == []
