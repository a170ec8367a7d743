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
from dataclasses import fields
from pathlib import Path
from typing import Any

from bench import queries as q
from bench import report
from bench.data import CACHE, plan_for, prepare
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
    parser.add_argument("--rebuild", action="store_true", help="build the database again even if cached")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where built databases are kept")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    return parser


def _load_average() -> float:
    return os.getloadavg()[0]


def _project_sizes(path: Path, largest: str, typical: str) -> tuple[int, int]:
    with sqlite3.connect(path) as db:
        sql = "SELECT count(*) FROM whatsapp_log WHERE project_id = ? AND deleted_at IS NULL"
        return db.execute(sql, (largest,)).fetchone()[0], db.execute(sql, (typical,)).fetchone()[0]


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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    rounds = args.rounds or (20 if args.quick else 200)
    seconds = args.seconds or (2.0 if args.quick else 10.0)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    started = time.perf_counter()
    load_before = _load_average()

    data = prepare(plan_for(args.logs, args.projects), cache=args.cache, rebuild=args.rebuild)
    largest_logs, typical_logs = _project_sizes(data.path, data.largest_project, data.typical_project)
    paths = code_paths()
    logger.info("in-process: %d rounds over %d path(s)", rounds, len(paths))
    inproc = run(data, rounds=rounds, paths=paths)

    result: dict[str, Any] = {"paths": [], "figures": {}}
    for index, path in enumerate(paths):
        server: list[dict[str, Any]] = []
        # Quick mode loads the default path only: the whole run stays under a minute.
        if not args.no_server and (index == 0 or not args.quick):
            for count in workers:
                logger.info(
                    "server: %s, %d worker(s), %s",
                    path.title,
                    count,
                    "wrk" if have_wrk() else "built-in load",
                )
                runs = run_server(
                    data,
                    workers=count,
                    queries={100: q.page(100), 10: q.page(10)},
                    seconds=seconds,
                    env=path.env,
                )
                server += [as_dict(r) for r in runs]
        names = [n for n in inproc.extra["labels"] if n.startswith("floor") or n.startswith(path.prefix)]
        if path.prefix == "":
            names = [n for n in names if not any(n.startswith(p.prefix) for p in paths if p.prefix)]
        result["paths"].append(
            {
                "prefix": path.prefix,
                "title": path.title,
                "in_process": {
                    "rounds": rounds,
                    "labels": {n: inproc.extra["labels"][n] for n in names},
                    "ms": {n: inproc.ms[n] for n in names},
                    "cpu_ms": {n: inproc.cpu_ms[n] for n in names},
                    "statements": {n: inproc.statements[n] for n in names if n in inproc.statements},
                },
                "server": server,
                "server_seconds": seconds,
            }
        )
        figures = _figures(path.prefix, inproc, server)
        if path.prefix == "":
            result["figures"].update(figures)
        else:
            result["figures"].update({f"{name}_{path.prefix.rstrip('_')}": v for name, v in figures.items()})

    result["dataset"] = {
        "logs": args.logs,
        "projects": args.projects,
        "largest_logs": largest_logs,
        "typical_logs": typical_logs,
        "depth": inproc.extra["depth"],
        "path": str(data.path),
        "built_seconds": data.built_seconds,
    }
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


def _deep_position(data: Any, inproc: Figures) -> tuple[list[Any], str] | None:
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
