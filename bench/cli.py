"""`python -m bench` / `graphql-api bench`: build or reuse the data, measure, print, write JSON."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from bench import queries as q
from bench import report
from bench.data import (
    Dataset,
    dataset_arguments,
    plan_for,
    prepare,
    prepare_postgresql,
)
from bench.inprocess import CodePath, Figures, run
from bench.load import have_wrk
from bench.server import as_dict, run_server
from graphql_api.settings import Settings

logger = logging.getLogger("bench")


def code_paths() -> list[CodePath]:
    """The server's default path, and Strawberry's resolvers when a compiled path is the default."""
    names = {f.name for f in fields(Settings)}
    if "compiled_execution" not in names:
        return [CodePath("", "default settings", {}, {})]
    return [
        CodePath("", "default settings (compiled execution on)", {}, {}),
        CodePath(
            "resolvers_",
            "Strawberry resolvers (COMPILED_EXECUTION=false)",
            {"compiled_execution": False},
            {"COMPILED_EXECUTION": "false"},
        ),
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--logs", type=int, default=1_000_000, help="logs in the database (default 1,000,000)"
    )
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument(
        "--quick", action="store_true", help="few rounds, short server runs (with --logs 20000: < 1 min)"
    )
    parser.add_argument("--rounds", type=int, help="in-process rounds (default 200, quick 20)")
    parser.add_argument("--seconds", type=float, help="load per server run (default 10, quick 2)")
    parser.add_argument(
        "--workers", default="1,2", help="server sizes to load, comma-separated (default 1,2)"
    )
    parser.add_argument("--no-server", action="store_true", help="in-process measurements only")
    dataset_arguments(
        parser,
        postgresql="also measure on this PostgreSQL server: an administrative database there, as "
        "postgresql+asyncpg://user@host:5432/postgres",
    )
    return parser


def _load_average() -> float:
    return os.getloadavg()[0]


@dataclass(frozen=True)
class Runs:
    """How much to measure, the same on every database."""

    rounds: int
    seconds: float
    workers: list[int]
    quick: bool
    server: bool


def _figures(prefix: str, inproc: Figures, server: list[dict[str, Any]]) -> dict[str, Any]:
    """The named figures of one path (the default path's are the issue's names)."""
    ms, p = inproc.ms, prefix
    out: dict[str, Any] = {
        "ms_floor100": ms["floor100"],
        "ms_floor10": ms["floor10"],
        "ms_page100": ms[f"{p}page100"],
        "ms_page10": ms[f"{p}page10"],
        "ratio_page100": ms[f"{p}page100"] / ms["floor100"],
        "ratio_page10": ms[f"{p}page10"] / ms["floor10"],
        "ms_count_largest": ms[f"{p}count_largest"],
        "ms_count_typical": ms[f"{p}count_typical"],
        "ms_skip_deep": ms[f"{p}skip_deep"],
        "statements_page100": inproc.statements.get(f"{p}page100"),
        "statements_page10": inproc.statements.get(f"{p}page10"),
    }
    if f"{p}conn_deep" in ms:
        out["ms_conn_first"] = ms[f"{p}conn_first"]
        out["ms_conn_deep"] = ms[f"{p}conn_deep"]
        out["deep_over_first"] = ms[f"{p}conn_deep"] / ms[f"{p}conn_first"]
    out["skip_deep_over_first"] = ms[f"{p}skip_deep"] / ms[f"{p}page100"]
    for run_ in server:
        suffix = f"page{run_['rows']}_w{run_['workers']}"
        out[f"req_s_{suffix}"] = run_["req_s"]
        out[f"p50_ms_{suffix}"] = run_["p50_ms"]
        out[f"p99_ms_{suffix}"] = run_["p99_ms"]
        out[f"cpu_ms_per_request_{suffix}"] = run_["cpu_ms_per_request"]
    if server:
        out["worker_rss_mb"] = max(r["worker_rss_mb"] for r in server)
    return out


def _server_runs(data: Dataset, path: CodePath, runs: Runs) -> list[dict[str, Any]]:
    """The whole server for one path, at each size: pages of 100 and 10."""
    queries = {100: q.page(100), 10: q.page(10)}
    tool = "wrk" if have_wrk() else "built-in load"
    out: list[dict[str, Any]] = []
    for count in runs.workers:
        logger.info("server on %s: %s, %d worker(s), %s", data.server, path.title, count, tool)
        loaded = run_server(data, workers=count, queries=queries, seconds=runs.seconds, env=path.env)
        out += [as_dict(r) for r in loaded]
    return out


def _section(
    path: CodePath, paths: list[CodePath], inproc: Figures, server: list[dict[str, Any]], runs: Runs
) -> dict[str, Any]:
    """One path's rows (the floor's too) for the table and the JSON."""
    names = [n for n in inproc.extra["labels"] if n.startswith("floor") or n.startswith(path.prefix)]
    if path.prefix == "":
        names = [n for n in names if not any(n.startswith(p.prefix) for p in paths if p.prefix)]
    return {
        "prefix": path.prefix,
        "title": path.title,
        "in_process": {
            "rounds": runs.rounds,
            "labels": {n: inproc.extra["labels"][n] for n in names},
            "ms": {n: inproc.ms[n] for n in names},
            "cpu_ms": {n: inproc.cpu_ms[n] for n in names},
            "statements": {n: inproc.statements[n] for n in names if n in inproc.statements},
        },
        "server": server,
        "server_seconds": runs.seconds,
    }


def _measure(
    data: Dataset, paths: list[CodePath], runs: Runs
) -> tuple[Figures, list[dict[str, Any]], dict[str, Any]]:
    """Every path on one database: the in-process rows, then the whole server. Returns the in-process
    figures, each path's section and the named figures (the default path's are the issue's names)."""
    logger.info("in-process on %s: %d rounds over %d path(s)", data.server, runs.rounds, len(paths))
    inproc = run(data, rounds=runs.rounds, paths=paths)
    sections: list[dict[str, Any]] = []
    figures: dict[str, Any] = {}
    for index, path in enumerate(paths):
        # Quick mode loads the default path only: the whole run stays under a minute.
        loaded = runs.server and (index == 0 or not runs.quick)
        server = _server_runs(data, path, runs) if loaded else []
        sections.append(_section(path, paths, inproc, server, runs))
        suffix = f"_{path.prefix.rstrip('_')}" if path.prefix else ""
        figures.update({f"{name}{suffix}": v for name, v in _figures(path.prefix, inproc, server).items()})
    return inproc, sections, figures


