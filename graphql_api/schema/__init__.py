"""The Strawberry schema: built once per process from the settings (limits, introspection)."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from graphql_api.schema.errors import ErrorCodes
from graphql_api.schema.query import Query
from graphql_api.schema.scalars import SCALARS
from graphql_api.schema.tracing import RecordOperation
from graphql_api.settings import Settings

__all__ = ["build_schema"]


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Expected errors are not worth a traceback; ErrorCodes logs the unexpected ones."""


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema with the extensions the settings ask for."""
    settings = settings or Settings()
    # Factories, not instances: Strawberry builds fresh extensions for every request.
    extensions: list[object] = [
        ErrorCodes,
        RecordOperation,
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return Schema(
        query=Query,
        extensions=extensions,  # type: ignore[arg-type]
        config=StrawberryConfig(scalar_map=SCALARS),  # type: ignore[arg-type]
    )

