"""`graphql-api serve --workers N` spreads connections across its workers (Linux: SO_REUSEPORT).

Each worker listens on a socket of its own at the server's address, so the kernel assigns new
connections to the workers about evenly instead of handing a burst of them all to the one worker it
wakes first. The port stays the server's own: a second server started on it fails to start.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.factories import Factory
from tests.fault_load import STARTUP_SECONDS, Server, serving
from tests.live import SERVE, stop
from tests.test_workers import workers

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT spreads connections on Linux"),
    pytest.mark.backends("sqlite"),  # the server's sockets, whatever its database
]

CONNECTIONS = 32
_LISTEN, _ESTABLISHED = "0A", "01"


@pytest.fixture
def database(database_url: str) -> str:
    with Factory(database_url) as factory:
        factory.logs(factory.project(), 1)
    return database_url


def _sockets(port: int) -> dict[str, str]:
    """The TCP sockets at local port `port`: their inode and state (/proc/net/tcp, hex)."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                found[fields[9]] = fields[3]
    return found


def _held_by(pid: int, inodes: set[str]) -> list[str]:
    held = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            held.append(target[8:-1])
    return held


def _listeners(server: Server, port: int) -> dict[int, list[str]]:
    """The listening sockets each worker holds, once both have started (at most STARTUP_SECONDS)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        listening = {inode for inode, state in _sockets(port).items() if state == _LISTEN}
        pids = workers(server)
        held = {pid: _held_by(pid, listening) for pid in pids}
        if (len(pids) == 2 and all(held.values())) or time.monotonic() > deadline:
            return held
        time.sleep(0.1)


def _port(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _keep_alive_connections(port: int, count: int) -> list[socket.socket]:
    """`count` connections opened at once, each then answered once (so that a worker accepted it)."""
    opened = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    for connection in opened:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    for connection in opened:
        assert connection.recv(65536).startswith(b"HTTP/1.1 200")
    return opened


def test_each_worker_listens_on_its_own_socket_and_connections_spread_across_them(
    database: str, tmp_path: Path
) -> None:
    with serving(database, tmp_path, WORKERS="2") as server:
        port = _port(server)
        listeners = _listeners(server, port)
        # One listening socket per worker, and none held by the supervisor.
        assert sorted(len(held) for held in listeners.values()) == [1, 1]
        assert len({inode for held in listeners.values() for inode in held}) == 2
        assert not _held_by(server.process.pid, set(_sockets(port)))
        opened = _keep_alive_connections(port, CONNECTIONS)
        try:
            established = {inode for inode, state in _sockets(port).items() if state == _ESTABLISHED}
            served = Counter({pid: len(_held_by(pid, established)) for pid in listeners})
        finally:
            for connection in opened:
                connection.close()
    # Spread by a hash of each connection's addresses: fewer than 4 of 32 on one worker happens about
    # once in 400,000 runs; with one shared socket the worker woken first took nearly all of them.
    assert sum(served.values()) == CONNECTIONS
    assert min(served.values()) >= 4, served


@pytest.mark.parametrize("workers_of_the_second", ["1", "2"])
def test_a_second_server_on_the_same_port_fails_to_start(
    database: str, tmp_path: Path, workers_of_the_second: str
) -> None:
    with serving(database, tmp_path, WORKERS="2") as server:
        second = subprocess.run(
            [*SERVE, "--port", str(_port(server))],
            env={**server_environment(database), "WORKERS": workers_of_the_second},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0
        assert "address already in use" in second.stderr.lower()
        # The first one still serves every connection: the second took none of them.
        for connection in _keep_alive_connections(_port(server), 8):
            connection.close()


def server_environment(database: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database, "LOG_FORMAT": "json"}


def test_the_server_stops_serving_when_stopped(database: str, tmp_path: Path) -> None:
    with serving(database, tmp_path, WORKERS="2") as server:
        port = _port(server)
        stop(server.process)
        assert server.process.returncode == 0
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5)
