"""`whatsAppLogStats` as one statement: stats.select_log_stats (the buckets, grouped and ordered in
the database) wrapped in the JSON of the selected bucket fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, case, func, null, select

from graphql_api.compiler import emit
from graphql_api.compiler.plan import NotCompilable, Selection, Typename
from graphql_api.compiler.statements import RELATED_COLUMNS, Build, json_object, scalar
from graphql_api.data import stats_queries as stats
from graphql_api.schema.stats_buckets import group_key_names

# Bucket fields read from the statement's columns, and their GraphQL scalar types.
_MEASURES = {
    "count": ("log_count", "Int"),
    "totalCostInUSDCents": ("total_cost", "BigInt"),
    "minCostInUSDCents": ("min_cost", "Int"),
    "maxCostInUSDCents": ("max_cost", "Int"),
}
_PLAIN_KEYS = {"status", "day", "month", "fromNumber", "toNumber"}
_RELATED_KEYS = {"incident", "monitor", "team"}


def _related(key: str, selection: Selection, buckets: FromClause) -> ColumnElement[Any]:
    if f"{key}_id" not in buckets.c:  # not grouped by this key
        return null()
    pairs: list[tuple[str, ColumnElement[Any]]] = []
    for name, item in selection:
        if isinstance(item, Typename):
            pairs.append((name, emit.constant(item.type_name)))
            continue
        column = RELATED_COLUMNS.get(item.name)
        if column is None:
            raise NotCompilable(f"{key}.{item.name}")
        suffix = {"id": "id", "created_at": "created_at"}.get(column, "label")
        pairs.append((name, scalar(item.type_name, buckets.c[f"{key}_{suffix}"])))
    return case((buckets.c[f"{key}_id"].is_(None), null()), else_=json_object(pairs))


def _bucket(selection: Selection, buckets: FromClause) -> emit.JsonObject:
    pairs: list[tuple[str, ColumnElement[Any]]] = []
    for name, item in selection:
        if isinstance(item, Typename):
            pairs.append((name, emit.constant(item.type_name)))
        elif item.name in _MEASURES:
            column, type_name = _MEASURES[item.name]
            pairs.append((name, scalar(type_name, buckets.c[column])))
        elif item.name in _PLAIN_KEYS:
            pairs.append((name, buckets.c[item.name] if item.name in buckets.c else null()))
        elif item.name in _RELATED_KEYS and item.selection is not None:
            pairs.append((name, _related(item.name, item.selection, buckets)))
        else:
            raise NotCompilable(f"WhatsAppLogStatsBucket.{item.name}")
    return json_object(pairs)


def whats_app_log_stats(args: Mapping[str, Any], selection: Selection | None, build: Build) -> Select[Any]:
    assert selection is not None
    inner = stats.select_log_stats(
        scope=build.scope(args.get("where")),
        group_by=group_key_names(args.get("group_by")),
        limit=args["limit"],
    )
    # Numbered in the statement's own order: json_agg orders by it on PostgreSQL; SQLite aggregates
    # the (limited, so kept in order) subquery as it comes.
    inner = inner.add_columns(func.row_number().over(order_by=list(inner._order_by_clauses)).label("_ord"))
    buckets = inner.subquery("s")
    # Without group keys the aggregate yields one row even over no logs: that is no bucket.
    return (
        select(emit.JsonBytes(emit.JsonArray(_bucket(selection, buckets), buckets.c._ord)))
        .select_from(buckets)
        .where(buckets.c.log_count > 0)
    )
