"""The GraphQL layer (Strawberry): the schema, built once per process from the settings.

Holds the types derived from the registry (`types`, `inputs`, `stats_buckets`, `log_connection`, with
`derived` and `scalars`), one specification per root field (`roots`) and the resolvers over them
(`query`, `log_stream` for the subscription, `loaders`, `resolvers`, `selection`, `context`), and the
checks that run before anything is resolved (`limits`, `cost`, `validation`, `lru`, `error_codes`,
`tracing`).

May import `data` and the shared `settings`, `errors` and `request_record`; never `compiler`, `http`
or `cli`.
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, MaxTokensLimiter, ParserCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from graphql_api.schema.error_codes import ErrorCodes
from graphql_api.schema.limits import Limits
from graphql_api.schema.log_stream import Subscription
from graphql_api.schema.query import Query
from graphql_api.schema.resolvers import PlainFieldsExecutor, read_rows_directly
from graphql_api.schema.scalars import SCALARS
from graphql_api.schema.tracing import RecordOperation
from graphql_api.schema.validation import Validation
from graphql_api.settings import Settings

__all__ = ["build_schema"]


class Schema(strawberry.Schema):
    # With introspection off, errors stop suggesting names ("Did you mean ...?"), which would map the
    # schema one typo at a time; Validation hides them in validation errors, this in variable errors.
    hide_suggestions = False

    def _get_custom_context_kwargs(
        self, operation_extensions: dict[str, Any] | None = None, *, sync: bool = False
    ) -> dict[str, Any]:
        kwargs = super()._get_custom_context_kwargs(operation_extensions, sync=sync)
        return {**kwargs, "hide_suggestions": self.hide_suggestions}

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Expected errors are not worth a traceback; ErrorCodes logs the unexpected ones."""

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """One result per request: a subscription streams (`stream`, over a WebSocket or an event
        stream), so here it is refused as `BAD_USER_INPUT` like any operation type a request may not
        carry, not run into a null."""
        allowed = kwargs.get("allowed_operation_types")
        kwargs["allowed_operation_types"] = set(allowed or (OperationType.QUERY, OperationType.MUTATION)) - {
            OperationType.SUBSCRIPTION
        }
        return await super().execute(*args, **kwargs)


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema with the extensions the settings ask for."""
    settings = settings or Settings()
    limits = Limits(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_root_fields=settings.max_root_fields,
        max_cost=settings.max_cost,
        max_filter_depth=settings.max_filter_depth,
        max_filter_conditions=settings.max_filter_conditions,
    )
    hide_suggestions = not settings.introspection
    # Factories, not instances: Strawberry builds fresh extensions for every request.
    extensions: list[object] = [
        ErrorCodes,
        RecordOperation,
        # Sets the token limit that the (cached) parse runs with.
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: ParserCache(maxsize=256),
        lambda: Validation(limits, hide_suggestions=hide_suggestions),
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    batching = {"max_operations": settings.max_batch_size} if settings.allow_batching else None
    schema = Schema(
        query=Query,
        subscription=Subscription,
        extensions=extensions,  # type: ignore[arg-type]
        config=StrawberryConfig(scalar_map=SCALARS, batching_config=batching),  # type: ignore[arg-type]
        execution_context_class=PlainFieldsExecutor,
    )
    schema.hide_suggestions = hide_suggestions
    read_rows_directly(schema)
    return schema
