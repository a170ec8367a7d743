"""graphql-transport-ws at `/graphql` (WebSocket): Strawberry's protocol handler, bounded.

- A message from the client is at most MAX_BODY_BYTES, like a POST body (uvicorn would take 16 MiB),
  and strict JSON; anything else closes the connection (1009, or 4400 as the protocol says).
- The server sends a `ping` every SUBSCRIPTION_HEARTBEAT_SECONDS (clients answer `pong`), which keeps
  proxies from closing an idle connection and finds clients that are gone.
- A client that does not read is disconnected, never buffered for: a message is handed to the socket
  as the previous one left (the server holds one message per subscription at most), and a message the
  socket has not taken within SUBSCRIPTION_SEND_TIMEOUT_SECONDS closes the connection (1013): the
  connection's operations end and it stops waiting for the client's messages, so that a client that
  reads again finds the connection closed (and subscribes again) rather than silently without its
  subscriptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived, WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)
from strawberry.types.graphql import OperationType

from graphql_api.compiler import RawJSON, compiled_response
from graphql_api.errors import ApiError, RateLimited
from graphql_api.http.persisted_documents import PersistedDocuments
from graphql_api.schema.context import Context
from graphql_api.settings import Settings

logger = logging.getLogger("graphql_api.ws")

TOO_BIG = 1009
TRY_AGAIN_LATER = 1013


def _settings(view: Any) -> Settings:
    settings: Settings = view.services.settings
    return settings


class WebSocketAdapter(ASGIWebSocketAdapter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._given_up = False  # the client stopped reading: the connection ends
        self._receiving: asyncio.Task[Any] | None = None  # the task waiting for the client's message

    async def _receive_text(self) -> str | None:
        """The client's next message, or None once the server has given up on the client.

        Giving up cancels this wait (`_give_up`), as asyncio.timeout would: no task or future waits
        beside every idle connection for a signal that almost never comes."""
        if self._given_up:
            return None
        task = asyncio.current_task()
        self._receiving = task
        try:
            # A turn for everything else first: messages already queued would come without the loop
            # running in between, and a socket sending hundreds of subscribes held every other request.
            await asyncio.sleep(0)
            return await self.ws.receive_text()
        except asyncio.CancelledError:
            if self._given_up and task is not None and task.uncancel() == 0:
                return None
            raise
        finally:
            self._receiving = None

    def _give_up(self) -> None:
        if not self._given_up:
            self._given_up = True
            if self._receiving is not None:
                self._receiving.cancel()

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object, None]:
        limit = _settings(self.view).max_body_bytes
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self._receive_text()
                if text is None:
                    return
                if len(text) > limit:
                    await self.close(TOO_BIG, f"A message may be at most {limit} bytes.")
                    return
                try:
                    yield json.loads(text)
                except ValueError as exc:  # JSONDecodeError, or a number too long to convert
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from exc
        except KeyError as exc:  # a binary frame
            raise NonTextMessageReceived from exc
        except WebSocketDisconnect:
            pass

    async def send_json(self, message: Mapping[str, object]) -> None:
        payload = message.get("payload")
        if isinstance(payload, dict) and isinstance(payload.get("data"), RawJSON):
            # A query over the socket, answered by the compiled path: its JSON is spliced in, as over HTTP.
            head = orjson.dumps({key: value for key, value in message.items() if key != "payload"})
            encoded: str | bytes = head[:-1] + b',"payload":' + compiled_response(payload) + b"}"
        else:
            encoded = self.view.encode_json(message)
        text = encoded.decode() if isinstance(encoded, bytes) else encoded  # text frames, as clients expect
        watch: SendWatch = self.view.send_watch  # type: ignore[attr-defined]
        task = asyncio.current_task()
        assert task is not None
        watch.started(task)
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc
        except asyncio.CancelledError:
            if not (watch.too_slow(task) and task.uncancel() == 0):
                raise
            logger.warning("closing a WebSocket whose client read nothing for %ss", watch.seconds)
            self._give_up()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1):
                    await self.close(TRY_AGAIN_LATER, "The client did not read its messages.")
            raise WebSocketDisconnected from None
        finally:
            watch.done(task)


class SendWatch:
    """Sends that wait on a client that does not read end after SUBSCRIPTION_SEND_TIMEOUT_SECONDS: one
    watcher per server process looks at the sends in progress every quarter of that (at most every
    second) and cancels those past it, where asyncio.timeout around every message cost a busy worker
    3-4% of its time (a timer in the loop's heap per message) for the rare client that stops reading."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._sending: dict[asyncio.Task[Any], float] = {}  # since when
        self._slow: set[asyncio.Task[Any]] = set()
        self._watcher: asyncio.Task[None] | None = None

    def started(self, task: asyncio.Task[Any]) -> None:
        loop = asyncio.get_running_loop()
        self._sending[task] = loop.time()
        watcher = self._watcher
        if watcher is None or watcher.done() or watcher.get_loop() is not loop:
            self._watcher = loop.create_task(self._watch(), name="websocket-send-watch")

    def done(self, task: asyncio.Task[Any]) -> None:
        self._sending.pop(task, None)
        self._slow.discard(task)

    def too_slow(self, task: asyncio.Task[Any]) -> bool:
        return task in self._slow

    async def _watch(self) -> None:
        period = min(self.seconds / 4, 1.0)
        loop = asyncio.get_running_loop()
        while self._sending:
            await asyncio.sleep(period)
            now = loop.time()
            for task, since in list(self._sending.items()):
                if now - since >= self.seconds and task not in self._slow:
                    self._slow.add(task)
                    task.cancel()


class _SubscriptionsOnly:
    """The schema as the socket sees it: subscriptions only. Queries go to POST /graphql, where the
    per-key gate, the rate limit and the fast path apply to each one."""

    def __init__(self, schema: Any) -> None:
        self._schema = schema

    def __getattr__(self, name: str) -> Any:
        return getattr(self._schema, name)

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        return await self._schema.stream(
            *args, **kwargs, allowed_operation_types={OperationType.SUBSCRIPTION}
        )


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Strawberry's graphql-transport-ws handler, for subscriptions only, with a heartbeat."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = _SubscriptionsOnly(self.schema)  # type: ignore[assignment]

    async def handle(self) -> None:
        loop = asyncio.get_running_loop()
        interval = _settings(self.view).subscription_heartbeat_seconds
        # A timer between pings, and a task only while a ping is sent: no task waits beside every idle
        # connection (a task and its frame are over a kilobyte, and there are thousands of connections).
        self._pinging: asyncio.Task[None] | None = None
        self._ping_timer = loop.call_later(interval, self._ping_due, loop, interval)
        try:
            await super().handle()
        finally:
            self._ping_timer.cancel()
            if self._pinging is not None:
                self._pinging.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._pinging

    def _ping_due(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self._pinging = loop.create_task(self._ping(loop, interval))

    async def _ping(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        if self.connection_acknowledged:
            ping: Any = {"type": "ping"}
            try:
                await self.send_message(ping)
            except Exception:  # noqa: BLE001 - the connection is gone or given up: no more pings
                return
        self._pinging = None
        self._ping_timer = loop.call_later(interval, self._ping_due, loop, interval)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        # Strawberry cancels the init timeout's task and keeps it: a finished task holding its
        # CancelledError, whose traceback holds two frames, for the connection's whole life.
        self.connection_init_timeout_task = None

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """Strawberry's handler, whose refusal past max_subscriptions_per_connection has no code: here
        it is RATE_LIMITED, as past the per-key and per-process limits."""
        limit = self.max_subscriptions_per_connection
        if (
            limit is not None
            and self.connection_acknowledged
            and message["id"] not in self.operations
            and len(self.operations) >= limit
        ):
            error = GraphQLError(
                f"This connection has {limit} operations open, the most allowed; complete one before "
                "starting another.",
                extensions={"code": RateLimited.code},
            )
            refusal: Any = {"id": message["id"], "type": "error", "payload": [error.formatted]}
            await self.send_message(refusal)
            return
        if self.connection_acknowledged and not await self._resolve_document(message):
            return
        await super().handle_subscribe(message)

    async def _resolve_document(self, message: SubscribeMessage) -> bool:
        """The subscription's document, named by a persisted id or hash or checked against the trusted
        manifest (http/persisted_documents.py); False once refused with an `error` message."""
        payload: Any = message.get("payload")
        if not isinstance(payload, dict):
            return True  # Strawberry refuses it
        try:
            documents: PersistedDocuments = self.view.documents  # type: ignore[attr-defined]
            resolved = documents.resolve(
                payload.get("query"), payload.get("extensions"), payload.get("documentId")
            )
        except ApiError as refused:
            error = GraphQLError(refused.message, extensions={"code": refused.code})
            answer: Any = {"id": message["id"], "type": "error", "payload": [error.formatted]}
            await self.send_message(answer)
            return False
        if resolved.query is not None:
            payload["query"] = resolved.query
            payload["extensions"] = resolved.extensions
        return True

    async def send_message(self, message: Message) -> None:
        try:
            await super().send_message(message)
        except WebSocketDisconnected:
            # Every operation of the connection ends with it; Strawberry's own loop sees the socket close.
            for operation_id in list(self.operations):
                await self.cleanup_operation(operation_id)
            raise
