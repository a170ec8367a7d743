"""`whatsAppLogStats`: buckets equal to summing the inserted logs by hand, per key and combined."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from graphql_api.data import models, writes
from graphql_api.data.fields import FIELDS, PERIODS, RELATIONS, Field, Relation
from graphql_api.data.models import new_id
from graphql_api.http.app import create_app
from graphql_api.settings import Settings
from tests.conftest import GraphQL, StatementCounter
from tests.factories import Factory, sample, unnamed_values


def _enum(name: str) -> str:
    """A group key's `WhatsAppLogGroupBy` value: `fromNumber` -> FROM_NUMBER."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def _rank(grouped: Field | Relation) -> int:
    assert grouped.group is not None
    return grouped.group.rank


# The fields and relations logs can be grouped by, in the schema's order.
GROUPED_FIELDS = sorted((f for f in FIELDS.values() if f.group is not None), key=_rank)
GROUPED_RELATIONS = sorted((r for r in RELATIONS.values() if r.group is not None), key=_rank)
_RANKS = {
    **{_enum(f.name): _rank(f) for f in GROUPED_FIELDS},
    **{_enum(name): group.rank for name, group in PERIODS.items()},
    **{_enum(r.name): _rank(r) for r in GROUPED_RELATIONS},
}
# Every group key, in the schema's order.
KEYS = sorted(_RANKS, key=_RANKS.__getitem__)
# group key -> (relation, its label field)
RELATED = {_enum(r.name): (r.name, r.label) for r in GROUPED_RELATIONS}
# group key -> the bucket's field, for keys that are values
PLAIN = {_enum(name): name for name in [*(f.name for f in GROUPED_FIELDS), *PERIODS]}
# group key -> the column a log's value is in (the periods are computed from created_at)
COLUMNS = {_enum(f.name): f.attribute for f in GROUPED_FIELDS}
BUCKET_FIELDS = [PLAIN[k] if k in PLAIN else RELATED[k][0] for k in KEYS]
BUCKET = " ".join(
    [PLAIN[k] if k in PLAIN else f"{RELATED[k][0]} {{ id {RELATED[k][1]} }}" for k in KEYS]
    + ["count totalCostInUSDCents minCostInUSDCents maxCostInUSDCents"]
)
QUERY = f"""
query Stats($where: WhatsAppLogFilter, $groupBy: [WhatsAppLogGroupBy!], $limit: Int! = 1000) {{
  whatsAppLogStats(where: $where, groupBy: $groupBy, limit: $limit) {{ {BUCKET} }}
}}
"""
# The values a grouped field takes in the world, one drawn per log; other grouped fields take two
# values of their kind, or null.
POOLS: dict[str, list[Any]] = {
    "status": ["Sent", "Delivered", "Failed", "Read"],
    "fromNumber": [None, "+1-555-100-0001", "+1-555-100-0002"],
    "toNumber": ["+44-20-0000-0001", "+44-20-0000-0002"],
}
# The labels of the records of a grouped relation; other grouped relations get two records.
LABELS: dict[str, list[str]] = {
    "incident": ["Checkout down", "API slow", "API slow"],  # a shared title: id breaks the tie
    "monitor": ["Website", "Database"],
    "team": ["Ops", "Payments"],
}


def _pool(f: Field) -> list[Any]:
    return POOLS.get(f.name) or [*([None] if f.nullable else []), sample(f, 0), sample(f, 1)]


@dataclass
class World:
    """Two projects' logs as inserted, and what the first project's key may see of them."""

    key: str
    other_key: str
    visible: list[dict[str, Any]] = field(default_factory=list)  # the first project's live logs
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"id", label} of project A


def _value(log: dict[str, Any], key: str) -> Any:
    """What a bucket shows for `key` for this log (nested records as the query selects them)."""
    if key == "DAY":
        return log["created_at"].strftime("%Y-%m-%d")
    if key == "MONTH":
        return log["created_at"].strftime("%Y-%m")
    if key in COLUMNS:
        return log[COLUMNS[key]]
    return log[RELATED[key][0]]


def _sort_key(value: Any, key: str) -> tuple[Any, ...]:
    """The documented order: ascending, nulls first; records by name or title, then id."""
    if value is None:
        return (0,)
    if key in RELATED:
        return (1, value[RELATED[key][1]], value["id"])
    return (1, value)


