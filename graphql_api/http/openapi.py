"""`GET /api/openapi.json`: an OpenAPI 3.1 document of the REST endpoints (docs/rest.md#openapi).

Built from the same tables the endpoints read (fields.FIELDS, the relations, the operators each kind of
field takes, the sortable fields, the page bounds, the errors' statuses): a field added to the model is
in the document with no edit here.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from graphql_api.data.fields import FIELDS, SORTABLE, Field, Relation
from graphql_api.data.filters import MAX_PAGE_SIZE
from graphql_api.data.kinds import DATETIME, INT, Kind
from graphql_api.errors import FORBIDDEN_MESSAGE, INVALID_KEY_MESSAGE
from graphql_api.http.rest_params import (
    DEFAULT_LIMIT,
    NEEDS,
    RESOURCE,
    TAGS,
    WIRE_RELATIONS,
    relation_columns,
)
from graphql_api.settings import Settings

PATH = "/api/openapi.json"
# Every status an endpoint answers besides 200, and when.
_ERRORS = {
    "400": "A malformed body, an unknown field, operator or sort key, a wrong value type, a page out of "
    "bounds.",
    "401": f"No key or token, or a bad one: always `{INVALID_KEY_MESSAGE}` for keys (with a `hint` when "
    "the key was sent elsewhere than in the `ApiKey` header).",
    "413": "A body over MAX_BODY_BYTES.",
    "422": FORBIDDEN_MESSAGE,
    "429": "The key's rate (RATE_LIMIT_PER_SECOND) is used up: see `Retry-After`.",
    "503": "The database is unavailable: try again shortly.",
    "504": "The request took longer than REQUEST_TIMEOUT_SECONDS.",
}


def _schema(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _value(kind: Kind) -> dict[str, Any]:
    """A plain operand of a field of this kind, as JSON."""
    if kind is INT:
        return {"type": "integer"}
    if kind is DATETIME:
        return {"type": "string", "description": "ISO 8601; a date alone is midnight UTC, no offset is UTC"}
    return {"type": "string"}


def _column(f: Field) -> dict[str, Any]:
    schema = _value(f.kind) | {"description": f.description}
    if f.kind is DATETIME:
        schema["format"] = "date-time"
    if f.choices is not None:
        schema["enum"] = list(f.choices.values)
    if f.nullable:
        schema = {"anyOf": [schema, {"type": "null"}], "description": f.description}
    return schema


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    """An object of exactly these properties, all required."""
    return {"type": "object", "properties": properties, "required": list(properties)}


def _const(name: str) -> dict[str, Any]:
    return {"type": "string", "const": name}


def _operators(kind: Kind) -> dict[str, dict[str, Any]]:
    """Every `{"_type": ...}` object a field of this kind takes, by component name: tagged values
    (`DateTimeValue`), then the platform's operators (`DateTimeGreaterThan`, `StringSearch`, ...)."""
    value = _value(kind)
    forms = {
        f"{tag}Value": _object({"_type": _const(tag), "value": value})
        for tag, of in TAGS.items()
        if of is kind
    }
    for operator, needed in NEEDS.items():
        if needed not in kind.operators:
            continue
        properties: dict[str, Any] = {"_type": _const(operator)}
        if operator == "InBetween":
            properties |= {"startValue": value, "endValue": value}
        elif operator == "Includes":
            properties["value"] = {"type": "array", "items": value}
        elif operator not in ("IsNull", "NotNull"):
            properties["value"] = value
        forms[f"{kind.scalar}{operator}"] = _object(properties)
    return forms


def _condition(f: Field) -> dict[str, Any]:
    value = _value(f.kind)
    return {
        "description": f"Conditions on `{f.rest_name}`: a value (equality), a list (one of), null (is null) "
        "or an operator object.",
        "anyOf": [
            value,
            {"type": "null"},
            {"type": "array", "items": value},
            *map(_schema, _operators(f.kind)),
        ],
    }


def _record(relation: Relation) -> dict[str, Any]:
    columns = relation_columns(relation)
    properties: dict[str, Any] = {
        "_id": {"type": "string"},
        relation.label: {"type": ["string", "null"], "description": relation.label_description},
        "createdAt": {"type": "string", "format": "date-time"},
    }
    return {
        "type": "object",
        "description": relation.description,
        "properties": {name: properties[name] for name in columns},
        "required": ["_id"],
    }


