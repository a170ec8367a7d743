"""GraphQL over Server-Sent Events at `POST /graphql/stream`, for clients that cannot open a WebSocket: the
graphql-sse protocol's distinct connections mode (one subscription per request, `ApiKey` header).

The request is a JSON POST like one to /graphql, with `Accept: text/event-stream`; the answer is an
event stream of `event: next` (a GraphQL result) and a last `event: complete`, with a `: ping` comment
every SUBSCRIPTION_HEARTBEAT_SECONDS. Refusals that come before anything runs (validation, limits, a
missing key) are a `next` with the errors, then `complete`. Subscriptions only.

A client that does not read is disconnected: each event goes out as the previous one left, and one the
connection has not taken within SUBSCRIPTION_SEND_TIMEOUT_SECONDS ends the response.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from functools import cached_property
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from strawberry.http.streaming import HTTPStreamTransport, SSETransport
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL
from strawberry.types.graphql import OperationType

from graphql_api.http import negotiation
from graphql_api.http.graphql_view import GraphQLView, error_body
from graphql_api.request_record import note

logger = logging.getLogger("graphql_api.sse")

EVENT_STREAM = "text/event-stream"


class _SubscriptionEvents(SSETransport):
    def allowed_operation_types(self, allowed_operation_types: set[OperationType]) -> Iterable[OperationType]:
        return (OperationType.SUBSCRIPTION,)


class GraphQLStreamView(GraphQLView):
    """The schema's view, answering POST /graphql/stream with an event stream."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, subscription_protocols=(GRAPHQL_SSE_PROTOCOL,), **kwargs)
        # Queries take /graphql, with its fast path.
        self.compiled = None

    @cached_property
    def _stream_transport_map(self) -> dict[str, HTTPStreamTransport]:
        heartbeat = self.services.settings.subscription_heartbeat_seconds
        transport = _SubscriptionEvents(heartbeat_interval=heartbeat)
        return {transport.protocol: transport}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        refusal = _refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        try:
            negotiation.check_content_type("POST", request.headers.get("content-type"))
        except negotiation.Refusal as error:
            note(outcome=error.code)
            await error.response()(scope, receive, send)
            return
        try:
            response = await self.run(request)
        except negotiation.Refusal as error:  # a document the persisted documents refuse
            note(outcome=error.code)
            await error.response()(scope, receive, send)
            return
        seconds = self.services.settings.subscription_send_timeout_seconds
        try:
            await response(scope, receive, _within(seconds, send))
        except TimeoutError:
            # Cut off. The response ends unfinished: uvicorn closes the connection (and says so).
            logger.warning("ended an event stream whose client read nothing for %ss", seconds)
        finally:
            # The subscription ends now, not whenever its generator is collected: it holds a slot.
            body = getattr(response, "body_iterator", None)
            if body is not None:
                await body.aclose()


def _refusal(request: Request) -> Response | None:
    if request.method != "POST":
        note(outcome="BAD_USER_INPUT")
        body = error_body("POST a subscription here, with Accept: text/event-stream.", "BAD_USER_INPUT")
        return JSONResponse(body, status_code=405, headers={"Allow": "POST"})
    accept = request.headers.get("accept", "")
    if not any(part.split(";", 1)[0].strip().lower() == EVENT_STREAM for part in accept.split(",")):
        note(outcome="BAD_USER_INPUT")
        body = error_body(
            f"This endpoint answers {EVENT_STREAM} only: send Accept: {EVENT_STREAM}.", "BAD_USER_INPUT"
        )
        return JSONResponse(body, status_code=406)
    return None


def _within(seconds: float, send: Send) -> Send:
    """`send`, each message within `seconds` (a client that stopped reading is cut off)."""

    async def send_within(message: Message) -> None:
        async with asyncio.timeout(seconds):
            await send(message)

    return send_within
