"""The GraphQL requests the benchmark sends: the issue's page query and its relatives."""

from __future__ import annotations

from graphql_api.data.fields import FIELDS

# Every scalar field of a log, as the issue asks.
SCALARS = " ".join(FIELDS)
STATUS = "Delivered"
FILTER = f'where: {{ status: {{ eq: "{STATUS}" }} }}, orderBy: [{{ createdAt: DESC }}]'
SELECTION = f"{SCALARS} incident {{ title }} monitor {{ name }}"


def page(limit: int, skip: int = 0) -> str:
    """The issue's request: a page of logs with all scalar fields, incident and monitor, newest first."""
    return f"{{ whatsAppLogs({FILTER}, skip: {skip}, limit: {limit}) {{ {SELECTION} }} }}"


def connection(first: int, after: str | None = None) -> str:
    after_arg = f', after: "{after}"' if after else ""
    return (
        f"{{ whatsAppLogsConnection({FILTER}, first: {first}{after_arg}) "
        f"{{ nodes {{ {SELECTION} }} pageInfo {{ hasNextPage endCursor }} }} }}"
    )


COUNT = "{ whatsAppLogCount }"


def row_at(position: int) -> str:
    """The sort key and id of the log at `position` (0-based) in the page query's order."""
    return f"{{ whatsAppLogs({FILTER}, skip: {position}, limit: 1) {{ id createdAt }} }}"


def floor_sql(columns: list[str], limit: int, marks: tuple[str, str] = ("?", "?")) -> str:
    """The page query as plain SQL, for the floor; `marks`: the driver's placeholders (project, status)."""
    return (
        f"SELECT {', '.join(columns)} FROM whatsapp_log "
        f"WHERE project_id = {marks[0]} AND deleted_at IS NULL AND status = {marks[1]} "
        f"ORDER BY created_at DESC, id DESC LIMIT {limit}"
    )