def _dataset(data: Dataset, args: argparse.Namespace, inproc: Figures) -> dict[str, Any]:
    return {
        "server": data.server,
        "logs": args.logs,
        "projects": args.projects,
        "largest_logs": data.largest_logs,
        "typical_logs": data.typical_logs,
        "depth": inproc.extra["depth"],
        "path": data.location,
        "built_seconds": data.built_seconds,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The benchmark's own progress at INFO; the apps measured in process log as the served ones do
    # (LOG_LEVEL=warning): no request lines, which would be timed with every request.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    logger.setLevel(logging.INFO)
    runs = Runs(
        rounds=args.rounds or (20 if args.quick else 200),
        seconds=args.seconds or (2.0 if args.quick else 10.0),
        workers=[int(w) for w in args.workers.split(",") if w.strip()],
        quick=args.quick,
        server=not args.no_server,
    )
    started = time.perf_counter()
    load_before = _load_average()

    plan = plan_for(args.logs, args.projects)
    data = prepare(plan, cache=args.cache, rebuild=args.rebuild)
    # Built (or checked) before measuring anything: a wrong URL fails now, not after the SQLite runs.
    pg = prepare_postgresql(plan, args.postgresql, rebuild=args.rebuild) if args.postgresql else None
    paths = code_paths()
    inproc, sections, figures = _measure(data, paths, runs)
    result: dict[str, Any] = {"paths": sections, "figures": figures, "dataset": _dataset(data, args, inproc)}
    result["postgresql"] = None
    if pg is not None:
        pg_inproc, pg_sections, pg_figures = _measure(pg, paths, runs)
        result["postgresql"] = {"paths": pg_sections, "dataset": _dataset(pg, args, pg_inproc)}
        result["figures"].update({f"pg_{name}": v for name, v in pg_figures.items()})
    try:
        from bench import explain

        result["plans"] = explain.plans(data, _deep_position(data, inproc))
    except (AttributeError, ImportError) as exc:  # a checkout older than the statement builders
        result["plans"] = {"not available in this checkout": [repr(exc)]}
    result["targets"] = report.met(result["figures"])
    result["machine"] = {
        "cores": os.cpu_count(),
        "load_before": load_before,
        "load_after": _load_average(),
        "wrk": have_wrk(),
        "seconds": time.perf_counter() - started,
    }
    print(report.table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


def _deep_position(data: Dataset, inproc: Figures) -> tuple[list[Any], str] | None:
    """Sort values and id of the row `depth` deep, for the keyset statement's plan."""
    from datetime import UTC, datetime

    with sqlite3.connect(data.path) as db:
        row = db.execute(
            "SELECT created_at, id FROM whatsapp_log WHERE project_id = ? AND deleted_at IS NULL "
            "AND status = ? ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?",
            (data.largest_project, q.STATUS, int(inproc.extra["depth"]) - 1),
        ).fetchone()
    if row is None:
        return None
    return [datetime.fromisoformat(row[0]).replace(tzinfo=UTC)], row[1]
