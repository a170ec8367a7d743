"""A repeated GraphQL POST answered at the app's edge, with every check and none of the layers.

A dashboard or a script sends the same few requests over and over. The first time, a request goes
through the whole app (middleware, routing, the view, Strawberry's pipeline) and is answered by the
compiled path; from then on the view answers it by its compiled statements directly (`execute_again`),
but still through every layer's objects: Starlette's request, router and response, and one wrapper of
`send` per middleware. For a page of 10 those layers cost more than the SQL statement itself.

So the view tells this lane (`LEARNED` in the request's state) which request bodies it answered that
way, and the lane, in front of everything, answers the same bytes itself when they come again:

- the same checks, in the same order: the key gate (MAX_REQUESTS_PER_KEY), the work budget, the key or
  token and its read permission, the rate limit (`Services.authorize`, once per request), the time limit,
  and the compiled path's own (statements per permissions, the caller's project bound at execution,
  nothing shared across keys or projects);
- the same answer: status, `content-type` from `Accept`, `content-length`, `x-request-id`, body;
- the same request id, metrics and request log line (observability.record_request).

Only a plain request takes the lane: a JSON POST to /graphql of at most MAX_BODY_BYTES with a
`content-length`, and no `Origin` (CORS) or tracing; its answer goes out through the app's compression
layer when the client accepts an encoding. Anything else, and
anything the lane cannot answer itself (an unknown body, a refused key, a statement too slow for the
loop), goes through the whole app as before, with the body it read; the answers that have errors (a
timeout, a lost database) are shaped by the view.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql_api.compiler import RawJSON, request_key
from graphql_api.data import work_budget
from graphql_api.data.auth import Credential, Principal, request_credential
from graphql_api.data.ratelimit import KeyGate
from graphql_api.errors import RateLimited
from graphql_api.http import negotiation, time_limit
from graphql_api.http.body_limit import replaying
from graphql_api.http.caching import Compression
from graphql_api.http.observability import Metrics, record_request
from graphql_api.http.request_ids import request_id_for
from graphql_api.request_record import close_record, note, open_record
from graphql_api.schema.context import CHECKED_AT_THE_EDGE
from graphql_api.schema.lru import LRU

if TYPE_CHECKING:
    from graphql_api.http.graphql_view import GraphQLView

logger = logging.getLogger("graphql_api.fast_lane")

# Bodies the lane learns and reads: a dashboard's request is a few hundred bytes.
MAX_BODY_BYTES = 8192
# How many bodies it remembers (at most this times MAX_BODY_BYTES of memory).
KNOWN_BODIES = 1024
# The key under which the view hands a body's parts to the lane (request.state).
LEARNED = "fast_lane_learned"
_JSON_TYPES = frozenset(
    {b"application/json", b"application/json; charset=utf-8", b"application/json;charset=utf-8"}
)
# Headers that some layer of the app answers (CORS) or that make a body not plain.
_NOT_PLAIN = frozenset({b"origin", b"transfer-encoding"})
# Where the lane leaves its answer for the compression layer to send (request.state).
_ANSWER = "fast_lane_answer"


@dataclass(frozen=True)
class Known:
    """A request body the view answered on the compiled path's fast path, decoded."""

    query: str
    operation_name: str | None
    variables: dict[str, Any] | None
    # What the compiled path's caches know it by, made once (the variables as sorted JSON).
    key: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", request_key(self.query, self.operation_name, self.variables))


class _Plain:
    """What the lane reads of a plain request's headers (`_scan`)."""

    __slots__ = ("length", "api_keys", "authorizations", "accept", "request_id", "encodings")

    def __init__(self) -> None:
        self.length = -1
        self.api_keys: list[bytes] = []
        self.authorizations: list[bytes] = []
        self.accept = b""
        self.request_id = b""
        self.encodings = False


def _scan(headers: list[tuple[bytes, bytes]]) -> _Plain | None:
    """The headers the lane needs, in one pass; None when the request is not plain."""
    request = _Plain()
    seen_accept = False
    for name, value in headers:
        if name == b"content-length":
            if request.length != -1 or not value.isdigit():
                return None
            request.length = int(value)
        elif name == b"content-type":
            if value.lower() not in _JSON_TYPES:
                return None
        elif name == b"apikey":
            request.api_keys.append(value)
        elif name == b"authorization":
            request.authorizations.append(value)
        elif name == b"accept":
            if not seen_accept:  # the first, as the view reads it
                request.accept, seen_accept = value, True
        elif name == b"x-request-id":
            request.request_id = value  # the last, as RequestIdMiddleware reads it
        elif name == b"accept-encoding":
            request.encodings = True
        elif name in _NOT_PLAIN:
            return None
    return request if request.length >= 0 else None


class _Context:
    """What the compiled path asks of a request's context: who is asking, checked once."""

    __slots__ = ("request", "loaders", "_services", "_scope", "_plain", "authorized")

    def __init__(self, services: Any, scope: Scope, plain: _Plain, request: Any) -> None:
        self._services = services
        self._scope = scope
        self._plain = plain
        self.authorized: Principal | None = None
        self.request = request  # for the time limit's log line: its `state.request_id`
        self.loaders = None

    def credential(self) -> Credential | None:
        plain, tokens = self._plain, self._services.tokens is not None
        if len(plain.api_keys) == 1 and not (tokens and plain.authorizations):
            return Credential(plain.api_keys[0].decode("latin-1"))
        # Anything else (no key, several, a token): as the app reads it, with its refusals and hints.
        headers = Headers(raw=self._scope["headers"])
        return request_credential(headers, QueryParams(self._scope.get("query_string", b"")), tokens=tokens)

    async def principal(self) -> Principal:
        if self.authorized is None:
            self.authorized = await self._services.authorize(self.credential())
        return self.authorized


