"""Real servers and a real browser, for the tests that drive the API with the tools its users have.

`graphql-api serve` runs as a subprocess on a free loopback port against the test's database; the
browser is Debian's Chromium driven by Playwright (never a browser Playwright downloads). When either
is missing the tests are skipped with the reason printed on the terminal, never passed silently.
"""

from __future__ import annotations

import fcntl
import functools
import http.server
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from tests.suite import SUITE_ENV

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# Generous: the machine is small and shared, and a cold start imports a lot.
STARTUP_SECONDS = 60.0
SERVE = [sys.executable, "-m", "graphql_api", "serve", "--host", "127.0.0.1"]


def skip_loudly(request: pytest.FixtureRequest, reason: str) -> NoReturn:
    """Skip, and say so on the terminal right away when the run has one process (pytest-xdist's workers
    have no terminal); the `-ra` summary at the end says it in any case."""
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        # Output is captured while a test runs; this line must reach the terminal (and CI's log).
        with capture.global_and_fixture_disabled():
            where = request.node.nodeid or request.fixturename
            reporter.write_line(f"WARNING: SKIPPED {where}: {reason}", yellow=True, bold=True)
    pytest.skip(reason)


def free_port(preferred: int = 0) -> int:
    """`preferred` when it is free (outside the ephemeral range, so other tests' servers never take it),
    else any free port."""
    for port in (preferred, 0) if preferred else (0,):
        with socket.socket() as sock:
            # As uvicorn binds: a port whose last server just stopped (TIME_WAIT) counts as free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free loopback port")


class _PortTaken(Exception):
    pass


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log.read_text()
            if "address already in use" in output.lower():
                raise _PortTaken(output)
            raise RuntimeError(f"graphql-api serve exited with {process.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"graphql-api serve did not answer /healthz in {STARTUP_SECONDS}s:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes], *, timeout: float = 10) -> None:
    """Terminate a server process, killing it if it does not exit within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serve(database_url: str, *, preferred_port: int = 0, **env: str) -> Iterator[str]:
    """`graphql-api serve` on a free loopback port; yields its base URL and stops it afterwards."""
    with serve_process(database_url, preferred_port=preferred_port, **env) as (url, _process):
        yield url


# The fixed ports this process holds, and by how many of its servers: a test that restarts its server
# on the same port starts the second while the first one's claim is still open.
_CLAIMED: Counter[int] = Counter()


@contextmanager
def _claimed(port: int) -> Iterator[bool]:
    """Whether this process holds `port` for its server, among the suite's processes (pytest-xdist's
    workers): a lock file per port, held while the server runs.

    Probing alone is not enough for a fixed port: two workers can both find it free, start a server
    each, and the one whose server loses the bind would find the other's server healthy on that URL,
    and run its test against another database.
    """
    if not port:
        yield False
        return
    if _CLAIMED[port]:
        with _holding(port):
            yield True
        return
    # The lock is released as the file closes.
    with open(Path(tempfile.gettempdir()) / f"graphql-api-tests-port-{port}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        with _holding(port):
            yield True


@contextmanager
def _holding(port: int) -> Iterator[None]:
    _CLAIMED[port] += 1
    try:
        yield
    finally:
        _CLAIMED[port] -= 1


@contextmanager
def serve_process(
    database_url: str, *, preferred_port: int = 0, **env: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`graphql-api serve` on a free loopback port: its base URL and its process. `preferred_port` when
    no other test holds it and it is free."""
    environ = {**os.environ, **SUITE_ENV, "DATABASE_URL": database_url, **env}
    with (
        _claimed(preferred_port) as preferred,
        tempfile.NamedTemporaryFile(prefix="serve-", suffix=".log") as log,
    ):
        # Another process may take the port between the probe and the server's bind: try again then.
        for attempt in range(3):
            port = free_port(preferred_port if preferred and attempt == 0 else 0)
            command = [*SERVE, "--port", str(port)]
            process = subprocess.Popen(command, env=environ, stdout=log, stderr=subprocess.STDOUT)
            url = f"http://127.0.0.1:{port}"
            try:
                _wait_until_healthy(url, process, Path(log.name))
                break
            except _PortTaken:
                stop(process)
                log.seek(0)
                log.truncate()
            except BaseException:
                stop(process)
                raise
        else:
            raise RuntimeError("graphql-api serve found no free port in 3 tries")
        try:
            yield url, process
        finally:
            stop(process)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """A static file server for `directory` on another loopback port (another origin than the API)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass(frozen=True)
class LiveServer:
    url: str
    key: str


@pytest.fixture
def live_server() -> LiveServer:
    """The server a browser test talks to; each browser test module defines its own, seeded."""
    raise NotImplementedError("define a `live_server` fixture in the test module")


@pytest.fixture
def page(request: pytest.FixtureRequest, live_server: LiveServer) -> Iterator[Page]:
    """A fresh page in headless Chromium. It depends on `live_server` so that the data is seeded before
    Playwright starts: its sync API runs an event loop in this thread, after which `asyncio.run` (the
    factories) cannot."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        skip_loudly(request, "the playwright package is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).is_file():
        skip_loudly(request, f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        except Error as exc:
            skip_loudly(request, f"Chromium at {CHROMIUM} did not start: {exc.message.splitlines()[0]}")
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            # Tests wait on what the page shows; this bounds each wait so a failure is quick.
            context.set_default_timeout(15_000)
            yield context.new_page()
            context.close()
        finally:
            browser.close()
