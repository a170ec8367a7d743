"""The whole server: `graphql-api serve` with N workers on loopback, loaded with 16 connections.

Each run starts a fresh server on a free port, checks one answer, loads it for a fixed short time
while sampling its processes' memory, and stops it. `serving` and the `/proc` readers are shared with
the attack benchmark (`bench/attacks.py`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from bench.data import Dataset
from bench.load import Load, have_wrk, post_body, run_builtin, run_wrk
from graphql_api.settings import Settings

HOST = "127.0.0.1"
CONNECTIONS = 16
SERVE = (sys.executable, "-m", "graphql_api", "serve")


@dataclass(frozen=True)
class ServerRun:
    workers: int
    rows: int
    load: Load
    worker_rss_mb: float  # the largest worker's peak RSS while loaded
    # CPU the workers spent per request: what the server costs, whatever else runs on the machine.
    cpu_ms_per_request: float


def free_port() -> int:
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


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (the state is [0]), or None once gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pids: list[int], *, reaped_children_of: int | None = None) -> float:
    """CPU time of `pids` (utime + stime, all threads); plus, for `reaped_children_of`, the time of
    its children that have exited and been waited for (cutime + cstime: a worker uvicorn replaced)."""
    ticks = 0
    for pid in pids:
        stat = _stat(pid)
        if stat is not None:
            ticks += int(stat[11]) + int(stat[12])
    if reaped_children_of is not None:
        stat = _stat(reaped_children_of)
        if stat is not None:
            ticks += int(stat[13]) + int(stat[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """Direct children: from /proc/<pid>/task/*/children when the kernel has it, else a scan of /proc."""
    try:
        found: list[int] = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in Path(task, "children").read_text().split()]
        return found
    except OSError:
        pass
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == str(pid):
                found.append(int(entry.name))
    return found


def _tree(pid: int) -> list[int]:
    """The process and its descendants (uvicorn's supervisor and its workers)."""
    found = [pid]
    for child in _children(pid):
        found += _tree(child)
    return found


def _helper(pid: int) -> bool:
    """multiprocessing's resource tracker, which uvicorn's spawned workers bring along."""
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def workers(pid: int, count: int) -> list[int]:
    """The processes that serve: with one worker uvicorn serves in the process itself; with more, its
    children (now: uvicorn replaces a worker that stops answering its pings)."""
    return [pid] if count == 1 else [p for p in _tree(pid)[1:] if not _helper(p)]


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


@dataclass(frozen=True)
class Served:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    worker_count: int
    # Filled in when the server has stopped: whether it exited on SIGINT or had to be killed.
    stopped: dict[str, Any]

    def workers(self) -> list[int]:
        return workers(self.process.pid, self.worker_count)

    def cpu_seconds(self) -> float:
        """The workers' CPU time so far, including workers that have exited meanwhile."""
        return cpu_seconds(self.workers(), reaped_children_of=self.process.pid)


def _server_environment(data: Dataset, env: dict[str, str] | None, inherit_settings: bool) -> dict[str, str]:
    inherited = dict(os.environ)
    if not inherit_settings:
        # Default settings whatever this shell exports: drop every variable the server reads.
        for f in fields(Settings):
            inherited.pop(f.name.upper(), None)
    return {**inherited, "DATABASE_URL": data.url, "LOG_LEVEL": "warning", "GRAPHIQL": "false", **(env or {})}


@contextmanager
def serving(
    data: Dataset,
    *,
    workers: int,
    env: dict[str, str] | None = None,
    inherit_settings: bool = True,
    stop_seconds: float = 20,
    program: Sequence[str] = SERVE,
) -> Iterator[Served]:
    """`graphql-api serve` on a free loopback port until the block ends. It runs in a session of its
    own, so that a worker which ignores SIGINT (or a hung one) is killed with its supervisor.
    `program`: another command taking the same `--host`, `--port` and `--workers` (bench/floor_app.py)."""
    port = free_port()
    url = f"http://{HOST}:{port}"
    environ = _server_environment(data, env, inherit_settings)
    metrics = tempfile.mkdtemp(prefix="bench-metrics-")
    if workers > 1 and not environ.get("PROMETHEUS_MULTIPROC_DIR"):
        environ["PROMETHEUS_MULTIPROC_DIR"] = metrics  # removed here even if the server is killed
    command = [*program, "--host", HOST, "--port", str(port), "--workers", str(workers)]
    # The server's log goes to a file: a pipe nobody reads would stall it once full.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed once the server has stopped
    process = subprocess.Popen(
        command, env=environ, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
    )
    served = Served(url, port, process, workers, {})
    try:
        _wait_ready(url, process)
        yield served
    finally:
        served.stopped.update(_stop(process, stop_seconds))
        log.close()
        shutil.rmtree(metrics, ignore_errors=True)


def _stop(process: subprocess.Popen[bytes], seconds: float) -> dict[str, Any]:
    """SIGINT, then SIGKILL to the server's process group if it has not exited within `seconds`; a
    worker left behind (still in that group) is killed by its pid."""
    started = time.monotonic()
    pids = _tree(process.pid)
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=seconds)
        killed = False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # not yet waited for: the group is still this server's
        process.wait()
        killed = True
    # The resource tracker exits on its own once the supervisor has; a worker that ignored the
    # shutdown does not.
    grace = time.monotonic() + 2
    while (left := _left_in_group(pids[1:], process.pid)) and time.monotonic() < grace:
        time.sleep(0.05)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    leftovers = len(left)
    return {"killed": killed, "leftovers_killed": leftovers, "seconds": time.monotonic() - started}


def _left_in_group(pids: list[int], group: int) -> list[int]:
    """Those of `pids` still running in the process group `group` (the server's own)."""
    left = []
    for pid in pids:
        stat = _stat(pid)
        if stat is not None and stat[2] == str(group) and stat[0] != "Z":
            left.append(pid)
    return left


def run_server(
    data: Dataset,
    *,
    workers: int,
    queries: dict[int, str],
    seconds: float,
    env: dict[str, str] | None = None,
) -> list[ServerRun]:
    """One server with `workers` workers, loaded once per query (keyed by its page size)."""
    runs: list[ServerRun] = []
    with serving(data, workers=workers, env=env) as server:
        url, port = server.url, server.port
        headers = {"Content-Type": "application/json", "ApiKey": data.keys[data.largest_project]}
        for rows, query in queries.items():
            body = post_body(query)
            _check(url, body, headers)
            # Warm every worker: its caches, its connections, SQLite's pages.
            _load(url, port, body, headers, seconds=min(2.0, seconds))
            pids = server.workers()
            sampler = _Sampler(pids)
            sampler.start()
            cpu = cpu_seconds(pids)
            load = _load(url, port, body, headers, seconds=seconds)
            cpu = cpu_seconds(pids) - cpu
            sampler.stop.set()
            sampler.join()
            peak = max(sampler.peak.values(), default=0.0)
            runs.append(ServerRun(workers, rows, load, peak, cpu * 1000 / max(load.requests, 1)))
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
