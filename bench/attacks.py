"""`python -m bench.attacks`: the worst request of each attack class of issue 12 against a default server.

`graphql-api serve --workers 2` with default settings (no limit raised or lowered, whatever this shell
exports) on the benchmark's database, on loopback, started afresh for each attack so that one attack's
leftovers never count against the next. Each attack is sent a few times one after another, then twice
at once, while /healthz is polled on each worker (`bench/healthz.py`). Reported per attack: the answer,
wall and server CPU milliseconds per request, /healthz p99 during the attack and the CPU the workers
still spent in the second after each answer. The figures are a measurement: the exit code is 0 whatever
they are, and non-zero only when the harness itself fails (say, the server does not start).

Bounded: every request has a client timeout, an attack whose request times out is not repeated, a
server that does not stop on SIGINT is killed, and attacks not started before the run's deadline are
skipped (and reported so).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import logging
import os
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import brotli  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from bench import attack_report, attack_sockets
from bench.attack_documents import BATCH_PROBE, GRAPHQL, SOCKET, Attack, attacks, baseline
from bench.data import (
    Dataset,
    dataset_arguments,
    plain_dsn,
    plan_for,
    prepare,
    prepare_postgresql,
)
from bench.healthz import HealthWatch, p99
from bench.server import HOST, Served, cpu_seconds, serving, workers

logger = logging.getLogger("bench")

WORKERS = 2
CLIENT_TIMEOUT = 30.0
AFTER_SECONDS = 1.0
STOP_SECONDS = 10.0
DEFAULT_LOGS = 500_000  # the largest project (40%) has about 200,000
QUICK_LOGS = 20_000


def send(server: Served, attack: Attack, key: str) -> dict[str, Any]:
    """One request on a connection of its own: the answer, wall milliseconds, or what went wrong."""
    if attack.path == SOCKET:
        return attack_sockets.send(server, attack, key, CLIENT_TIMEOUT)
    headers = {"Content-Type": "application/json", "Connection": "close", **dict(attack.headers)}
    if attack.keyed:
        headers["ApiKey"] = key
    connection = http.client.HTTPConnection(HOST, server.port, timeout=CLIENT_TIMEOUT)
    started = time.monotonic()
    try:
        body = attack.body if attack.method == "POST" else None
        connection.request(attack.method, attack.path, body=body, headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.getheader("content-encoding") == "br":  # class 9 asks for Brotli
            body = brotli.decompress(body)
        answer = f"{response.status} {_code(attack, response.status, body)}"
        timed_out = False
    except TimeoutError:
        answer, timed_out = f"no answer in {CLIENT_TIMEOUT:g} s", True
    except (OSError, http.client.HTTPException) as exc:
        answer, timed_out = f"connection failed: {type(exc).__name__}", False
    finally:
        connection.close()
    return {"answer": answer, "wall_ms": (time.monotonic() - started) * 1000, "timed_out": timed_out}


def _code(attack: Attack, status: int, body: bytes) -> str:
    """`errors[0].extensions.code` (of the first operation, for a batch), "ok", or REST's message."""
    try:
        payload = json.loads(body)
    except ValueError:
        return "not JSON"
    if isinstance(payload, list):
        payload = payload[0] if payload else {}
    if not isinstance(payload, dict):
        return "ok" if status < 400 else "error"
    errors = payload.get("errors")
    if errors:
        return str((errors[0].get("extensions") or {}).get("code", "error"))
    if status >= 400 and attack.path != GRAPHQL:
        return str(payload.get("message", "error"))[:40]
    return "ok"