def expected_buckets(logs: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """The buckets computed in Python from the inserted logs."""
    groups: dict[str, tuple[list[Any], list[int]]] = {}
    for log in logs:
        values = [_value(log, k) for k in keys]
        groups.setdefault(repr(values), (values, []))[1].append(log["cost"])
    buckets = []
    for values, costs in sorted(
        groups.values(), key=lambda g: [_sort_key(v, k) for v, k in zip(g[0], keys, strict=True)]
    ):
        bucket: dict[str, Any] = dict.fromkeys(BUCKET_FIELDS)
        for key, value in zip(keys, values, strict=True):
            bucket[PLAIN[key] if key in PLAIN else RELATED[key][0]] = value
        bucket.update(
            count=len(costs),
            totalCostInUSDCents=sum(costs),
            minCostInUSDCents=min(costs),
            maxCostInUSDCents=max(costs),
        )
        buckets.append(bucket)
    return buckets


@pytest.fixture
def world(factory: Factory) -> World:
    """A project with varied logs over two months (UTC day edges included), one deleted log, a log
    that points at another project's incident, and another project with logs and records of its own."""
    acme, other = factory.project("Acme"), factory.project("Other")
    w = World(key=factory.api_key(acme), other_key=factory.api_key(other))
    related: dict[str, list[dict[str, Any] | None]] = {}
    for relation in GROUPED_RELATIONS:
        labels = LABELS.get(relation.name, [f"{relation.type_name} A", f"{relation.type_name} B"])
        records = [
            {"id": factory.related(relation.name, acme, label), relation.label: label} for label in labels
        ]
        w.records.update({r["id"]: r for r in records})
        related[relation.name] = [None, *records]
    foreign_incident = factory.related("incident", other, "Other's incident")
    foreign_team = factory.related("team", other, "Other's team")

    rows: list[dict[str, Any]] = []
    rng = random.Random(5)
    start = datetime(2026, 6, 28, 22, 0, tzinfo=UTC)

    def add(**fields: Any) -> None:
        """A log; `fields` are columns, relations (a record or None), or `cost`."""
        log = {"created_at": fields.pop("created_at", start + timedelta(hours=rng.randrange(24 * 40)))}
        for f in GROUPED_FIELDS:
            log[f.attribute] = fields.pop(f.attribute, rng.choice(_pool(f)))
        log["cost"] = fields.pop("cost", rng.randrange(0, 12))
        for relation in GROUPED_RELATIONS:
            log[relation.name] = fields.pop(relation.name, rng.choice(related[relation.name]))
        row = {r.fk_column.key: log[r.name]["id"] if log[r.name] else None for r in GROUPED_RELATIONS}
        row.update({f.attribute: log[f.attribute] for f in GROUPED_FIELDS})
        row.update(
            id=new_id(),
            project_id=acme,
            created_at=log["created_at"],
            updated_at=log["created_at"],
            whatsapp_cost_in_usd_cents=log["cost"],
            deleted_at=None,
        )
        rows.append({**unnamed_values(len(rows), row), **row, **fields})
        if "deleted_at" not in fields:
            w.visible.append(log)

    for _ in range(36):
        add()
    # The last second of a UTC day and month, and the first of the next.
    add(created_at=datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC), cost=7)
    add(created_at=datetime(2026, 7, 1, 0, 0, 0, tzinfo=UTC), cost=9)
    add(created_at=datetime(2026, 7, 31, 23, 59, 59, 999000, tzinfo=UTC), cost=3)
    # Deleted logs never count, whatever they cost.
    add(status="Sent", cost=1000, deleted_at=datetime(2026, 7, 2, tzinfo=UTC))
    add(status="Gone", cost=1000, deleted_at=datetime(2026, 7, 2, tzinfo=UTC))
    # A foreign key into another project (bad data an operator may have): the record is never shown.
    add(status="Sent", cost=4, incident=None, team=None, incident_id=foreign_incident, team_id=foreign_team)
    # One bulk insert through the project's writer: the factory's one-log-at-a-time is slow for 40.
    factory.run(lambda conn: writes.insert_rows(conn, models.WhatsAppLog.__table__, rows))
    # The other project's logs: same statuses, days and numbers, very different costs.
    for status in ("Sent", "Delivered", "Failed", "Other"):
        factory.logs(
            other, 3, status=status, whatsapp_cost_in_usd_cents=500, incident_id=foreign_incident,
            created_at=datetime(2026, 7, 1, 10, tzinfo=UTC), to_number="+44-20-0000-0001",
        )  # fmt: skip
    return w


def stats(gql: GraphQL, key: str, **variables: Any) -> list[dict[str, Any]]:
    data = gql.data(QUERY, variables, key=key)
    buckets: list[dict[str, Any]] = data["whatsAppLogStats"]
    return buckets


def test_without_group_keys_one_bucket_sums_every_live_log_of_the_project(gql: GraphQL, world: World) -> None:
    costs = [log["cost"] for log in world.visible]

    assert stats(gql, world.key) == [
        {**dict.fromkeys(BUCKET_FIELDS), "count": len(costs), "totalCostInUSDCents": sum(costs),
         "minCostInUSDCents": min(costs), "maxCostInUSDCents": max(costs)}
    ]  # fmt: skip


@pytest.mark.parametrize("key", KEYS)
def test_each_group_key_alone_matches_the_logs_summed_by_hand(gql: GraphQL, world: World, key: str) -> None:
    assert stats(gql, world.key, groupBy=[key]) == expected_buckets(world.visible, [key])


@pytest.mark.parametrize(
    "keys",
    [
        ["DAY", "STATUS"],
        ["STATUS", "DAY"],
        ["MONTH", "TEAM", "FROM_NUMBER"],
        ["INCIDENT", "MONITOR", "TEAM", "TO_NUMBER"],
        KEYS,
    ],
)
def test_combined_group_keys_match_the_logs_summed_by_hand(
    gql: GraphQL, world: World, keys: list[str]
) -> None:
    assert stats(gql, world.key, groupBy=keys) == expected_buckets(world.visible, keys)


