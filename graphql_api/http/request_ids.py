"""Request ids: every HTTP answer carries `X-Request-Id`, the client's when it sent a sane one, else a
new one; the same id goes to the request's log line and to errors' `extensions`."""

from __future__ import annotations

import itertools
import os
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class _NewIds:
    """New request ids: this process's random prefix and a count, 32 hex digits as a UUID's (unique
    across processes and restarts, without the system call per request that uuid4 makes)."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        self.prefix = uuid.uuid4().hex[:16]
        self.count = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}{next(self.count):016x}"


_new_ids = _NewIds()
os.register_at_fork(after_in_child=_new_ids.restart)  # a forked worker does not repeat its parent's ids


def request_id_for(sent: str) -> str:
    """The request's id: the client's `X-Request-Id` when it is a sane one, else a new one."""
    return sent if sent and _REQUEST_ID.match(sent) else _new_ids.next()


class RequestIdMiddleware:
    """Every response carries `X-Request-Id`: the client's, when it sent a sane one, else a new one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1"))
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)
