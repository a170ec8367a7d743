"""A newcomer's common mistakes get an answer that says what to do (issue 15, HTTP and GraphQL answers).

The message is part of the contract, so each is pinned as a client sees it, through HTTP.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import GraphQL, StatementCounter
from tests.factories import Factory

INVALID_KEY = "Invalid or missing API key."
COUNT = "{ whatsAppLogCount }"


@pytest.fixture
def secret(factory: Factory) -> str:
    """A valid key of a project with two logs: valid, yet unread when sent in the wrong place."""
    project = factory.project()
    factory.logs(project, 2)
    return factory.api_key(project)


# --- the key where clients often put one: the standard error and a hint, never the secret ---------

MISPLACED = {
    "bearer": ("/graphql", lambda s: {"Authorization": f"Bearer {s}"}, "not in `Authorization`."),
    "x-api-key header": ("/graphql", lambda s: {"X-Api-Key": s}, "no other header is read."),
    "?apikey=": ("/graphql?apikey={}", lambda s: {}, "not in the URL"),
    "?ApiKey=": ("/graphql?ApiKey={}", lambda s: {}, "not in the URL"),
    "?api_key=": ("/graphql?api_key={}", lambda s: {}, "not in the URL"),
}


@pytest.mark.parametrize(("path", "headers", "why"), MISPLACED.values(), ids=MISPLACED.keys())
def test_a_key_outside_the_apikey_header_is_unauthenticated_with_a_hint_naming_it(
    client: TestClient, secret: str, path: str, headers: Any, why: str
) -> None:
    response = client.post(path.format(secret), json={"query": COUNT}, headers=headers(secret))

    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["message"] == INVALID_KEY
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["extensions"]["hint"].startswith("Send the key in the `ApiKey` header (`ApiKey: wal_…`)")
    assert why in error["extensions"]["hint"]
    assert secret not in response.text


@pytest.mark.parametrize(("path", "headers", "why"), MISPLACED.values(), ids=MISPLACED.keys())
def test_rest_answers_a_misplaced_key_with_401_and_the_same_hint(
    client: TestClient, secret: str, path: str, headers: Any, why: str
) -> None:
    rest_path = path.replace("/graphql", "/api/whatsapp-log/count")
    response = client.get(rest_path.format(secret), headers=headers(secret))

    assert response.status_code == 401
    body = response.json()
    assert body["message"] == INVALID_KEY
    assert body["hint"].startswith("Send the key in the `ApiKey` header")
    assert why in body["hint"]
    assert secret not in response.text


def test_no_key_at_all_is_the_plain_standard_error(client: TestClient, secret: str) -> None:
    assert client.get("/api/whatsapp-log/count").json() == {"message": INVALID_KEY}
    [error] = client.post("/graphql", json={"query": COUNT}).json()["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}


def test_the_apikey_header_is_read_whatever_else_the_request_carries(client: TestClient, secret: str) -> None:
    headers = {"ApiKey": secret, "Authorization": "Basic cHJveHk6cGFzcw=="}

    response = client.post("/graphql?apikey=x", json={"query": COUNT}, headers=headers)

    assert response.json() == {"data": {"whatsAppLogCount": 2}}


# --- argument bounds before the cost: the rule to learn, not a figure --------------------------------


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        (
            "{ whatsAppLogs(limit: 1000) { id toNumber status incident { title } monitor { name } } }",
            None,
            "`limit` must be an integer between 1 and 100 (got 1000).",
        ),
        (
            "query($n: Int!) { whatsAppLogs(limit: $n, skip: -1) { id incident { title } } }",
            {"n": 5000},
            "`skip` must be an integer of at least 0 (got -1).",
        ),
        (
            "query($n: Int) { whatsAppLogsConnection(first: $n) { nodes { id incident { title } } } }",
            {"n": 5000},
            "`first` must be an integer between 1 and 100 (got 5000).",
        ),
        (
            "{ whatsAppLogsConnection(last: 1000) { edges { node { id } } } }",
            None,
            "`last` must be an integer between 1 and 100 (got 1000).",
        ),
        (
            "{ whatsAppLogStats(limit: 100000, groupBy: [DAY]) { day count } }",
            None,
            "`limit` must be an integer between 1 and 10000 (got 100000).",
        ),
        (
            "query { ...Page ...Page } fragment Page on Query { whatsAppLogs(limit: 101) { id } }",
            None,
            "`limit` must be an integer between 1 and 100 (got 101).",
        ),
    ],
    ids=["limit-1000", "skip-with-a-costly-limit", "first-variable", "last", "stats-limit", "fragment"],
)
def test_an_argument_out_of_bounds_is_refused_with_its_own_bounds_before_the_cost(
    gql: GraphQL,
    secret: str,
    sql_statements: StatementCounter,
    query: str,
    variables: dict[str, Any] | None,
    message: str,
) -> None:
    sql_statements.reset()

    body = gql(query, variables, key=secret)

    assert body["data"] is None
    assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [(message, "BAD_USER_INPUT")]
    assert sql_statements.count == 0  # refused before the key lookup, like every limit


def test_an_out_of_bounds_field_that_skip_leaves_out_is_not_refused(gql: GraphQL, secret: str) -> None:
    query = "{ whatsAppLogs(limit: 1000) @skip(if: true) { id } whatsAppLogCount }"

    assert gql.data(query, key=secret) == {"whatsAppLogCount": 2}


def test_within_bounds_a_costly_query_is_still_refused_by_its_cost(gql: GraphQL, secret: str) -> None:
    relations = "incident { title } monitor { name } team { name } alert { title } user { name }"
    query = "{ " + " ".join(f"p{i}: whatsAppLogs(limit: 100) {{ id {relations} }}" for i in range(10)) + " }"

    [error] = gql(query, key=secret)["errors"]

    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["message"].startswith("The operation would cost 6000; at most 5000 is allowed.")


# --- a malformed date: one sentence, with a valid example ------------------------------------------

DATE_EXPECTED = (
    'Expected a DateTime, an ISO 8601 date-time string such as "2026-07-21T09:30:00Z" or a date such as '
    '"2026-07-21" (midnight UTC), found '
)


@pytest.mark.parametrize(
    ("query", "variables", "message", "code"),
    [
        (
            '{ whatsAppLogCount(where: {createdAt: {gte: "21/07/2026"}}) }',
            None,
            DATE_EXPECTED + '"21/07/2026".',
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "{ whatsAppLogCount(where: {createdAt: {gte: 1700000000}}) }",
            None,
            DATE_EXPECTED + "1700000000.",
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "query($d: DateTime) { whatsAppLogCount(where: {createdAt: {gte: $d}}) }",
            {"d": "yesterday"},
            "Variable '$d' has invalid value: " + DATE_EXPECTED + '"yesterday".',
            "BAD_USER_INPUT",
        ),
        (
            "query($w: WhatsAppLogFilter) { whatsAppLogCount(where: $w) }",
            {"w": {"createdAt": {"in": ["2026-07-21", "2026-13-45"]}}},
            "Variable '$w' has invalid value at .createdAt.in[1]: " + DATE_EXPECTED + '"2026-13-45".',
            "BAD_USER_INPUT",
        ),
        (
            '{ whatsAppLogCount(where: {createdAt: {lt: "9999-12-31T23:00:00-05:00"}}) }',
            None,
            'Expected a DateTime within the years 1 to 9999 in UTC, such as "2026-07-21T09:30:00Z", '
            'found "9999-12-31T23:00:00-05:00".',
            "GRAPHQL_VALIDATION_FAILED",
        ),
    ],
    ids=["literal", "literal-number", "variable", "inside-a-variable", "past-year-9999"],
)
def test_a_malformed_date_is_one_sentence_with_an_example(
    gql: GraphQL, secret: str, query: str, variables: dict[str, Any] | None, message: str, code: str
) -> None:
    [error] = gql(query, variables, key=secret)["errors"]

    assert error["message"] == message
    assert error["extensions"]["code"] == code
    assert error["locations"]


# --- the server's address and unknown paths answer JSON -------------------------------------------


def test_the_root_answers_where_the_api_is(client: TestClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    index = response.json()
    assert index["graphql"] == "/graphql"
    assert index["graphiql"] == "/graphql"
    assert index["rest"] == {
        "list": "/api/whatsapp-log/get-list",
        "item": "/api/whatsapp-log/{id}/get-item",
        "count": "/api/whatsapp-log/count",
    }
    assert "`ApiKey` header" in index["message"]
    assert "README.md" in index["docs"]


def test_a_browser_at_the_root_gets_a_page_of_links(client: TestClient) -> None:
    response = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<a href="/graphql">' in response.text
    assert '<a href="/api/whatsapp-log/get-list">' in response.text


@pytest.mark.parametrize("overrides", [{"graphiql": False}])
def test_without_graphiql_the_root_does_not_mention_it(client: TestClient) -> None:
    index = client.get("/").json()

    assert "graphiql" not in index
    assert "GraphiQL" not in index["message"]
    assert "GraphiQL" not in client.get("/", headers={"Accept": "text/html"}).text


@pytest.mark.parametrize("path", ["/nope", "/graphql/extra", "/api/other", "/graphiql/missing.js"])
def test_an_unknown_path_is_a_json_404_pointing_to_the_root(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert response.json() == {"message": "Not found. GET / lists this server's endpoints."}


def test_a_method_a_route_does_not_take_is_a_json_405(client: TestClient) -> None:
    response = client.post("/healthz")

    assert response.status_code == 405
    assert response.json() == {"message": "Method not allowed."}
    assert "GET" in response.headers["allow"]


# --- known statuses: an enum tools autocomplete, beside the free-text filter ---------------------------


@pytest.fixture
def statuses(factory: Factory, gql: GraphQL) -> dict[str, str]:
    """One log per status, two of them outside the platform's list; `gql` reads their project."""
    project = factory.project()
    gql.key = factory.api_key(project)
    return {
        status: factory.log(project, status=status)
        for status in ("Failed", "Low Balance", "Delivered", "failed", "Bounced")
    }


