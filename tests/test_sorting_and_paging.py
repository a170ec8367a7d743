"""`orderBy`, `skip` and `limit`: every sort key both ways, the id tie-breaker, pages that never overlap."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from graphql_api.data.fields import SORTABLE
from graphql_api.data.kinds import DATETIME, INT, STRING, Kind
from tests.conftest import GraphQL
from tests.factories import BASE_TIME, Factory

PAGE = """
query($orderBy: [WhatsAppLogOrderBy!], $skip: Int, $limit: Int) {
  whatsAppLogs(orderBy: $orderBy, skip: $skip, limit: $limit) { id }
}
"""


def page(
    gql: GraphQL, order_by: list[dict[str, str]] | None, *, skip: int = 0, limit: int = 100
) -> list[str]:
    data = gql.data(PAGE, {"orderBy": order_by, "skip": skip, "limit": limit})
    return [log["id"] for log in data["whatsAppLogs"]]


def expected_order(rows: list[tuple[Any, str]], descending: bool) -> list[str]:
    """Ids sorted by (value, id); nulls first going up and therefore last going down."""
    ascending = sorted(rows, key=lambda row: (row[0] is not None, row[0], row[1]))
    ids = [log_id for _, log_id in ascending]
    return ids[::-1] if descending else ids


# Values with ties for each kind of sortable field; plain ASCII of one shape, so every collation agrees.
T = BASE_TIME
VALUES_WITH_TIES: dict[Kind, list[Any]] = {
    DATETIME: [T + timedelta(hours=2), T, T + timedelta(hours=1), T, T + timedelta(hours=2)],
    STRING: ["+1-555-0300", "+1-555-0100", "+1-555-0200", "+1-555-0100", "+1-555-0300"],
    INT: [5, 0, 3, 5, 0],
}


def _with_nulls(values: list[Any]) -> list[Any]:
    return [values[0], None, *values[1:3], None, *values[3:]]


# Sortable field -> (column, values with ties, and nulls where the field is nullable).
SORT_VALUES: dict[str, tuple[str, list[Any]]] = {
    name: (f.attribute, _with_nulls(VALUES_WITH_TIES[f.kind]) if f.nullable else VALUES_WITH_TIES[f.kind])
    for name, f in SORTABLE.items()
}
# What clients sort by today: a registry change must not take one away unnoticed.
SORTED_BY_CLIENTS = {"createdAt", "updatedAt", "status", "toNumber", "fromNumber", "whatsAppCostInUSDCents"}


def test_the_sort_keys_clients_use_are_all_there() -> None:
    assert set(SORT_VALUES) >= SORTED_BY_CLIENTS


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
@pytest.mark.parametrize("field", SORT_VALUES)
def test_each_sort_key_both_ways_with_the_id_breaking_ties(
    gql: GraphQL, factory: Factory, field: str, direction: str
) -> None:
    column, values = SORT_VALUES[field]
    project = factory.project()
    # Logs of equal value are written several minutes apart: only the id may order them.
    rows = [(value, factory.log(project, **{column: value})) for value in values]
    gql.key = factory.api_key(project)

    assert page(gql, [{field: direction}]) == expected_order(rows, descending=direction == "DESC")


def test_nulls_come_first_going_up_and_last_going_down(gql: GraphQL, factory: Factory) -> None:
    project = factory.project()
    with_number = factory.log(project, from_number="+1-555-0100")
    without = factory.log(project, from_number=None)
    gql.key = factory.api_key(project)

    assert page(gql, [{"fromNumber": "ASC"}]) == [without, with_number]
    assert page(gql, [{"fromNumber": "DESC"}]) == [with_number, without]


@pytest.mark.parametrize(
    ("order_by", "key"),
    [
        # earlier keys first; the id follows the LAST key's direction
        ([{"status": "ASC"}, {"whatsAppCostInUSDCents": "DESC"}], lambda r: (r[0], -r[1])),
        ([{"whatsAppCostInUSDCents": "DESC"}, {"status": "ASC"}], lambda r: (-r[1], r[0])),
        ([{"status": "DESC"}, {"whatsAppCostInUSDCents": "ASC"}], lambda r: (_neg(r[0]), r[1])),
    ],
    ids=["status up, cost down", "cost down, status up", "status down, cost up"],
)
def test_several_keys_apply_in_list_order(
    gql: GraphQL, factory: Factory, order_by: list[dict[str, str]], key: Any
) -> None:
    project = factory.project()
    rows = []
    for status, cost in [("Read", 1), ("Failed", 1), ("Read", 2), ("Failed", 2), ("Read", 1), ("Failed", 2)]:
        rows.append((status, cost, factory.log(project, status=status, whatsapp_cost_in_usd_cents=cost)))
    gql.key = factory.api_key(project)
    last_descending = next(iter(order_by[-1].values())) == "DESC"

    # Sort by the id in the last key's direction first; the stable sort by the keys then keeps it.
    by_id = sorted(rows, key=lambda r: r[2], reverse=last_descending)
    expected = [r[2] for r in sorted(by_id, key=key)]

    assert page(gql, order_by) == expected


def _neg(text: str) -> tuple[int, ...]:
    """A key that sorts ASCII text backwards."""
    return tuple(-ord(c) for c in text) + (1,)


def test_the_default_order_is_newest_first_then_id_descending(gql: GraphQL, factory: Factory) -> None:
    project = factory.project()
    moments = [
        T,
        T + timedelta(hours=1),
        T + timedelta(hours=1),
        T - timedelta(days=3),
        T + timedelta(hours=1),
    ]
    rows = [(moment, factory.log(project, created_at=moment)) for moment in moments]
    gql.key = factory.api_key(project)
    newest_first = expected_order(rows, descending=True)

    assert page(gql, None) == newest_first
    assert page(gql, []) == newest_first
    assert page(gql, [{"createdAt": "DESC"}]) == newest_first


# Orders under which many logs tie: pages must still never overlap.
ORDERS_WITH_TIES = pytest.mark.parametrize(
    "order_by",
    [None, [{"status": "ASC"}], [{"whatsAppCostInUSDCents": "DESC"}], [{"fromNumber": "ASC"}]],
    ids=["default", "status up", "cost down", "fromNumber up"],
)


@ORDERS_WITH_TIES
def test_paging_through_every_log_never_overlaps_or_skips(
    gql: GraphQL, factory: Factory, order_by: list[dict[str, str]] | None
) -> None:
    project = factory.project()
    # Few distinct values and the same created_at for many: the id alone keeps pages apart.
    logs = []
    for i in range(23):
        logs.append(
            factory.log(
                project,
                created_at=T + timedelta(hours=i % 3),
                status=["Read", "Sent"][i % 2],
                whatsapp_cost_in_usd_cents=i % 2,
                from_number=None if i % 4 else "+1-555-0100",
            )
        )
    gql.key = factory.api_key(project)

    pages = [page(gql, order_by, skip=skip, limit=5) for skip in range(0, 25, 5)]

    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [log for p in pages for log in p] == page(gql, order_by)
    assert sorted(log for p in pages for log in p) == sorted(logs)


@ORDERS_WITH_TIES
def test_a_page_skipping_a_thousand_logs_or_more_continues_the_shallower_pages(
    gql: GraphQL, factory: Factory, order_by: list[dict[str, str]] | None
) -> None:
    """Past DEFERRED_JOIN_SKIP the page's ids are found first, then its rows: the same page as ever."""
    project, other = factory.project(), factory.project("Other")
    for batch in range(4):  # many ties: the id alone orders most of them
        factory.logs(
            project,
            265,
            status=["Read", "Sent"][batch % 2],
            whatsapp_cost_in_usd_cents=batch % 2,
            from_number=None if batch < 2 else "+1-555-0100",
        )
        factory.logs(other, 20)  # in between, never in the pages
    gql.key = factory.api_key(project)

    window = page(gql, order_by, skip=960, limit=100)  # 960..1059, read the shallow way
    deep = page(gql, order_by, skip=1000, limit=60)  # 1000..1059
    last = page(gql, order_by, skip=1055, limit=10)

    assert len(window) == 100
    assert deep == window[40:]
    assert last == window[95:]
    assert page(gql, order_by, skip=1060, limit=5) == []


