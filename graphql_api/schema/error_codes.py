"""Every GraphQL error leaves with a code from errors.CODES; unexpected ones are masked and logged."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import MaskErrors
from strawberry.schema.exceptions import InvalidOperationTypeError

from graphql_api.errors import UNEXPECTED_MESSAGE, ApiError

logger = logging.getLogger("graphql_api.errors")


def _original(error: GraphQLError) -> BaseException | None:
    original = error.original_error
    # graphql-core may wrap an error more than once.
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original


def _past_graphql_core_limit(error: GraphQLError) -> bool:
    """graphql-core's own refusals of a document's size or nesting (the token limit is ours, applied
    by the parser; the nesting limit protects the interpreter's stack): QUERY_TOO_COMPLEX like ours."""
    message = error.message
    too_many_tokens = "Document contains more than" in message and "tokens" in message
    return too_many_tokens or "nested too deeply" in message


def error_code(error: GraphQLError) -> str | None:
    """The code for an error we can explain, or None for one that must be masked."""
    original = _original(error)
    if isinstance(original, ApiError):
        return original.code
    if isinstance(original, InvalidOperationTypeError):  # a query over the subscriptions' socket, say
        return "BAD_USER_INPUT"
    if error.extensions and "code" in error.extensions:
        return str(error.extensions["code"])
    if error.path is None and original is None and _past_graphql_core_limit(error):
        return "QUERY_TOO_COMPLEX"
    if isinstance(error, GraphQLSyntaxError):
        return "GRAPHQL_PARSE_FAILED"
    if error.path is None:
        if error.message.startswith("Variable '$"):
            return "BAD_USER_INPUT"
        if original is None or isinstance(original, (ValueError, TypeError)):
            return "GRAPHQL_VALIDATION_FAILED"
    return None


def _request_id(context: Any) -> str | None:
    request = getattr(context, "request", None)
    state = getattr(request, "state", None)
    return getattr(state, "request_id", None)


def with_code(error: GraphQLError, request_id: str | None) -> GraphQLError:
    """The error as the client sees it: its code added, or masked (and logged) when unexpected."""
    if error.extensions and "code" in error.extensions and error.original_error is None:
        return error
    code = error_code(error)
    if code is None:
        logger.error("unexpected error (request %s)", request_id, exc_info=_original(error) or error)
        extensions: dict[str, Any] = {"code": "INTERNAL"}
        if request_id:
            extensions["requestId"] = request_id
        return GraphQLError(
            UNEXPECTED_MESSAGE,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions=extensions,
        )
    original = _original(error)
    message = original.message if isinstance(original, ApiError) else error.message
    extra = original.extensions if isinstance(original, ApiError) else {}
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={**(error.extensions or {}), **extra, "code": code},
    )


class ErrorCodes(MaskErrors):
    """Strawberry's MaskErrors, extended to put a code on every error it lets through."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda e: error_code(e) is None, error_message=UNEXPECTED_MESSAGE)

    def _process_result(self, result: object) -> None:
        # Strawberry's checks the result against a runtime Protocol first, which costs a live stream
        # more than the rest of this hook for each message (nearly always without errors).
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        request_id = _request_id(self.execution_context.context)
        return [with_code(error, request_id) for error in errors]
