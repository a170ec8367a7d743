"""The reference's REST endpoints (`/api/whatsapp-log/...`) over the queries, filters and keys GraphQL uses.

Every answer is JSON; errors are `{"message": ...}` with the platform's statuses.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from graphql_api.data import queries
from graphql_api.data.auth import Principal, request_credential
from graphql_api.data.fields import FIELDS
from graphql_api.data.kinds import utc
from graphql_api.data.services import Services
from graphql_api.data.storable import LONE_SURROGATE, has_lone_surrogate
from graphql_api.errors import UNEXPECTED_MESSAGE, ApiError, BadUserInput
from graphql_api.http.rest_params import (
    RESOURCE,
    WIRE_RELATIONS,
    Select,
    parse_page,
    parse_query,
    parse_select,
    parse_sort,
    relation_columns,
)
from graphql_api.http.time_limit import within_time_limit

logger = logging.getLogger("graphql_api.rest")

PREFIX = "/api/whatsapp-log"
# No id in the message: a missing log and another project's log get byte-for-byte the same answer.
NOT_FOUND_MESSAGE = f"{RESOURCE} not found."
ANY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
READ_METHODS = ("GET", "POST")

Handler = Callable[[Request, Services, Principal, dict[str, Any]], Awaitable[Response | dict[str, Any]]]


def message(
    text: str, status: int, headers: dict[str, str] | None = None, *, hint: str | None = None
) -> JSONResponse:
    body = {"message": text, "hint": hint} if hint else {"message": text}
    return JSONResponse(body, status_code=status, headers=headers)


class PayloadTooLarge(ApiError):
    code = "BAD_USER_INPUT"
    http_status = 413


async def read_body(request: Request, max_bytes: int) -> dict[str, Any]:
    """The JSON object in the body; no body (or `null`) is an empty object."""
    declared = request.headers.get("content-length", "")
    too_large = PayloadTooLarge(f"The request body must be at most {max_bytes} bytes.")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > max_bytes:
            raise too_large
    if not raw.strip():
        return {}
    try:
        body = json.loads(bytes(raw))
    except (ValueError, RecursionError) as exc:
        raise BadUserInput(f"Malformed JSON body: {_reason(exc)}.") from None
    if body is None:
        return {}
    if has_lone_surrogate(raw, body):
        raise BadUserInput(f"Malformed JSON body: strings {LONE_SURROGATE}.")
    if not isinstance(body, dict):
        raise BadUserInput("The request body must be a JSON object.")
    return body


def _reason(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return "not valid UTF-8 JSON"


def _plain(value: Any) -> Any:
    """A column value as the platform shows it: dates as ISO 8601 strings, ids as strings."""
    if isinstance(value, datetime):
        return utc(value).isoformat()
    return value


async def _load_relations(
    conn: AsyncConnection, select: Select, rows: Sequence[Row[Any]], project_id: str
) -> dict[str, dict[str, Row[Any]]]:
    """The selected relations of a page: one `IN` query per relation, limited to the key's project."""
    loaded: dict[str, dict[str, Row[Any]]] = {}
    for name in select.relations:
        relation = WIRE_RELATIONS[name]
        fk = relation.fk_column.key
        ids = {getattr(row, fk) for row in rows} - {None}
        loaded[name] = (
            await queries.load_related(conn, relation=relation, project_id=project_id, ids=ids) if ids else {}
        )
    return loaded


def render(row: Row[Any], select: Select, related: dict[str, dict[str, Row[Any]]]) -> dict[str, Any]:
    """One log in the reference's shape: the selected fields, then the selected relations."""
    item = {FIELDS[name].rest_name: _plain(getattr(row, FIELDS[name].column.key)) for name in select.fields}
    for name, columns in select.relations.items():
        relation = WIRE_RELATIONS[name]
        record = related[name].get(getattr(row, relation.fk_column.key))
        if record is None:
            item[name] = None
            continue
        attrs = relation_columns(relation)
        item[name] = {column: _plain(getattr(record, attrs[column])) for column in columns}
    return item


