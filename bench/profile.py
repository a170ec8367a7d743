"""`python -m bench.profile` (or `python -m bench --floor --profile`): where a request's time goes.

One worker of `graphql-api serve` (and of the floor, for comparison) on loopback, metrics in their
multi-process mode as with several workers, loaded with the benchmark's page as `python -m bench
--floor` loads it, while a sampling profiler of CPU time runs in it (bench/profile_worker.py: no
cProfile, whose cost per Python call would inflate exactly the many small calls being measured, and
no wall-clock sampling, which counts a worker waiting for a core on this shared machine). Each sample
is put in the category of its innermost frame that has one (bench/profile_categories.py: uvicorn and
httptools = HTTP, Starlette's and our middleware, body decoding, the key check, the plan-cache lookup,
parameter binding, the statement, response assembly, metrics, logs, ...), so a category holds the time
spent in its own code and in the library and C code it calls. A category's share of the samples times
the worker's CPU per request (from /proc, over the same load) gives its milliseconds per request.

Where Linux `perf` can sample the worker, each target also gets its CPU per request by library over a
load of its own (bench/profile_native.py): the Python interpreter, SQLite, the C library, the kernel.
The sampler above puts a C call's time in the Python frame running after it, so its "statement" and
"HTTP" hold some of the request's own Python work; the libraries' view does not.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import profile_native
from bench import queries as q
from bench.data import CACHE, POSTGRESQL_ENV, Dataset, plan_for, prepare, prepare_postgresql
from bench.floor import SERVER_ENV, floor_serving, load, spec_for
from bench.load import post_body
from bench.profile_categories import ORDER, Frame, Stack, classify, owner, parse
from bench.profile_worker import OUT_ENV
from bench.server import Served, serving

logger = logging.getLogger("bench")
TOP = 25
PROGRAM = (sys.executable, "-m", "bench.profile_worker")


def sample(
    served: Served, out: Path, body: str, headers: dict[str, str], *, seconds: float
) -> dict[str, Any]:
    """The worker's samples while it is loaded for `seconds`, and its CPU per request over that load."""
    (pid,) = served.workers()
    os.kill(pid, signal.SIGUSR1)
    run = load(served, body, headers, seconds=seconds)
    os.kill(pid, signal.SIGUSR2)
    deadline = time.monotonic() + 30
    while not out.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the profiled worker wrote no samples")
        time.sleep(0.05)
    gc_ms = float(Path(str(out) + ".gc").read_text())
    return {
        "stacks": parse(out.read_text()),
        "req_s": run.req_s,
        "requests": run.requests,
        "cpu_ms_per_request": run.cpu_ms_per_request,
        "gc_ms_per_request": gc_ms / max(run.requests, 1),
    }


def _own(frame: Frame) -> bool:
    """The sampler's own code (the server runs under bench/profile_worker.py's `main`)."""
    return frame.file.endswith("bench/profile_worker.py") and frame.function.startswith("Sampler.")


def breakdown(name: str, sampled: dict[str, Any], top: int = TOP) -> dict[str, Any]:
    """The samples by category and by function, in ms of CPU per request."""
    # Samples in the profiler's own code (its signal handlers, its garbage-collection callback) are left out.
    stacks: Counter[Stack] = Counter(
        {stack: n for stack, n in sampled["stacks"].items() if not any(_own(frame) for frame in stack)}
    )
    total = sum(stacks.values()) or 1
    per_request = sampled["cpu_ms_per_request"]
    categories: Counter[str] = Counter()
    functions: Counter[tuple[str, str]] = Counter()
    for stack, n in stacks.items():
        category = classify(stack)
        categories[category] += n
        function = owner(stack)
        functions[f"{function.function} ({function.file})", category] += n

    def row(count: int) -> dict[str, float]:
        return {"share": count / total, "ms_per_request": count / total * per_request}

    ranked = sorted(categories, key=lambda c: (-categories[c], ORDER.index(c)))
    return {
        "name": name,
        "req_s": sampled["req_s"],
        "cpu_ms_per_request": per_request,
        "gc_ms_per_request": sampled["gc_ms_per_request"],
        "samples": sum(stacks.values()),
        "categories": [{"category": c, **row(categories[c])} for c in ranked],
        "top": [{"function": f, "category": c, **row(n)} for (f, c), n in functions.most_common(top)],
    }


def by_library(served: Served, body: str, headers: dict[str, str], *, seconds: float) -> list[dict[str, Any]]:
    """The worker's CPU per request by library (bench/profile_native.py), over a load of its own."""
    (pid,) = served.workers()
    with profile_native.recording(pid) as shares:
        run = load(served, body, headers, seconds=seconds)
    return [
        {"library": name, "share": share, "ms_per_request": share * run.cpu_ms_per_request}
        for name, share in shares.items()
    ]


def run(data: Dataset, *, rows: int = 10, seconds: float = 10.0) -> dict[str, Any]:
    """The server's and the floor's profiles for the page of `rows`, one after the other."""
    logger.info("profile on %s: page of %d, one worker each", data.server, rows)
    document = q.page(rows)
    spec = spec_for(data, {rows: document})
    body = post_body(document)
    headers = {"Content-Type": "application/json", "ApiKey": data.keys[data.largest_project]}
    targets = []
    native = profile_native.available()
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as folder:
        for name in ("server", "floor"):
            out = Path(folder, f"{name}.txt")
            # Metrics as with several workers (shared files), which serve sets up only for those.
            env = {OUT_ENV: str(out), "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(dir=folder)}
            if name == "server":
                env.update(SERVER_ENV)  # with its request log line, as bench --floor loads it
            program = (*PROGRAM, "serve" if name == "server" else "floor")
            context = (
                serving(data, workers=1, env=env, program=program)
                if name == "server"
                else floor_serving(data, spec, workers=1, env=env, program=program)
            )
            with context as served:
                load(served, body, headers, seconds=min(2.0, seconds))  # warm
                target = breakdown(name, sample(served, out, body, headers, seconds=seconds))
                if native:
                    target["libraries"] = by_library(served, body, headers, seconds=seconds)
                targets.append(target)
    return {"server": data.server, "rows": rows, "seconds": seconds, "targets": targets}


def main(argv: Sequence[str] | None = None) -> int:
    from bench.floor_report import profile_lines

    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument(
        "--logs", type=int, default=1_000_000, help="logs in the database (default 1,000,000)"
    )
    parser.add_argument("--rows", type=int, default=10, help="the page's size (default 10)")
    parser.add_argument("--seconds", type=float, default=10.0, help="sampled load per target (default 10)")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument(
        "--postgresql",
        metavar="URL",
        default=os.environ.get(POSTGRESQL_ENV) or None,
        help=f"also profile on this PostgreSQL server (default ${POSTGRESQL_ENV})",
    )
    parser.add_argument("--json", type=Path, help="also write the profiles to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    logger.setLevel(logging.INFO)
    plan = plan_for(args.logs)
    datasets = [prepare(plan, cache=args.cache)]
    if args.postgresql:
        datasets.append(prepare_postgresql(plan, args.postgresql))
    profiles = {d.backend: run(d, rows=args.rows, seconds=args.seconds) for d in datasets}
    for profile in profiles.values():
        print("\n".join(profile_lines(profile)))
    if args.json:
        args.json.write_text(json.dumps(profiles, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
