"""`/healthz` polled on one keep-alive connection per worker, while an attack runs.

A new connection per poll would always be accepted by a worker whose event loop is free, and so never
show a blocked one; a connection that stays on one worker shows what every client of that worker
waits. Which worker holds a connection is read from `/proc`: the server-side socket of the connection
(`/proc/net/tcp`) is among that worker's file descriptors. A poll that has not been answered yet is
counted at its age so far, so a worker that never answers shows, instead of missing from the figures.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.server import HOST, Served

PERIOD = 0.02
CONNECT_SECONDS = 5.0
PIN_ATTEMPTS = 64


def _socket_owner(client_port: int, server_port: int, pids: list[int]) -> int | None:
    """The pid among `pids` that holds the server side of the loopback connection from `client_port`."""
    inode = None
    try:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            cols = line.split()
            if cols[1].endswith(f":{server_port:04X}") and cols[2].endswith(f":{client_port:04X}"):
                inode = cols[9]
    except OSError:
        return None
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    if os.readlink(fd) == target:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None


class _Connection:
    """HTTP/1.1 GETs of /healthz on one socket, answered in order (the server keeps it alive)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=CONNECT_SECONDS)
        self.sock.settimeout(0.2)  # short reads, so that a stop request is seen while a worker is blocked
        self.request = f"GET /healthz HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
        self.buffer = b""

    @property
    def local_port(self) -> int:
        return int(self.sock.getsockname()[1])

    def send(self) -> None:
        self.sock.sendall(self.request)

    def receive(self, stop: threading.Event) -> bool | None:
        """The answer's status was 200; None when `stop` was set first. Raises OSError on EOF."""
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end >= 0:
                head = self.buffer[:head_end]
                match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                end = head_end + 4 + (int(match.group(1)) if match else 0)
                if len(self.buffer) >= end:
                    self.buffer = self.buffer[end:]
                    return head.startswith(b"HTTP/1.1 200")
            if stop.is_set():
                return None
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


@dataclass
class _Poller:
    """One thread, one connection, ideally pinned to one worker."""

    port: int
    connection: _Connection
    worker: int | None
    samples: list[tuple[float, float, bool]] = field(default_factory=list)  # (sent, ms, answered 200)
    in_flight: float | None = None
    reconnects: int = 0


class HealthWatch:
    """Polls /healthz every PERIOD seconds per worker while resumed; `window` gives, per worker, the
    latencies of the polls made while an attack ran."""

    def __init__(self, server: Served) -> None:
        self.server = server
        self.stop = threading.Event()
        self.active = threading.Event()
        self.lock = threading.Lock()
        self.pollers = self._pin()
        self.threads = [threading.Thread(target=self._run, args=(p,), daemon=True) for p in self.pollers]

    @property
    def pinned(self) -> bool:
        """Each worker has its own poller (else: the connections landed on fewer workers)."""
        return len({p.worker for p in self.pollers} - {None}) == self.server.worker_count

    def _connect(self, avoid: set[int]) -> tuple[_Connection, int | None]:
        """A connection that one poll has gone through, preferably on a worker not in `avoid`."""
        kept: tuple[_Connection, int | None] | None = None
        for _ in range(PIN_ATTEMPTS):
            connection = _Connection(self.server.port)
            connection.send()
            if not connection.receive(self.stop):
                connection.close()
                raise RuntimeError("/healthz did not answer 200 on a fresh connection")
            owner = _socket_owner(connection.local_port, self.server.port, self.server.workers())
            if owner is not None and owner not in avoid:
                if kept is not None:
                    kept[0].close()
                return connection, owner
            if kept is None:
                kept = (connection, owner)
            else:
                connection.close()
        assert kept is not None
        return kept

    def _pin(self) -> list[_Poller]:
        pollers: list[_Poller] = []
        for _ in range(self.server.worker_count):
            connection, owner = self._connect({p.worker for p in pollers if p.worker is not None})
            if owner is not None and any(p.worker == owner for p in pollers):
                connection.close()  # no other worker took a connection: poll the ones found
                continue
            pollers.append(_Poller(self.server.port, connection, owner))
        return pollers

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def resume(self) -> None:
        self.active.set()

    def pause(self) -> None:
        self.active.clear()

    def close(self) -> None:
        self.stop.set()
        self.active.set()
        for thread in self.threads:
            thread.join(timeout=5)
        for poller in self.pollers:
            poller.connection.close()

    def _run(self, poller: _Poller) -> None:
        while not self.stop.is_set():
            if not self.active.wait(timeout=0.2):
                continue
            sent = time.monotonic()
            poller.in_flight = sent
            try:
                poller.connection.send()
                ok = poller.connection.receive(self.stop)
            except OSError:
                ok = False
            elapsed = time.monotonic() - sent
            with self.lock:
                poller.in_flight = None
                if ok is not None:
                    poller.samples.append((sent, elapsed * 1000, bool(ok)))
            if ok is False and not self.stop.is_set():
                self._reconnect(poller)
            self.stop.wait(max(0.0, PERIOD - elapsed))

    def _reconnect(self, poller: _Poller) -> None:
        poller.connection.close()
        poller.reconnects += 1
        others = {p.worker for p in self.pollers if p is not poller and p.worker is not None}
        try:
            poller.connection, poller.worker = self._connect(others)
        except (OSError, RuntimeError):
            time.sleep(PERIOD)

    def _overlapping(self, poller: _Poller, start: float, end: float) -> list[tuple[float, bool]]:
        """(ms, answered 200) of the poller's polls answered while [start, end] lasted or sent during it."""
        return [(ms, ok) for sent, ms, ok in poller.samples if sent <= end and sent + ms / 1000 >= start]

    def window(self, start: float, end: float) -> list[list[float]]:
        """Per poller (so per worker), the milliseconds of each poll that overlapped [start, end]; one
        still unanswered at `end` counts its age then."""
        with self.lock:
            out = []
            for poller in self.pollers:
                polls = [ms for ms, _ in self._overlapping(poller, start, end)]
                if poller.in_flight is not None and poller.in_flight <= end:
                    polls.append((end - poller.in_flight) * 1000)
                out.append(polls)
        return out

    def failures(self, start: float, end: float) -> int:
        with self.lock:
            return sum(1 for p in self.pollers for _, ok in self._overlapping(p, start, end) if not ok)

    def polls(self, start: float, end: float) -> int:
        with self.lock:
            return sum(len(self._overlapping(p, start, end)) for p in self.pollers)


def p99(values: list[float]) -> float | None:
    """Nearest-rank 99th percentile (the largest of fewer than 100 values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, -(-99 * len(ordered) // 100) - 1)]