def test_a_skip_past_the_end_gives_an_empty_page(gql: GraphQL, factory: Factory) -> None:
    project = factory.project()
    factory.logs(project, 3)
    gql.key = factory.api_key(project)

    assert page(gql, None, skip=3, limit=1) == []
    assert len(page(gql, None, skip=2, limit=1)) == 1


def test_limit_defaults_to_ten_and_may_be_one_to_a_hundred(gql: GraphQL, factory: Factory) -> None:
    project = factory.project()
    factory.logs(project, 101)
    gql.key = factory.api_key(project)

    assert len(gql.data("{ whatsAppLogs { id } }")["whatsAppLogs"]) == 10
    assert len(page(gql, None, limit=1)) == 1
    assert len(page(gql, None, limit=100)) == 100


@pytest.mark.parametrize(
    ("arguments", "argument", "bounds"),
    [
        ("skip: -1", "skip", "at least 0"),
        ("limit: 0", "limit", "between 1 and 100"),
        ("limit: 101", "limit", "between 1 and 100"),
        ("limit: -5", "limit", "between 1 and 100"),
    ],
)
def test_a_page_out_of_bounds_is_bad_user_input_naming_the_argument(
    gql: GraphQL, factory: Factory, arguments: str, argument: str, bounds: str
) -> None:
    project = factory.project()
    factory.logs(project, 1)
    gql.key = factory.api_key(project)

    body = gql(f"{{ whatsAppLogs({arguments}) {{ id }} }}")

    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert f"`{argument}`" in error["message"]
    assert bounds in error["message"]


def test_an_order_by_element_with_two_fields_is_refused(gql: GraphQL, factory: Factory) -> None:
    project = factory.project()
    factory.logs(project, 1)
    gql.key = factory.api_key(project)

    body = gql("{ whatsAppLogs(orderBy: [{status: ASC, createdAt: DESC}]) { id } }")

    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "exactly one key" in error["message"]


def test_an_order_by_element_with_two_fields_in_variables_is_refused(gql: GraphQL, factory: Factory) -> None:
    project = factory.project()
    factory.logs(project, 1)
    gql.key = factory.api_key(project)

    body = gql(PAGE, {"orderBy": [{"status": "ASC", "createdAt": "DESC"}]})

    assert body["data"] is None
    assert "exactly one key" in body["errors"][0]["message"]
