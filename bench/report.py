"""The benchmark's outputs: a table for people, JSON with every figure, and one line of name=value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.data import POSTGRESQL_ENV

# The targets: (figure, comparison, bound, what it means)
TARGETS: list[tuple[str, str, float, str]] = [
    ("ratio_page100", "<=", 3.0, "page of 100 with two relations, times the sqlite3 floor"),
    ("ms_page10", "<=", 1.5, "page of 10, ms in-process"),
    ("req_s_page100_w2", ">=", 600.0, "whole server, 2 workers, page of 100, req/s"),
    ("req_s_page10_w2", ">=", 2500.0, "whole server, 2 workers, page of 10, req/s"),
    ("p99_ms_page100_w2", "<=", 150.0, "whole server, 2 workers, page of 100, p99 ms"),
    ("p99_ms_page10_w2", "<=", 150.0, "whole server, 2 workers, page of 10, p99 ms"),
    (
        "pg_req_s_page100_w2",
        ">=",
        334.0,
        "PostgreSQL, 2 workers, page of 100, req/s, above PostGraphile's 334",
    ),
    (
        "pg_req_s_page10_w2",
        ">=",
        1693.0,
        "PostgreSQL, 2 workers, page of 10, req/s, above PostGraphile's 1,693",
    ),
    ("ms_count_largest", "<=", 15.0, "whatsAppLogCount of the largest project, ms"),
    ("ms_count_typical", "<=", 1.0, "whatsAppLogCount of a typical project, ms"),
    ("deep_over_first", "<=", 1.2, "connection page 100,000 deep over the first page"),
    ("statements_page100", "<=", 3.0, "SQL statements for the page of 100 (1 + 2 relations)"),
    ("worker_rss_mb", "<=", 200.0, "largest worker RSS under load, MB"),
]

SUMMARY = [
    "ratio_page100",
    "ms_page100",
    "ms_page10",
    "req_s_page100_w2",
    "req_s_page10_w2",
    "ms_count_largest",
    "deep_over_first",
    "statements_page100",
    "pg_req_s_page100_w2",
    "pg_req_s_page10_w2",
]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if value < 100 else f"{value:.0f}"
    return str(value)


def summary_line(figures: dict[str, Any], names: Sequence[str] = SUMMARY) -> str:
    """The last line of a run: `name=value` for each of `names` (`-` for a figure not measured)."""
    return " ".join(f"{name}={_fmt(figures.get(name))}" for name in names)


def met(figures: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, op, bound, meaning in TARGETS:
        value = figures.get(name)
        ok = None if value is None else (value <= bound if op == "<=" else value >= bound)
        rows.append(
            {"figure": name, "target": f"{op} {bound:g}", "measured": value, "met": ok, "meaning": meaning}
        )
    return rows


def _database_line(data: dict[str, Any]) -> str:
    built = data["built_seconds"]
    origin = f"built in {built:.0f} s" if built else "reused from the cache"
    return f"database: {data['path']} ({origin})"


def _path_lines(path: dict[str, Any], backend: str) -> list[str]:
    """One path's in-process rows and whole-server runs."""
    inproc, title = path["in_process"], path["title"]
    lines = ["", f"In process on {backend}, {title}: median of {inproc['rounds']} interleaved rounds"]
    lines.append(f"  {'':58s} {'wall ms':>9s} {'cpu ms':>8s} {'SQL':>4s}")
    for name, label in inproc["labels"].items():
        lines.append(
            f"  {label:58s} {inproc['ms'][name]:9.2f} {inproc['cpu_ms'][name]:8.2f} "
            f"{_fmt(inproc['statements'].get(name)):>4s}"
        )
    if not path["server"]:
        return lines
    seconds = path["server_seconds"]
    lines.append(f"Whole server on {backend}, {title}: graphql-api serve, 16 connections, {seconds:g} s each")
    lines.append(
        f"  {'workers':>7s} {'rows':>5s} {'tool':>8s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} "
        f"{'cpu ms/req':>10s} {'RSS MB':>7s} {'errors':>6s}"
    )
    for run in path["server"]:
        lines.append(
            f"  {run['workers']:7d} {run['rows']:5d} {run['tool']:>8s} {run['req_s']:8.0f} "
            f"{run['p50_ms']:8.1f} {run['p99_ms']:8.1f} {run['cpu_ms_per_request']:10.2f} "
            f"{run['worker_rss_mb']:7.0f} {run['errors']:6d}"
        )
    return lines


def _postgresql_lines(postgresql: dict[str, Any] | None) -> list[str]:
    if postgresql is None:
        return [
            "",
            "PostgreSQL: not measured; to measure it, give a server's administrative database as "
            f"{POSTGRESQL_ENV}=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres (or --postgresql URL)",
        ]
    data = postgresql["dataset"]
    lines = ["", f"{data['server']}: the same runs", _database_line(data)]
    for path in postgresql["paths"]:
        lines += _path_lines(path, "PostgreSQL")
    return lines


def table(result: dict[str, Any]) -> str:
    lines: list[str] = []
    data, machine = result["dataset"], result["machine"]
    lines.append(
        f"graphql_api benchmark: {data['logs']:,} logs over {data['projects']} projects "
        f"(largest {data['largest_logs']:,}, typical {data['typical_logs']:,}), {data['server']}; "
        f"{machine['cores']} cores, load average {machine['load_before']:.1f} before, "
        f"{machine['load_after']:.1f} after"
    )
    lines.append(_database_line(data))
    for path in result["paths"]:
        lines += _path_lines(path, "SQLite")
    lines.append("")
    lines.append("Query plans (EXPLAIN QUERY PLAN of the statements above):")
    for name, steps in result["plans"].items():
        lines.append(f"  {name}: {'; '.join(steps)}")
    lines += _postgresql_lines(result.get("postgresql"))
    lines.append("")
    lines.append("Targets (the issue's, for the default path):")
    width = max(len(row["meaning"]) for row in result["targets"])
    for row in result["targets"]:
        verdict = {True: "met", False: "NOT met", None: "not measured"}[row["met"]]
        lines.append(
            f"  {row['meaning']:{width}s} {row['target']:>8s} {_fmt(row['measured']):>9s}  {verdict}"
        )
    lines.append("")
    lines.append(summary_line(result["figures"]))
    return "\n".join(lines)
