"""The whole server: `graphql-api serve` with N workers on loopback, loaded with 16 connections.

Each run starts a fresh server on a free port, checks one answer, loads it for a fixed short time
while sampling its processes' memory, and stops it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data import Dataset
from bench.load import Load, have_wrk, post_body, run_builtin, run_wrk

HOST = "127.0.0.1"
CONNECTIONS = 16


@dataclass(frozen=True)
class ServerRun:
    workers: int
    rows: int
    load: Load
    worker_rss_mb: float  # the largest worker's peak RSS while loaded
    # CPU the workers spent per request: what the server costs, whatever else runs on the machine.
    cpu_ms_per_request: float


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (all threads)
    return total / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """The process and its descendants (uvicorn's supervisor and its workers)."""
    found = [pid]
    for child_pid in Path("/proc").iterdir():
        if not child_pid.name.isdigit():
            continue
        try:
            ppid = int(Path(child_pid, "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found += _tree(int(child_pid.name))
    return found


def _workers(pid: int, count: int) -> list[int]:
    tree = _tree(pid)
    # With one worker uvicorn serves in the process itself; with more, its children serve.
    return tree[:1] if count == 1 else [p for p in tree[1:] if p != pid]


class _Sampler(threading.Thread):
    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            for pid in self.pids:
                self.peak[pid] = max(self.peak.get(pid, 0.0), _rss_mb(pid))


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not start in time")


def _check(url: str, body: str, headers: dict[str, str]) -> None:
    request = urllib.request.Request(url + "/graphql", data=body.encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = response.read()
    if b'"errors"' in answer:
        raise RuntimeError(f"the server refused the benchmark's request: {answer[:300]!r}")


def run_server(
    data: Dataset,
    *,
    workers: int,
    queries: dict[int, str],
    seconds: float,
    env: dict[str, str] | None = None,
) -> list[ServerRun]:
    """One server with `workers` workers, loaded once per query (keyed by its page size)."""
    port = _free_port()
    url = f"http://{HOST}:{port}"
    environ = {
        **os.environ,
        "DATABASE_URL": data.url,
        "LOG_LEVEL": "warning",
        "GRAPHIQL": "false",
        **(env or {}),
    }
    command = [sys.executable, "-m", "graphql_api", "serve", "--host", HOST, "--port", str(port)]
    command += ["--workers", str(workers)]
    # The server's log goes to a file: a pipe nobody reads would stall it once full.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed once the server has stopped
    process = subprocess.Popen(command, env=environ, stdout=subprocess.DEVNULL, stderr=log)
    runs: list[ServerRun] = []
    try:
        _wait_ready(url, process)
        headers = {"Content-Type": "application/json", "ApiKey": data.keys[data.largest_project]}
        for rows, query in queries.items():
            body = post_body(query)
            _check(url, body, headers)
            # Warm every worker: its caches, its connections, SQLite's pages.
            _load(url, port, body, headers, seconds=min(2.0, seconds))
            pids = _workers(process.pid, workers)
            sampler = _Sampler(pids)
            sampler.start()
            cpu = _cpu_seconds(pids)
            load = _load(url, port, body, headers, seconds=seconds)
            cpu = _cpu_seconds(pids) - cpu
            sampler.stop.set()
            sampler.join()
            peak = max(sampler.peak.values(), default=0.0)
            runs.append(ServerRun(workers, rows, load, peak, cpu * 1000 / max(load.requests, 1)))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    return runs


def _load(url: str, port: int, body: str, headers: dict[str, str], *, seconds: float) -> Load:
    if have_wrk():
        return run_wrk(url + "/graphql", body, headers, connections=CONNECTIONS, seconds=seconds)
    return run_builtin(HOST, port, body, headers, connections=CONNECTIONS, seconds=seconds)


def as_dict(run: ServerRun) -> dict[str, Any]:
    return {
        "workers": run.workers,
        "rows": run.rows,
        "tool": run.load.tool,
        "requests": run.load.requests,
        "errors": run.load.errors,
        "req_s": run.load.req_s,
        "p50_ms": run.load.p50_ms,
        "p99_ms": run.load.p99_ms,
        "worker_rss_mb": run.worker_rss_mb,
        "cpu_ms_per_request": run.cpu_ms_per_request,
    }