def test_status_in_takes_the_platform_statuses_by_name(gql: GraphQL, statuses: dict[str, str]) -> None:
    query = (
        "{ whatsAppLogs(where: {statusIn: [FAILED, LOW_BALANCE]}, orderBy: [{status: ASC}]) { id status } }"
    )

    logs = gql.data(query)["whatsAppLogs"]

    assert logs == [
        {"id": statuses["Failed"], "status": "Failed"},
        {"id": statuses["Low Balance"], "status": "Low Balance"},
    ]


def test_status_in_combines_like_any_condition(gql: GraphQL, statuses: dict[str, str]) -> None:
    assert gql.data("{ whatsAppLogCount(where: {not: {statusIn: [FAILED]}}) }") == {"whatsAppLogCount": 4}
    assert gql.data("{ whatsAppLogCount(where: {statusIn: []}) }") == {"whatsAppLogCount": 0}
    variables = {"w": {"or": [{"statusIn": ["DELIVERED"]}, {"status": {"eq": "Bounced"}}]}}
    assert gql.data("query($w: WhatsAppLogFilter) { whatsAppLogCount(where: $w) }", variables) == {
        "whatsAppLogCount": 2
    }


def test_statuses_outside_the_enum_stay_free_text(gql: GraphQL, statuses: dict[str, str]) -> None:
    data = gql.data('{ whatsAppLogs(where: {status: {in: ["failed", "Bounced"]}}) { id status } }')

    assert {log["status"] for log in data["whatsAppLogs"]} == {"failed", "Bounced"}


