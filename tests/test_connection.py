"""whatsAppLogsConnection: keyset pages that, chained by their cursors, give exactly the `skip` order."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import GraphQL
from tests.factories import BASE_TIME, Factory

ORDERS = [
    "[]",
    "[{ fromNumber: ASC }]",
    "[{ fromNumber: DESC }]",
    "[{ status: ASC }, { createdAt: DESC }]",
    "[{ whatsAppCostInUSDCents: DESC }, { fromNumber: ASC }]",
    "[{ toNumber: ASC }, { updatedAt: ASC }]",
]


@pytest.fixture
def project(factory: Factory, gql: GraphQL) -> str:
    """Logs with ties on every sort key and a null business number on some."""
    project = factory.project("Busy")
    same_moment = BASE_TIME + timedelta(days=3)
    for i in range(23):
        factory.log(
            project,
            status=["Delivered", "Failed", "Read"][i % 3],
            from_number=None if i % 4 == 0 else f"+1-555-000-000{i % 2}",
            whatsapp_cost_in_usd_cents=i % 3,
            to_number=f"+44-555-000-00{i % 5}",
            # Several logs share a timestamp: only the id can order them.
            **({"created_at": same_moment, "updated_at": same_moment} if i % 5 == 0 else {}),
        )
    factory.log(project, deleted_at=BASE_TIME)  # never listed
    gql.key = factory.api_key(project)
    return project


def _connection(gql: GraphQL, args: str) -> dict[str, Any]:
    query = (
        f"{{ whatsAppLogsConnection({args}) {{ edges {{ cursor node {{ id }} }} nodes {{ id }} "
        "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"
    )
    page: dict[str, Any] = gql.data(query)["whatsAppLogsConnection"]
    assert [e["node"] for e in page["edges"]] == page["nodes"]
    return page


def _skip_order(gql: GraphQL, order: str) -> list[str]:
    return [
        log["id"]
        for log in gql.data(f"{{ whatsAppLogs(orderBy: {order}, limit: 100) {{ id }} }}")["whatsAppLogs"]
    ]


@pytest.mark.parametrize("order", ORDERS)
def test_paging_forward_by_cursor_visits_every_log_in_the_skip_order(
    gql: GraphQL, project: str, order: str
) -> None:
    seen: list[str] = []
    after = ""
    while True:
        page = _connection(gql, f"orderBy: {order}, first: 4{after}")
        seen += [node["id"] for node in page["nodes"]]
        assert page["pageInfo"]["hasPreviousPage"] == bool(after)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = f', after: "{page["pageInfo"]["endCursor"]}"'

    assert seen == _skip_order(gql, order)
    assert len(seen) == 23


@pytest.mark.parametrize("order", ORDERS)
def test_paging_backward_by_cursor_visits_every_log_in_the_skip_order(
    gql: GraphQL, project: str, order: str
) -> None:
    seen: list[str] = []
    before = ""
    while True:
        page = _connection(gql, f"orderBy: {order}, last: 5{before}")
        seen = [node["id"] for node in page["nodes"]] + seen
        assert page["pageInfo"]["hasNextPage"] == bool(before)
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = f', before: "{page["pageInfo"]["startCursor"]}"'

    assert seen == _skip_order(gql, order)


def test_every_edge_cursor_continues_right_after_its_log(gql: GraphQL, project: str) -> None:
    order = "[{ fromNumber: DESC }]"
    everything = _skip_order(gql, order)
    page = _connection(gql, f"orderBy: {order}, first: 10")

    for position, edge in enumerate(page["edges"]):
        following = _connection(gql, f'orderBy: {order}, first: 2, after: "{edge["cursor"]}"')
        assert [n["id"] for n in following["nodes"]] == everything[position + 1 : position + 3]
        preceding = _connection(gql, f'orderBy: {order}, last: 2, before: "{edge["cursor"]}"')
        assert [n["id"] for n in preceding["nodes"]] == everything[max(position - 2, 0) : position]


def test_a_filter_and_a_cursor_combine(gql: GraphQL, project: str) -> None:
    where = 'where: { status: { eq: "Failed" } }'
    failed = [
        log["id"] for log in gql.data(f"{{ whatsAppLogs({where}, limit: 100) {{ id }} }}")["whatsAppLogs"]
    ]
    first = _connection(gql, f"{where}, first: 3")
    rest = _connection(gql, f'{where}, first: 100, after: "{first["pageInfo"]["endCursor"]}"')

    assert [n["id"] for n in first["nodes"] + rest["nodes"]] == failed
    assert rest["pageInfo"]["hasNextPage"] is False


def test_total_count_counts_every_match_not_just_the_page(gql: GraphQL, project: str) -> None:
    data = gql.data(
        '{ whatsAppLogsConnection(first: 2, where: { status: { eq: "Read" } }) { totalCount nodes { id } } }'
    )

    assert data["whatsAppLogsConnection"]["totalCount"] == 7
    assert len(data["whatsAppLogsConnection"]["nodes"]) == 2


def test_an_empty_page_has_no_cursors(gql: GraphQL, project: str) -> None:
    page = _connection(gql, 'where: { status: { eq: "Unknown" } }, first: 5')

    assert page["nodes"] == []
    assert page["pageInfo"] == {
        "hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None
    }  # fmt: skip


def _error(gql: GraphQL, args: str, key: str | None = None) -> dict[str, Any]:
    body = gql(f"{{ whatsAppLogsConnection({args}) {{ nodes {{ id }} }} }}", key=key)
    assert body["data"] is None
    (error,) = body["errors"]
    return error  # type: ignore[no-any-return]


def test_a_tampered_cursor_is_bad_user_input(gql: GraphQL, project: str) -> None:
    cursor = _connection(gql, "first: 2")["pageInfo"]["endCursor"]
    payload, mac = cursor.split(".")
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    forged = base64.urlsafe_b64encode(decoded.replace(b"2026", b"2025")).rstrip(b"=").decode()

    for bad in (f"{forged}.{mac}", cursor[:-3], cursor + "x", "not a cursor", "", "a.b.c"):
        error = _error(gql, f'first: 2, after: "{bad}"')
        assert error["extensions"]["code"] == "BAD_USER_INPUT", bad
        assert "`after` is not a cursor of this query" in error["message"]


def test_a_cursor_of_another_sort_order_is_bad_user_input(gql: GraphQL, project: str) -> None:
    cursor = _connection(gql, "orderBy: [{ status: ASC }], first: 2")["pageInfo"]["endCursor"]

    error = _error(gql, f'orderBy: [{{ status: DESC }}], first: 2, after: "{cursor}"')

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "another sort order" in error["message"]


def test_a_cursor_of_another_project_is_bad_user_input(gql: GraphQL, factory: Factory, project: str) -> None:
    cursor = _connection(gql, "first: 2")["pageInfo"]["endCursor"]
    other = factory.project("Other")
    factory.logs(other, 3)

    error = _error(gql, f'first: 2, before: "{cursor}"', key=factory.api_key(other))

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "`before` is not a cursor of this query" in error["message"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("first: 0", "`first` must be an integer between 1 and 100 (got 0)."),
        ("first: 101", "`first` must be an integer between 1 and 100 (got 101)."),
        ("last: 0", "`last` must be an integer between 1 and 100 (got 0)."),
        ("last: -1", "`last` must be an integer between 1 and 100 (got -1)."),
        ("first: 2, last: 2", "Pass `first` or `last`, not both."),
    ],
)
def test_page_sizes_outside_1_to_100_are_bad_user_input(
    gql: GraphQL, project: str, args: str, message: str
) -> None:
    error = _error(gql, args)

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == message


def test_first_100_and_the_default_of_10_are_accepted(gql: GraphQL, project: str) -> None:
    assert len(_connection(gql, "first: 100")["nodes"]) == 23
    assert (
        len(gql.data("{ whatsAppLogsConnection { nodes { id } } }")["whatsAppLogsConnection"]["nodes"]) == 10
    )