async def get_list(request: Request, services: Services, principal: Principal, body: dict[str, Any]) -> Any:
    select = parse_select(body.get("select"))
    where = parse_query(body.get("query"))
    order = parse_sort(body.get("sort"))
    skip, limit = parse_page(request.query_params, body)
    scope = queries.LogScope.of(principal.project_id, where, services.settings)
    async with services.database.reader() as conn:
        rows = await queries.list_logs(
            conn, scope=scope, order=order, skip=skip, limit=limit, fields=select.columns
        )
        total = await queries.count_logs(conn, scope=scope)
        related = await _load_relations(conn, select, rows, principal.project_id)
    return {
        "count": total,
        "limit": limit,
        "skip": skip,
        "data": [render(row, select, related) for row in rows],
    }


async def get_item(request: Request, services: Services, principal: Principal, body: dict[str, Any]) -> Any:
    select = parse_select(body.get("select"))
    async with services.database.reader() as conn:
        row = await queries.get_log(
            conn, project_id=principal.project_id, log_id=request.path_params["id"], fields=select.columns
        )
        if row is None:
            return message(NOT_FOUND_MESSAGE, 404)
        related = await _load_relations(conn, select, [row], principal.project_id)
    return render(row, select, related)


async def count(request: Request, services: Services, principal: Principal, body: dict[str, Any]) -> Any:
    scope = queries.LogScope.of(principal.project_id, parse_query(body.get("query")), services.settings)
    async with services.database.reader() as conn:
        total = await queries.count_logs(conn, scope=scope)
    return {"count": total}


def endpoint(
    handler: Handler, methods: Collection[str] = READ_METHODS
) -> Callable[[Request], Awaitable[Response]]:
    """A read endpoint: method check, key, body, then the handler; every failure as `{"message"}`."""

    async def run(request: Request) -> Response:
        if request.method not in methods:
            return message("Method not allowed.", 405, {"Allow": ", ".join(methods)})
        services: Services = request.app.state.services
        try:
            # The key first: without one, nothing about the request is worth answering.
            principal = await services.authorize(
                request_credential(request.headers, request.query_params, tokens=services.tokens is not None)
            )
            body = await read_body(request, services.settings.max_body_bytes)
            result = await within_time_limit(
                services.settings.request_timeout_seconds, handler(request, services, principal, body)
            )
        except ApiError as exc:
            return message(exc.message, exc.http_status, exc.headers or None, hint=exc.extensions.get("hint"))
        except Exception:
            request_id = getattr(request.state, "request_id", None)
            logger.exception("unexpected error in %s (request %s)", request.url.path, request_id)
            return message(UNEXPECTED_MESSAGE, 500)
        return result if isinstance(result, Response) else JSONResponse(result)

    return run


def refuse(action: str) -> Callable[[Request], Awaitable[Response]]:
    """Create, update and delete paths: the reference says this resource cannot be written via the API."""

    async def run(_: Request) -> Response:
        # An empty Allow header: no method may write here (RFC 9110, section 10.2.1).
        return message(f"This resource cannot be {action} via the API.", 405, {"Allow": ""})

    return run


async def not_found(_: Request) -> Response:
    return message("Not found.", 404)


def routes() -> list[BaseRoute]:
    """The REST routes, to be added to the application's routes."""
    return [
        Route(f"{PREFIX}/get-list", endpoint(get_list), methods=ANY_METHOD),
        Route(f"{PREFIX}/count", endpoint(count), methods=ANY_METHOD),
        Route(f"{PREFIX}/{{id}}/get-item", endpoint(get_item), methods=ANY_METHOD),
        Route(PREFIX, refuse("created"), methods=ANY_METHOD),
        Route(f"{PREFIX}/{{id}}/update-item", refuse("updated"), methods=ANY_METHOD),
        Route(f"{PREFIX}/{{id}}/delete-item", refuse("deleted"), methods=ANY_METHOD),
        Route(f"{PREFIX}/{{path:path}}", not_found, methods=ANY_METHOD),
    ]
