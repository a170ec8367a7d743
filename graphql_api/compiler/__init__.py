"""Compiled execution: a validated GraphQL operation becomes one SQL statement per root field that
builds the response's JSON inside the database (see README, "The compiled path")."""

from __future__ import annotations

import strawberry

from graphql_api.compiler.execution import CompiledExecution, RawJSON, compiled_response
from graphql_api.compiler.extension import CompiledExecutionExtension
from graphql_api.data.services import Services

__all__ = ["CompiledExecution", "RawJSON", "compiled_response", "install"]


def install(schema: strawberry.Schema, services: Services, *, cache_size: int = 512) -> CompiledExecution:
    """Add the compiled path to a built schema, as its last extension (after every validation rule)."""
    execution = CompiledExecution(schema, services, cache_size=cache_size)
    schema.extensions = (*schema.extensions, lambda: CompiledExecutionExtension(execution))
    return execution