def test_filters_choose_the_logs_before_they_are_grouped(gql: GraphQL, world: World) -> None:
    since = datetime(2026, 7, 1, tzinfo=UTC)
    where = {
        "status": {"in": ["Sent", "Failed"]},
        "createdAt": {"gte": since.isoformat()},
        "not": {"fromNumber": {"isNull": True}},
    }
    chosen = [
        log
        for log in world.visible
        if log["status"] in ("Sent", "Failed") and log["created_at"] >= since and log["from_number"]
    ]

    assert chosen
    assert stats(gql, world.key, where=where, groupBy=["DAY", "STATUS"]) == expected_buckets(
        chosen, ["DAY", "STATUS"]
    )


def test_days_and_months_are_utc_calendar_days(gql: GraphQL, world: World) -> None:
    buckets = stats(gql, world.key, groupBy=["DAY"], where={"whatsAppCostInUSDCents": {"in": [7, 9]}})
    days = {b["day"] for b in buckets}
    months = {b["month"] for b in stats(gql, world.key, groupBy=["MONTH"])}

    assert {"2026-06-30", "2026-07-01"} <= days
    assert months == {"2026-06", "2026-07", "2026-08"}


def test_another_projects_logs_and_records_never_show(gql: GraphQL, world: World) -> None:
    buckets = stats(gql, world.key, groupBy=["INCIDENT", "TEAM", "STATUS"])
    shown = {b[r]["id"] for b in buckets for r in ("incident", "team") if b[r]}

    assert shown <= set(world.records)
    assert sum(b["count"] for b in buckets) == len(world.visible)
    assert {b["status"] for b in buckets} == {log["status"] for log in world.visible}  # no "Other", no "Gone"
    # The other project's key sees its own twelve logs only.
    other = stats(gql, world.other_key, groupBy=["STATUS"])
    assert [(b["status"], b["count"], b["totalCostInUSDCents"]) for b in other] == [
        ("Delivered", 3, 1500), ("Failed", 3, 1500), ("Other", 3, 1500), ("Sent", 3, 1500)
    ]  # fmt: skip


def test_a_log_pointing_at_another_projects_incident_counts_as_having_none(
    gql: GraphQL, world: World
) -> None:
    buckets = stats(gql, world.key, groupBy=["INCIDENT"], where={"whatsAppCostInUSDCents": {"eq": 4}})
    without_incident = [log for log in world.visible if log["cost"] == 4 and log["incident"] is None]

    assert buckets[0]["incident"] is None
    assert buckets[0]["count"] == len(without_incident)


def test_deleted_logs_are_not_counted(gql: GraphQL, factory: Factory) -> None:
    project = factory.project()
    factory.logs(project, 2, deleted_at=datetime(2026, 7, 2, tzinfo=UTC))
    key = factory.api_key(project)

    assert stats(gql, key) == []
    assert stats(gql, key, groupBy=["STATUS"]) == []


def test_no_matching_log_gives_no_bucket(gql: GraphQL, world: World) -> None:
    assert stats(gql, world.key, where={"status": {"eq": "Never"}}) == []


def test_a_key_given_twice_groups_once(gql: GraphQL, world: World) -> None:
    assert stats(gql, world.key, groupBy=["STATUS", "STATUS"]) == expected_buckets(world.visible, ["STATUS"])


def test_limit_returns_the_first_buckets_in_order(gql: GraphQL, world: World) -> None:
    everything = expected_buckets(world.visible, ["DAY"])

    assert len(everything) > 3
    assert stats(gql, world.key, groupBy=["DAY"], limit=3) == everything[:3]


def test_a_limit_below_one_is_refused(gql: GraphQL, world: World) -> None:
    body = gql(QUERY, {"groupBy": ["DAY"], "limit": 0}, key=world.key)

    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "between 1 and 10000" in body["errors"][0]["message"]


def test_more_than_ten_thousand_buckets_are_refused_even_when_the_cost_limit_allows(
    settings: Settings, world: World
) -> None:
    # The bound is checked before the cost, whatever MAX_COST allows.
    with TestClient(create_app(settings.with_(max_cost=10**9))) as client:
        body = GraphQL(client)("{ whatsAppLogStats(limit: 10001) { count } }", key=world.key)

    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "between 1 and 10000" in body["errors"][0]["message"]


def test_stats_need_a_valid_key(gql: GraphQL, world: World) -> None:
    body = gql(QUERY, {"groupBy": ["STATUS"]}, key="wal_not-a-real-key-at-all")

    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["data"] is None


def test_one_sql_statement_computes_the_buckets(
    gql: GraphQL, world: World, sql_statements: StatementCounter
) -> None:
    sql_statements.reset()
    stats(gql, world.key, groupBy=KEYS, where={"status": {"ne": "Read"}})

    # Besides the key lookup, one SELECT with the joins and the GROUP BY.
    [statement] = [s for s in sql_statements.statements if "api_key" not in s]
    assert "GROUP BY" in statement and "JOIN" in statement
