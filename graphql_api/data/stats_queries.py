"""Cost and delivery statistics: logs grouped and summed in the database, in one SELECT.

The group keys (GROUP_KEYS) are derived from the registry's `group` entries, and what a bucket
measures is data too (MEASURES). Related records (incident, monitor, team) are LEFT JOINed with
the project on the join condition, so a bucket never shows another project's record: a log whose
foreign key points outside the project falls into the bucket where that relation is null.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, String, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from graphql_api.data.fields import FIELDS, LOG, PERIODS, RELATIONS, Group, Relation
from graphql_api.data.queries import LogScope
from graphql_api.errors import BadUserInput

DEFAULT_BUCKETS = 1000
MAX_BUCKETS = 10_000


class _UtcPeriod(FunctionElement[str]):
    """The UTC calendar day or month of a timestamp as ISO text ("2026-07-21", "2026-07").

    Rendered with literal formats (no bind parameters) so that the same expression in SELECT,
    GROUP BY and ORDER BY is textually identical, which PostgreSQL requires.
    """

    type = String()
    inherit_cache = True
    sqlite_format = ""
    postgresql_format = ""


class utc_day(_UtcPeriod):  # noqa: N801 - SQL function style
    name = "utc_day"
    inherit_cache = True
    sqlite_format = "%Y-%m-%d"
    postgresql_format = "YYYY-MM-DD"


class utc_month(_UtcPeriod):  # noqa: N801 - SQL function style
    name = "utc_month"
    inherit_cache = True
    sqlite_format = "%Y-%m"
    postgresql_format = "YYYY-MM"


@compiles(utc_day, "sqlite")
@compiles(utc_month, "sqlite")
def _period_sqlite(element: _UtcPeriod, compiler: SQLCompiler, **kw: Any) -> str:
    # Timestamps are stored as naive UTC text; strftime also folds any stored offset into UTC.
    return f"strftime('{element.sqlite_format}', {compiler.process(element.clauses, **kw)})"


@compiles(utc_day, "postgresql")
@compiles(utc_month, "postgresql")
def _period_postgresql(element: _UtcPeriod, compiler: SQLCompiler, **kw: Any) -> str:
    # timestamptz at time zone 'UTC' is the UTC wall clock, whatever the session's TimeZone.
    column = compiler.process(element.clauses, **kw)
    return f"to_char(({column}) AT TIME ZONE 'UTC', '{element.postgresql_format}')"


@dataclass(frozen=True)
class GroupKey:
    """One way of grouping logs: a log column or expression, or a related record reached by a join."""

    name: str
    group: Group  # its place among the keys and its descriptions
    expression: ColumnElement[Any] | None = None
    relation: Relation | None = None
    scalar: str = "String"  # the GraphQL scalar of a plain key's value
    nullable: bool = True  # whether logs may lack a value (a bucket of logs without one)


_PERIODS = {"day": utc_day, "month": utc_month}


def _group_keys() -> list[GroupKey]:
    keys = [
        GroupKey(f.name, f.group, f.column, scalar=f.scalar, nullable=f.nullable)
        for f in FIELDS.values()
        if f.group is not None
    ]
    created = FIELDS["createdAt"]
    keys += [
        GroupKey(name, group, _PERIODS[name](created.column), nullable=created.nullable)
        for name, group in PERIODS.items()
    ]
    keys += [GroupKey(r.name, r.group, relation=r) for r in RELATIONS.values() if r.group is not None]
    return sorted(keys, key=lambda k: k.group.rank)


# In `WhatsAppLogGroupBy` order.
GROUP_KEYS: dict[str, GroupKey] = {k.name: k for k in _group_keys()}


@dataclass(frozen=True)
class Measure:
    """What a bucket sums up about its logs: its API name, the statement's column, GraphQL scalar."""

    name: str
    column: str
    scalar: str
    description: str
    aggregate: ColumnElement[Any]


_COST = LOG.c.whatsapp_cost_in_usd_cents

MEASURES: tuple[Measure, ...] = (
    Measure("count", "log_count", "Int", "How many logs are in this bucket (at least 1).", func.count()),
    Measure(
        "totalCostInUSDCents",
        "total_cost",
        "BigInt",
        "What the bucket's messages cost together, in US cents.",
        func.coalesce(func.sum(_COST), literal_column("0")),
    ),
    Measure(
        "minCostInUSDCents",
        "min_cost",
        "Int",
        "The cheapest message of the bucket, in US cents.",
        func.min(_COST),
    ),
    Measure(
        "maxCostInUSDCents",
        "max_cost",
        "Int",
        "The dearest message of the bucket, in US cents.",
        func.max(_COST),
    ),
)


def check_bucket_limit(limit: int, *, name: str = "limit") -> None:
    """Reject a bucket limit outside 1..MAX_BUCKETS, naming the argument and its bounds."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_BUCKETS:
        raise BadUserInput(f"`{name}` must be an integer between 1 and {MAX_BUCKETS} (got {limit!r}).")


async def log_stats(
    conn: AsyncConnection, *, scope: LogScope, group_by: Sequence[str] = (), limit: int = DEFAULT_BUCKETS
) -> list[Any]:
    """Count and cost of the project's matching logs per bucket (rows), ordered by the keys in `group_by`.

    Columns: one per plain key (`status`, `day`…), `<key>_id`, `<key>_label`, `<key>_created_at` per
    related key, then `log_count`, `total_cost`, `min_cost`, `max_cost`. No bucket for zero logs.
    """
    rows = (await conn.execute(select_log_stats(scope=scope, group_by=group_by, limit=limit))).all()
    # Without group keys an aggregate always yields one row, even over no logs: that is no bucket.
    return [row for row in rows if row.log_count > 0]


def select_log_stats(
    *, scope: LogScope, group_by: Sequence[str] = (), limit: int = DEFAULT_BUCKETS
) -> Select[Any]:
    """The SELECT of the buckets (also the inner query of the compiled path); it yields one row with
    `log_count` 0 when there is no group key and no log."""
    check_bucket_limit(limit)
    keys = [GROUP_KEYS[name] for name in dict.fromkeys(group_by)]
    source: FromClause = LOG
    columns: list[ColumnElement[Any]] = []
    groups: list[ColumnElement[Any]] = []
    order: list[Any] = []
    for key in keys:
        if key.relation is None:
            assert key.expression is not None
            columns.append(key.expression.label(key.name))
            groups.append(key.expression)
            order.append(key.expression.asc().nulls_first())
            continue
        relation = key.relation
        table = relation.table.alias(f"{key.name}_record")
        # The project on the join: another project's record is never joined, so never shown.
        source = source.outerjoin(
            table, (table.c.id == relation.fk_column) & (table.c.project_id == scope.project_id)
        )
        record = (table.c.id, table.c[relation.label], table.c.created_at)
        columns += [
            record[0].label(f"{key.name}_id"),
            record[1].label(f"{key.name}_label"),
            record[2].label(f"{key.name}_created_at"),
        ]
        groups += record
        # By name/title, then id for records that share one: readable and still deterministic.
        order += [record[1].asc().nulls_first(), record[0].asc().nulls_first()]
    return (
        select(
            *columns,
            *(m.aggregate.label(m.column) for m in MEASURES),
        )
        .select_from(source)
        .where(*scope.conditions())
        .group_by(*groups)
        .order_by(*order)
        .limit(limit)
    )
