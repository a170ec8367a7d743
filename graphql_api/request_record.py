"""The current request's record: facts that any layer `note()`s for the access log and metrics.

Shared by every layer (it imports nothing from the package): authentication notes the key id, the
GraphQL layers the operation name; `http.observability` opens the record per request and reads it
when the response has gone out.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

_request: ContextVar[dict[str, Any] | None] = ContextVar("graphql_api_request", default=None)


def note(**fields: Any) -> None:
    """Add facts to the current request's record (a no-op outside a request, e.g. in the CLI)."""
    record = _request.get()
    if record is not None:
        record.update(fields)


def note_operation(name: str | None) -> None:
    """Record a GraphQL operation's name; a batch of several is recorded as `batch`."""
    record = _request.get()
    if record is None:
        return
    label = name or "anonymous"
    record["operation"] = label if record.get("operation") in (None, label) else "batch"


def current_record() -> dict[str, Any] | None:
    """The current request's record (None outside a request)."""
    return _request.get()


def open_record(record: dict[str, Any]) -> Token[dict[str, Any] | None]:
    """Make `record` the current request's, until `close_record(token)`."""
    return _request.set(record)


def close_record(token: Token[dict[str, Any] | None]) -> None:
    _request.reset(token)