class DatabaseCpu:
    """CPU of the PostgreSQL processes serving the benchmark's database, read from `/proc` (so only for
    a server on this machine): there the statements' own work is not in the workers' figures.

    Backends and their parallel workers come and go, so a thread samples every process of the
    postmaster whose title names the database (or a parallel worker of such a backend) every 20 ms
    and keeps each one's last CPU figure: the total only grows, and a process that exits loses at most
    its last 20 ms."""

    def __init__(self, url: str) -> None:
        self.database = str(make_url(url).database)
        self.postmaster = asyncio.run(self._postmaster(url))
        self.last: dict[int, int] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    async def _postmaster(url: str) -> int:
        connection = await asyncpg.connect(plain_dsn(url), timeout=10)
        try:
            backend = int(await connection.fetchval("SELECT pg_backend_pid()"))
            # Read while the connection is open: its backend exits with it.
            return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
        finally:
            await connection.close()

    def _sample(self) -> None:
        children = workers(self.postmaster, 2)  # the postmaster's children
        titles = {}
        for pid in children:
            try:
                titles[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
        ours = {pid for pid, title in titles.items() if f" {self.database} " in title}
        ours |= {
            pid
            for pid, title in titles.items()
            if (leader := title.rpartition("parallel worker for PID ")[2].strip("\0 ")).isdigit()
            and int(leader) in ours
        }
        with self.lock:
            for pid in ours:
                ticks = cpu_seconds([pid]) * os.sysconf("SC_CLK_TCK")
                if ticks:
                    self.last[pid] = max(self.last.get(pid, 0), round(ticks))

    def _run(self) -> None:
        while not self.stop.wait(0.02):
            self._sample()

    def seconds(self) -> float:
        self._sample()
        with self.lock:
            return sum(self.last.values()) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)

    @staticmethod
    def for_dataset(data: Dataset) -> DatabaseCpu | None:
        local = make_url(data.url).host in {"127.0.0.1", "localhost", "::1"}
        if data.backend != "postgresql" or not local:
            return None
        try:
            return DatabaseCpu(data.url)
        except OSError:  # another PID namespace (a container): its processes are not in our /proc
            logger.warning("PostgreSQL's processes are not visible here: its CPU is not counted")
            return None


class Meter:
    """Server CPU (the workers', and the database backends' on PostgreSQL) over an interval, and what
    the /healthz polls cost of it (measured once, at rest)."""

    def __init__(
        self, server: Served, watch: HealthWatch, database: DatabaseCpu | None, poll_cpu_ms: float = 0.0
    ) -> None:
        self.server, self.watch, self.database, self.poll_cpu_ms = server, watch, database, poll_cpu_ms

    def workers_ms(self) -> float:
        return self.server.cpu_seconds() * 1000

    def database_ms(self) -> float:
        return self.database.seconds() * 1000 if self.database is not None else 0.0

    def cpu_ms(self) -> float:
        return self.workers_ms() + self.database_ms()

    def polls_cpu_ms(self, start: float, end: float) -> float:
        return self.poll_cpu_ms * self.watch.polls(start, end)


def calibrate(meter: Meter, seconds: float = 2.0) -> dict[str, float]:
    """What one /healthz poll costs the server (subtracted from every figure), and its idle CPU."""
    watch = meter.watch
    cpu, start = meter.cpu_ms(), time.monotonic()
    watch.resume()
    time.sleep(seconds)
    watch.pause()
    end = time.monotonic()
    polls = watch.polls(start, end)
    polled_ms = meter.cpu_ms() - cpu
    time.sleep(0.1)
    cpu = meter.cpu_ms()
    time.sleep(seconds)
    idle_ms = (meter.cpu_ms() - cpu) / seconds
    per_poll = max(0.0, polled_ms - idle_ms * seconds) / max(polls, 1)
    return {"poll_cpu_ms": per_poll, "polls_per_second": polls / seconds, "idle_cpu_ms_per_s": idle_ms}


def _after(meter: Meter) -> float:
    """Server CPU milliseconds over the second after an answer (the pollers paused)."""
    cpu = meter.cpu_ms()
    time.sleep(AFTER_SECONDS)
    return meter.cpu_ms() - cpu


