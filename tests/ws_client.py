"""A small graphql-transport-ws client over Starlette's TestClient, with timeouts on every wait."""

from __future__ import annotations

import json
from collections import defaultdict
from contextlib import contextmanager, suppress
from typing import Any

import anyio
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

PROTOCOL = "graphql-transport-ws"


class Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code, self.reason = code, reason


class Socket:
    """One connection: `subscribe`, then `next_data`/`until`/`error` for an operation's messages."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.messages: dict[str | None, list[dict[str, Any]]] = defaultdict(list)

    def _receive(self, seconds: float) -> dict[str, Any]:
        session = self.session

        async def receive() -> Any:
            with anyio.fail_after(seconds):
                # TestClient's own receive waits forever; its stream is the same.
                return await session._send_rx.receive()  # noqa: SLF001

        try:
            message = session.portal.call(receive)
        except TimeoutError:
            raise TimeoutError(f"no message in {seconds}s") from None
        if message["type"] == "websocket.close":
            raise Closed(message.get("code", 1000), message.get("reason", ""))
        body: dict[str, Any] = json.loads(message["text"])
        return body

    def send(self, message: dict[str, Any]) -> None:
        self.session.send_json(message)

    def init(self, payload: dict[str, Any] | None) -> dict[str, Any]:
        self.send({"type": "connection_init", **({"payload": payload} if payload is not None else {})})
        return self._receive(5)

    def subscribe(self, op: str, query: str, variables: dict[str, Any] | None = None) -> None:
        self.send({"id": op, "type": "subscribe", "payload": {"query": query, "variables": variables}})

    def complete(self, op: str) -> None:
        self.send({"id": op, "type": "complete"})

    def message(self, op: str, seconds: float = 10) -> dict[str, Any]:
        """The operation's next message (`next`, `error` or `complete`), others kept for later."""
        if self.messages[op]:
            return self.messages[op].pop(0)
        while True:
            message = self._receive(seconds)
            if message.get("id") == op:
                return message
            if message["type"] == "ping":
                self.send({"type": "pong"})
            self.messages[message.get("id")].append(message)

    def next_data(self, op: str, seconds: float = 10) -> dict[str, Any]:
        """The `data` of the operation's next `next` message, which must have no errors."""
        message = self.message(op, seconds)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message["payload"]
        data: dict[str, Any] = message["payload"]["data"]
        return data

    def logs(self, op: str, count: int, seconds: float = 10) -> tuple[list[dict[str, Any]], str]:
        """The logs of the operation's next messages until `count` came, and the last cursor."""
        logs: list[dict[str, Any]] = []
        cursor = ""
        while len(logs) < count:
            batch = self.next_data(op, seconds)["whatsAppLogStream"]
            logs += batch["logs"]
            cursor = batch["cursor"]
        return logs, cursor

    def until_quiet(self, seconds: float) -> list[dict[str, Any]]:
        """Every operation's messages, those kept first, until none comes for `seconds` (pings are
        answered, not returned)."""
        messages = [m for op, kept in self.messages.items() if op is not None for m in kept]
        self.messages.clear()
        while True:
            try:
                message = self._receive(seconds)
            except TimeoutError:
                return messages
            if message["type"] == "ping":
                self.send({"type": "pong"})
            else:
                messages.append(message)

    def nothing(self, op: str, seconds: float) -> None:
        """No message for the operation within `seconds` (pings are answered)."""
        try:
            message = self.message(op, seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {message}")


@contextmanager
def connect(client: TestClient, key: str | None, *, init: bool = True) -> Any:
    """A socket at /graphql, `connection_init` sent with `{"ApiKey": key}` and acknowledged."""
    with client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as session:
        socket = Socket(session)
        if init:
            ack = socket.init({"ApiKey": key} if key is not None else {})
            assert ack == {"type": "connection_ack"}, ack
        with suppress(WebSocketDisconnect):
            yield socket
