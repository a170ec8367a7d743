"""`GET|POST /api/whatsapp-log/get-list`: select, the platform's query wire format, sort and paging."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from graphql_api.data.fields import FIELDS
from tests.conftest import GraphQL
from tests.factories import Factory
from tests.rest_client import REFERENCE_FIELDS, Rest


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def logs(factory: Factory, rest: Rest) -> dict[str, str]:
    """Four logs of one project with distinct values, by name; `rest` uses the project's key."""
    project = factory.project("Acme")
    incident_1 = factory.related("incident", project, "Checkout is down")
    incident_2 = factory.related("incident", project, "Search is slow")
    ids = {
        "L1": factory.log(project, status="Delivered", to_number="+1-555-0001", from_number="+44-20-1",
                          whatsapp_cost_in_usd_cents=1, created_at=at("2026-07-20T10:00"),
                          incident_id=incident_1, message_text="Checkout is DOWN"),
        "L2": factory.log(project, status="Read", to_number="+1-555-0002", from_number=None,
                          whatsapp_cost_in_usd_cents=5, created_at=at("2026-07-21T00:00"),
                          message_text="All good"),
        "L3": factory.log(project, status="Failed", to_number="+49-30-3", from_number="+44-20-1",
                          whatsapp_cost_in_usd_cents=10, created_at=at("2026-07-21T12:00"),
                          incident_id=incident_2, message_text=None),
        "L4": factory.log(project, status="Sent", to_number="+1-555-0004", from_number="+1-800-4",
                          whatsapp_cost_in_usd_cents=0, created_at=at("2026-07-22T08:00"),
                          message_text="checkout recovered", status_message="ok"),
    }  # fmt: skip
    ids.update(project=project, incident_1=incident_1, incident_2=incident_2)
    rest.key = factory.api_key(project)
    return ids


def names(logs: dict[str, str], ids: list[str]) -> set[str]:
    by_id = {value: name for name, value in logs.items()}
    return {by_id[i] for i in ids}


# --- with and without a body, GET and POST ---


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_without_a_body_the_list_is_ids_only_newest_first_with_the_applied_page(
    rest: Rest, logs: dict[str, str], method: str
) -> None:
    result = rest.ok(method, "get-list")

    assert result == {
        "count": 4,
        "limit": 10,
        "skip": 0,
        "data": [{"_id": logs["L4"]}, {"_id": logs["L3"]}, {"_id": logs["L2"]}, {"_id": logs["L1"]}],
    }


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_body_selects_filters_and_sorts_on_get_and_post_alike(
    rest: Rest, logs: dict[str, str], method: str
) -> None:
    body = {
        "select": {"status": True, "whatsAppCostInUSDCents": True},
        "query": {"status": ["Read", "Failed", "Sent"]},
        "sort": {"whatsAppCostInUSDCents": "ASC"},
    }

    result = rest.ok(method, "get-list?skip=0&limit=10", body)

    assert result["count"] == 3
    assert result["data"] == [
        {"_id": logs["L4"], "status": "Sent", "whatsAppCostInUSDCents": 0},
        {"_id": logs["L2"], "status": "Read", "whatsAppCostInUSDCents": 5},
        {"_id": logs["L3"], "status": "Failed", "whatsAppCostInUSDCents": 10},
    ]


def test_an_empty_select_query_and_sort_mean_ids_of_every_log_newest_first(
    rest: Rest, logs: dict[str, str]
) -> None:
    result = rest.ok("POST", "get-list", {"select": {}, "query": {}, "sort": {}})

    assert [item for item in result["data"]] == [{"_id": logs[n]} for n in ("L4", "L3", "L2", "L1")]


# --- select ---


def test_select_of_every_field_gives_plain_values_dates_as_iso_strings(
    rest: Rest, logs: dict[str, str]
) -> None:
    select = dict.fromkeys((f.rest_name for f in FIELDS.values()), True)
    assert set(REFERENCE_FIELDS) <= set(select)

    item = rest.ok("POST", "get-list", {"select": select, "query": {"_id": logs["L1"]}})["data"][0]

    assert item["updatedAt"].startswith("2026-07-01T")
    # What the fixture did not set is null (every field but those below is nullable).
    assert item == {
        **dict.fromkeys(select), "_id": logs["L1"], "createdAt": "2026-07-20T10:00:00+00:00",
        "updatedAt": item["updatedAt"],
        "projectId": logs["project"], "toNumber": "+1-555-0001", "fromNumber": "+44-20-1",
        "messageText": "Checkout is DOWN", "status": "Delivered", "whatsAppCostInUSDCents": 1,
        "incidentId": logs["incident_1"],
    }  # fmt: skip


