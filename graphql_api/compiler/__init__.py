"""Compiled execution: a validated GraphQL operation becomes one SQL statement per root field that
builds the response's JSON inside the database (docs/compiled-path.md).

Holds the plan of an operation (`plan`, `arguments`), one statement builder per root field
(`builders`: `statements`, `connection_json`, `stats_json`, over `schema.roots`' specifications), the SQL it
emits (`emit`, `driver`, `runner`), cursor signing, and the execution inside Strawberry's pipeline
(`execution`, `extension`, `repeat`).

May import `schema`, `data` and the shared `settings`, `errors` and `request_record`; never `http`
or `cli`.
"""

from __future__ import annotations

import strawberry

from graphql_api.compiler.execution import CompiledExecution, RawJSON, compiled_response, request_key
from graphql_api.compiler.extension import CompiledExecutionExtension
from graphql_api.data.services import Services

__all__ = ["CompiledExecution", "RawJSON", "compiled_response", "install", "request_key"]


def install(schema: strawberry.Schema, services: Services, *, cache_size: int = 512) -> CompiledExecution:
    """Add the compiled path to a built schema, as its last extension (after every validation rule)."""
    execution = CompiledExecution(schema, services, cache_size=cache_size)
    schema.extensions = (*schema.extensions, lambda: CompiledExecutionExtension(execution))
    return execution