class _Request:
    """Stands for `context.request` where the time limit's log line reads `request.state.request_id`."""

    __slots__ = ("request_id",)

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id

    @property
    def state(self) -> _Request:
        return self


class FastLane:
    def __init__(
        self,
        app: ASGIApp,
        *,
        view: GraphQLView,
        metrics: Metrics,
        gate: KeyGate,
        route: Any,
    ) -> None:
        self.app = app
        self.view = view
        self.metrics = metrics
        self.gate = gate
        self.route = route
        settings = view.services.settings
        self.max_body = min(MAX_BODY_BYTES, settings.max_body_bytes or MAX_BODY_BYTES)
        self.work_seconds = settings.request_work_seconds
        self.timeout = settings.request_timeout_seconds
        self.on = view.compiled is not None and not settings.tracing and not settings.cors_origins
        # Answers go out through the app's own compression layer when the client accepts an encoding.
        self.compression = (
            Compression(_send_answer, minimum_bytes=settings.compression_min_bytes)
            if settings.compression
            else None
        )
        self.known: LRU[bytes, Known] = LRU(KNOWN_BODIES)
        self._media_types: dict[bytes, str] = {}  # by Accept header, a few
        self.answered = 0  # requests this lane answered itself (tests, the benchmark)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            self.on and scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/graphql"
        ):
            await self.app(scope, receive, send)
            return
        request = _scan(scope["headers"])
        if request is None or request.length > self.max_body:
            await self.app(scope, receive, send)
            return
        body = await _read(receive, request.length)
        if body is None:  # the client went away
            return
        known = self.known.get(body)
        respond = self._compressed if request.encodings and self.compression is not None else _direct
        if known is None or not await self._answer(scope, known, request, respond, send):
            await self.app(scope, replaying(body, receive), send)
            learned = scope.get("state", {}).pop(LEARNED, None)
            if learned is not None:
                self.known.put(body, learned)

    async def _compressed(self, scope: Scope, start: Message, body: bytes, send: Send) -> None:
        assert self.compression is not None
        scope["state"][_ANSWER] = (start, body)
        await self.compression(scope, _never, send)

    async def _answer(
        self, scope: Scope, known: Known, request: _Plain, respond: _Respond, send: Send
    ) -> bool:
        """Answer `known` (True), or do nothing and leave it to the app (False)."""
        media_type = self._media_types.get(request.accept)
        if media_type is None:
            try:
                media_type = negotiation.response_type(request.accept.decode("latin-1"))
            except negotiation.Refusal:
                return False
            if len(self._media_types) < 64:
                self._media_types[request.accept] = media_type
        try:
            # The key gate's key, as RequestWorkMiddleware reads it (the last of each header).
            key = request.api_keys[-1] if request.api_keys else None
            release = await self.gate.enter(
                key or (request.authorizations[-1] if request.authorizations else None)
            )
        except RateLimited:
            return False  # the app's own gate refuses it, and says so
        request_id = request_id_for(request.request_id.decode("latin-1"))
        scope.setdefault("state", {})["request_id"] = request_id
        record: dict[str, Any] = {}
        token = open_record(record)
        started = time.perf_counter()
        status = 500
        answered = False
        try:
            context = _Context(self.view.services, scope, request, _Request(request_id))
            compiled = self.view.compiled
            assert compiled is not None
            with work_budget.budget(self.work_seconds):
                answer = await time_limit.execute_within(
                    self.timeout,
                    compiled.answer_again(
                        query=known.query,
                        operation_name=known.operation_name,
                        variables=known.variables,
                        context=context,
                        key=known.key,
                    ),
                    context=context,
                    operations=None,
                )
            if answer is None:
                # The app answers it (a statement too slow for the loop, say), with this caller as
                # checked here: one rate-limit token per request.
                if context.authorized is not None:
                    scope["state"][CHECKED_AT_THE_EDGE] = context.authorized
                return False
            if not isinstance(answer, RawJSON):  # errors: the database unavailable or too slow, a timeout
                response = await self.view.respond(Request(scope), answer, media_type)
                status = response.status_code
                response.headers.append("x-request-id", request_id)
                self.answered += 1
                answered = True
                start = {"type": "http.response.start", "status": status, "headers": response.raw_headers}
                await respond(scope, start, bytes(response.body), send)
                return True
            note(outcome="ok")
            self.answered += 1
            payload = answer.response()
            status = 200
            answered = True
            start = {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(payload)).encode()),
                    (b"content-type", media_type.encode()),
                    (b"x-request-id", request_id.encode()),
                ],
            }
            await respond(scope, start, payload, send)
            return True
        except Exception:
            if answered:
                raise
            logger.warning("the fast lane failed; the app answers instead", exc_info=True)
            return False
        finally:
            release()
            close_record(token)
            if answered:
                scope["route"] = self.route
                record_request(self.metrics, scope, record, status, time.perf_counter() - started)


async def _read(receive: Receive, length: int) -> bytes | None:
    """The request's body (its `content-length` is `length`); None when the client disconnected."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _never() -> Message:
    return {"type": "http.disconnect"}


_Respond = Callable[[Scope, Message, bytes, Send], Awaitable[None]]


async def _direct(_scope: Scope, start: Message, body: bytes, send: Send) -> None:
    await send(start)
    await send({"type": "http.response.body", "body": body})


async def _send_answer(scope: Scope, _receive: Receive, send: Send) -> None:
    """The app under the lane's compression layer: the answer the lane left in the request's state."""
    start, body = scope["state"].pop(_ANSWER)
    await _direct(scope, start, body, send)