def _once(attack: Attack, server: Served, key: str, meter: Meter, copies: int) -> dict[str, Any]:
    """`copies` requests at once; CPU per request, /healthz during them, CPU in the second after."""
    watch = meter.watch
    results: list[dict[str, Any]] = [{} for _ in range(copies)]
    barrier = threading.Barrier(copies)

    def one(index: int) -> None:
        barrier.wait()
        results[index] = send(server, attack, key)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(copies)]
    watch.resume()
    time.sleep(0.05)  # a poll on each worker before the attack starts
    database, start = meter.database_ms(), time.monotonic()
    cpu = meter.workers_ms()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(CLIENT_TIMEOUT + 5)
    end = time.monotonic()
    cpu = meter.workers_ms() - cpu
    database = meter.database_ms() - database
    cpu += database
    health = watch.window(start, end)
    failures = watch.failures(start, end)
    polls_cost = meter.polls_cpu_ms(start, end)
    watch.pause()
    return {
        "copies": copies,
        "answers": [r.get("answer", "client thread still running") for r in results],
        "wall_ms": max(r.get("wall_ms", (end - start) * 1000) for r in results),
        "timed_out": any(r.get("timed_out", True) for r in results),
        "cpu_ms_per_request": max(0.0, cpu - polls_cost) / copies,
        "cpu_ms_raw": cpu,
        "database_cpu_ms": database if meter.database is not None else None,
        "healthz_ms": health,
        "healthz_failures": failures,
        "after_cpu_ms": _after(meter),
    }


def measure(attack: Attack, server: Served, key: str, meter: Meter, repeats: int) -> dict[str, Any]:
    """`repeats` sequential runs, then two copies at once; stops at the first request without answer."""
    runs: list[dict[str, Any]] = []
    for _ in range(repeats):
        runs.append(_once(attack, server, key, meter, copies=1))
        if runs[-1]["timed_out"]:
            break
    if not runs[-1]["timed_out"]:
        runs.append(_once(attack, server, key, meter, copies=2))
    sequential = [r for r in runs if r["copies"] == 1]
    concurrent = [r for r in runs if r["copies"] == 2]
    # Per worker: a blocked worker answers one slow poll while the other answers fifty quick ones, so
    # a p99 over both would hide it. Its clients wait what its own polls show.
    per_worker = [[ms for r in runs for ms in r["healthz_ms"][i]] for i in range(len(runs[0]["healthz_ms"]))]
    health = [ms for polls in per_worker for ms in polls]
    worker_p99 = [v for polls in per_worker if (v := p99(polls)) is not None]
    answers = list(dict.fromkeys(a for r in runs for a in r["answers"]))
    return {
        "answer": " / ".join(answers),
        "wall_ms": statistics.median(r["wall_ms"] for r in sequential),
        "wall_ms_max": max(r["wall_ms"] for r in runs),
        "cpu_ms_per_request": max(r["cpu_ms_per_request"] for r in sequential),
        "cpu_ms_per_request_concurrent": concurrent[0]["cpu_ms_per_request"] if concurrent else None,
        "healthz_p99_ms": max(worker_p99, default=None),
        "healthz_p99_ms_per_worker": worker_p99,
        "healthz_max_ms": max(health, default=None),
        "healthz_polls": len(health),
        "healthz_failures": sum(r["healthz_failures"] for r in runs),
        "after_cpu_ms": max(r["after_cpu_ms"] for r in runs),
        "runs": [{k: v for k, v in r.items() if k != "healthz_ms"} for r in runs],
    }


def _warm(server: Served, key: str) -> None:
    """Both workers warm (imports, SQLite's pages, the key's cache) before anything is measured."""
    for _ in range(6):
        answer = send(server, baseline(), key)["answer"]
        if answer != "200 ok":
            raise RuntimeError(f"the server refused the baseline request: {answer}")


