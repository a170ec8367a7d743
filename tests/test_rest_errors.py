"""Every REST error is `{"message": ...}` with the platform's status; bad input is never a 500."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graphql_api.data.fields import SORTABLE
from tests.factories import Factory
from tests.rest_client import Rest

ENDPOINTS = [("GET", "get-list"), ("POST", "get-list"), ("POST", "count"), ("GET", "count")]
UNAUTHENTICATED = {"message": "Invalid or missing API key."}
FORBIDDEN = {
    "message": "You do not have permissions to read WhatsApp Log. You need one of these permissions: "
    "Project Owner, Project Admin, Project Member, Read WhatsApp Log, Read All Project Resources"
}


@pytest.fixture
def log(factory: Factory, rest: Rest) -> str:
    """A log of a project whose read key `rest` uses."""
    project = factory.project()
    rest.key = factory.api_key(project)
    return factory.log(project)


def endpoints(log: str) -> list[tuple[str, str]]:
    return [*ENDPOINTS, ("GET", f"{log}/get-item"), ("POST", f"{log}/get-item")]


def status_and_body(rest: Rest, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    response = rest(method, path, {} if body is None else body, **kwargs)
    return response.status_code, response.json()


# --- 401 and 422 ---


def test_every_kind_of_bad_key_is_the_same_401_on_every_endpoint(
    rest: Rest, factory: Factory, log: str
) -> None:
    project = factory.project()
    revoked = factory.api_key(project, revoked=True)
    expired = factory.api_key(project, expires_at=datetime.now(UTC) - timedelta(minutes=1))
    bad_keys = ["", "nonsense", "wal_" + "x" * 40, revoked, expired]

    for method, path in endpoints(log):
        assert rest(method, path).status_code == 200  # the fixture's good key
        without_key = Rest(rest.client)
        assert status_and_body(without_key, method, path) == (401, UNAUTHENTICATED)
        for key in bad_keys:
            assert status_and_body(without_key, method, path, key=key) == (401, UNAUTHENTICATED)


def test_a_key_without_read_permission_is_a_422_with_the_references_sentence(
    rest: Rest, factory: Factory, log: str
) -> None:
    project = factory.project()
    rest.key = factory.api_key(project, permissions=["ReadIncident"])

    for method, path in endpoints(log):
        assert status_and_body(rest, method, path) == (422, FORBIDDEN)


def test_the_key_is_checked_before_the_body(rest: Rest, log: str) -> None:
    response = Rest(rest.client)("POST", "get-list", content="{not json")

    assert (response.status_code, response.json()) == (401, UNAUTHENTICATED)


# --- 400: body, select, query, sort, paging ---

# The sortable fields, in the registry's order (which the message keeps).
SORTABLE_COLUMNS = ", ".join(f.rest_name for f in SORTABLE.values())
BAD_REQUESTS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown select field", {"select": {"colour": True}},
     'Invalid select clause. Cannot select on "colour". This column does not exist on WhatsApp Log.'),
    ("unknown relation column", {"select": {"incident": {"colour": True}}},
     'Invalid select clause. Cannot select on "incident.colour". This column does not exist on Incident.'),
    ("select two levels deep", {"select": {"incident": {"project": {"_id": True}}}},
     'Invalid select clause. "incident.project": relations can be selected one level deep only.'),
    ("select not true or false", {"select": {"status": 1}},
     'Invalid select clause. "status" must be true or false.'),
    ("select not an object", {"select": ["status"]},
     'Invalid select clause. "select" must be an object such as {"_id": true}.'),
    ("unknown query field", {"query": {"colour": "red"}},
     "Invalid column on WhatsApp Log - colour. Column does not exist."),
    ("unknown operator", {"query": {"status": {"_type": "Like", "value": "x"}}},
     "Invalid query for \"status\": unknown operator 'Like'."),
    ("operator that does not apply", {"query": {"whatsAppCostInUSDCents": {"_type": "Search", "value": "1"}}},
     'Invalid query for "whatsAppCostInUSDCents": the Search operator does not apply to this field.'),
    ("text for a number", {"query": {"whatsAppCostInUSDCents": "cheap"}},
     'Invalid value for "whatsAppCostInUSDCents": expected a whole number, got "cheap".'),
    ("number for text", {"query": {"status": 5}}, 'Invalid value for "status": expected a string, got 5.'),
    ("bad date", {"query": {"createdAt": {"_type": "GreaterThan", "value": "yesterday"}}},
     'Invalid value for "createdAt": expected an ISO 8601 date or date-time string, got "yesterday".'),
    ("number for an id", {"query": {"incidentId": {"_type": "ObjectID", "value": 7}}},
     'Invalid value for "incidentId": expected an ID string, got 7.'),
    ("tag for another kind", {"query": {"status": {"_type": "DateTime", "value": "2026-07-21"}}},
     'Invalid value for "status": a DateTime value does not fit this field.'),
    ("Includes without a list", {"query": {"status": {"_type": "Includes", "value": "Sent"}}},
     'Invalid value for "status": expected a list for Includes, got "Sent".'),
    ("InBetween without an end", {"query": {"createdAt": {"_type": "InBetween", "startValue": "2026-07-01"}}},
     'Invalid query for "createdAt": InBetween needs "startValue" and "endValue".'),
    ("operator without a value", {"query": {"status": {"_type": "EqualTo"}}},
     'Invalid query for "status": the EqualTo operator needs a "value".'),
    ("an object that is no operator", {"query": {"status": {"value": "Sent"}}},
     'Invalid value for "status": expected a string, got {"value": "Sent"}.'),
    ("query not an object", {"query": "status = Sent"},
     'Invalid query: "query" must be an object such as {"status": "Sent"}.'),
    ("unknown sort field", {"sort": {"colour": "ASC"}},
     f'Invalid sort: cannot sort by "colour". Sortable columns: {SORTABLE_COLUMNS}.'),
    ("sort by a field that is not sortable", {"sort": {"messageText": "ASC"}},
     f'Invalid sort: cannot sort by "messageText". Sortable columns: {SORTABLE_COLUMNS}.'),
    ("bad sort direction", {"sort": {"createdAt": "UP"}},
     'Invalid sort direction for "createdAt": use "ASC", "DESC", 1 or -1.'),
    ("limit over 100", {"limit": 101}, "`limit` must be an integer between 1 and 100 (got 101)."),
    ("limit 0", {"limit": 0}, "`limit` must be an integer between 1 and 100 (got 0)."),
    ("limit not a number", {"limit": "ten"}, "`limit` must be an integer between 1 and 100 (got 'ten')."),
    ("negative skip", {"skip": -1}, "`skip` must be an integer of at least 0 (got -1)."),
    ("fractional offset", {"offset": 1.5}, "`offset` must be an integer of at least 0 (got 1.5)."),
]  # fmt: skip


@pytest.mark.parametrize(("body", "message"), [c[1:] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS])
def test_bad_input_is_a_400_whose_message_names_the_offending_key(
    rest: Rest, log: str, body: dict[str, Any], message: str
) -> None:
    assert status_and_body(rest, "POST", "get-list", body) == (400, {"message": message})


@pytest.mark.parametrize(
    ("query_string", "message"),
    [
        ("limit=500", "`limit` must be an integer between 1 and 100 (got 500)."),
        ("limit=abc", "`limit` must be an integer between 1 and 100 (got 'abc')."),
        ("skip=-5", "`skip` must be an integer of at least 0 (got -5)."),
        ("offset=x", "`offset` must be an integer of at least 0 (got 'x')."),
    ],
)
def test_paging_out_of_bounds_in_the_query_string_is_a_400_that_says_the_bounds(
    rest: Rest, log: str, query_string: str, message: str
) -> None:
    assert status_and_body(rest, "GET", f"get-list?{query_string}") == (400, {"message": message})


def test_the_query_of_count_is_checked_like_the_lists(rest: Rest, log: str) -> None:
    body = {"query": {"colour": "red"}}
    expected = (400, {"message": "Invalid column on WhatsApp Log - colour. Column does not exist."})

    assert status_and_body(rest, "POST", "count", body) == expected


def test_an_unknown_select_field_on_get_item_is_a_400(rest: Rest, log: str) -> None:
    message = 'Invalid select clause. Cannot select on "colour". This column does not exist on WhatsApp Log.'

    response = status_and_body(rest, "POST", f"{log}/get-item", {"select": {"colour": True}})

    assert response == (400, {"message": message})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "{not json",
            "Malformed JSON body: Expecting property name enclosed in double quotes at line 1 column 2.",
        ),  # noqa: E501
        ('{"query": {}', "Malformed JSON body: Expecting ',' delimiter at line 1 column 13."),
        ("[1, 2]", "The request body must be a JSON object."),
        ('"select"', "The request body must be a JSON object."),
        ("[" * 100_00 + "]" * 100_00, "Malformed JSON body: nested too deeply."),
    ],
    ids=["not JSON", "truncated", "an array", "a string", "nested too deeply"],
)
def test_a_malformed_body_is_a_400_on_every_endpoint(
    rest: Rest, log: str, content: str, message: str
) -> None:
    for method, path in endpoints(log):
        response = rest(method, path, content=content)
        assert (response.status_code, response.json()) == (400, {"message": message})


def test_a_body_over_the_size_limit_is_a_413(rest: Rest, log: str) -> None:
    huge = {"query": {"status": ["x" * 100] * 1000}}

    assert status_and_body(rest, "POST", "get-list", huge) == (
        413,
        {"message": "The request body must be at most 65536 bytes."},
    )


ODD_BODIES: list[Any] = [
    {"query": {"status": {"_type": None}}},
    {"query": {"status": {"_type": ["EqualTo"], "value": "x"}}},
    {"query": {"status": [{"_type": {"x": 1}, "value": "x"}]}},
    {"query": {"whatsAppCostInUSDCents": 2**40}},
    {"query": {"whatsAppCostInUSDCents": True}},
    {"query": {"whatsAppCostInUSDCents": 1.5}},
    {"query": {"createdAt": "9999-12-31T23:00:00-05:00"}},
    {"query": {"createdAt": {"_type": "InBetween", "startValue": None, "endValue": "2026-01-01"}}},
    {"query": {"status": "nul \u0000 inside"}},
    {"query": {"_id": {"_type": "Search", "value": "abc"}}},
    {"query": {"status": {"_type": "Includes", "value": [["nested"]]}}},
    {"query": {"status": {"_type": "Includes", "value": ["x"] * 501}}},
    {"sort": {"createdAt": True}},
    {"sort": ["createdAt"]},
    {"select": {"incident": "yes"}},
    {"select": {"incident": {"title": "yes"}}},
    {"limit": True},
    {"skip": "9" * 30},
]


@pytest.mark.parametrize("body", ODD_BODIES, ids=[str(i) for i in range(len(ODD_BODIES))])
def test_odd_input_is_a_400_never_a_500(rest: Rest, log: str, body: Any) -> None:
    for method, path in [("POST", "get-list"), ("POST", "count"), ("POST", f"{log}/get-item")]:
        status, payload = status_and_body(rest, method, path, body)
        # get-item reads only `select`; count only `query`: what they ignore cannot fail them.
        assert status in (200, 400), payload
        assert status == 200 or set(payload) == {"message"}
    assert status_and_body(rest, "POST", "get-list", body)[0] == 400


# --- 404 and 405 ---


@pytest.mark.parametrize(
    ("path", "action"),
    [("", "created"), ("{log}/update-item", "updated"), ("{log}/delete-item", "deleted")],
)
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_create_update_and_delete_paths_say_the_resource_cannot_be_written(
    rest: Rest, log: str, path: str, action: str, method: str
) -> None:
    response = rest(method, path.format(log=log), {"data": {"status": "Read"}})

    assert response.status_code == 405
    assert response.json() == {"message": f"This resource cannot be {action} via the API."}


def test_a_read_endpoint_with_another_method_is_a_405(rest: Rest, log: str) -> None:
    response = rest("DELETE", "get-list")

    assert (response.status_code, response.json()) == (405, {"message": "Method not allowed."})
    assert response.headers["allow"] == "GET, POST"


def test_an_unknown_path_under_the_resource_is_a_json_404(rest: Rest, log: str) -> None:
    response = rest("POST", f"{log}/get-everything")

    assert (response.status_code, response.json()) == (404, {"message": "Not found."})
