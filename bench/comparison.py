"""The command line shared by the side-by-side measurements of one feature's cost (bench/compression.py,
bench/tracing_cost.py): the dataset options, rounds and seconds, and a run that prints a report."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from bench.data import Dataset, dataset_arguments, plan_for, prepare, prepare_postgresql

Measure = Callable[[Dataset, int, float], dict[str, Any]]


def build_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--logs", type=int, default=200_000, help="logs in the database (default 200,000)")
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 s")
    dataset_arguments(parser, postgresql="measure on this PostgreSQL server instead of SQLite")
    return parser


def run(
    argv: Sequence[str] | None,
    parser: argparse.ArgumentParser,
    measure: Measure,
    report: Callable[[Any], None],
) -> int:
    """Parse, build (or reuse) the dataset, measure, write --json, print the report."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    rounds, seconds = (2, 2.0) if args.quick else (args.rounds, args.seconds)
    plan = plan_for(args.logs, args.projects)
    data = (
        prepare_postgresql(plan, args.postgresql, rebuild=args.rebuild)
        if args.postgresql
        else prepare(plan, cache=args.cache, rebuild=args.rebuild)
    )
    result = {"backend": data.backend, "logs": args.logs, "rounds": rounds, "seconds": seconds}
    result.update(measure(data, rounds, seconds))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    report(result)
    return 0
