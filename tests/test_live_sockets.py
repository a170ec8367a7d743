"""Subscriptions over a real TCP socket against `graphql-api serve` (uvicorn, not the in-process test
client): a message is bounded in size before it is buffered, and a client that stops reading is
disconnected and its subscription freed, while the server stays responsive."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from graphql_api.settings import Settings
from tests.factories import Factory
from tests.live import serve

STREAM = "subscription($size: Int) { whatsAppLogStream(batchSize: $size) { cursor logs { id messageText } } }"
LIMIT = Settings().max_body_bytes


@contextmanager
def subscribed_socket(url: str, key: str, **options: Any) -> Iterator[ClientConnection]:
    """A graphql-transport-ws connection, acknowledged."""
    endpoint = url.replace("http://", "ws://") + "/graphql"
    protocols: Any = ["graphql-transport-ws"]
    with connect(endpoint, subprotocols=protocols, open_timeout=10, **options) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {"ApiKey": key}}))
        assert json.loads(ws.recv(10))["type"] == "connection_ack"
        yield ws


def subscribe(ws: ClientConnection, query: str, variables: dict[str, Any] | None = None) -> None:
    ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}))


def answer(ws: ClientConnection) -> dict[str, Any]:
    """The next message other than a ping."""
    while True:
        message: dict[str, Any] = json.loads(ws.recv(10))
        if message["type"] != "ping":
            return message


def padded(size: int) -> str:
    """STREAM, with a comment that makes the whole subscribe message `size` bytes."""
    head = STREAM + "\n#"
    empty = json.dumps({"id": "1", "type": "subscribe", "payload": {"query": head, "variables": None}})
    return head + "x" * (size - len(empty.encode()))


def test_a_message_is_bounded_by_max_body_bytes_before_it_is_buffered(
    database_url: str, factory: Factory
) -> None:
    key = factory.api_key(factory.project("Live"))
    with serve(database_url) as url:
        with subscribed_socket(url, key) as ws:
            subscribe(ws, padded(LIMIT))  # at the limit: served
            message = answer(ws)
            assert message["type"] == "next", message

        with subscribed_socket(url, key) as ws:
            subscribe(ws, padded(LIMIT + 1))
            with pytest.raises(ConnectionClosed) as closed:
                answer(ws)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009  # Message Too Big
            # Refused by uvicorn from the frame's header, before reading it (the app sees whole messages).
            reason = closed.value.rcvd.reason  # the websockets library's words, not the app's
            assert reason.startswith("frame") and reason.endswith(f"exceeds limit of {LIMIT} bytes"), reason


def _small_receive_buffer(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: the window stays small
    sock.connect((host, int(port)))
    return sock


SLOW_CLIENT_LIMITS: dict[str, Any] = {
    "WORKERS": "1",
    "SUBSCRIPTION_SEND_TIMEOUT_SECONDS": "1",
    "MAX_SUBSCRIPTIONS_PER_KEY": "1",
}


def flood(factory: Factory, project: str) -> None:
    """~12 MB of batches: far more than the kernel's buffers on both sides hold."""
    for _ in range(3):
        factory.logs(project, 500, message_text="x" * 8000)


def wait_until_freed(url: str, key: str) -> None:
    """While a slow client holds its subscription, the key's only one, a new one is refused; once the
    server has given up on it, a new one is admitted. The server answers /healthz at once meanwhile."""
    started = time.monotonic()
    while True:
        with subscribed_socket(url, key) as ws:
            subscribe(ws, STREAM)
            message = answer(ws)
        errors = message["payload"].get("errors")
        if not errors:
            break
        assert errors[0]["extensions"]["code"] == "RATE_LIMITED", message
        assert time.monotonic() - started < 20, "the slow client was never disconnected"
        time.sleep(0.2)
    with urllib.request.urlopen(f"{url}/healthz", timeout=2) as health:
        assert health.status == 200


@dataclass
class Served:
    url: str
    project: str
    key: str


@pytest.fixture
def served(database_url: str, factory: Factory) -> Iterator[Served]:
    """A server with SLOW_CLIENT_LIMITS, and a project's key."""
    project = factory.project("Live")
    with serve(database_url, **SLOW_CLIENT_LIMITS) as url:
        yield Served(url, project, factory.api_key(project))


def test_a_websocket_client_that_stops_reading_is_disconnected_and_its_subscription_freed(
    served: Served, factory: Factory
) -> None:
    url, project, key = served.url, served.project, served.key
    # max_queue=1: the client's library stops reading from the socket once a message waits unread;
    # no compression: the repeated text would shrink to nothing.
    slow_socket = _small_receive_buffer(url)
    with subscribed_socket(url, key, sock=slow_socket, max_queue=1, compression=None) as slow:
        subscribe(slow, STREAM, {"size": 100})
        assert answer(slow)["type"] == "next"
        flood(factory, project)
        wait_until_freed(url, key)
        with pytest.raises(ConnectionClosed):  # not a live socket without its subscription
            while True:
                slow.recv(10)


def test_an_event_stream_client_that_stops_reading_is_cut_off_and_its_subscription_freed(
    served: Served, factory: Factory
) -> None:
    url, project, key = served.url, served.project, served.key
    slow = _small_receive_buffer(url)
    slow.settimeout(10)
    body = json.dumps({"query": STREAM, "variables": {"size": 100}}).encode()
    head = (
        f"POST /graphql/stream HTTP/1.1\r\nHost: {url.removeprefix('http://')}\r\n"
        f"ApiKey: {key}\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    slow.sendall(head.encode() + body)
    assert slow.recv(4096).startswith(b"HTTP/1.1 200")
    flood(factory, project)
    wait_until_freed(url, key)
    while slow.recv(65536):  # what was sent before the server gave up, then the end
        pass
    slow.close()


@pytest.mark.parametrize(("setting", "compressed"), [({}, False), ({"WS_PER_MESSAGE_DEFLATE": "true"}, True)])
def test_websocket_compression_is_off_unless_configured(
    database_url: str, factory: Factory, setting: dict[str, Any], compressed: bool
) -> None:
    key = factory.api_key(factory.project("Live"))
    with serve(database_url, **setting) as url, subscribed_socket(url, key) as ws:  # the client offers it
        assert ws.response is not None
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
        assert ("permessage-deflate" in extensions) is compressed
