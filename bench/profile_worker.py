"""A server process with a CPU-time sampling profiler in it: `python -m bench.profile_worker serve|floor
--host H --port P --workers 1` runs `graphql-api serve` (or the floor, bench/floor_app.py) in this
process, and samples its main thread, where uvicorn runs the event loop, while told to.

SIGUSR1 starts sampling, SIGUSR2 stops it and writes the stacks to the file named by PROFILE_OUT (one
stack a line, outermost frame first, `;`-separated, then its count: py-spy's `raw` format), and the
milliseconds spent in garbage collection to PROFILE_OUT + ".gc".

The samples come from ITIMER_PROF, a timer of the process's CPU time (user and system): each is taken
after a slice of CPU time, never of waiting, so a stack's share of the samples is its share of the CPU.
A wall-clock sampler (py-spy) counts the time a worker is runnable but waiting for a core as well, at
the point where the kernel preempted it (often a `write` that woke PostgreSQL or the load generator):
on a busy 2-core machine that is most of the worker's wall time. Python runs the handler at the next
bytecode, so time in C (SQLite's work, a socket's `write`) counts for the Python function that called
it; time in uvloop's own C code, for the next Python callback it runs.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

OUT_ENV = "PROFILE_OUT"
INTERVAL = 0.001  # seconds of CPU time; the kernel's tick bounds how often it fires in fact


class Sampler:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.counts: Counter[tuple[CodeType, ...]] = Counter()
        self.gc_seconds = 0.0
        self._gc_started = 0.0
        self._on = False

    def start(self, *_: Any) -> None:
        self.counts.clear()
        self.gc_seconds = 0.0
        self._on = True
        gc.callbacks.append(self._gc)
        signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, INTERVAL, INTERVAL)

    def stop(self, *_: Any) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        self._on = False
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)
        lines = [
            f"{';'.join(_frame(code) for code in reversed(stack))} {n}" for stack, n in self.counts.items()
        ]
        partial = self.out.with_name(self.out.name + ".partial")
        partial.write_text("\n".join(lines) + "\n")
        Path(str(self.out) + ".gc").write_text(f"{self.gc_seconds * 1000:.3f}\n")
        partial.replace(self.out)  # the stacks last: their file says that both are there

    def _sample(self, _signal: int, frame: FrameType | None) -> None:
        codes = []
        while frame is not None:
            codes.append(frame.f_code)
            frame = frame.f_back
        self.counts[tuple(codes)] += 1

    def _gc(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.thread_time()
        elif self._on:
            self.gc_seconds += time.thread_time() - self._gc_started


def _short(path: str) -> str:
    """A file as py-spy prints it: relative to the sys.path entry it is found under."""
    best = ""
    for entry in sys.path:
        if entry and path.startswith(entry.rstrip("/") + "/") and len(entry) > len(best):
            best = entry.rstrip("/")
    return path[len(best) + 1 :] if best else path


def _frame(code: CodeType) -> str:
    return f"{code.co_qualname} ({_short(code.co_filename)}:{code.co_firstlineno})"


def main(argv: list[str]) -> int:
    program, rest = argv[0], argv[1:]
    sampler = Sampler(Path(os.environ[OUT_ENV]))
    signal.signal(signal.SIGUSR1, sampler.start)
    signal.signal(signal.SIGUSR2, sampler.stop)
    if program == "floor":
        from bench.floor_app import main as floor_main

        return floor_main(rest)
    from graphql_api.cli import main as cli_main

    return cli_main([program, *rest])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
