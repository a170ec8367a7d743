"""An ASGI wrapper that refuses request bodies over a size with 413 and a JSON `errors` body.

A declared `Content-Length` over the limit is refused before reading anything; a body without one
(chunked transfer encoding) is counted as it streams in and refused as soon as it passes the limit, so
the server never holds more than the limit in memory. A body within the limit is handed on whole.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql_api.http.negotiation import Refusal


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body read already, whole, then what `receive` gives."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as a server does

    return replay


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.max_bytes <= 0:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        await self.app(scope, replaying(b"".join(chunks), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The rest of the body is not read, so the connection cannot carry another request.
        refusal = Refusal(
            413, f"The request body must be at most {self.max_bytes} bytes.", headers={"Connection": "close"}
        )
        await refusal.response()(scope, receive, send)
