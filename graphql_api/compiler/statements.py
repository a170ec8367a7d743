"""One SQL statement per root field, building that field's JSON in the database.

The inner SELECT (tenant filter, soft delete, filters, sort, page) comes from queries.py, the one
definition both paths share; this module only wraps it in the JSON the selection asks for. Related
records are correlated scalar subqueries limited by queries.related_scope, as the DataLoaders are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, FromClause, Select, bindparam, func, select

from graphql_api.compiler import emit
from graphql_api.compiler.plan import Field, NotCompilable, Selection, Typename
from graphql_api.data import queries
from graphql_api.data.fields import FIELDS, LOG, PROJECT, RELATIONS, Relation
from graphql_api.data.filters import SortKey, order_by
from graphql_api.schema import roots
from graphql_api.settings import Settings

# Compiled statements are cached without the caller's project: it is bound at execution time.
PROJECT_PARAM = "project_id"
_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"

# What a statement's single value becomes in the response when the field needs no SQL at all.
NULL = b"null"


@dataclass(frozen=True)
class Build:
    """What a root field needs from its surroundings to build its statement."""

    dialect: str
    settings: Settings
    # The caller's project and the cursor secret: only to read cursors, whose validity depends on
    # them; a statement built with them is remembered for that project alone (`Built.per_project`).
    caller_project: str = ""
    cursor_secret: str = ""
    # Marks the cursors in the JSON for signing after the statement ran (see compiler.cursor_signing).
    cursor_marker: str = ""

    @property
    def project_id(self) -> BindParameter[str]:
        return bindparam(PROJECT_PARAM, value=_PLACEHOLDER, type_=LOG.c.project_id.type)

    def scope(self, spec: roots.Filtered) -> queries.LogScope:
        """The caller's logs that match a root field's filter (the project bound at execution)."""
        return spec.scope(self.project_id, self.settings)


@dataclass(frozen=True)
class Built:
    """A root field's statement: a SELECT of one value (JSON text or an integer), or the bytes of its
    JSON when no SQL is needed; with the sort order of the cursors to sign in it, if any."""

    statement: Select[Any] | bytes
    cursor_keys: tuple[SortKey, ...] | None = None
    per_project: bool = False  # it depends on the caller's project (it read a cursor)


def scalar(type_name: str, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A column as the JSON of a GraphQL scalar of `type_name`."""
    if type_name == "DateTime":
        return emit.IsoDateTime(column)
    if type_name == "Int":
        return emit.Int32(column)
    if type_name in ("ID", "String", "Phone", "BigInt"):
        return column
    raise NotCompilable(f"scalar {type_name}")


def json_object(pairs: list[tuple[str, ColumnElement[Any]]]) -> emit.JsonObject:
    """A JSON object of (key, value) pairs, in their order."""
    args: list[ColumnElement[Any]] = []
    for name, value in pairs:
        args += [emit.key(name), value]
    return emit.JsonObject(*args)


def related_columns(relation: Relation) -> dict[str, str]:
    """The fields of a related type (Incident, Project...) and their columns, as schema/types.py has them."""
    columns = {"id": "id", relation.label: relation.label}
    if relation.shows_created_at:
        columns["createdAt"] = "created_at"
    return columns


def _related(relation: Relation, selection: Selection, log: FromClause, build: Build) -> ColumnElement[Any]:
    table = relation.table
    pairs: list[tuple[str, ColumnElement[Any]]] = []
    for key, item in selection:
        if isinstance(item, Typename):
            pairs.append((key, emit.constant(item.type_name)))
            continue
        column = related_columns(relation).get(item.name)
        if column is None or item.selection is not None:
            raise NotCompilable(f"related field {item.name}")
        pairs.append((key, scalar(item.type_name, table.c[column])))
    return (
        select(json_object(pairs))
        .where(table.c.id == log.c[relation.fk_column.key], queries.related_scope(relation, build.project_id))
        .scalar_subquery()
    )


def log_fields(selection: Selection) -> list[str]:
    """The log columns (API names) the selection reads, foreign keys of selected relations included."""
    wanted: set[str] = set()
    for _key, item in selection:
        if isinstance(item, Field):
            if item.name in FIELDS:
                wanted.add(item.name)
            elif item.name in RELATIONS:
                wanted.add(RELATIONS[item.name].foreign_key)
            elif item.name == PROJECT.name:
                wanted.add(PROJECT.foreign_key)
    return sorted(wanted)


def log_object(selection: Selection, log: FromClause, build: Build) -> emit.JsonObject:
    """The JSON object of one log (a row of `log`, a subquery of queries.py's SELECT)."""
    pairs: list[tuple[str, ColumnElement[Any]]] = []
    for key, item in selection:
        if isinstance(item, Typename):
            pairs.append((key, emit.constant(item.type_name)))
        elif item.name in FIELDS and item.selection is None:
            pairs.append((key, scalar(item.type_name, log.c[FIELDS[item.name].column.key])))
        elif item.selection is not None and (item.name in RELATIONS or item.name == PROJECT.name):
            relation = PROJECT if item.name == PROJECT.name else RELATIONS[item.name]
            pairs.append((key, _related(relation, item.selection, log, build)))
        else:
            raise NotCompilable(f"WhatsAppLog.{item.name}")
    return json_object(pairs)


# A root field's statement from its converted arguments and selection.
RootBuilder = Callable[[Mapping[str, Any], Selection | None, Build], Built]


def whats_app_logs(args: Mapping[str, Any], selection: Selection | None, build: Build) -> Built:
    assert selection is not None
    spec = roots.logs_page(args)
    inner = queries.select_logs(
        scope=build.scope(spec),
        order=spec.order,
        skip=spec.skip,
        limit=spec.limit,
        fields=log_fields(selection),
    )
    if build.dialect == "sqlite":
        # Each row's object built by the page's own SELECT (no copy of its columns through a
        # subquery), the objects joined as text in the (limited, so kept and not flattened) order.
        page = inner.with_only_columns(log_object(selection, LOG, build).label("obj")).subquery("l")
        return Built(select(emit.JsonBytes(emit.JoinedArray(page.c.obj))))
    # json_agg's own ORDER BY guarantees the page order.
    inner = inner.add_columns(func.row_number().over(order_by=order_by(spec.order)).label("_ord"))
    log = inner.subquery("l")
    return Built(select(emit.JsonBytes(emit.JsonArray(log_object(selection, log, build), log.c._ord))))


def whats_app_log(args: Mapping[str, Any], selection: Selection | None, build: Build) -> Built:
    assert selection is not None
    inner = queries.select_log(project_id=build.project_id, log_id=args["id"], fields=log_fields(selection))
    if inner is None:
        return Built(NULL)
    return Built(select(emit.JsonBytes(log_object(selection, inner.subquery("l"), build))))


def whats_app_log_count(args: Mapping[str, Any], selection: Selection | None, build: Build) -> Built:
    return Built(queries.select_count(scope=build.scope(roots.log_count(args))))
