"""`whatsAppLogsConnection`: keyset (cursor) pagination, as fast 100,000 rows deep as on the first page.

`skip` makes the database walk past every skipped row; a cursor names the last row seen (its sort
values and id), so the next page starts at that spot in the index. See graphql_api/cursors.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import strawberry

from graphql_api.data import queries
from graphql_api.data.cursors import encode_cursor
from graphql_api.data.filters import SortKey
from graphql_api.schema import roots
from graphql_api.schema.context import Context
from graphql_api.schema.inputs import WhatsAppLogOrderBy, Where
from graphql_api.schema.selection import log_selection
from graphql_api.schema.types import WhatsAppLog

Info = strawberry.Info[Context, None]


@dataclass(frozen=True)
class _Page:
    rows: Sequence[Any]
    keys: tuple[SortKey, ...]
    project_id: str
    secret: str
    scope: queries.LogScope  # for the total count

    def cursor(self, row: Any) -> str:
        return encode_cursor(self.secret, keys=self.keys, project_id=self.project_id, row=row)


@strawberry.type(description="Where a page sits in the whole list.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="Whether logs follow this page (going backward: whether `before` was given)."
    )
    has_previous_page: bool = strawberry.field(
        description="Whether logs precede this page (going forward: whether `after` was given)."
    )
    start_cursor: str | None = strawberry.field(description="Cursor of the first log of the page.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last log of the page.")


@strawberry.type(description="A log and its cursor.")
class WhatsAppLogEdge:
    node: WhatsAppLog = strawberry.field(description="The log.")
    page: strawberry.Private[_Page]

    @strawberry.field(description="Pass as `after` (or `before`) to continue from this log.")
    def cursor(self) -> str:
        return self.page.cursor(self.node)


@strawberry.type(description="A page of logs with cursors to continue from, in the requested order.")
class WhatsAppLogConnection:
    page: strawberry.Private[_Page]
    page_info: PageInfo = strawberry.field(description="Cursors of the page's ends; whether more follow.")

    @strawberry.field(description="The page's logs with their cursors.")
    def edges(self) -> list[WhatsAppLogEdge]:
        return [WhatsAppLogEdge(node=row, page=self.page) for row in self.page.rows]

    @strawberry.field(description="The page's logs (the same as `edges { node }`).")
    def nodes(self) -> list[WhatsAppLog]:
        return self.page.rows  # type: ignore[return-value]

    @strawberry.field(description="How many logs match the filter in all (counted only when asked for).")
    async def total_count(self, info: Info) -> int:
        async with info.context.services.database.reader() as conn:
            return await queries.count_logs(conn, scope=self.page.scope)


async def whats_app_logs_connection(
    info: Info,
    where: Where = None,
    order_by: Annotated[
        list[WhatsAppLogOrderBy] | None,
        strawberry.argument(
            description="Sort keys in priority order; default `[{createdAt: DESC}]`. "
            "A cursor only works with the order it was made in."
        ),
    ] = None,
    first: Annotated[
        int | None,
        strawberry.argument(
            description=f"The first N logs after `after`, 1 to 100 (default {roots.DEFAULT_FIRST})."
        ),
    ] = None,
    after: Annotated[
        str | None, strawberry.argument(description="Start after the log with this cursor.")
    ] = None,
    last: Annotated[
        int | None, strawberry.argument(description="The last N logs before `before`, 1 to 100.")
    ] = None,
    before: Annotated[
        str | None, strawberry.argument(description="End before the log with this cursor.")
    ] = None,
) -> WhatsAppLogConnection:
    spec = roots.logs_seek(
        {"where": where, "order_by": order_by, "first": first, "after": after, "last": last, "before": before}
    )
    principal = await info.context.principal()
    secret = info.context.services.cursor_secret
    project_id = principal.project_id
    after_at, before_at = spec.positions(secret, project_id)
    scope = spec.scope(project_id, info.context.settings)
    selection = log_selection(info, ("nodes",), ("edges", "node"))
    async with info.context.services.database.reader() as conn:
        rows: Sequence[Any] = await queries.seek_logs(
            conn,
            scope=scope,
            order=spec.keys,
            limit=spec.fetch,
            after=after_at,
            before=before_at,
            backward=spec.backward,
            fields=selection.fields,  # seek_logs adds the sort columns, for the cursors
        )
        more = len(rows) > spec.size
        rows = rows[1:] if spec.backward and more else rows[: spec.size]
        await info.context.loaders.preload(
            conn, project_id=project_id, relations=selection.relations, rows=rows
        )
    page = _Page(rows=rows, keys=spec.keys, project_id=project_id, secret=secret, scope=scope)
    page_info = PageInfo(
        has_next_page=spec.has_next_page(more),
        has_previous_page=spec.has_previous_page(more),
        start_cursor=page.cursor(rows[0]) if rows else None,
        end_cursor=page.cursor(rows[-1]) if rows else None,
    )
    return WhatsAppLogConnection(page=page, page_info=page_info)
