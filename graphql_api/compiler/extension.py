"""The compiled path inside Strawberry's pipeline: after every extension parsed and validated the
operation, the last extension runs it compiled and hands Strawberry the result, or lets it execute."""

from __future__ import annotations

from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension

from graphql_api.compiler.execution import CompiledExecution


class CompiledExecutionExtension(SchemaExtension):
    document_only = True

    def __init__(self, execution: CompiledExecution) -> None:
        super().__init__()
        self._execution = execution

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.query is not None and not context.pre_execution_errors:
            result = await self._execution.execute(
                query=context.query,
                operation_name=context._provided_operation_name,  # what the client sent (or None)
                resolved_operation_name=context.operation_name,
                document=document,
                variables=context.variables,
                context=context.context,
            )
            if result is not None:
                context.result = result
        yield
