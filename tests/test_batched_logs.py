"""The server's log lines are written to stderr together (graphql_api/http/batched_logs.py).

On an event loop's thread, lines wait at most FLUSH_SECONDS and go out in a few writes of whole lines;
a warning goes out at once, after the lines before it; outside a loop every line goes out at once.
Written to a real pipe, counted in this process's write system calls (/proc/self/io).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from graphql_api.http.batched_logs import ATOMIC_BYTES, FLUSH_SECONDS, BatchingStreamHandler
from graphql_api.http.logs import InfoLines, JsonFormatter
from tests.factories import Factory
from tests.live import SERVE, free_port, stop

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="write counts from /proc, pipes")

LINES = 150  # about 45 KB of lines: under the handler's MAX_PENDING_BYTES


@dataclass
class Pipe:
    logger: logging.Logger
    read_fd: int

    def lines(self) -> list[str]:
        """What the pipe holds now, as lines (without waiting for more)."""
        data = b""
        while select.select([self.read_fd], [], [], 0)[0]:
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                break
            data += chunk
        return data.decode().splitlines()


@pytest.fixture
def pipe() -> Iterator[Pipe]:
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    stream = io.TextIOWrapper(os.fdopen(write_fd, "wb"), line_buffering=True)
    handler = BatchingStreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"test_batched_logs.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    pipe = Pipe(logger, read_fd)
    try:
        yield pipe
    finally:
        logger.removeHandler(handler)
        with contextlib.suppress(BrokenPipeError):  # a test's reader went away
            handler.close()
            stream.close()
        os.close(pipe.read_fd)


def writes() -> int:
    """This process's write system calls so far."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    raise AssertionError("no syscw in /proc/self/io")


def request_line(logger: logging.Logger, n: int) -> None:
    logger.info("POST /graphql 200 ok - 0.17ms", extra={"request_id": f"request-{n}", "pad": "x" * 150})


def test_lines_logged_on_a_loop_go_out_together_within_the_flush_interval(pipe: Pipe) -> None:
    async def log_requests() -> tuple[int, list[str], int, list[str]]:
        before = writes()
        for n in range(LINES):
            request_line(pipe.logger, n)
        during, waiting = writes() - before, pipe.lines()
        await asyncio.sleep(FLUSH_SECONDS + 0.3)
        return during, waiting, writes() - before, pipe.lines()

    during, waiting, after, lines = asyncio.run(log_requests())

    assert (during, waiting) == (0, [])  # nothing written while requests are answered
    assert [json.loads(line)["request_id"] for line in lines] == [f"request-{n}" for n in range(LINES)]
    # Whole lines of at most PIPE_BUF bytes a write: a few writes instead of one a line.
    size = sum(len(line) + 1 for line in lines)
    assert after <= size // (ATOMIC_BYTES // 2) + 1 < LINES // 4


def test_a_warning_goes_out_at_once_after_the_lines_before_it(pipe: Pipe) -> None:
    async def log() -> list[str]:
        for n in range(3):
            request_line(pipe.logger, n)
        pipe.logger.warning("the database is unavailable")
        return pipe.lines()

    lines = [json.loads(line) for line in asyncio.run(log())]

    assert [line.get("request_id", line["message"]) for line in lines] == [
        "request-0", "request-1", "request-2", "the database is unavailable"
    ]  # fmt: skip


def test_lines_logged_outside_a_loop_or_on_another_thread_go_out_at_once(pipe: Pipe) -> None:
    request_line(pipe.logger, 0)
    assert len(pipe.lines()) == 1

    async def from_a_thread() -> list[str]:
        request_line(pipe.logger, 1)  # waits on the loop's thread
        await asyncio.to_thread(request_line, pipe.logger, 2)  # written with the one waiting
        return pipe.lines()

    lines = asyncio.run(from_a_thread())
    assert [json.loads(line)["request_id"] for line in lines] == ["request-1", "request-2"]