def test_a_status_name_that_is_not_in_the_enum_is_refused_naming_the_enum(
    gql: GraphQL, statuses: dict[str, str]
) -> None:
    [error] = gql("{ whatsAppLogCount(where: {statusIn: [BOUNCED]}) }")["errors"]

    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "WhatsAppLogStatus" in error["message"]


def test_the_known_statuses_are_in_the_schema_with_their_stored_text(client: TestClient) -> None:
    query = """{
      status: __type(name: "WhatsAppLogStatus") { enumValues { name description } }
      filter: __type(name: "WhatsAppLogFilter") {
        inputFields { name description type { ofType { ofType { name } } } }
      }
      log: __type(name: "WhatsAppLog") { fields { name description } }
    }"""

    data = GraphQL(client).data(query)

    values = {v["name"]: v["description"] for v in data["status"]["enumValues"]}
    assert values["FAILED"] == "Stored as `Failed`."
    assert values["LOW_BALANCE"] == "Stored as `Low Balance`."
    assert len(values) == 12
    inputs = {f["name"]: f for f in data["filter"]["inputFields"]}
    assert inputs["statusIn"]["type"]["ofType"]["ofType"]["name"] == "WhatsAppLogStatus"
    assert "`Failed`, not `failed`" in inputs["status"]["description"]
    [status] = [f for f in data["log"]["fields"] if f["name"] == "status"]
    assert "Low Balance" in status["description"] and "statusIn" in status["description"]
