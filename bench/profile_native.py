"""Where a worker's CPU goes by library, from Linux `perf` (bench/profile.py's second view).

The Python sampler (bench/profile_worker.py) puts each sample in the Python frame that was running when
its signal's handler ran, which is after the C call the signal interrupted: a request's own Python work
can land in the statement or in uvicorn's `send` before it. `perf record` samples the CPU wherever it is
and names the library (the shared object) it is in, so that the Python interpreter, SQLite, the C
library and the kernel each get their own time. Nothing is attributed to a request's phases here; it
tells how much of the difference between the server and the floor is Python code being run.

Optional: without `perf`, or where the kernel does not let this user sample a process
(kernel.perf_event_paranoid), `available()` is False and the profile has no such view.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Libraries grouped as the profile reports them: (label, pattern of the shared object's name).
GROUPS: list[tuple[str, re.Pattern[str]]] = [
    ("Python interpreter (bytecode, objects)", re.compile(r"^libpython|^python3")),
    ("SQLite", re.compile(r"^libsqlite3|^_sqlite3\.")),
    ("asyncpg", re.compile(r"^protocol\.cpython|^asyncpg")),
    ("uvloop", re.compile(r"^loop\.cpython")),
    ("httptools", re.compile(r"^(parser|url_parser)\.cpython")),
    ("C library (memory, strings)", re.compile(r"^libc\.so|^ld-linux")),
    ("kernel (system calls, network)", re.compile(r"^\[kernel")),
    ("hashing (OpenSSL, blake2)", re.compile(r"^libcrypto|^_hashlib|^_blake2")),
    ("orjson", re.compile(r"^orjson")),
]
OTHER = "other"
_ROW = re.compile(r"^\s*(?P<percent>[\d.]+)%\s+(?P<dso>\S.*?)\s*$")


def available() -> bool:
    """Whether `perf record` can sample a process of this user here."""
    if shutil.which("perf") is None:
        return False
    try:
        done = subprocess.run(
            ["perf", "record", "-q", "-o", "/dev/null", "--", "true"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@contextmanager
def recording(pid: int, *, frequency: int = 999) -> Iterator[dict[str, float]]:
    """Sample `pid` with perf while the block runs; the dict given is filled, at the block's end, with
    each group's share of the samples (bench/profile.py multiplies it by the CPU per request)."""
    shares: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-perf-") as folder:
        data = Path(folder, "perf.data")
        command = ["perf", "record", "-q", "-F", str(frequency), "-p", str(pid), "-o", str(data)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield shares
        finally:
            process.send_signal(2)  # SIGINT: perf writes its file and exits
            process.wait(timeout=60)
        report = subprocess.run(
            ["perf", "report", "-i", str(data), "--sort", "dso", "--no-children", "-g", "none", "-q"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        shares.update(grouped(report.stdout))


def grouped(report: str) -> dict[str, float]:
    """`perf report --sort dso` lines (`  44.49%  libpython3.11.so.1.0`) as each group's share (0-1)."""
    shares: dict[str, float] = {}
    for line in report.splitlines():
        found = _ROW.match(line)
        if found is None:
            continue
        dso = found["dso"]
        group = next((label for label, pattern in GROUPS if pattern.search(dso)), OTHER)
        shares[group] = shares.get(group, 0.0) + float(found["percent"]) / 100
    return dict(sorted(shares.items(), key=lambda item: -item[1]))