def test_lines_that_cannot_be_written_are_lost_without_stopping_the_loop(pipe: Pipe) -> None:
    os.close(pipe.read_fd)  # the reader went away: writes fail with a broken pipe
    pipe.read_fd = os.open(os.devnull, os.O_RDONLY)  # for the fixture to close
    errors: list[dict[str, object]] = []

    async def log() -> str:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.append(context))
        request_line(pipe.logger, 0)
        await asyncio.sleep(FLUSH_SECONDS + 0.2)
        return "still serving"

    assert asyncio.run(log()) == "still serving"
    assert errors == []


def test_the_request_line_skips_the_log_record_and_reads_as_logging_writes_it() -> None:
    stream = io.StringIO()
    handler = BatchingStreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"test_batched_logs.direct.{id(handler)}")
    logger.propagate, logger.level = False, logging.INFO
    logger.addHandler(handler)
    lines = InfoLines(logger)
    fields = {"request_id": "r-1", "status": 200, "duration_ms": 0.17, "operation": None}
    records: list[logging.LogRecord] = []
    make_record = logging.getLogRecordFactory()

    def counted(*args: Any, **kwargs: Any) -> logging.LogRecord:
        records.append(make_record(*args, **kwargs))
        return records[-1]

    logging.setLogRecordFactory(counted)
    try:
        lines.info("POST /graphql 200 ok - 0.17ms", fields)  # the batching handler alone: no record
        direct = len(records)
        logger.addHandler(logging.NullHandler())  # two handlers: through logging, as usual
        lines.info("POST /graphql 200 ok - 0.17ms", fields)
    finally:
        logging.setLogRecordFactory(make_record)
        logger.handlers.clear()

    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (direct, len(records)) == (0, 1)
    assert first.pop("time")[:10] == second.pop("time")[:10]
    assert first == second == {
        "level": "info", "logger": logger.name, "pid": os.getpid(),
        "message": "POST /graphql 200 ok - 0.17ms", **fields,
    }  # fmt: skip


@pytest.mark.backends("sqlite")  # the server's log, whatever its database
def test_serve_writes_every_request_line_whole_and_soon_with_two_workers(database_url: str) -> None:
    url = database_url
    with Factory(url) as factory:
        project = factory.project()
        factory.logs(project, 3)
        key = factory.api_key(project)
    port = free_port()
    environ = {**os.environ, "DATABASE_URL": url, "LOG_FORMAT": "json", "WORKERS": "2"}
    process = subprocess.Popen(
        [*SERVE, "--port", str(port)], env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    with _collected(process.stderr) as lines:
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until(lambda: httpx.get(f"{base}/healthz", timeout=1).status_code == 200)
            sent = _load(base, key, requests=600)
            # Every request's line arrives while the server runs, well within the flush interval.
            _wait_until(lambda: len(_request_ids(lines)) >= len(sent), seconds=5)
        finally:
            stop(process, timeout=20)
    assert process.returncode == 0
    entries = [json.loads(line) for line in lines]  # every line whole: no two workers' lines mixed
    assert sorted(_request_ids(lines)) == sorted(sent)
    pids = {e["pid"] for e in entries if e.get("request_id") in sent}
    assert pids and process.pid not in pids  # the workers wrote them


def _load(base: str, key: str, *, requests: int) -> list[str]:
    async def run() -> list[str]:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

            async def one(n: int) -> str:
                response = await client.post(
                    "/graphql",
                    json={"query": "{ whatsAppLogCount }"},
                    headers={"ApiKey": key, "X-Request-Id": f"load-{n}"},
                )
                assert response.status_code == 200
                return f"load-{n}"

            return list(await asyncio.gather(*(one(n) for n in range(requests))))

    return asyncio.run(run())


def _request_ids(lines: list[str]) -> list[str]:
    return [
        entry["request_id"]
        for entry in map(json.loads, list(lines))
        if entry.get("logger") == "graphql_api.access" and entry.get("path") == "/graphql"
    ]


@contextmanager
def _collected(stream: io.BufferedReader) -> Iterator[list[str]]:
    lines: list[str] = []

    def read() -> None:
        for line in stream:
            lines.append(line.decode())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield lines
    finally:
        reader.join(timeout=30)


def _wait_until(condition: Callable[[], bool], *, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")
