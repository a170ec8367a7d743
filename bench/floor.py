"""The server against its floor (bench/floor_app.py): both under the benchmark's load, interleaved.

The floor's statements are the server's own: an app built as `graphql-api serve` builds it answers each
page once in process, and the statement its compiled path announces to the read engine's
`before_cursor_execute` listeners (SQL and parameters, the caller's project bound, as the driver gets
them) is kept with the answer's bytes. The floor checks at startup that the statement, wrapped as
`compiled_response` wraps it, gives those bytes; here both servers' answers over HTTP are compared
byte for byte before any load. Then, per round, each page loads the server and the floor one after
the other (the order alternating between rounds), and `of_floor` is the median over rounds of the
server's req/s over the floor's in the same round: a busy machine slows both runs of a round alike.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pickle
import statistics
import sys
import tempfile
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from starlette.types import ASGIApp

from bench import asgi
from bench.data import Dataset, plain_dsn
from bench.floor_app import SPEC_ENV, Floor, Page, Spec, difference
from bench.load import Load, have_wrk, post_body, run_builtin, run_wrk
from bench.server import CONNECTIONS, HOST, Served, cpu_seconds, serving
from graphql_api.compiler import RawJSON, compiled_response
from graphql_api.data.database import request_connect_args
from graphql_api.http.app import create_app
from graphql_api.settings import Settings

logger = logging.getLogger("bench")
ROOT = Path(__file__).resolve().parents[1]
FLOOR_PROGRAM = (sys.executable, "-m", "bench.floor_app")
# The server as it runs by default: every request writes its log line (stderr is a file here), as the
# issue's checks include; the other benchmarks serve at LOG_LEVEL=warning.
SERVER_ENV = {"LOG_LEVEL": "info"}
_MARK = b"\x00value\x00"


def wrapping(root: str) -> tuple[bytes, bytes]:
    """The bytes the server puts before and after a root field's value (compiled_response's)."""
    pieces = [json.dumps(root).encode() + b":", _MARK]
    before, after = compiled_response({"data": RawJSON(pieces)}).split(_MARK)
    return before, after


async def post_raw(app: ASGIApp, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST `body` to the app's /graphql in process; the status and the response's bytes."""
    return await asgi.post_raw(app, "/graphql", body, headers)


def _pool_options(settings: Settings) -> dict[str, Any]:
    """The compiled path's asyncpg connect arguments (compiler/runner.py: AsyncpgRunner): the server's
    session settings (read-only, timeouts, no parallel plans) and generic plans."""
    connect = request_connect_args(settings)
    connect["server_settings"] = {
        **connect.get("server_settings", {}),
        "plan_cache_mode": "force_generic_plan",
    }
    return connect


async def _spec(data: Dataset, documents: dict[int, str]) -> Spec:
    settings = Settings(database_url=data.url)
    app = create_app(settings)
    announced: list[tuple[str, Any]] = []

    def on_execute(_conn: Any, _cursor: Any, sql: str, params: Any, _context: Any, _many: bool) -> None:
        announced.append((sql, params))

    event.listen(app.state.services.database.read_engine.sync_engine, "before_cursor_execute", on_execute)
    headers = {"ApiKey": data.keys[data.largest_project]}
    pages: list[Page] = []
    async with app.router.lifespan_context(app):
        for rows, document in documents.items():
            body = post_body(document).encode()
            announced.clear()
            status, answer = await post_raw(app, body, headers)
            if status != 200 or b'"errors"' in answer:
                raise RuntimeError(f"the server refused the page of {rows}: {status} {answer[:300]!r}")
            compiled = set(app.state.compiled.sql())
            statements = [(sql, params) for sql, params in announced if sql in compiled]
            if len(statements) != 1:
                raise RuntimeError(
                    f"expected one compiled statement for the page of {rows}, got {len(statements)}"
                )
            sql, params = statements[0]
            (root,) = json.loads(answer)["data"]
            prefix, suffix = wrapping(root)
            pages.append(Page(body, sql, tuple(params), prefix, suffix, answer))
    if data.backend == "sqlite":
        return Spec("sqlite", str(data.path), pages)
    return Spec(
        "postgresql",
        plain_dsn(data.url),
        pages,
        connect=_pool_options(settings),
        pool_size=max(settings.pool_size + settings.max_overflow, 1),
    )


async def _checked(spec: Spec) -> Spec:
    """The spec, once the floor's own code gave the server's bytes for each page (else RuntimeError)."""
    floor = Floor(spec)
    try:
        await floor.start()
    finally:
        await floor.stop()
    return spec


def spec_for(data: Dataset, documents: dict[int, str]) -> Spec:
    """The statement of each page (keyed by its rows) as the server runs it for the largest project."""
    return asyncio.run(_checked(asyncio.run(_spec(data, documents))))


