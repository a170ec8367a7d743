"""What `/graphql` accepts and how it answers, per the GraphQL-over-HTTP specification.

Requests: a POST body must be `application/json` in UTF-8. Forms, multipart and `text/plain` are
refused with 415: a browser sends those cross-site without a CORS preflight, so accepting them would
let any web page run queries with a visitor's cookies or network position (CSRF). GET runs queries only.

Responses: `application/json` unless the `Accept` header prefers `application/graphql-response+json`
(a wildcard means `application/json`, which every client understands). With `application/json` every
GraphQL result is HTTP 200, errors or not. With `application/graphql-response+json` a request that
never started executing (parse, validation or limit errors, variables that do not fit) has no `data`
and a 4xx status (400; 429 when rate limited); a result with `data`, even null, is 200; a time-out
before any data is 504. An `Accept` header that allows neither type gets 406.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from cross_web import HTTPException
from starlette.responses import JSONResponse

from graphql_api.data.storable import LONE_SURROGATE, has_lone_surrogate

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
_SUPPORTED = (GRAPHQL_RESPONSE, JSON)

# The status of a result that has no data, by the code of its first error.
_REQUEST_ERROR_STATUS = {"RATE_LIMITED": 429, "TIMEOUT": 504, "SERVICE_UNAVAILABLE": 503, "INTERNAL": 500}


class Refusal(Exception):
    """A request refused before GraphQL sees it: a status, a message and a code for the JSON body."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "BAD_USER_INPUT",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        body = {"errors": [{"message": self.message, "extensions": {"code": self.code}}]}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def parse_media_type(value: str) -> tuple[str, dict[str, str]]:
    """`type/subtype` in lower case and its parameters (names in lower case)."""
    kind, *raw_params = value.split(";")
    params: dict[str, str] = {}
    for raw in raw_params:
        name, _, param = raw.partition("=")
        params[name.strip().lower()] = param.strip().strip('"')
    return kind.strip().lower(), params


def check_content_type(method: str, content_type: str | None) -> None:
    """Refuse a POST whose body is not JSON in UTF-8 (415)."""
    if method != "POST":
        return
    kind, params = parse_media_type(content_type or "")
    if kind != JSON:
        raise Refusal(
            415,
            "POST bodies must be `application/json`; forms, multipart and text/plain are not accepted.",
        )
    if params.get("charset", "utf-8").lower() not in {"utf-8", "utf8"}:
        raise Refusal(415, "JSON bodies must be encoded in UTF-8.")


def response_type(accept: str | None) -> str:
    """The media type to answer with, from the `Accept` header (406 when neither is acceptable)."""
    if not accept or not accept.strip():
        return JSON
    ranges: list[tuple[str, float]] = []
    for item in accept.split(","):
        kind, params = parse_media_type(item)
        try:
            quality = float(params.get("q", "1"))
        except ValueError:
            quality = 0.0
        if kind and math.isfinite(quality):
            ranges.append((kind, quality))
    best: tuple[float, int, int] | None = None
    chosen = JSON
    for supported in _SUPPORTED:
        # The most specific range that matches decides the quality (RFC 9110, section 12.5.1).
        for specificity, pattern in ((2, supported), (1, supported.split("/")[0] + "/*"), (0, "*/*")):
            qualities = [q for kind, q in ranges if kind == pattern]
            if not qualities:
                continue
            # Named outright, the newer type wins a tie; through a wildcard, plain JSON does.
            preferred = supported == (GRAPHQL_RESPONSE if specificity == 2 else JSON)
            score = (max(qualities), specificity, int(preferred))
            if score[0] > 0 and (best is None or score > best):
                best, chosen = score, supported
            break
    if best is None:
        raise Refusal(406, f"This endpoint answers with `{JSON}` or `{GRAPHQL_RESPONSE}`.")
    return chosen


# Longer numbers fit no GraphQL scalar, and converting thousands of digits costs time.
MAX_NUMBER_DIGITS = 100


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number) or len(text) > MAX_NUMBER_DIGITS:
        raise ValueError("a number is too large")
    return number


def _integer(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise ValueError("a number is too large")
    return int(text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_json(data: str | bytes) -> Any:
    """A strict JSON body: UTF-8, no NaN or Infinity, numbers that fit, an object (or, for a batch, a
    non-empty array of objects). Anything else is a 400 with a reason, never an internal error."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise HTTPException(400, "The request is not valid UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite, parse_int=_integer)
    except json.JSONDecodeError as exc:
        raise HTTPException(
            400, f"Malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise HTTPException(400, "Malformed JSON: nested too deeply") from None
    except ValueError as exc:  # NaN, Infinity, 1e999, a number of thousands of digits
        raise HTTPException(400, f"Malformed JSON: {exc}") from None
    if has_lone_surrogate(text, value):
        raise HTTPException(400, f"Malformed JSON: strings {LONE_SURROGATE}")
    if isinstance(value, list):
        if not value or not all(isinstance(item, dict) for item in value):
            raise HTTPException(400, "A batch must be a non-empty JSON array of objects")
    elif not isinstance(value, dict):
        raise HTTPException(400, "The request must be a JSON object with a `query`")
    return value


def _codes(body: Mapping[str, Any]) -> list[str]:
    return [str((error.get("extensions") or {}).get("code")) for error in body.get("errors") or ()]


def is_request_error(body: Mapping[str, Any]) -> bool:
    """A result that never reached field execution: no data, and no error belongs to a field."""
    errors = body.get("errors") or ()
    return body.get("data") is None and bool(errors) and not any("path" in error for error in errors)


def shape(body: dict[str, Any], media_type: str) -> dict[str, Any]:
    """With `application/graphql-response+json`, a request error carries no `data` entry."""
    if media_type == GRAPHQL_RESPONSE and is_request_error(body):
        body.pop("data", None)
    return body


def status(bodies: Iterable[Mapping[str, Any]], media_type: str) -> tuple[int, dict[str, str]]:
    """The HTTP status (and headers) for the GraphQL results of one request."""
    bodies = list(bodies)
    headers: dict[str, str] = {}
    retry_after = [
        int((error.get("extensions") or {}).get("retryAfter") or 1)
        for body in bodies
        for error in body.get("errors") or ()
        if (error.get("extensions") or {}).get("code") == "RATE_LIMITED"
    ]
    if retry_after:
        return 429, {"Retry-After": str(max(retry_after))}
    if media_type != GRAPHQL_RESPONSE or len(bodies) != 1 or "data" in bodies[0]:
        return 200, headers
    codes = _codes(bodies[0])
    return _REQUEST_ERROR_STATUS.get(codes[0] if codes else "", 400), headers