def _schemas() -> dict[str, Any]:
    relations = {name: relation.type_name for name, relation in WIRE_RELATIONS.items()}
    log_properties: dict[str, Any] = {f.rest_name: _column(f) for f in FIELDS.values()}
    log_properties |= {
        name: {"anyOf": [_schema(type_name), {"type": "null"}]} for name, type_name in relations.items()
    }
    select: dict[str, Any] = {f.rest_name: {"type": "boolean"} for f in FIELDS.values()}
    for name, relation in WIRE_RELATIONS.items():
        columns = {
            "type": "object",
            "properties": {c: {"type": "boolean"} for c in relation_columns(relation)},
        }
        select[name] = {"anyOf": [{"type": "boolean"}, columns | {"additionalProperties": False}]}
    page = {
        "skip": {"type": ["integer", "null"], "minimum": 0, "description": "Logs to skip (default 0)."},
        "offset": {"type": ["integer", "null"], "minimum": 0, "description": "Another name for `skip`."},
        "limit": {
            "type": ["integer", "null"],
            "minimum": 1,
            "maximum": MAX_PAGE_SIZE,
            "description": f"Logs per page (default {DEFAULT_LIMIT}).",
        },
    }
    direction = _schema("SortDirection")
    count = {"type": "integer", "minimum": 0}
    return {
        "WhatsAppLog": {
            "type": "object",
            "description": f"A {RESOURCE}: the selected fields and relations, `_id` always.",
            "properties": log_properties,
            "required": ["_id"],
        },
        **{relation.type_name: _record(relation) for relation in WIRE_RELATIONS.values()},
        **{
            name: form
            for kind in {f.kind for f in FIELDS.values()}
            for name, form in _operators(kind).items()
        },
        "Select": {
            "type": "object",
            "description": "The fields and relations to return; `_id` only when absent or empty.",
            "properties": select,
            "additionalProperties": False,
        },
        "Query": {
            "type": "object",
            "description": "Conditions that must all hold.",
            "properties": {f.rest_name: _condition(f) for f in FIELDS.values()},
            "additionalProperties": False,
        },
        "SortDirection": {
            "description": "`ASC` or `DESC` (any case), or 1 or -1.",
            "anyOf": [{"type": "string", "enum": ["ASC", "DESC"]}, {"type": "integer", "enum": [1, -1]}],
        },
        "Sort": {
            "type": "object",
            "description": "Sort keys in priority order; default `createdAt` descending, the id breaks ties.",
            "properties": {FIELDS[name].rest_name: direction for name in SORTABLE},
            "additionalProperties": False,
        },
        "ListRequest": {
            "type": "object",
            "properties": {
                "select": _schema("Select"),
                "query": _schema("Query"),
                "sort": _schema("Sort"),
                **page,
            },
        },
        "ItemRequest": {"type": "object", "properties": {"select": _schema("Select")}},
        "CountRequest": {"type": "object", "properties": {"query": _schema("Query")}},
        "ListAnswer": {
            "type": "object",
            "properties": {
                "count": count,
                "limit": count,
                "skip": count,
                "data": {"type": "array", "items": _schema("WhatsAppLog")},
            },
            "required": ["count", "limit", "skip", "data"],
        },
        "CountAnswer": {"type": "object", "properties": {"count": count}, "required": ["count"]},
        "Error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "hint": {"type": "string", "description": "What to do instead, when there is a way."},
            },
            "required": ["message"],
        },
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(operation_id: str, summary: str, answer: str, body: str | None, extra: dict[str, str]) -> Any:
    responses = {"200": {"description": "OK", "content": _json(_schema(answer))}}
    responses |= {
        status: {"description": text, "content": _json(_schema("Error"))} for status, text in extra.items()
    }
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": False, "content": _json(_schema(body))}
    return operation


def _paths() -> dict[str, Any]:
    page = [
        {"name": name, "in": "query", "required": False, "schema": {"type": "integer", "minimum": minimum}}
        for name, minimum in (("skip", 0), ("offset", 0), ("limit", 1))
    ]
    found = {"404": f"No such log in the key's project: `{RESOURCE} not found.`"}
    log_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    endpoints = {
        "/api/whatsapp-log/get-list": (
            "WhatsAppLogs",
            "A page of logs",
            "ListAnswer",
            "ListRequest",
            {},
            page,
        ),
        "/api/whatsapp-log/{id}/get-item": (
            "WhatsAppLog",
            "One log",
            "WhatsAppLog",
            "ItemRequest",
            found,
            log_id,
        ),
        "/api/whatsapp-log/count": (
            "WhatsAppLogCount",
            "How many match",
            "CountAnswer",
            "CountRequest",
            {},
            [],
        ),
    }
    paths: dict[str, Any] = {}
    for path, (name, summary, answer, body, extra, parameters) in endpoints.items():
        errors = {**_ERRORS, **extra}
        paths[path] = {
            "parameters": parameters,
            "post": _operation(f"post{name}", summary, answer, body, errors),
            "get": _operation(
                f"get{name}", f"{summary} (defaults and query parameters)", answer, None, errors
            ),
        }
    return paths


def document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI document of the REST endpoints, for a server with these settings."""
    schemes: dict[str, Any] = {"ApiKey": {"type": "apiKey", "in": "header", "name": "ApiKey"}}
    security: list[dict[str, list[str]]] = [{"ApiKey": []}]
    if settings.jwks_url:
        schemes["BearerToken"] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        security.append({"BearerToken": []})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "WhatsApp Log API",
            "version": "1.0.0",
            "description": "Read-only REST endpoints over the WhatsApp message log (docs/rest.md). "
            "Writes are refused with 405. The same data is served as GraphQL at /graphql.",
        },
        "servers": [{"url": "/"}],
        "security": security,
        "paths": _paths(),
        "components": {"schemas": _schemas(), "securitySchemes": schemes},
    }


def route(settings: Settings) -> Route:
    """`GET /api/openapi.json`, built once; no key needed (it says nothing about anyone's data)."""
    body = orjson.dumps(document(settings))

    async def openapi(_: Request) -> Response:
        return Response(body, media_type="application/json")

    return Route(PATH, openapi, methods=["GET"])
