"""The floor with the server's checks: what they cost on their own, called directly.

bench/floor_app.py's floor (the same statement, the same bytes), plus on every request the server's own
check components as its fast lane calls them (graphql_api/http/fast_lane.py), but none of the lane's
machinery (finding a known body's compiled statements, the request's context, assembling the answer):

- the headers read as the lane reads them (`_scan`) and the body read;
- the key gate (MAX_REQUESTS_PER_KEY) and a request id;
- the key and its read permission, and the rate limit (`Services.authorize`, with its cache of keys);
- the caller's project checked against the statement's (tenant scoping);
- the work budget and the time limit, around the statement on the compiled path's own SQLite connection
  (its progress handler);
- the metrics and the request log line (`record_request`), logged as `serve` logs (JSON, batched).

So `python -m bench.checks_floor` shows how close to the floor the server could come if nothing but its
checks cost anything. SQLite only. Run as the floor runs: `python -m bench.checks_floor_app --port N
--workers 2` under the server's supervisor, FLOOR_SPEC naming the statements and DATABASE_URL the database
(for the keys).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

from bench.floor_app import SPEC_ENV, Floor, Spec, read_spec, uvicorn_options
from graphql_api.compiler.runner import LOOP_BUDGET_SECONDS, _SqliteConnection
from graphql_api.data import work_budget
from graphql_api.data.auth import Credential
from graphql_api.http import time_limit
from graphql_api.http.fast_lane import _read, _scan
from graphql_api.http.logs import logging_config
from graphql_api.http.observability import record_request
from graphql_api.http.request_ids import request_id_for
from graphql_api.request_record import close_record, open_record

_REFUSED = b'{"errors":[{"message":"refused"}]}'


class CheckedFloor(Floor):
    """The floor (its pages, its check of the bytes at startup, its lifespan and health answer), each POST
    answered through the server's checks."""

    def __init__(self, spec: Spec) -> None:
        super().__init__(spec)
        self._stack = AsyncExitStack()
        self.services: Any = None

    async def start(self) -> None:
        from graphql_api.http.app import app_from_env

        await super().start()  # the floor's own check of the bytes
        app = app_from_env()  # the server's components, as a worker of `serve` builds them
        await self._stack.enter_async_context(app.router.lifespan_context(app))
        self.services = app.state.services
        self.metrics = app.state.metrics
        lane = getattr(app, "lane", None)  # the fast lane's own gate and route (http/app.py)
        assert lane is not None
        self.gate = lane.gate
        self.route = lane.route
        settings = self.services.settings
        self.work_seconds = settings.request_work_seconds
        self.timeout = settings.request_timeout_seconds
        self.connection = _SqliteConnection(self.spec.target)  # the compiled path's connection
        self._stack.callback(self.connection.db.close)

    async def stop(self) -> None:
        await super().stop()
        await self._stack.aclose()

    async def answer(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = _scan(scope["headers"])
        assert request is not None
        body = await _read(receive, request.length)
        if body is None:
            return
        page = self.pages.get(body, self.first)
        key = request.api_keys[-1] if request.api_keys else None
        release = await self.gate.enter(key)
        request_id = request_id_for(request.request_id.decode("latin-1"))
        scope.setdefault("state", {})["request_id"] = request_id
        record: dict[str, Any] = {}
        token = open_record(record)
        started = time.perf_counter()
        try:
            principal = await self.services.authorize(Credential(key.decode("latin-1")) if key else None)
            if principal.project_id not in page.params:  # tenant scoping: the statement is the caller's
                raise PermissionError(principal.project_id)
            with work_budget.budget(self.work_seconds):
                value = await time_limit.within_time_limit(self.timeout, self._fetch(page.sql, page.params))
            payload = page.prefix + value + page.suffix
            status = 200
        except Exception:  # noqa: BLE001 - the benchmark's key is valid: any refusal shows as an error
            payload, status = _REFUSED, 403
        finally:
            release()
            close_record(token)
        record["operation"] = "anonymous"
        headers = [
            (b"content-length", str(len(payload)).encode()),
            (b"content-type", b"application/json"),
            (b"x-request-id", request_id.encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        scope["route"] = self.route
        record_request(self.metrics, scope, record, status, time.perf_counter() - started)

    async def _fetch(self, sql: str, params: Sequence[Any]) -> bytes:
        value: bytes = self.connection.fetch(sql, params, LOOP_BUDGET_SECONDS)
        return value


def checked_from_env() -> CheckedFloor:
    """uvicorn's factory: the checked floor of the statements in FLOOR_SPEC."""
    return CheckedFloor(read_spec(os.environ[SPEC_ENV]))


def main(argv: Sequence[str] | None = None) -> int:
    from graphql_api.cli.supervisor import run_uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.checks_floor_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    options = uvicorn_options(args.host, args.port, args.workers)
    # Logged as `serve` logs: the request log line through the batching handler, at LOG_LEVEL.
    level = os.environ.get("LOG_LEVEL", "info")
    options.update(log_level=level, log_config=logging_config("json", level))
    run_uvicorn("bench.checks_floor_app:checked_from_env", options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
