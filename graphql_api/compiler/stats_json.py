"""`whatsAppLogStats` as one statement: stats.select_log_stats (the buckets, grouped and ordered in
the database) wrapped in the JSON of the selected bucket fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, FromClause, case, func, null, select

from graphql_api.compiler import emit
from graphql_api.compiler.plan import NotCompilable, Selection, Typename
from graphql_api.compiler.statements import Build, Built, json_object, related_columns, scalar
from graphql_api.data import stats_queries as stats
from graphql_api.data.fields import Relation
from graphql_api.data.stats_queries import GROUP_KEYS, MEASURES
from graphql_api.schema import roots

_MEASURES = {m.name: m for m in MEASURES}


def _related(key: str, relation: Relation, selection: Selection, buckets: FromClause) -> ColumnElement[Any]:
    if f"{key}_id" not in buckets.c:  # not grouped by this key
        return null()
    pairs: list[tuple[str, ColumnElement[Any]]] = []
    for name, item in selection:
        if isinstance(item, Typename):
            pairs.append((name, emit.constant(item.type_name)))
            continue
        column = related_columns(relation).get(item.name)
        if column is None:
            raise NotCompilable(f"{key}.{item.name}")
        suffix = column if column in ("id", "created_at") else "label"
        pairs.append((name, scalar(item.type_name, buckets.c[f"{key}_{suffix}"])))
    return case((buckets.c[f"{key}_id"].is_(None), null()), else_=json_object(pairs))


def _bucket(selection: Selection, buckets: FromClause) -> emit.JsonObject:
    pairs: list[tuple[str, ColumnElement[Any]]] = []
    for name, item in selection:
        if isinstance(item, Typename):
            pairs.append((name, emit.constant(item.type_name)))
        elif item.name in _MEASURES:
            measure = _MEASURES[item.name]
            pairs.append((name, scalar(measure.scalar, buckets.c[measure.column])))
        elif (key := GROUP_KEYS.get(item.name)) is not None and key.relation is None:
            pairs.append((name, buckets.c[item.name] if item.name in buckets.c else null()))
        elif key is not None and key.relation is not None and item.selection is not None:
            pairs.append((name, _related(item.name, key.relation, item.selection, buckets)))
        else:
            raise NotCompilable(f"WhatsAppLogStatsBucket.{item.name}")
    return json_object(pairs)


def whats_app_log_stats(args: Mapping[str, Any], selection: Selection | None, build: Build) -> Built:
    assert selection is not None
    spec = roots.log_stats(args)
    inner = stats.select_log_stats(scope=build.scope(spec), group_by=spec.group_by, limit=spec.limit)
    # Numbered in the statement's own order: json_agg orders by it on PostgreSQL; SQLite aggregates
    # the (limited, so kept in order) subquery as it comes.
    inner = inner.add_columns(func.row_number().over(order_by=list(inner._order_by_clauses)).label("_ord"))
    buckets = inner.subquery("s")
    # Without group keys the aggregate yields one row even over no logs: that is no bucket.
    return Built(
        select(emit.JsonBytes(emit.JsonArray(_bucket(selection, buckets), buckets.c._ord)))
        .select_from(buckets)
        .where(buckets.c.log_count > 0)
    )
