"""The live bench's figures, its table and its line of name=value (bench/live.py gathers them)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

# The targets, per backend: (figure, comparison, bound).
TARGETS: list[tuple[str, str, float]] = [
    ("p99_ms", "<=", 500.0),
    ("kb_per_idle_subscription", "<=", 50.0),
    ("lost", "==", 0),
    ("repeated", "==", 0),
]
SUMMARY = [
    "p50_ms",
    "p99_ms",
    "max_ms",
    "delivered",
    "cpu_ms_per_log",
    "kb_per_idle_subscription",
    "lost",
    "repeated",
]
SHORT = {"kb_per_idle_subscription": "kb_per_sub"}
PREFIX = {"sqlite": "", "postgresql": "pg_"}


def _quantile(ordered: list[float], q: float) -> float | None:
    """Nearest rank."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _spread(values: list[float]) -> list[float] | None:
    ordered = sorted(values)
    return [ordered[0], ordered[len(ordered) // 2], ordered[-1]] if ordered else None


def _per_log(seconds: float | None, delivered: int) -> float | None:
    return None if seconds is None or not delivered else seconds * 1000 / delivered


def figures(
    result: dict[str, Any], reports: list[dict[str, Any]], before: dict[str, Any], after: dict[str, Any]
) -> dict[str, Any]:
    """`result` with the client processes' reports merged and the per-log figures worked out."""
    latencies = sorted(value for report in reports for value in report["latencies"])
    delivered = sum(r["delivered"] for r in reports)
    ended = [reason for r in reports for reason in r["ended"]]
    spent = {
        part: None if before[part] is None else after[part] - before[part]
        for part in ("server", "database", "clients")
    }
    seconds = after["at"] - before["at"]
    ms = [None if v is None else v * 1000 for v in (_quantile(latencies, q) for q in (0.5, 0.99, 1.0))]
    result["deliveries"] = {
        "delivered": delivered,
        "messages": sum(r["messages"] for r in reports),
        "p50_ms": ms[0],
        "p99_ms": ms[1],
        "max_ms": ms[2],
        "lost": sum(r["lost"] for r in reports),
        "lost_on_open_streams": sum(r["lost_on_open_streams"] for r in reports),
        "repeated": sum(r["repeated"] for r in reports),
        "foreign": sum(r["foreign"] for r in reports),
        "ended": len(ended),
        "ended_reasons": dict(Counter(ended).most_common(5)),
        # Seconds from the writer's start to when the first, median and last of them ended.
        "ended_after_writer_start_s": _spread(
            [t - result["window"]["writer_started_at"] for r in reports for t in r["ended_at"]]
        ),
        "missing_on_open_streams": [m for r in reports for m in r["missing_on_open_streams"]][:10],
    }
    result["cpu"] = {
        "server_seconds": spent["server"],
        "database_seconds": spent["database"],
        "clients_seconds": spent["clients"],
        "cpu_ms_per_log": _per_log(spent["server"], delivered),
        "database_cpu_ms_per_log": _per_log(spent["database"], delivered),
        "server_cores": None if spent["server"] is None else spent["server"] / seconds,
        "clients_cores": None if spent["clients"] is None else spent["clients"] / seconds,
    }
    result["targets"] = _targets(_flat(result))
    return result


def _flat(section: dict[str, Any]) -> dict[str, Any]:
    return {**section["deliveries"], **section["cpu"], **section["memory"]}


def _met(value: Any, comparison: str, bound: float) -> bool:
    if value is None:
        return False
    return bool({"<=": value <= bound, "==": value == bound}[comparison])


def _targets(flat: dict[str, Any]) -> dict[str, bool]:
    return {
        f"{name} {comparison} {bound:g}": _met(flat.get(name), comparison, bound)
        for name, comparison, bound in TARGETS
    }


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _rows(section: dict[str, Any]) -> list[tuple[str, str]]:
    connect, memory, writer = section["connect"], section["memory"], section["writer"]
    deliveries, cpu, window = section["deliveries"], section["cpu"], section["window"]
    met = sum(section["targets"].values())
    return [
        ("subscriptions connected (seconds)", f"{_fmt(connect['connected'])} ({_fmt(connect['seconds'])} s)"),
        ("  failed to connect", _fmt(connect["failed"])),
        ("server RSS before / idle, MB", f"{_fmt(memory['rss_before_mb'])} / {_fmt(memory['rss_idle_mb'])}"),
        ("KB per idle subscription  [<= 50]", _fmt(memory["kb_per_idle_subscription"])),
        ("server RSS after the load, MB", _fmt(memory["rss_after_load_mb"])),
        (
            "writer changes (logs), per s",
            f"{_fmt(writer['changes'])} ({_fmt(writer['logs'])}), {_fmt(writer['changes_per_s'])}",
        ),
        (
            "  commit p50 / max ms, late ticks",
            f"{_fmt(writer['commit_ms_p50'])} / {_fmt(writer['commit_ms_max'])}, {writer['late_ticks']}",
        ),
        ("logs delivered (messages)", f"{_fmt(deliveries['delivered'])} ({_fmt(deliveries['messages'])})"),
        (
            "latency p50 / p99 / max ms  [p99 <= 500]",
            " / ".join(_fmt(deliveries[k], 0) for k in ("p50_ms", "p99_ms", "max_ms")),
        ),
        ("drain after the last commit, s", _fmt(window["drain_seconds"], 2)),
        ("server CPU ms per delivered log", _fmt(cpu["cpu_ms_per_log"], 3)),
        ("  server cores busy", _fmt(cpu["server_cores"], 2)),
        ("database CPU ms per delivered log", _fmt(cpu["database_cpu_ms_per_log"], 3)),
        ("client processes' cores busy", _fmt(cpu["clients_cores"], 2)),
        ("lost / repeated  [0 / 0]", f"{_fmt(deliveries['lost'])} / {_fmt(deliveries['repeated'])}"),
        ("  lost on streams not ended", _fmt(deliveries["lost_on_open_streams"])),
        ("foreign (wrong project or where)", _fmt(deliveries["foreign"])),
        ("streams ended by the server", _fmt(deliveries["ended"])),
        ("targets met", f"{met}/{len(section['targets'])}"),
        ("load average before / after", f"{section['load_before']:.2f} / {section['load_after']:.2f}"),
    ]


def table(result: dict[str, Any]) -> str:
    settings = result["settings"]
    head = (
        f"whatsAppLogStream live: {settings['subscriptions']:,} subscriptions over {settings['projects']} "
        f"projects, {settings['workers']} worker(s), a writer at {settings['rate']:g} changes/s for "
        f"{settings['seconds']:g} s ({settings['cores']} cores)"
    )
    sections = list(result["backends"].values())
    columns = [[value for _, value in _rows(section)] for section in sections]
    names = [name for name, _ in _rows(sections[0])] if sections else []
    width = max(map(len, names), default=0) + 2
    widths = [
        max(len(section["server"].split(" (")[0]), *map(len, column)) + 2
        for section, column in zip(sections, columns, strict=True)
    ]
    lines = [
        head,
        "",
        " " * width
        + "".join(s["server"].split(" (")[0].ljust(w) for s, w in zip(sections, widths, strict=True)),
    ]
    for row, name in enumerate(names):
        lines.append(
            name.ljust(width) + "".join(c[row].ljust(w) for c, w in zip(columns, widths, strict=True))
        )
    for section in sections:
        deliveries, name = section["deliveries"], section["server"].split(" (")[0]
        for reason, count in deliveries["ended_reasons"].items():
            lines.append(f"{name}: {count:,} streams ended: {reason[:100]}")
        if spread := deliveries["ended_after_writer_start_s"]:
            first, median, last = (f"{value:.1f}" for value in spread)
            lines.append(f"{name}: streams ended {first} / {median} / {last} s after the writer started")
        for failure in section["connect"]["failures"]:
            lines.append(f"{name}: a subscription failed: {failure[:100]}")
    return "\n".join(lines)


def summary_line(result: dict[str, Any]) -> str:
    pairs = []
    met = total = 0
    for backend, section in result["backends"].items():
        flat = _flat(section)
        for name in SUMMARY:
            pairs.append(
                f"{PREFIX[backend]}{SHORT.get(name, name)}={_fmt(flat.get(name), 3).replace(',', '')}"
            )
        met += sum(section["targets"].values())
        total += len(section["targets"])
    return " ".join([*pairs, f"targets_met={met}/{total}"])
