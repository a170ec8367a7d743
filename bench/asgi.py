"""Calling the ASGI app in-process: no sockets, no client library, just the app's own work."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message


async def post_json(
    app: ASGIApp, path: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[int, Any]:
    """POST `body` as JSON to `path`; the status and the decoded response body."""
    status, answer = await post_raw(app, path, json.dumps(body).encode(), headers)
    return status, json.loads(answer)


async def post_raw(app: ASGIApp, path: str, payload: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST `payload` (JSON) to `path`; the status and the response's bytes."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)
