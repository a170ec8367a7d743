"""`python -m bench --floor [--profile]`: the whole server against its floor, on each backend.

For SQLite and, when a PostgreSQL server is given (BENCH_POSTGRESQL_URL or --postgresql), PostgreSQL:
`graphql-api serve --workers 2` and the floor (bench/floor_app.py) under the benchmark's load, pages of
100 and 10, interleaved rounds; prints a table, writes every figure to --json, and ends with one line
of name=value. `--profile` adds where a page of 10's time goes in one worker (bench/profile.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench import floor, floor_report
from bench import queries as q
from bench.data import (
    Dataset,
    dataset_arguments,
    plan_for,
    prepare,
    prepare_postgresql,
)
from bench.load import have_wrk

logger = logging.getLogger("bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench --floor", description=__doc__)
    parser.add_argument("--floor", action="store_true", help="this mode (required)")
    parser.add_argument(
        "--logs", type=int, default=1_000_000, help="logs in the database (default 1,000,000)"
    )
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 s (with --logs 20000: ~2 min)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3, quick 2)")
    parser.add_argument("--seconds", type=float, help="load per run (default 10, quick 2)")
    parser.add_argument("--profile", action="store_true", help="also profile one worker (bench/profile.py)")
    dataset_arguments(parser, postgresql="also measure on this PostgreSQL server")
    return parser


def _backend(data: Dataset, args: argparse.Namespace, rounds: int, seconds: float) -> dict[str, Any]:
    documents = {100: q.page(100), 10: q.page(10)}
    section: dict[str, Any] = {
        "server": data.server,
        "database": data.location,
        "tool": "wrk" if have_wrk() else "built-in load",
        "comparison": floor.compare(data, documents, rounds=rounds, seconds=seconds),
    }
    if args.profile:
        from bench import profile

        section["profile"] = profile.run(data, rows=10, seconds=seconds)
    return section


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    logger.setLevel(logging.INFO)
    rounds = args.rounds or (2 if args.quick else 3)
    seconds = args.seconds or (2.0 if args.quick else 10.0)
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    plan = plan_for(args.logs, args.projects)
    datasets = [prepare(plan, cache=args.cache, rebuild=args.rebuild)]
    if args.postgresql:
        datasets.append(prepare_postgresql(plan, args.postgresql, rebuild=args.rebuild))
    result: dict[str, Any] = {"logs": args.logs, "backends": {}, "figures": {}}
    for data in datasets:
        section = _backend(data, args, rounds, seconds)
        result["backends"][data.backend] = section
        prefix = "" if data.backend == "sqlite" else "pg_"
        figures = floor.figures(section["comparison"])
        result["figures"].update({f"{prefix}{name}": value for name, value in figures.items()})
    result["machine"] = {
        "cores": os.cpu_count(),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "wrk": have_wrk(),
        "seconds": time.perf_counter() - started,
    }
    print(floor_report.table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0
