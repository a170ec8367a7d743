"""`whatsAppLogsConnection` as one statement: the keyset page of queries.select_seek_logs (one row more
than asked, to know whether more follow), numbered in its order, and every part of the connection
(edges, nodes, pageInfo, totalCount) built from those rows, in the regular resolver's terms.

Cursors are signed with the server's secret, which never goes to the database: the statement writes
each cursor's payload behind a marker, and compiler.cursors signs them in the finished JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, false, func, literal_column, select, true
from sqlalchemy.sql.util import ClauseAdapter
from sqlalchemy.types import String

from graphql_api.compiler import emit
from graphql_api.compiler.plan import Field, NotCompilable, Selection, Typename
from graphql_api.compiler.statements import Build, Built, json_object, log_fields, log_object
from graphql_api.data import queries
from graphql_api.data.fields import SORTABLE
from graphql_api.data.filters import SortKey, order_by, reverse
from graphql_api.data.kinds import DATETIME
from graphql_api.schema import roots


def _node_selections(selection: Selection) -> list[Selection]:
    """Every log selection in the connection's (under `nodes`, and under `edges { node }`)."""
    found: list[Selection] = []
    for _key, item in selection:
        if isinstance(item, Field) and item.selection is not None:
            if item.name == "nodes":
                found.append(item.selection)
            elif item.name == "edges":
                found += [
                    sub.selection for _, sub in item.selection if isinstance(sub, Field) and sub.selection
                ]
    return found


class _Page:
    def __init__(self, rows: FromClause, keys: tuple[SortKey, ...], size: int, backward: bool, build: Build):
        self.rows = rows  # the fetched rows, numbered `_n` in the seek order
        self.keys = keys
        self.size = size
        self.backward = backward
        self.build = build

    def visible(self, *, first: bool = False, last: bool = False) -> Select[Any]:
        """The page's rows (not the extra one) in the output order, or its first or last row alone."""
        rows = self.rows
        # Going backward the seek runs in the reverse order: the output is the rows reversed.
        descending = self.backward != last
        stmt = select(rows).where(rows.c._n <= self.size)
        stmt = stmt.order_by(rows.c._n.desc() if descending else rows.c._n.asc())
        return stmt.limit(1 if first or last else self.size)

    def cursor(self, rows: FromClause) -> ColumnElement[Any]:
        values: list[ColumnElement[Any]] = []
        for key in self.keys:
            field = SORTABLE[key.field]
            column = rows.c[field.column.key]
            values.append(emit.IsoDateTime(column) if field.kind is DATETIME else column)
        marker = literal_column(f"'{self.build.cursor_marker}'", String())
        return marker + emit.JsonList(*values, rows.c.id)

    def array(self, item: Any) -> ColumnElement[Any]:
        """A JSON array of `item(rows)` for the page's rows, in the output order."""
        rows = self.visible().subquery()
        order = rows.c._n.desc() if self.backward else rows.c._n.asc()
        return select(emit.JsonArray(item(rows), order)).select_from(rows).scalar_subquery()

    def edge(self, selection: Selection) -> Any:
        def build_edge(rows: FromClause) -> emit.JsonObject:
            pairs: list[tuple[str, ColumnElement[Any]]] = []
            for key, item in selection:
                if isinstance(item, Typename):
                    pairs.append((key, emit.constant(item.type_name)))
                elif item.name == "cursor":
                    pairs.append((key, self.cursor(rows)))
                elif item.name == "node" and item.selection is not None:
                    pairs.append((key, log_object(item.selection, rows, self.build)))
                else:
                    raise NotCompilable(f"WhatsAppLogEdge.{item.name}")
            return json_object(pairs)

        return build_edge


def whats_app_logs_connection(args: Mapping[str, Any], selection: Selection | None, build: Build) -> Built:
    assert selection is not None
    spec = roots.logs_seek(args)
    keys, size, backward = spec.keys, spec.size, spec.backward
    after, before = spec.positions(build.cursor_secret, build.caller_project)
    scope = build.scope(spec)
    fields = sorted({name for nodes in _node_selections(selection) for name in log_fields(nodes)})
    seek = queries.select_seek_logs(
        scope=scope,
        order=keys,
        limit=spec.fetch,
        after=after,
        before=before,
        backward=backward,
        fields=fields,
    )
    fetched = seek.cte("l")
    in_seek_order = [
        ClauseAdapter(fetched).traverse(c) for c in order_by(reverse(keys) if backward else keys)
    ]
    numbered = select(fetched, func.row_number().over(order_by=in_seek_order).label("_n")).cte("r")
    page = _Page(numbered, keys, size, backward, build)
    more = emit.JsonBool(select(func.count()).select_from(fetched).scalar_subquery() > size)

    def cursor_at(*, first: bool) -> ColumnElement[Any]:
        row = page.visible(first=first, last=not first).subquery()
        return select(page.cursor(row)).select_from(row).scalar_subquery()

    def flag(value: Any) -> Any:  # the spec's answer: the SQL of `more`, or a constant
        return emit.JsonBool(true() if value else false()) if isinstance(value, bool) else value

    page_info = {
        "hasNextPage": flag(spec.has_next_page(more)),
        "hasPreviousPage": flag(spec.has_previous_page(more)),
        "startCursor": cursor_at(first=True),
        "endCursor": cursor_at(first=False),
    }
    pairs: list[tuple[str, ColumnElement[Any]]] = []
    for key, item in selection:
        if isinstance(item, Typename):
            pairs.append((key, emit.constant(item.type_name)))
        elif item.name == "totalCount":
            count = queries.select_count(scope=scope)
            pairs.append((key, count.scalar_subquery()))
        elif item.name == "nodes" and item.selection is not None:
            node_selection = item.selection
            pairs.append((key, page.array(lambda rows, s=node_selection: log_object(s, rows, build))))
        elif item.name == "edges" and item.selection is not None:
            pairs.append((key, page.array(page.edge(item.selection))))
        elif item.name == "pageInfo" and item.selection is not None:
            info: list[tuple[str, ColumnElement[Any]]] = []
            for info_key, info_item in item.selection:
                if isinstance(info_item, Typename):
                    info.append((info_key, emit.constant(info_item.type_name)))
                elif info_item.name in page_info:
                    info.append((info_key, page_info[info_item.name]))
                else:
                    raise NotCompilable(f"PageInfo.{info_item.name}")
            pairs.append((key, json_object(info)))
        else:
            raise NotCompilable(f"WhatsAppLogConnection.{item.name}")
    # Whether a cursor is valid depends on the caller's project: remember this one for it alone.
    per_project = spec.after_cursor is not None or spec.before_cursor is not None
    return Built(select(emit.JsonBytes(json_object(pairs))), cursor_keys=keys, per_project=per_project)
