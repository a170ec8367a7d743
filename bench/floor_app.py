"""The floor: a bare ASGI app that answers the benchmark's page with the server's own SQL statement.

No GraphQL, no key check, no middleware, no metrics, no logs: a POST to /graphql sends the one
statement the compiled path runs for that page (the parameters bound once, as the server binds them)
and writes the bytes the database returns, wrapped as the server wraps them. Whatever the server does
on top of that is what `python -m bench --floor` measures (bench/floor.py builds the statements and
checks that both answer the same bytes).

Run as the server runs: `python -m bench.floor_app --port N --workers 2` under uvicorn with uvloop and
httptools, no access log, no `Server` header, each worker on a listening socket of its own (the server's
supervisor, graphql_api/cli/supervisor.py); FLOOR_SPEC names the file of statements (a pickle of
`Spec`, written by bench/floor.py). SQLite: one `sqlite3` connection per worker, on the event loop's
thread. PostgreSQL: an asyncpg pool per worker, with the server's session settings.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

SPEC_ENV = "FLOOR_SPEC"
HEADERS = [(b"content-type", b"application/json")]


@dataclass(frozen=True)
class Page:
    """One page: the request body it answers, the statement, and the bytes around its value."""

    body: bytes  # the POST body that selects this page (any other body gets the first page)
    sql: str
    params: tuple[Any, ...]
    prefix: bytes  # `{"data":{"whatsAppLogs":`
    suffix: bytes  # `}}`
    answer: bytes  # the server's answer, for the self-check at startup


@dataclass(frozen=True)
class Spec:
    backend: str  # "sqlite" or "postgresql"
    target: str  # the SQLite file, or asyncpg's DSN
    pages: list[Page]
    # asyncpg's connect arguments (the server's session settings) and pool size.
    connect: dict[str, Any] = field(default_factory=dict)
    pool_size: int = 10


Fetch = Callable[[str, Sequence[Any]], Awaitable[bytes]]


def open_sqlite(path: str) -> sqlite3.Connection:
    """As the compiled path opens its own: autocommit, a statement cache, read-only."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, cached_statements=512)
    db.execute("PRAGMA query_only=ON")
    return db


async def _no_reset(_connection: Any) -> None:
    """The floor's connections never change their session: asyncpg's default reset would cost a round
    trip per request (RESET ALL, UNLISTEN ...), which the server's own connections do not pay."""


class Floor:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.pages = {page.body: page for page in spec.pages}
        self.first = spec.pages[0]
        self.fetch: Fetch | None = None
        self._close: Callable[[], Awaitable[None]] | None = None

    async def start(self) -> None:
        """Open the connections and check every page's bytes against the server's answer."""
        if self.spec.backend == "sqlite":
            db = open_sqlite(self.spec.target)

            async def fetch_sqlite(sql: str, params: Sequence[Any]) -> bytes:
                value: bytes = db.execute(sql, params).fetchone()[0]
                return value

            async def close_sqlite() -> None:
                db.close()

            self.fetch, self._close = fetch_sqlite, close_sqlite
        else:
            size = self.spec.pool_size
            pool = await asyncpg.create_pool(
                self.spec.target, min_size=size, max_size=size, reset=_no_reset, **self.spec.connect
            )

            async def fetch_asyncpg(sql: str, params: Sequence[Any]) -> bytes:
                value: bytes = await pool.fetchval(sql, *params)
                return value

            self.fetch, self._close = fetch_asyncpg, pool.close
        for page in self.spec.pages:
            got = page.prefix + await self.fetch(page.sql, page.params) + page.suffix
            if got != page.answer:
                raise RuntimeError(
                    f"the floor's answer differs from the server's: {difference(got, page.answer)}"
                )

    async def stop(self) -> None:
        if self._close is not None:
            await self._close()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] == "GET":  # /healthz, for the benchmark's wait for a started server
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            await send({"type": "http.response.body", "body": b'{"status":"ok"}'})
            return
        await self.answer(scope, receive, send)

    async def answer(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """A POST: the page its body selects."""
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        page = self.pages.get(body, self.first)
        assert self.fetch is not None
        payload = page.prefix + await self.fetch(page.sql, page.params) + page.suffix
        headers = [*HEADERS, (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:  # noqa: BLE001 - reported to uvicorn, which stops the worker
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def difference(got: bytes, wanted: bytes) -> str:
    """Where two answers part, for an error message."""
    at = next(
        (i for i, (a, b) in enumerate(zip(got, wanted, strict=False)) if a != b), min(len(got), len(wanted))
    )
    return (
        f"{len(got)} bytes against {len(wanted)}, first difference at byte {at}: "
        f"{got[max(at - 40, 0) : at + 40]!r} against {wanted[max(at - 40, 0) : at + 40]!r}"
    )


def read_spec(path: str | Path) -> Spec:
    spec: Spec = pickle.loads(Path(path).read_bytes())
    return spec


def from_env() -> Floor:
    """uvicorn's factory: the floor of the statements in FLOOR_SPEC."""
    return Floor(read_spec(os.environ[SPEC_ENV]))


def uvicorn_options(host: str, port: int, workers: int) -> dict[str, Any]:
    """`graphql-api serve`'s options (graphql_api/cli/serve.py) that bear on a request's cost."""
    return {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "loop": "uvloop",
        "http": "httptools",
        "log_level": "warning",
        "access_log": False,
        "server_header": False,
        # Startup fails when the self-check does (with "auto" uvicorn would serve anyway).
        "lifespan": "on",
    }


def main(argv: Sequence[str] | None = None) -> int:
    from graphql_api.cli.supervisor import run_uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.floor_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    # Under `graphql-api serve`'s supervisor: each worker on a listening socket of its own, as the server's.
    run_uvicorn("bench.floor_app:from_env", uvicorn_options(args.host, args.port, args.workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