@contextmanager
def floor_serving(
    data: Dataset,
    spec: Spec,
    *,
    workers: int,
    env: dict[str, str] | None = None,
    program: Sequence[str] = FLOOR_PROGRAM,
) -> Iterator[Served]:
    """The floor under uvicorn on a free loopback port, as bench.server.serving runs the server."""
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as folder:
        path = Path(folder, "spec.pickle")
        path.write_bytes(pickle.dumps(spec))
        env = {
            **(env or {}),
            SPEC_ENV: str(path),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        with serving(data, workers=workers, env=env, program=program) as served:
            yield served


def fetch(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    request = urllib.request.Request(url + "/graphql", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: bytes = response.read()
    return answer


def check_same(server: Served, floor: Served, page: Page, headers: dict[str, str]) -> int:
    """The server's and the floor's answers over HTTP, byte for byte (else RuntimeError); their size."""
    ours, floors = fetch(server.url, page.body, headers), fetch(floor.url, page.body, headers)
    if ours != floors:
        raise RuntimeError(f"the floor does not answer the server's bytes: {difference(floors, ours)}")
    return len(ours)


@dataclass(frozen=True)
class Run:
    """One load of one server."""

    req_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    requests: int
    errors: int
    tool: str
    load_average: float  # the machine's, 1 minute, at the end of the run
    # The busiest worker's part of the workers' CPU: 1/workers when the connections were spread evenly,
    # 1.0 when they all sat on one worker (which then caps the run at one core).
    busiest_worker: float


def load(served: Served, body: str, headers: dict[str, str], *, seconds: float) -> Run:
    """The benchmark's load generator on `served` (bench/server.py's), with the workers' CPU."""
    pids = served.workers()
    per_worker = [cpu_seconds([pid]) for pid in pids]
    cpu = served.cpu_seconds()
    if have_wrk():
        got: Load = run_wrk(served.url + "/graphql", body, headers, connections=CONNECTIONS, seconds=seconds)
    else:
        got = run_builtin(HOST, served.port, body, headers, connections=CONNECTIONS, seconds=seconds)
    cpu = served.cpu_seconds() - cpu
    per_worker = [cpu_seconds([pid]) - before for pid, before in zip(pids, per_worker, strict=True)]
    per_request = cpu * 1000 / max(got.requests, 1)
    busiest = max(per_worker) / sum(per_worker) if sum(per_worker) > 0 else 1.0
    return Run(
        got.req_s,
        got.p50_ms,
        got.p99_ms,
        per_request,
        got.requests,
        got.errors,
        got.tool,
        os.getloadavg()[0],
        busiest,
    )


def _medians(runs: list[Run]) -> dict[str, Any]:
    return {
        "req_s": statistics.median(r.req_s for r in runs),
        "p50_ms": statistics.median(r.p50_ms for r in runs),
        "p99_ms": statistics.median(r.p99_ms for r in runs),
        "cpu_ms_per_request": statistics.median(r.cpu_ms_per_request for r in runs),
        "errors": sum(r.errors for r in runs),
        "busiest_worker": max(r.busiest_worker for r in runs),
        "runs": [asdict(r) for r in runs],
    }


def compare(
    data: Dataset, documents: dict[int, str], *, rounds: int, seconds: float, workers: int = 2
) -> dict[str, Any]:
    """Server and floor, `workers` workers each, loaded in turn per page for `rounds` rounds."""
    logger.info("floor on %s: the server's statements for pages of %s", data.server, list(documents))
    spec = spec_for(data, documents)
    headers = {"Content-Type": "application/json", "ApiKey": data.keys[data.largest_project]}
    pages = dict(zip(documents, spec.pages, strict=True))
    runs: dict[tuple[int, str], list[Run]] = {
        (rows, name): [] for rows in pages for name in ("server", "floor")
    }
    sizes: dict[int, int] = {}
    with (
        serving(data, workers=workers, env=SERVER_ENV) as server,
        floor_serving(data, spec, workers=workers) as floor,
    ):
        targets = {"server": server, "floor": floor}
        for rows, page in pages.items():
            sizes[rows] = check_same(server, floor, page, headers)
            for served in targets.values():  # warm: caches, connections, the database's pages
                load(served, page.body.decode(), headers, seconds=min(2.0, seconds))
        for round_ in range(rounds):
            for rows, page in pages.items():
                order = ("server", "floor") if round_ % 2 == 0 else ("floor", "server")
                for name in order:
                    runs[rows, name].append(load(targets[name], page.body.decode(), headers, seconds=seconds))
                server_run, floor_run = runs[rows, "server"][-1], runs[rows, "floor"][-1]
                logger.info(
                    "  round %d, page of %d: server %.0f req/s, floor %.0f req/s",
                    round_ + 1,
                    rows,
                    server_run.req_s,
                    floor_run.req_s,
                )
    loads = [r.load_average for measured in runs.values() for r in measured]
    result: dict[str, Any] = {
        "workers": workers,
        "rounds": rounds,
        "seconds": seconds,
        "load_average": [min(loads), max(loads)],
        "pages": {},
    }
    for rows in pages:
        ours, floors = runs[rows, "server"], runs[rows, "floor"]
        result["pages"][rows] = {
            "answer_bytes": sizes[rows],
            "server": _medians(ours),
            "floor": _medians(floors),
            "of_floor": statistics.median(s.req_s / f.req_s for s, f in zip(ours, floors, strict=True)),
            "cpu_x_floor": statistics.median(
                s.cpu_ms_per_request / f.cpu_ms_per_request for s, f in zip(ours, floors, strict=True)
            ),
        }
    return result


def figures(result: dict[str, Any]) -> dict[str, float]:
    """The named figures of one backend's comparison (no prefix)."""
    out: dict[str, float] = {}
    for rows, page in result["pages"].items():
        for side in ("server", "floor"):
            for name in ("req_s", "p50_ms", "p99_ms", "cpu_ms_per_request"):
                out[f"{side}_{name}_page{rows}"] = page[side][name]
        out[f"of_floor_page{rows}"] = page["of_floor"]
        out[f"cpu_x_floor_page{rows}"] = page["cpu_x_floor"]
    return out
