"""HTTP caching of GET answers (a strong ETag, `If-None-Match` answered 304) and compression of every
answer (gzip, Brotli, zstd by `Accept-Encoding`, through starlette-compress). docs/graphql.md#http-caching"""

from __future__ import annotations

import base64
import hashlib

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_compress import CompressMiddleware, add_compress_type, remove_compress_type

# Tenant data: a browser may keep an answer but must ask again (cheaply, with If-None-Match) before using
# it, and no shared cache (a CDN, a company proxy) may store it at all.
CACHE_CONTROL = "private, no-cache"
# Every request header an answer depends on: the credential, the negotiated type and encoding.
VARY = ("ApiKey", "Authorization", "Accept", "Accept-Encoding")
_CACHED_TYPES = ("application/json", "application/graphql-response+json")
_GZIP_MAGIC = b"\x1f\x8b\x08"

# GraphQL over HTTP's own type compresses as JSON does. An event stream is not compressed: each open
# stream would hold its compressor's state (~100-300 KB) for hours, for messages of a few hundred bytes.
add_compress_type("application/graphql-response+json")
remove_compress_type("text/event-stream")


class Compression:
    """zstd, then Brotli, then gzip, as `Accept-Encoding` allows, for answers of `minimum_bytes` or more.
    Level 1 of each: on a page of 100 (140 KB of JSON) zstd 1 takes 0.23 ms for 6.7x smaller, where the
    library's default level 4 takes 0.96 ms for less (6.4x); Brotli 1 0.69 ms (6.0x) against 1.2 ms
    (6.2x); gzip 1 0.82 ms (4.8x) against 1.45 ms (5.3x). bench/README.md#compression has what each costs
    the server. A request without `Accept-Encoding` (most API clients, the benchmark's load) goes straight
    to the app: the library's identity path would only add `Vary: Accept-Encoding`, which matters to
    caches, and HttpCaching adds it to every answer a cache may keep."""

    def __init__(self, app: ASGIApp, *, minimum_bytes: int) -> None:
        self.app = app
        self.compress = CompressMiddleware(
            app, minimum_size=minimum_bytes, zstd_level=1, brotli_quality=1, gzip_level=1
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, _ in scope["headers"]:
                if name == b"accept-encoding":
                    await self.compress(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class HttpCaching:
    """GET (and HEAD) answers with a JSON body get `Cache-Control: private, no-cache`, `Vary` naming the
    request headers they depend on, and, when 200, a strong `ETag`: a hash of the bytes that go out (after
    compression, so each encoding of an answer has its own tag, as a strong validator must). A request
    whose `If-None-Match` names it is answered 304 with no body. The answer is still computed: the saving
    is the bytes and the client's parsing, and nothing is kept between requests (nothing can leak across
    keys). Other methods and other bodies (event streams, pages, metrics) pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []
        passing = False

        async def buffered(message: Message) -> None:
            nonlocal start, passing
            if passing:
                await send(message)
            elif message["type"] == "http.response.start":
                if _json(message):
                    start = message
                else:
                    passing = True
                    await send(message)
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await _answer(scope, start, b"".join(chunks), send)
            else:
                await send(message)

        await self.app(scope, receive, buffered)


def _json(start: Message) -> bool:
    content_type = Headers(raw=start.get("headers", [])).get("content-type", "")
    return content_type.split(";", 1)[0].strip().lower() in _CACHED_TYPES


async def _answer(scope: Scope, start: Message, body: bytes, send: Send) -> None:
    headers = MutableHeaders(raw=list(start.get("headers", [])))
    headers["Cache-Control"] = CACHE_CONTROL
    _vary(headers)
    status = start["status"]
    if status == 200:
        if headers.get("content-encoding") == "gzip" and body.startswith(_GZIP_MAGIC):
            # gzip writes the time into its header: zero it ("no time", RFC 1952), so that the same answer
            # is the same bytes and keeps its tag.
            body = body[:4] + b"\0\0\0\0" + body[8:]
        etag = '"' + base64.urlsafe_b64encode(hashlib.blake2b(body, digest_size=18).digest()).decode() + '"'
        headers["ETag"] = etag
        if _matches(Headers(scope=scope).get("if-none-match"), etag):
            for name in ("content-length", "content-type", "content-encoding"):
                del headers[name]
            await send({"type": "http.response.start", "status": 304, "headers": headers.raw})
            await send({"type": "http.response.body", "body": b""})
            return
    await send({**start, "headers": headers.raw})
    await send({"type": "http.response.body", "body": body})


def _vary(headers: MutableHeaders) -> None:
    present = [value.strip() for value in headers.get("vary", "").split(",") if value.strip()]
    known = {value.lower() for value in present}
    headers["Vary"] = ", ".join(present + [name for name in VARY if name.lower() not in known])


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*`, or a list of tags compared weakly (a `W/` prefix ignored)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
