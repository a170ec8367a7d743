"""Tells the request's log line and metrics which GraphQL operation ran."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from graphql_api.request_record import note_operation


class RecordOperation(SchemaExtension):
    """Notes the operation's name: the one the client sent, else the document's only operation's."""

    # The compiled path's fast path notes the operation name for the request log itself.
    repeatable = True

    def on_operation(self) -> Iterator[None]:
        yield
        # After the operation the document is parsed, so an unsent name can be read from it.
        note_operation(self.execution_context.operation_name)
