"""`where`: every operator on every field type, null semantics, and/or/not, through HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from graphql_api.data.fields import FIELDS, RELATIONS
from graphql_api.data.kinds import DATETIME, INT, STRING, Kind
from tests.conftest import GraphQL
from tests.factories import BASE_TIME, Factory

PAGE = """
query($where: WhatsAppLogFilter) {
  whatsAppLogs(where: $where, limit: 100) { %s }
  whatsAppLogCount(where: $where)
}
"""


def matching(gql: GraphQL, where: dict[str, Any] | None, field: str = "id") -> list[Any]:
    """The `field` of every log matching `where`, sorted; checks that the count agrees with the list."""
    data = gql.data(PAGE % field, {"where": where})
    values = [log[field] for log in data["whatsAppLogs"]]
    assert data["whatsAppLogCount"] == len(values)
    return _sorted(values)


def _sorted(values: list[Any]) -> list[Any]:
    return sorted(values, key=lambda v: (v is not None, v))


# --- text fields ----------------------------------------------------------------------------------

# API name -> (column, nullable): every text field of a log.
STRING_FIELDS = {name: (f.attribute, f.nullable) for name, f in FIELDS.items() if f.kind is STRING}
TEXTS: list[str | None] = [
    "Checkout DOWN",
    "checkout up",
    "100% done",
    "100 done",
    "a_b",
    "axb",
    "ÉCOLE",
    "C:\\tmp/x",
]
NULL = None  # in expectations: the log whose field is null (nullable fields only)
ALL_TEXTS = [*TEXTS, NULL]

STRING_CASES: dict[str, tuple[dict[str, Any], list[str | None]]] = {
    "eq is exact": ({"eq": "checkout up"}, ["checkout up"]),
    "eq respects case": ({"eq": "CHECKOUT UP"}, []),
    "eq respects the case of non-ASCII letters": ({"eq": "école"}, []),
    "ne matches nulls": ({"ne": "checkout up"}, [t for t in ALL_TEXTS if t != "checkout up"]),
    "in": ({"in": ["a_b", "axb", "missing"]}, ["a_b", "axb"]),
    "notIn matches nulls": ({"notIn": ["a_b", "axb"]}, [t for t in ALL_TEXTS if t not in ("a_b", "axb")]),
    "contains ignores case": ({"contains": "CHECKOUT"}, ["Checkout DOWN", "checkout up"]),
    "contains percent literally": ({"contains": "100%"}, ["100% done"]),
    "contains underscore literally": ({"contains": "_"}, ["a_b"]),
    "contains non-ASCII ignoring case": ({"contains": "école"}, ["ÉCOLE"]),
    "startsWith ignores case": ({"startsWith": "CHECK"}, ["Checkout DOWN", "checkout up"]),
    "startsWith underscore literally": ({"startsWith": "a_"}, ["a_b"]),
    "startsWith non-ASCII": ({"startsWith": "éc"}, ["ÉCOLE"]),
    "endsWith ignores case": ({"endsWith": "down"}, ["Checkout DOWN"]),
    "endsWith percent literally": ({"endsWith": "% done"}, ["100% done"]),
    "endsWith non-ASCII": ({"endsWith": "cole"}, ["ÉCOLE"]),
    # Backslash is PostgreSQL's default LIKE escape; "/" is the one SQLAlchemy escapes with.
    "contains backslash literally": ({"contains": "\\"}, ["C:\\tmp/x"]),
    "contains slash literally": ({"contains": "/"}, ["C:\\tmp/x"]),
    "startsWith backslash ignoring case": ({"startsWith": "c:\\T"}, ["C:\\tmp/x"]),
    "isNull true": ({"isNull": True}, [NULL]),
    "isNull false": ({"isNull": False}, TEXTS),
    "operators combine with and": ({"startsWith": "100", "ne": "100 done"}, ["100% done"]),
}


@pytest.mark.parametrize("field", STRING_FIELDS)
def test_text_operators(gql: GraphQL, factory: Factory, subtests: pytest.Subtests, field: str) -> None:
    column, nullable = STRING_FIELDS[field]
    project = factory.project()
    for text in TEXTS + ([NULL] if nullable else []):
        factory.log(project, **{column: text})
    gql.key = factory.api_key(project)

    for case, (operators, expected) in STRING_CASES.items():
        with subtests.test(case):
            found = matching(gql, {field: operators}, field)
            assert found == _sorted([t for t in expected if nullable or t is not NULL])


# --- integers and date-times -----------------------------------------------------------------------

ORDERED_CASES: dict[str, tuple[dict[str, int | bool | list[int]], list[int | None]]] = {
    # Operands and results are indexes into the three values of the field (low, middle, high); None
    # stands for the log whose field is null (nullable fields only).
    "eq": ({"eq": 1}, [1]),
    "ne matches nulls": ({"ne": 1}, [0, 2, None]),
    "in": ({"in": [0, 2]}, [0, 2]),
    "notIn matches nulls": ({"notIn": [0]}, [1, 2, None]),
    "gt": ({"gt": 1}, [2]),
    "gte": ({"gte": 1}, [1, 2]),
    "lt": ({"lt": 1}, [0]),
    "lte": ({"lte": 1}, [0, 1]),
    "gt and lt together": ({"gt": 0, "lt": 2}, [1]),
    "isNull true": ({"isNull": True}, [None]),
    "isNull false": ({"isNull": False}, [0, 1, 2]),
}

# Three values of each ordered kind, low to high: stored, and as the API writes them.
MOMENTS = [BASE_TIME, BASE_TIME + timedelta(hours=1), BASE_TIME + timedelta(days=2)]
ORDERED_VALUES: dict[Kind, tuple[list[Any], list[Any]]] = {
    INT: ([0, 5, 10], [0, 5, 10]),
    DATETIME: (MOMENTS, [m.isoformat() for m in MOMENTS]),
}
ORDERED_FIELDS = [name for name, f in FIELDS.items() if f.kind in ORDERED_VALUES]
DATE_TIMES = [f.attribute for f in FIELDS.values() if f.kind is DATETIME]


def _operand(values: list[Any], value: int | bool | list[int]) -> Any:
    if isinstance(value, bool):
        return value
    return [values[i] for i in value] if isinstance(value, list) else values[value]


@pytest.mark.parametrize("field", ORDERED_FIELDS)
def test_integer_and_date_time_operators(
    gql: GraphQL, factory: Factory, subtests: pytest.Subtests, field: str
) -> None:
    f = FIELDS[field]
    stored, shown = ORDERED_VALUES[f.kind]
    project = factory.project()
    # The other dates are the same on every log, so only `field` tells them apart.
    others = dict.fromkeys((c for c in DATE_TIMES if c != f.attribute), BASE_TIME)
    for value in stored + ([None] if f.nullable else []):
        factory.log(project, **{**others, f.attribute: value})
    gql.key = factory.api_key(project)

    for case, (operators, expected) in ORDERED_CASES.items():
        with subtests.test(case):
            where = {field: {op: _operand(shown, v) for op, v in operators.items()}}
            wanted = [None if i is None else shown[i] for i in expected if i is not None or f.nullable]
            assert matching(gql, where, field) == _sorted(wanted)


def test_a_date_time_in_another_offset_is_the_same_moment(gql: GraphQL, factory: Factory) -> None:
    project = factory.project()
    log = factory.log(project, created_at=BASE_TIME)
    factory.log(project, created_at=BASE_TIME + timedelta(minutes=1))
    gql.key = factory.api_key(project)

    # 14:00 at UTC+2 is BASE_TIME (12:00 UTC).
    assert matching(gql, {"createdAt": {"eq": "2026-07-01T14:00:00+02:00"}}) == [log]
    assert matching(gql, {"createdAt": {"lte": "2026-07-01T12:00:00Z"}}) == [log]


def test_a_date_time_without_an_offset_is_utc_and_a_date_alone_is_midnight_utc(
    gql: GraphQL, factory: Factory
) -> None:
    project = factory.project()
    noon = factory.log(project, created_at=BASE_TIME)
    late = factory.log(project, created_at=BASE_TIME + timedelta(hours=12))
    gql.key = factory.api_key(project)

    assert matching(gql, {"createdAt": {"eq": "2026-07-01T12:00:00"}}) == [noon]
    assert matching(gql, {"createdAt": {"gte": "2026-07-02"}}) == [late]
    assert matching(gql, {"createdAt": {"lt": "2026-07-02"}}) == [noon]


@pytest.mark.parametrize("field", [name for name, f in FIELDS.items() if not f.nullable])
def test_is_null_on_a_field_that_is_never_null(gql: GraphQL, factory: Factory, field: str) -> None:
    project = factory.project()
    logs = factory.logs(project, 2)
    gql.key = factory.api_key(project)

    assert matching(gql, {field: {"isNull": True}}) == []
    assert matching(gql, {field: {"isNull": False}}) == sorted(logs)


# --- ids ------------------------------------------------------------------------------------------

# Every `…Id` filter that points at a related record: API name -> relation.
LINK_FIELDS = {r.foreign_key: name for name, r in RELATIONS.items()}
# relation -> the log's column that links to it
LINK_COLUMNS = {name: r.fk_column.key for name, r in RELATIONS.items()}
MALFORMED = "not-a-uuid"

ID_CASES: dict[str, tuple[dict[str, Any], list[str]]] = {
    # "first" / "second" stand for the two records; "none" for the log without a link.
    "eq": ({"eq": "first"}, ["first"]),
    "ne matches nulls": ({"ne": "first"}, ["second", "none"]),
    "in": ({"in": ["first", "second"]}, ["first", "second"]),
    "notIn matches nulls": ({"notIn": ["first"]}, ["second", "none"]),
    "isNull true": ({"isNull": True}, ["none"]),
    "isNull false": ({"isNull": False}, ["first", "second"]),
    "eq malformed matches nothing": ({"eq": MALFORMED}, []),
    "ne malformed matches everything": ({"ne": MALFORMED}, ["first", "second", "none"]),
    "in skips malformed": ({"in": [MALFORMED, "second"]}, ["second"]),
    "notIn skips malformed": ({"notIn": [MALFORMED]}, ["first", "second", "none"]),
}


def _resolve(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [names.get(v, v) for v in value]
    return names.get(value, value) if isinstance(value, str) else value


@pytest.mark.parametrize("field", LINK_FIELDS)
def test_id_operators_on_every_link(
    gql: GraphQL, factory: Factory, subtests: pytest.Subtests, field: str
) -> None:
    relation = LINK_FIELDS[field]
    column = LINK_COLUMNS[relation]
    project = factory.project()
    first, second = factory.related(relation, project), factory.related(relation, project)
    logs = {
        "first": factory.log(project, **{column: first}),
        "second": factory.log(project, **{column: second}),
        "none": factory.log(project),
    }
    gql.key = factory.api_key(project)

    for case, (operators, expected) in ID_CASES.items():
        with subtests.test(case):
            names = {"first": first, "second": second}
            where = {field: {op: _resolve(v, names) for op, v in operators.items()}}
            assert matching(gql, where) == sorted(logs[name] for name in expected)


def test_id_operators_on_the_log_id(gql: GraphQL, factory: Factory, subtests: pytest.Subtests) -> None:
    project = factory.project()
    first, second, third = factory.logs(project, 3)
    gql.key = factory.api_key(project)
    # The log id is never null: "none" is simply the third log here.
    names = {"first": first, "second": second, "none": third}

    for case, (operators, expected) in ID_CASES.items():
        if "isNull" in operators:
            continue
        with subtests.test(case):
            where = {"id": {op: _resolve(v, names) for op, v in operators.items()}}
            assert matching(gql, where) == sorted(names[name] for name in expected)
    assert matching(gql, {"id": {"isNull": False}}) == sorted(names.values())
    assert matching(gql, {"id": {"isNull": True}}) == []


def test_an_id_matches_whatever_its_letter_case(gql: GraphQL, factory: Factory) -> None:
    project = factory.project()
    log, _ = factory.logs(project, 2)
    gql.key = factory.api_key(project)

    assert matching(gql, {"id": {"eq": log.upper()}}) == [log]


def test_project_id_operators(gql: GraphQL, factory: Factory) -> None:
    project, other = factory.project("Mine"), factory.project("Other")
    logs = sorted(factory.logs(project, 2))
    gql.key = factory.api_key(project)

    assert matching(gql, {"projectId": {"eq": project}}) == logs
    assert matching(gql, {"projectId": {"ne": other}}) == logs
    assert matching(gql, {"projectId": {"in": [project, other]}}) == logs
    assert matching(gql, {"projectId": {"notIn": [other]}}) == logs
    assert matching(gql, {"projectId": {"isNull": False}}) == logs
    assert matching(gql, {"projectId": {"isNull": True}}) == []
    assert matching(gql, {"projectId": {"ne": project}}) == []
    assert matching(gql, {"projectId": {"eq": MALFORMED}}) == []


# --- null semantics, empty lists, explicit nulls ------------------------------------------------------


def test_ne_and_not_in_also_match_logs_where_the_field_is_null(gql: GraphQL, factory: Factory) -> None:
    project = factory.project()
    other_number = factory.log(project, from_number="+1-555-0100")
    no_number = factory.log(project, from_number=None)
    factory.log(project, from_number="+1-555-0199")
    gql.key = factory.api_key(project)

    assert matching(gql, {"fromNumber": {"ne": "+1-555-0199"}}) == sorted([other_number, no_number])
    assert matching(gql, {"fromNumber": {"notIn": ["+1-555-0199"]}}) == sorted([other_number, no_number])


def test_an_empty_in_list_matches_nothing_and_an_empty_not_in_everything(
    gql: GraphQL, factory: Factory
) -> None:
    project = factory.project()
    logs = sorted([factory.log(project, from_number="+1-555-0100"), factory.log(project, from_number=None)])
    gql.key = factory.api_key(project)

    for field in FIELDS:
        assert matching(gql, {field: {"in": []}}) == [], field
        assert matching(gql, {field: {"notIn": []}}) == logs, field


IGNORED_NULLS: list[dict[str, Any]] = [
    {"status": {"eq": None}},
    {"fromNumber": {"ne": None, "in": None, "contains": None, "isNull": None}},
    {"whatsAppCostInUSDCents": {"gt": None}},
    {"createdAt": {"lt": None}},
    {"incidentId": {"eq": None}},
    {"status": None},
    {"and": None, "or": None, "not": None},
    {},
]


def test_an_operator_given_as_null_is_ignored(
    gql: GraphQL, factory: Factory, subtests: pytest.Subtests
) -> None:
    project = factory.project()
    logs = sorted([factory.log(project, from_number=None), factory.log(project, status="Read")])
    gql.key = factory.api_key(project)

    for where in IGNORED_NULLS:
        with subtests.test(repr(where)):
            assert matching(gql, where) == logs


# --- and / or / not -------------------------------------------------------------------------------


@pytest.fixture
def mixed(gql: GraphQL, factory: Factory) -> dict[str, str]:
    """Five logs with different statuses, costs, numbers and links; the key is set on `gql`."""
    project = factory.project()
    incident = factory.related("incident", project)
    logs = {
        "read cheap": factory.log(project, status="Read", whatsapp_cost_in_usd_cents=1, from_number=None),
        "read dear": factory.log(project, status="Read", whatsapp_cost_in_usd_cents=8, incident_id=incident),
        "failed cheap": factory.log(
            project, status="Failed", whatsapp_cost_in_usd_cents=1, from_number="+44-555-0100"
        ),
        "failed dear": factory.log(
            project,
            status="Failed",
            whatsapp_cost_in_usd_cents=8,
            message_text="Retry 100%",
            incident_id=incident,
        ),
        "sent free": factory.log(project, status="Sent", whatsapp_cost_in_usd_cents=0, message_text=None),
    }
    logs["incident"] = incident
    gql.key = factory.api_key(project)
    return logs


def test_and_requires_every_filter(gql: GraphQL, mixed: dict[str, str]) -> None:
    where = {"and": [{"status": {"eq": "Read"}}, {"whatsAppCostInUSDCents": {"gt": 1}}]}
    assert matching(gql, where) == [mixed["read dear"]]


def test_fields_side_by_side_are_combined_with_and(gql: GraphQL, mixed: dict[str, str]) -> None:
    where = {"status": {"eq": "Failed"}, "whatsAppCostInUSDCents": {"lt": 5}}
    assert matching(gql, where) == [mixed["failed cheap"]]


def test_or_requires_one_filter(gql: GraphQL, mixed: dict[str, str]) -> None:
    where = {"or": [{"status": {"eq": "Sent"}}, {"whatsAppCostInUSDCents": {"gte": 8}}]}
    assert matching(gql, where) == sorted([mixed["sent free"], mixed["read dear"], mixed["failed dear"]])


def test_not_excludes_what_the_filter_matches(gql: GraphQL, mixed: dict[str, str]) -> None:
    where = {"not": {"or": [{"status": {"eq": "Read"}}, {"incidentId": {"isNull": False}}]}}
    assert matching(gql, where) == sorted([mixed["failed cheap"], mixed["sent free"]])


def test_empty_and_matches_everything_and_empty_or_nothing(gql: GraphQL, mixed: dict[str, str]) -> None:
    everything = matching(gql, None)
    assert len(everything) == 5
    assert matching(gql, {"and": []}) == everything
    assert matching(gql, {"or": []}) == []
    assert matching(gql, {"not": {}}) == []


COMPLEMENTED = [
    {"fromNumber": {"eq": "+44-555-0100"}},
    {"fromNumber": {"ne": "+44-555-0100"}},
    {"fromNumber": {"startsWith": "+44"}},
    {"messageText": {"contains": "100%"}},
    {"messageText": {"notIn": ["Retry 100%"]}},
    {"incidentId": {"eq": "INCIDENT"}},
    {"incidentId": {"ne": "INCIDENT"}},
    {"incidentId": {"isNull": True}},
    {"id": {"eq": MALFORMED}},
    {"whatsAppCostInUSDCents": {"gt": 1}},
    {"or": [{"status": {"eq": "Read"}}, {"messageText": {"endsWith": "%"}}]},
    {"and": [{"status": {"ne": "Sent"}}, {"not": {"fromNumber": {"isNull": True}}}]},
]


def test_not_is_the_exact_complement(gql: GraphQL, mixed: dict[str, str], subtests: pytest.Subtests) -> None:
    everything = matching(gql, None)

    for where in COMPLEMENTED:
        with subtests.test(repr(where)):
            where = _replace(where, "INCIDENT", mixed["incident"])
            inside, outside = matching(gql, where), matching(gql, {"not": where})
            assert not set(inside) & set(outside)
            assert sorted(inside + outside) == everything


def _replace(value: Any, placeholder: str, actual: str) -> Any:
    if isinstance(value, dict):
        return {k: _replace(v, placeholder, actual) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, placeholder, actual) for v in value]
    return actual if value == placeholder else value