def test_a_field_selected_as_false_is_left_out(rest: Rest, logs: dict[str, str]) -> None:
    result = rest.ok("POST", "get-list?limit=1", {"select": {"status": False, "toNumber": True}})

    assert result["data"] == [{"_id": logs["L4"], "toNumber": "+1-555-0004"}]


def test_a_relation_selected_as_true_gives_its_id_or_null(rest: Rest, logs: dict[str, str]) -> None:
    body = {"select": {"incident": True, "project": True}, "sort": {"createdAt": "ASC"}, "query": {}}

    data = rest.ok("POST", "get-list?limit=2", body)["data"]

    assert data == [
        {"_id": logs["L1"], "incident": {"_id": logs["incident_1"]}, "project": {"_id": logs["project"]}},
        {"_id": logs["L2"], "incident": None, "project": {"_id": logs["project"]}},
    ]


def test_a_relation_selected_with_columns_gives_those_columns_one_level_deep(
    rest: Rest, logs: dict[str, str]
) -> None:
    body = {
        "select": {"incident": {"_id": True, "title": True}, "project": {"name": True, "createdAt": True}},
        "query": {"incidentId": {"_type": "NotNull", "value": None}},
        "sort": {"createdAt": 1},
    }

    data = rest.ok("POST", "get-list", body)["data"]

    project = {"_id": logs["project"], "name": "Acme", "createdAt": "2026-07-01T12:00:00+00:00"}
    incident_1 = {"_id": logs["incident_1"], "title": "Checkout is down"}
    incident_2 = {"_id": logs["incident_2"], "title": "Search is slow"}
    assert data == [
        {"_id": logs["L1"], "incident": incident_1, "project": project},
        {"_id": logs["L3"], "incident": incident_2, "project": project},
    ]


def test_relations_of_a_page_are_loaded_with_one_query_per_relation(
    rest: Rest, logs: dict[str, str], sql_statements: Any
) -> None:
    rest.ok("POST", "get-list", {"select": {"status": True}})
    plain = sql_statements.count
    sql_statements.reset()

    rest.ok("POST", "get-list", {"select": {"status": True, "incident": {"title": True}, "monitor": True}})

    assert sql_statements.count == plain + 1  # incidents; no monitor ids on the page, so no monitor query


def test_another_projects_related_record_shows_as_null(factory: Factory, rest: Rest) -> None:
    mine, theirs = factory.project("Mine"), factory.project("Theirs")
    their_incident = factory.related("incident", theirs, "Their secret incident")
    log = factory.log(mine, incident_id=their_incident)
    rest.key = factory.api_key(mine)

    data = rest.ok("POST", "get-list", {"select": {"incidentId": True, "incident": {"title": True}}})["data"]

    assert data == [{"_id": log, "incidentId": their_incident, "incident": None}]


# --- query: every operator of the wire format ---

COST = "whatsAppCostInUSDCents"


def op(kind: str, value: Any = None) -> dict[str, Any]:
    """An operator object of the wire format: `{"_type": kind, "value": value}`."""
    return {"_type": kind, "value": value}