def _batching(server: Served) -> bool:
    connection = http.client.HTTPConnection(HOST, server.port, timeout=CLIENT_TIMEOUT)
    try:
        connection.request("POST", GRAPHQL, body=BATCH_PROBE, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status == 200
    finally:
        connection.close()


def run_attacks(
    data: Dataset, chosen: list[Attack], *, repeats: int, deadline: float
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Each attack against a fresh default server; the rows, and the /healthz calibration."""
    key = data.keys[data.largest_project]
    rows: list[dict[str, Any]] = []
    calibration: dict[str, float] = {}
    for attack in chosen:
        row: dict[str, Any] = {
            "name": attack.name, "class": attack.issue_class, "title": attack.title,
            "bytes": len(attack.body), "tokens": attack.tokens, "keyed": attack.keyed,
        }  # fmt: skip
        rows.append(row)
        if time.monotonic() > deadline:
            row["skipped"] = "not started: the run's time limit was reached"
            continue
        logger.info("%s on %s", attack.title, data.server)
        environment = dict(attack.env)
        with serving(
            data, workers=WORKERS, env=environment, inherit_settings=False, stop_seconds=STOP_SECONDS
        ) as server:
            _warm(server, key)
            if attack.batch and not _batching(server):
                row["skipped"] = "batching is off (the default): the server refuses arrays"
            else:
                watch = HealthWatch(server)
                watch.start()
                database = DatabaseCpu.for_dataset(data)
                try:
                    meter = Meter(server, watch, database)
                    if not calibration:
                        calibration = calibrate(meter)
                    meter.poll_cpu_ms = calibration["poll_cpu_ms"]
                    row["healthz_pinned"] = watch.pinned
                    row["database_cpu_counted"] = database is not None
                    row.update(measure(attack, server, key, meter, repeats))
                finally:
                    watch.close()
                    if database is not None:
                        database.close()
        row["server_stop"] = dict(server.stopped)
    return rows, calibration


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.attacks", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--logs", type=int, help=f"logs in the database (default {DEFAULT_LOGS:,}; --quick {QUICK_LOGS:,})"
    )
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="small data, 2 runs per attack")
    parser.add_argument("--repeats", type=int, help="sequential runs per attack (default 5, quick 2)")
    parser.add_argument("--only", help="comma-separated attack names (the JSON's `name`s)")
    parser.add_argument(
        "--max-minutes", type=float, default=30.0, help="attacks not started by then are skipped (30)"
    )
    dataset_arguments(parser, postgresql="also attack a server on this PostgreSQL server's bench database")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    logger.setLevel(logging.INFO)
    logs = args.logs or (QUICK_LOGS if args.quick else DEFAULT_LOGS)
    repeats = args.repeats or (2 if args.quick else 5)
    chosen = attacks()
    if args.only:
        names = {n.strip() for n in args.only.split(",")}
        unknown = names - {a.name for a in chosen}
        if unknown:
            raise SystemExit(f"unknown attack(s): {', '.join(sorted(unknown))}")
        chosen = [a for a in chosen if a.name in names or a.name == "baseline"]

    started = time.monotonic()
    load_before = os.getloadavg()[0]
    plan = plan_for(logs, args.projects)
    datasets = [prepare(plan, cache=args.cache, rebuild=args.rebuild)]
    if args.postgresql:
        datasets.append(prepare_postgresql(plan, args.postgresql, rebuild=args.rebuild))
    deadline = time.monotonic() + args.max_minutes * 60
    sections = []
    for data in datasets:
        rows, calibration = run_attacks(data, chosen, repeats=repeats, deadline=deadline)
        sections.append(
            {
                "server": data.server,
                "location": data.location,
                "logs": logs,
                "largest_logs": data.largest_logs,
                "calibration": calibration,
                "attacks": rows,
            }  # fmt: skip
        )
    result = {
        "workers": WORKERS,
        "repeats": repeats,
        "client_timeout_s": CLIENT_TIMEOUT,
        "datasets": sections,
        "targets": attack_report.targets(sections),
        "postgresql": bool(args.postgresql),
        "machine": {
            "cores": os.cpu_count(),
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
            "seconds": time.monotonic() - started,
        },
    }
    print(attack_report.table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
