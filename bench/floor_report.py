"""`python -m bench --floor`'s outputs: a table per backend, the profile, and one line of name=value."""

from __future__ import annotations

from typing import Any

from bench import report

# The last line's figures (`pg_` for PostgreSQL; `-` when not measured).
SUMMARY = [
    "of_floor_page100",
    "of_floor_page10",
    "cpu_x_floor_page100",
    "cpu_x_floor_page10",
    "pg_of_floor_page100",
    "pg_of_floor_page10",
    "pg_cpu_x_floor_page100",
    "pg_cpu_x_floor_page10",
]


def summary_line(figures: dict[str, Any]) -> str:
    return report.summary_line(figures, SUMMARY)


def _backend_lines(name: str, section: dict[str, Any]) -> list[str]:
    comparison = section["comparison"]
    low, high = comparison["load_average"]
    lines = [
        "",
        f"{section['server']}: graphql-api serve and the floor, {comparison['workers']} workers each, "
        f"16 connections, {comparison['rounds']} interleaved rounds of {comparison['seconds']:g} s "
        f"({section['tool']}); medians; load average {low:.1f} to {high:.1f} during the runs",
        f"  {'rows':>4s} {'':6s} {'req/s':>8s} {'p50 ms':>7s} {'p99 ms':>7s} {'cpu ms/req':>10s} "
        f"{'errors':>6s} {'busiest':>7s}   {'of_floor':>8s} {'cpu x floor':>11s} {'bytes':>7s}",
    ]
    for rows, page in comparison["pages"].items():
        for side in ("server", "floor"):
            run = page[side]
            tail = (
                f"   {page['of_floor']:8.2f} {page['cpu_x_floor']:11.2f} {page['answer_bytes']:7d}"
                if side == "server"
                else ""
            )
            lines.append(
                f"  {rows:>4} {side:6s} {run['req_s']:8.0f} {run['p50_ms']:7.1f} {run['p99_ms']:7.1f} "
                f"{run['cpu_ms_per_request']:10.3f} {run['errors']:6d} {run['busiest_worker']:7.2f}{tail}"
            )
    return lines


def profile_lines(profile: dict[str, Any]) -> list[str]:
    """One backend's profile: per target (server, floor), the categories and the top functions."""
    lines: list[str] = []
    for target in profile["targets"]:
        lines += [
            "",
            f"Profile on {profile['server']}, {target['name']}: page of {profile['rows']}, one worker, "
            f"{profile['seconds']:g} s under load; {target['req_s']:.0f} req/s, "
            f"{target['cpu_ms_per_request']:.3f} ms CPU per request ({target['samples']} samples of CPU "
            f"time; garbage collection {target['gc_ms_per_request']:.3f} ms of it, in the categories)",
            f"  {'category':46s} {'share':>6s} {'ms/req':>7s}",
        ]
        for row in target["categories"]:
            lines.append(f"  {row['category']:46s} {row['share'] * 100:5.1f}% {row['ms_per_request']:7.3f}")
        lines.append(
            f"  top {len(target['top'])} Python functions by own samples (with the C code they call):"
        )
        for row in target["top"]:
            share, ms = row["share"] * 100, row["ms_per_request"]
            lines.append(f"    {share:5.1f}% {ms:7.3f}  {row['function']}  [{row['category']}]")
        if target.get("libraries"):
            lines.append("  by library (perf, over a load of its own; the Python sampler's view is above):")
            for row in target["libraries"]:
                lines.append(
                    f"    {row['library']:44s} {row['share'] * 100:5.1f}% {row['ms_per_request']:7.3f}"
                )
    return lines


def table(result: dict[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        f"graphql_api floor benchmark: {result['logs']:,} logs; {machine['cores']} cores, load average "
        f"{machine['load_before']:.1f} before, {machine['load_after']:.1f} after, {machine['seconds']:.0f} s"
    ]
    for name, section in result["backends"].items():
        lines += _backend_lines(name, section)
        if section.get("profile"):
            lines += profile_lines(section["profile"])
    lines += ["", summary_line(result["figures"])]
    return "\n".join(lines)
