"""uvicorn and its workers, each worker listening on a socket of its own where the kernel allows it.

uvicorn's supervisor binds one socket and its workers share it: a burst of new connections goes to
whichever worker the kernel wakes first, and it accepts all that are waiting. Keep-alive connections
stay where they landed, so a load balancer's few long-lived connections (or a benchmark's 16) could
all end on one worker while the others idled: the benchmark measured 16 connections on one of two
workers in two runs of three, at 5,600 requests/s against 8,000 when they were spread.

On Linux each worker binds its own listening socket to the server's address with SO_REUSEPORT, and
the kernel assigns every new connection to one of those sockets by a hash of its addresses: about
evenly, whoever is awake (a connection stays with the worker it was assigned to, as before). The
supervisor holds the address with a socket bound there that never listens (connections go to
listening sockets only), so that a worker it starts, at first or to replace one, can always bind it
again; before that it checks that nothing else is bound there, as SO_REUSEPORT would otherwise let a
second server of the same user share the port silently instead of failing to start.

Elsewhere (macOS and Windows do not spread connections across such sockets), the workers share one.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any

logger = logging.getLogger("graphql_api.cli")
# uvicorn's exit status for a server that could not start (its config.STARTUP_FAILURE).
_STARTUP_FAILURE = 3


def run_uvicorn(app: str, options: dict[str, Any]) -> None:
    """uvicorn.run, with several workers under a supervisor that spreads connections across them and
    refuses new connections as soon as it is told to stop."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):
        """uvicorn's supervisor, closing its copy of the listening socket (or its hold on the address)
        before it tells the workers to drain. The workers close theirs; with the supervisor's still
        open, the port went on accepting connections no worker would take (they hung until the last
        worker was done, then were reset) instead of refusing them at once, as a single process does."""

        def terminate_all(self) -> None:
            for sock in self.sockets:
                sock.close()
            super().terminate_all()

    if options["workers"] <= 1:
        uvicorn.run(app, **options)
        return
    config = uvicorn.Config(app, **options)
    if not own_sockets_spread_connections():
        Supervisor(config, sockets=[config.bind_socket()]).run()
        return
    try:
        held = HeldAddress(config.host, config.port)
    except OSError as exc:
        logger.error("cannot listen on %s:%s: %s", config.host, config.port, exc.strerror or exc)
        sys.exit(_STARTUP_FAILURE)
    host, port = held.address[:2]
    shown = f"[{host}]" if held.family == socket.AF_INET6 else host
    logger.info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)", shown, port)
    # uvicorn hands each worker it starts this list; the held address turns into the worker's own
    # listening socket as the worker receives it (HeldAddress.__reduce__).
    Supervisor(config, sockets=[held]).run()  # type: ignore[list-item]


def own_sockets_spread_connections() -> bool:
    """Whether the kernel spreads connections across sockets bound to one address (Linux 3.9+)."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


class HeldAddress:
    """The server's address, held by the supervisor; each worker gets a listening socket of its own
    there (`own_listening_socket`)."""

    def __init__(self, host: str, port: int) -> None:
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # Nothing else may be bound there: a socket without SO_REUSEPORT cannot share the address.
        with socket.socket(self.family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            self.address = probe.getsockname()  # the port the kernel chose, for port 0
        self._socket = _reusing(self.family)
        try:
            self._socket.bind(self.address)
        except OSError:
            self._socket.close()
            raise

    def close(self) -> None:
        self._socket.close()

    def __reduce__(self) -> tuple[Any, ...]:
        return own_listening_socket, (self.family, self.address)


def own_listening_socket(family: int, address: tuple[Any, ...]) -> socket.socket:
    """A worker's socket at the server's address, bound there beside the other workers' (uvicorn's
    worker listens on it)."""
    sock = _reusing(family)
    try:
        sock.bind(address)
    except OSError as exc:  # another program took the address: this server cannot serve there
        sock.close()
        logger.error("a worker cannot listen on %s: %s", address[:2], exc.strerror or exc)
        raise SystemExit(_STARTUP_FAILURE) from exc
    return sock


def _reusing(family: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock
