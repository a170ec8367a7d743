"""The root Query type. Resolvers are thin: read arguments, call queries.py, return rows."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from graphql_api.data import queries
from graphql_api.data import stats_queries as stats
from graphql_api.schema import roots
from graphql_api.schema.context import Context
from graphql_api.schema.inputs import WhatsAppLogOrderBy, Where
from graphql_api.schema.log_connection import WhatsAppLogConnection, whats_app_logs_connection
from graphql_api.schema.selection import log_fields, log_selection
from graphql_api.schema.stats_buckets import (
    WhatsAppLogGroupBy,
    WhatsAppLogStatsBucket,
    to_buckets,
)
from graphql_api.schema.types import WhatsAppLog

Info = strawberry.Info[Context, None]


@strawberry.type(description="Read-only access to the WhatsApp logs of the API key's project.")
class Query:
    @strawberry.field(
        description="A page of the project's WhatsApp logs, newest first unless `orderBy` says."
    )
    async def whats_app_logs(
        self,
        info: Info,
        where: Where = None,
        order_by: Annotated[
            list[WhatsAppLogOrderBy] | None,
            strawberry.argument(
                description="Sort keys in priority order; default `[{createdAt: DESC}]`. "
                "The id always breaks ties, in the direction of the last key."
            ),
        ] = None,
        skip: Annotated[
            int, strawberry.argument(description="How many matching logs to skip (0 or more).")
        ] = 0,
        limit: Annotated[
            int, strawberry.argument(description="How many logs to return, 1 to 100.")
        ] = roots.DEFAULT_LIMIT,
    ) -> list[WhatsAppLog]:
        spec = roots.logs_page({"where": where, "order_by": order_by, "skip": skip, "limit": limit})
        principal = await info.context.principal()
        selection = log_selection(info)
        async with info.context.services.database.reader() as conn:
            rows: Any = await queries.list_logs(
                conn,
                scope=spec.scope(principal.project_id, info.context.settings),
                order=spec.order,
                skip=spec.skip,
                limit=spec.limit,
                fields=selection.fields,
            )
            await info.context.loaders.preload(
                conn, project_id=principal.project_id, relations=selection.relations, rows=rows
            )
        return rows  # type: ignore[no-any-return]

    whats_app_logs_connection: WhatsAppLogConnection = strawberry.field(
        resolver=whats_app_logs_connection,
        description=(
            "The project's WhatsApp logs a page at a time, by cursor: as fast deep in the list as at its "
            "start, and stable while logs are added. Newest first unless `orderBy` says."
        ),
    )

    @strawberry.field(description="One WhatsApp log by id; null when no log of the project has that id.")
    async def whats_app_log(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="ID of the log.")],
    ) -> WhatsAppLog | None:
        principal = await info.context.principal()
        async with info.context.services.database.reader() as conn:
            row: Any = await queries.get_log(
                conn, project_id=principal.project_id, log_id=id, fields=log_fields(info)
            )
        return row  # type: ignore[no-any-return]

    @strawberry.field(description="How many of the project's WhatsApp logs match the filter.")
    async def whats_app_log_count(self, info: Info, where: Where = None) -> int:
        spec = roots.log_count({"where": where})
        principal = await info.context.principal()
        async with info.context.services.database.reader() as conn:
            return await queries.count_logs(
                conn, scope=spec.scope(principal.project_id, info.context.settings)
            )

    @strawberry.field(
        description=(
            "Count and cost of the project's matching logs per bucket: one bucket per combination of "
            "the `groupBy` keys' values that has logs (one bucket overall without `groupBy`, none when "
            "no log matches). Buckets are ordered by the keys in `groupBy` order, each ascending, nulls "
            "first; related records by name or title, then id."
        )
    )
    async def whats_app_log_stats(
        self,
        info: Info,
        where: Where = None,
        group_by: Annotated[
            list[WhatsAppLogGroupBy] | None,
            strawberry.argument(description="Keys to group by, in sort priority; none: one overall bucket."),
        ] = None,
        limit: Annotated[
            int,
            strawberry.argument(
                description=f"At most this many buckets (1 to {stats.MAX_BUCKETS}), the first ones in order."
            ),
        ] = stats.DEFAULT_BUCKETS,
    ) -> list[WhatsAppLogStatsBucket]:
        spec = roots.log_stats({"where": where, "group_by": group_by, "limit": limit})
        principal = await info.context.principal()
        async with info.context.services.database.reader() as conn:
            rows = await stats.log_stats(
                conn,
                scope=spec.scope(principal.project_id, info.context.settings),
                group_by=spec.group_by,
                limit=spec.limit,
            )
        return to_buckets(rows)
