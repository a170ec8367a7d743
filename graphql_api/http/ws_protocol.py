"""uvicorn's WebSocket protocol (websockets, sans-I/O), holding less for each open connection."""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class LeanWebSocketsProtocol(WebSocketsSansIOProtocol):
    """uvicorn's protocol, which keeps the handshake's parsed request and response (their header
    objects, some 5 KB) for the connection's whole life though it never reads them again once the
    connection is accepted: dropped then. An idle subscription holds a connection for hours, and a
    server holds thousands of them."""

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and self.request is not None:
            self.request = self.response = None  # type: ignore[assignment]
