"""Values no database can take, or that overflow on the way, are the client's mistake: BAD_USER_INPUT
(400 on REST) with a reason, the same on every backend and both execution paths, never INTERNAL or a 500.
And the small things an attack pass turned up: one ApiKey header, ASCII page numbers, no Server header.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from graphql_api.cli.commands import main
from tests.conftest import GraphQL
from tests.factories import Factory
from tests.live import serve

BOTH_PATHS = pytest.mark.parametrize(
    "overrides", [{"compiled_execution": True}, {"compiled_execution": False}], ids=["compiled", "regular"]
)
COUNT = "query($w: WhatsAppLogFilter) { whatsAppLogCount(where: $w) }"
INT_MAX = 2**31 - 1


@pytest.fixture
def key(factory: Factory, gql: GraphQL) -> str:
    project = factory.project()
    factory.logs(project, 2, message_text="a\tb")
    gql.key = factory.api_key(project)
    return gql.key


def errors(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["extensions"]["code"], e["message"]) for e in body["errors"]]


def escaped(body: dict[str, Any]) -> bytes:
    """JSON as a client that escapes everything sends it (a lone surrogate as `\\ud800`)."""
    return json.dumps(body, ensure_ascii=True).encode()


# --- U+0000 ------------------------------------------------------------------------------------------


@BOTH_PATHS
@pytest.mark.parametrize(
    "where",
    [
        {"status": {"eq": "a\u0000b"}},
        {"messageText": {"contains": "\u0000"}},
        {"toNumber": {"in": ["+1", "\u0000"]}},
        {"not": {"fromNumber": {"startsWith": "x\u0000"}}},
    ],
)
def test_nul_in_a_text_filter_is_bad_user_input(gql: GraphQL, key: str, where: dict[str, Any]) -> None:
    [(code, message)] = errors(gql(COUNT, {"w": where}))
    assert code == "BAD_USER_INPUT"
    assert message.endswith("values cannot contain the NUL character (U+0000).")


@BOTH_PATHS
def test_control_characters_other_than_nul_are_ordinary_text(gql: GraphQL, key: str) -> None:
    assert gql.data(COUNT, {"w": {"messageText": {"contains": "a\tb"}}}) == {"whatsAppLogCount": 2}


@pytest.mark.parametrize(
    "query",
    [
        {"status": "a\u0000"},
        {"status": ["Sent", "\u0000"]},
        {"messageText": {"_type": "Search", "value": "\u0000"}},
        {"toNumber": {"_type": "Includes", "value": ["+1", "x\u0000"]}},
        {"fromNumber": {"_type": "NotContains", "value": "\u0000"}},
    ],
)
def test_nul_in_a_rest_query_is_400(client: TestClient, key: str, query: dict[str, Any]) -> None:
    response = client.post("/api/whatsapp-log/count", json={"query": query}, headers={"ApiKey": key})
    assert response.status_code == 400
    [name] = query
    assert response.json() == {
        "message": f'Invalid value for "{name}": text cannot contain the NUL character (U+0000).'
    }


# --- lone surrogates -----------------------------------------------------------------------------------


@BOTH_PATHS
@pytest.mark.parametrize("value", ["\ud800", "a\udfffb", "\udc00\ud800"])
def test_a_lone_surrogate_in_a_variable_is_a_400_before_graphql(
    client: TestClient, key: str, value: str
) -> None:
    body = {"query": COUNT, "variables": {"w": {"status": {"eq": value}}}}
    response = client.post(
        "/graphql", content=escaped(body), headers={"ApiKey": key, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    [(code, message)] = errors(response.json())
    assert code == "BAD_USER_INPUT"
    assert "lone UTF-16 surrogate" in message


@BOTH_PATHS
def test_a_surrogate_pair_is_one_character_and_fine(client: TestClient, key: str) -> None:
    body = {"query": COUNT, "variables": {"w": {"status": {"eq": "\U0001f6a8"}}}}
    response = client.post(
        "/graphql", content=escaped(body), headers={"ApiKey": key, "Content-Type": "application/json"}
    )
    assert response.json() == {"data": {"whatsAppLogCount": 0}}


@BOTH_PATHS
def test_a_lone_surrogate_in_the_variables_of_a_get_is_a_400(client: TestClient, key: str) -> None:
    params = {"query": COUNT, "variables": '{"w": {"status": {"eq": "\\ud800"}}}'}
    response = client.get("/graphql", params=params, headers={"ApiKey": key})
    assert response.status_code == 400
    [(code, message)] = errors(response.json())
    assert (code, "lone UTF-16 surrogate" in message) == ("BAD_USER_INPUT", True)


@pytest.mark.parametrize(
    "body",
    [
        {"query": {"status": "\ud800"}},
        {"query": {"messageText": {"_type": "Search", "value": "x\udbff"}}},
        {"query": {"\ud800": "x"}},
        {"select": {"\ud800": True}},
    ],
)
@pytest.mark.parametrize("path", ["get-list", "count"])
def test_a_lone_surrogate_anywhere_in_a_rest_body_is_400_json(
    client: TestClient, key: str, body: dict[str, Any], path: str
) -> None:
    response = client.post(
        f"/api/whatsapp-log/{path}",
        content=escaped(body),
        headers={"ApiKey": key, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert "lone UTF-16 surrogate" in response.json()["message"]


# --- dates that overflow in UTC ------------------------------------------------------------------------


@BOTH_PATHS
@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999999-01:00"])
def test_a_date_outside_years_1_to_9999_in_utc_is_bad_user_input(gql: GraphQL, key: str, moment: str) -> None:
    for where in ({"createdAt": {"gte": moment}}, {"updatedAt": {"in": [moment]}}):
        [(code, message)] = errors(gql(COUNT, {"w": where}))
        assert code == "BAD_USER_INPUT"
        assert "the years 1 to 9999 in UTC" in message


@BOTH_PATHS
def test_a_literal_date_outside_the_calendar_is_refused_like_any_bad_literal(gql: GraphQL, key: str) -> None:
    # In the document itself it fails validation, as "junk" would: nothing runs, no INTERNAL.
    body = gql('{ whatsAppLogCount(where: {createdAt: {lt: "9999-12-31T23:59:59.999999-01:00"}}) }')
    [(code, message)] = errors(body)
    assert (code, "the years 1 to 9999 in UTC" in message) == ("GRAPHQL_VALIDATION_FAILED", True)


@BOTH_PATHS
def test_the_edges_of_the_calendar_in_utc_are_fine(gql: GraphQL, key: str) -> None:
    where = {"createdAt": {"gte": "0001-01-01T00:00:00+00:00", "lt": "9999-12-31T23:00:00-00:59"}}
    assert gql.data(COUNT, {"w": where}) == {"whatsAppLogCount": 2}


@pytest.mark.parametrize(
    "query",
    [
        {"createdAt": {"_type": "GreaterThan", "value": "0001-01-01T00:00:00+14:00"}},
        {"createdAt": "0001-01-01T00:00:00+14:00"},
        {"createdAt": ["2026-07-21", "0001-01-01T00:00:00+14:00"]},
        {"createdAt": {"_type": "DateTime", "value": "0001-01-01T00:00:00+14:00"}},
        {
            "createdAt": {
                "_type": "InBetween",
                "startValue": "2026-07-21",
                "endValue": "0001-01-01T00:00:00+14:00",
            }
        },
    ],
)
def test_a_rest_date_outside_the_calendar_in_utc_is_400(
    client: TestClient, key: str, query: dict[str, Any]
) -> None:
    response = client.post("/api/whatsapp-log/count", json={"query": query}, headers={"ApiKey": key})
    moment = '"0001-01-01T00:00:00+14:00"'
    assert (response.status_code, response.json()) == (
        400,
        {"message": f'Invalid value for "createdAt": {moment} is outside the years 1 to 9999 in UTC.'},
    )


# --- sums past 32 bits ------------------------------------------------------------------------------------


@BOTH_PATHS
def test_stats_sums_past_32_bits_are_exact(gql: GraphQL, factory: Factory) -> None:
    project = factory.project()
    factory.logs(project, 3, whatsapp_cost_in_usd_cents=INT_MAX)
    data = gql.data(
        "{ whatsAppLogStats { count totalCostInUSDCents minCostInUSDCents maxCostInUSDCents } }",
        key=factory.api_key(project),
    )
    assert data == {
        "whatsAppLogStats": [
            {
                "count": 3,
                "totalCostInUSDCents": 3 * INT_MAX,
                "minCostInUSDCents": INT_MAX,
                "maxCostInUSDCents": INT_MAX,
            }
        ]
    }


# --- headers and page numbers -----------------------------------------------------------------------------


def test_two_api_key_headers_are_refused(client: TestClient, key: str) -> None:
    headers = [("ApiKey", key), ("ApiKey", key)]
    graphql = client.post("/graphql", json={"query": "{ whatsAppLogCount }"}, headers=headers)
    assert errors(graphql.json()) == [
        ("UNAUTHENTICATED", "Send the ApiKey header once; this request has several.")
    ]
    rest = client.post("/api/whatsapp-log/count", json={}, headers=headers)
    assert (rest.status_code, rest.json()) == (
        401,
        {"message": "Send the ApiKey header once; this request has several."},
    )


@pytest.mark.parametrize("number", ["\u0661\u0660", "\u00b2", "\uff11"])
@pytest.mark.parametrize("name", ["skip", "limit"])
def test_rest_page_numbers_are_ascii_digits_only(
    client: TestClient, key: str, number: str, name: str
) -> None:
    response = client.post(f"/api/whatsapp-log/get-list?{name}={number}", json={}, headers={"ApiKey": key})
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"`{name}` must be an integer")


def _headers_and_status(request: urllib.request.Request) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:  # a 4xx is an answer too, with its own headers
        return error.code, error.headers


@pytest.mark.backends("sqlite")
def test_responses_do_not_name_the_server_software(database_url: str) -> None:
    with serve(database_url) as url:
        answers = [
            _headers_and_status(urllib.request.Request(f"{url}/healthz")),
            _headers_and_status(
                urllib.request.Request(
                    f"{url}/graphql",
                    data=b'{"query": "{ whatsAppLogCount }"}',
                    headers={"Content-Type": "application/json"},
                )
            ),
            _headers_and_status(urllib.request.Request(f"{url}/api/whatsapp-log/count", method="POST")),
        ]
    assert [status for status, _ in answers] == [200, 200, 401]
    assert [headers.get("server") for _, headers in answers] == [None, None, None]


# --- the importer: the same values refused, line by line ---------------------------------------------------


@pytest.fixture
def cli(database_url: str, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Runs `graphql-api <args>` on the test database: (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        # The CLI configures logging for a process of its own: give pytest's handlers back afterwards.
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            code = main(["--database-url", database_url, *args])
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)
        out, err = capsys.readouterr()
        return code, out, err

    return run


HALF_A_CHARACTER = "cannot contain half a character (a lone UTF-16 surrogate, as a \\u escape makes one)"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"createdAt": "0001-01-01T00:00:00+14:00"},
            'createdAt is outside the years 1 to 9999 in UTC: "0001-01-01T00:00:00+14:00"',
        ),
        (
            {"updatedAt": "9999-12-31T23:59:59.999999-01:00"},
            'updatedAt is outside the years 1 to 9999 in UTC: "9999-12-31T23:59:59.999999-01:00"',
        ),
        ({"messageText": "a\u0000b"}, "messageText cannot contain the NUL character (U+0000)"),
        ({"status": "\ud800"}, f"status {HALF_A_CHARACTER}"),
        (
            {"incident": {"_id": "6f1c2b9a-3d4e-4f50-8a61-7b8c9d0e1f20", "title": "x\udfff"}},
            f"incident.title {HALF_A_CHARACTER}",
        ),
    ],
    ids=["before-year-1", "after-year-9999", "nul", "lone-surrogate", "lone-surrogate-in-a-relation"],
)
def test_an_import_refuses_the_values_a_filter_refuses_and_writes_nothing(
    cli: Callable[..., tuple[int, str, str]],
    client: TestClient,
    factory: Factory,
    tmp_path: Path,
    fields: dict[str, Any],
    problem: str,
) -> None:
    project = factory.project()
    path = tmp_path / "logs.jsonl"
    good = {"toNumber": "+1-555-123-4567", "status": "Sent", "whatsAppCostInUSDCents": 100}
    # json.dumps escapes what is not ASCII: a lone surrogate arrives as `\ud800`, as in a real export.
    path.write_text(f"{json.dumps(good)}\n{json.dumps({**good, **fields})}\n", encoding="utf-8")

    assert cli("import", str(path), "--project-id", project) == (
        1,
        "",
        f"error: line 2: {problem} (nothing was imported)\n",
    )
    count = client.post("/api/whatsapp-log/count", json={}, headers={"ApiKey": factory.api_key(project)})
    assert count.json() == {"count": 0}


EDGES = ["0001-01-01T00:00:00.000001+00:00", "2026-07-21T09:30:00+00:00", "9999-12-31T23:59:59.999998+00:00"]
PAGE = """query($after: String) {
  whatsAppLogsConnection(first: 1, after: $after, orderBy: [{createdAt: ASC}]) {
    nodes { createdAt } pageInfo { hasNextPage endCursor }
  }
}"""


@BOTH_PATHS
def test_dates_at_the_edges_of_the_calendar_import_and_page_alike_on_both_paths(
    cli: Callable[..., tuple[int, str, str]], gql: GraphQL, factory: Factory, tmp_path: Path
) -> None:
    # The first and last instants themselves are refused by the importer (PostgreSQL would store them as
    # -infinity/infinity, which the compiled path reads as null); one microsecond inside is a real date.
    project = factory.project()
    path = tmp_path / "logs.jsonl"
    lines = [
        {"toNumber": "+1", "status": "Sent", "whatsAppCostInUSDCents": 1, "createdAt": at} for at in EDGES
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert cli("import", str(path), "--project-id", project)[0] == 0
    gql.key = factory.api_key(project)

    seen, after = [], None
    for _ in range(len(EDGES) + 1):
        page = gql.data(PAGE, {"after": after})["whatsAppLogsConnection"]
        seen += [node["createdAt"] for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert seen == EDGES