OPERATOR_CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("plain value", {"status": "Read"}, {"L2"}),
    ("plain array", {"status": ["Read", "Sent"]}, {"L2", "L4"}),
    ("plain null", {"fromNumber": None}, {"L2"}),
    ("plain number", {COST: 10}, {"L3"}),
    ("plain date-only string", {"createdAt": "2026-07-21"}, {"L2"}),
    ("tagged Phone", {"toNumber": op("Phone", "+49-30-3")}, {"L3"}),
    ("tagged DateTime", {"createdAt": op("DateTime", "2026-07-21T12:00:00.000Z")}, {"L3"}),
    ("EqualTo", {"status": op("EqualTo", "Failed")}, {"L3"}),
    ("NotEqual", {"status": op("NotEqual", "Failed")}, {"L1", "L2", "L4"}),
    ("NotEqual keeps nulls", {"fromNumber": op("NotEqual", "+44-20-1")}, {"L2", "L4"}),
    ("Search trims, ignores case", {"messageText": op("Search", "  CHECKOUT ")}, {"L1", "L4"}),
    ("StartsWith trims", {"toNumber": op("StartsWith", " +1-555")}, {"L1", "L2", "L4"}),
    ("EndsWith trims", {"toNumber": op("EndsWith", "0002 ")}, {"L2"}),
    ("NotContains keeps nulls", {"messageText": op("NotContains", "checkout")}, {"L2", "L3"}),
    ("GreaterThan", {COST: op("GreaterThan", 5)}, {"L3"}),
    ("GreaterThanOrEqual", {COST: op("GreaterThanOrEqual", 5)}, {"L2", "L3"}),
    ("LessThan", {COST: op("LessThan", 5)}, {"L1", "L4"}),
    ("LessThanOrEqual", {COST: op("LessThanOrEqual", 5)}, {"L1", "L2", "L4"}),
    ("GreaterThan a date-only string", {"createdAt": op("GreaterThan", "2026-07-21")}, {"L3", "L4"}),
    ("GreaterThanOrEqual a date", {"createdAt": op("GreaterThanOrEqual", "2026-07-21")}, {"L2", "L3", "L4"}),
    ("LessThan an ISO date-time", {"createdAt": op("LessThan", "2026-07-21T00:00:00Z")}, {"L1"}),
    ("LessThanOrEqual, offset", {"createdAt": op("LessThanOrEqual", "2026-07-21T02:00+02:00")}, {"L1", "L2"}),
    ("IsNull", {"incidentId": op("IsNull")}, {"L2", "L4"}),
    ("NotNull", {"incidentId": op("NotNull")}, {"L1", "L3"}),
    ("Includes", {"status": op("Includes", ["Read", "Failed"])}, {"L2", "L3"}),
    ("Includes an empty list", {"status": op("Includes", [])}, set()),
    ("InBetween numbers, inclusive", {COST: {"_type": "InBetween", "startValue": 1, "endValue": 5}},
     {"L1", "L2"}),
    ("InBetween dates, inclusive",
     {"createdAt": {"_type": "InBetween", "startValue": "2026-07-21", "endValue": "2026-07-21T12:00:00Z"}},
     {"L2", "L3"}),
    ("several keys all hold", {"fromNumber": "+44-20-1", COST: op("LessThan", 5)}, {"L1"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("query", "expected"), [c[1:] for c in OPERATOR_CASES], ids=[c[0] for c in OPERATOR_CASES]
)
def test_query_operators_select_the_logs_they_describe(
    rest: Rest, logs: dict[str, str], query: dict[str, Any], expected: set[str]
) -> None:
    result = rest.ok("POST", "get-list?limit=100", {"query": query})

    assert names(logs, [item["_id"] for item in result["data"]]) == expected
    assert result["count"] == len(expected)


def test_ids_take_plain_tagged_and_listed_forms(rest: Rest, logs: dict[str, str]) -> None:
    tagged = {"_type": "ObjectID", "value": logs["incident_1"]}

    assert names(logs, rest.ids({"incidentId": tagged})) == {"L1"}
    assert names(logs, rest.ids({"incidentId": logs["incident_2"]})) == {"L3"}
    assert names(logs, rest.ids({"_id": [logs["L1"], logs["L4"]]})) == {"L1", "L4"}
    includes = {"_type": "Includes", "value": [tagged, {"_type": "ObjectID", "value": logs["incident_2"]}]}
    assert names(logs, rest.ids({"incidentId": includes})) == {"L1", "L3"}
    assert rest.ids({"_id": "not-a-uuid"}) == []


def test_project_id_in_a_query_can_only_narrow_to_the_keys_own_project(
    factory: Factory, rest: Rest, logs: dict[str, str]
) -> None:
    other = factory.project("Other")
    factory.logs(other, 3)

    assert len(rest.ids({"projectId": logs["project"]})) == 4
    assert rest.ids({"projectId": other}) == []
    assert rest.ids({"projectId": {"_type": "NotEqual", "value": logs["project"]}}) == []


# --- sort ---


UP, DOWN = "L4 L1 L2 L3", "L3 L2 L1 L4"


@pytest.mark.parametrize(
    ("direction", "order"), [("ASC", UP), ("DESC", DOWN), (1, UP), (-1, DOWN), ("desc", DOWN)]
)
def test_sort_goes_both_ways_as_words_or_numbers(
    rest: Rest, logs: dict[str, str], direction: Any, order: str
) -> None:
    ids = rest.ids({}, sort={"whatsAppCostInUSDCents": direction})

    assert ids == [logs[name] for name in order.split()]


def test_several_sort_keys_apply_in_order_and_the_id_breaks_ties(factory: Factory, rest: Rest) -> None:
    project = factory.project()
    a = factory.logs(project, 3, status="A", whatsapp_cost_in_usd_cents=1)
    b = factory.logs(project, 2, status="B", whatsapp_cost_in_usd_cents=1)
    rest.key = factory.api_key(project)

    by_status_then_cost = rest.ids({}, sort={"status": "DESC", "whatsAppCostInUSDCents": "ASC"})

    assert by_status_then_cost == sorted(b) + sorted(a)


# --- paging ---


def test_skip_and_limit_come_from_the_query_string_and_are_echoed(rest: Rest, logs: dict[str, str]) -> None:
    result = rest.ok("GET", "get-list?skip=1&limit=2")

    assert (result["count"], result["skip"], result["limit"]) == (4, 1, 2)
    assert result["data"] == [{"_id": logs["L3"]}, {"_id": logs["L2"]}]


def test_skip_and_limit_come_from_the_body_and_offset_is_an_alias_of_skip(
    rest: Rest, logs: dict[str, str]
) -> None:
    from_body = rest.ok("POST", "get-list", {"skip": 2, "limit": 1})
    with_offset = rest.ok("POST", "get-list?offset=3")

    assert (from_body["skip"], from_body["limit"], from_body["data"]) == (2, 1, [{"_id": logs["L2"]}])
    assert (with_offset["skip"], with_offset["limit"], with_offset["data"]) == (3, 10, [{"_id": logs["L1"]}])


def test_a_page_past_the_end_is_empty_but_counts_every_match(rest: Rest, logs: dict[str, str]) -> None:
    assert rest.ok("POST", "get-list?skip=10&limit=100") == {"count": 4, "limit": 100, "skip": 10, "data": []}


# --- the same records as GraphQL ---


def test_rest_and_graphql_return_the_same_records_for_equivalent_queries(
    rest: Rest, gql: GraphQL, logs: dict[str, str], factory: Factory
) -> None:
    project = logs["project"]
    factory.logs(project, 6, status="Delivered", whatsapp_cost_in_usd_cents=3, from_number=None)
    gql.key = rest.key
    scalars = list(FIELDS)
    rest_body = {
        "select": {FIELDS[name].rest_name: True for name in scalars},
        "query": {"status": ["Delivered", "Read", "Failed"], "messageText": op("NotContains", "x"),
                  COST: op("GreaterThanOrEqual", 1)},
        "sort": {"whatsAppCostInUSDCents": "DESC", "createdAt": "ASC"},
    }  # fmt: skip
    graphql = """query($skip: Int!) {
      whatsAppLogs(
        where: {status: {in: ["Delivered", "Read", "Failed"]}, not: {messageText: {contains: "x"}},
                whatsAppCostInUSDCents: {gte: 1}}
        orderBy: [{whatsAppCostInUSDCents: DESC}, {createdAt: ASC}], skip: $skip, limit: 3
      ) { %s }
      whatsAppLogCount(where: {status: {in: ["Delivered", "Read", "Failed"]},
                               not: {messageText: {contains: "x"}}, whatsAppCostInUSDCents: {gte: 1}})
    }""" % " ".join(scalars)  # noqa: UP031

    for skip in (0, 3, 6):
        page = rest.ok("POST", f"get-list?skip={skip}&limit=3", rest_body)
        data = gql.data(graphql, {"skip": skip})
        assert page["count"] == data["whatsAppLogCount"] == 9
        as_rest = [{FIELDS[k].rest_name: v for k, v in log.items()} for log in data["whatsAppLogs"]]
        assert page["data"] == as_rest
