"""Load generators for the whole-server measurement: wrk when installed, else a small built-in one.

Both keep `connections` keep-alive connections busy with the same POST for `seconds`, then report
requests per second and latency percentiles. The built-in one is bounded in time and in requests.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MAX_BUILTIN_REQUESTS = 200_000


@dataclass(frozen=True)
class Load:
    tool: str
    requests: int
    errors: int
    req_s: float
    p50_ms: float
    p99_ms: float


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def run_wrk(url: str, body: str, headers: dict[str, str], *, connections: int, seconds: float) -> Load:
    script = "\n".join(
        [
            'wrk.method = "POST"',
            f"wrk.body = {_lua_string(body)}",
            *(f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()),
            # Non-2xx answers count as errors in wrk's summary ("Non-2xx or 3xx responses").
        ]
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
        path = Path(f.name)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{max(int(seconds), 1)}s",
                "--latency",
                "-s",
                str(path),
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        path.unlink()
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return Load(
        tool="wrk",
        requests=requests,
        errors=errors,
        req_s=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_wrk_ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        p99_ms=_wrk_ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
    )


def _wrk_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


async def _builtin(host: str, port: int, request: bytes, connections: int, seconds: float) -> Load:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline and len(latencies) < MAX_BUILTIN_REQUESTS:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
                latencies.append((time.perf_counter() - started) * 1000)
                if not head.startswith(b"HTTP/1.1 200"):
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return Load("builtin", len(latencies), errors, len(latencies) / elapsed, cuts[49], cuts[98])


def run_builtin(
    host: str, port: int, body: str, headers: dict[str, str], *, connections: int, seconds: float
) -> Load:
    payload = body.encode()
    head = ["POST /graphql HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(payload)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
    return asyncio.run(_builtin(host, port, request, connections, seconds))


def post_body(query: str) -> str:
    return json.dumps({"query": query})
