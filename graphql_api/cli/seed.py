"""Realistic demo data, inserted in bulk: deterministic for a given seed and `now`, the moment it ends.

`now` defaults to the current time, so the newest demo logs are minutes old and "the last 7 days" shows
data; every other value depends on the seed alone, and dates keep their distance to `now`.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from graphql_api.data import models
from graphql_api.data.writes import insert_rows

PROJECT_NAMES = [
    "Acme Production", "Globex Payments", "Initech Platform", "Umbrella Mobile", "Hooli Search",
    "Stark Industries", "Wayne Enterprises", "Wonka Logistics", "Tyrell Cloud", "Cyberdyne Ops",
]  # fmt: skip
STATUSES = [
    ("Delivered", 40), ("Read", 25), ("Sent", 15), ("Success", 5), ("Failed", 5), ("Queued", 3),
    ("Error", 2), ("Warning", 1), ("Low Balance", 1), ("Not Verified", 1), ("Deleted", 1), ("Unknown", 1),
]  # fmt: skip
STATUS_MESSAGES = {
    "Failed": "Message failed to send: recipient phone number is not a WhatsApp user.",
    "Error": "Meta API returned error 131026: message undeliverable.",
    "Warning": "Message sent with a template fallback.",
    "Low Balance": "Project SMS/WhatsApp balance is too low to send this message.",
    "Not Verified": "The recipient's phone number is not verified for this project.",
}
SERVICES = ["API Gateway", "Checkout", "Login", "Search", "Billing", "Postgres Primary", "CDN", "Webhooks"]
SYMPTOMS = [
    "is down",
    "has high latency",
    "returns 5xx errors",
    "is degraded",
    "SSL certificate expires soon",
]
FIRST = [
    "Ana",
    "Ben",
    "Chloé",
    "Dmitri",
    "Eve",
    "Farah",
    "Gustavo",
    "Hana",
    "Ivan",
    "Jürgen",
    "Kenji",
    "Lena",
]
LAST = ["Silva", "Okafor", "Müller", "Nguyen", "Kowalski", "Haddad", "Sato", "Fischer", "Costa", "Novak"]
WORDS = [
    "incident",
    "monitor",
    "alert",
    "acknowledged",
    "resolved",
    "investigating",
    "on-call",
    "escalation",
    "latency",
    "error",
    "rate",
    "threshold",
    "exceeded",
    "service",
    "degraded",
    "outage",
    "maintenance",
    "window",
    "scheduled",
    "status",
    "page",
    "subscribers",
    "please",
    "check",
    "dashboard",
    "runbook",
    "page",
    "team",
    "primary",
    "secondary",
    "database",
    "region",
    "eu-west",
    "us-east",
]


@dataclass
class Plan:
    """What to generate."""

    projects: int = 3
    logs: int = 5000
    seed: int = 1
    # Share of all logs that the first project holds (None: spread evenly with some variation).
    first_project_share: float | None = None
    # Length range of message texts.
    text_length: tuple[int, int] = (40, 300)
    days: int = 90
    # When the data ends: no date of the demo data is later.
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _phone(rng: random.Random) -> str:
    return f"+{rng.choice([1, 44, 49, 33, 55, 91])}-555-{rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}"


def _text(rng: random.Random, low: int, high: int) -> str:
    target = rng.randint(low, high)
    words: list[str] = []
    length = 0
    while length < target:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:target]


def _log_counts(plan: Plan, rng: random.Random) -> list[int]:
    """Split plan.logs over the projects; every project gets at least one."""
    n = plan.projects
    if plan.first_project_share is not None:
        first = int(plan.logs * plan.first_project_share)
        rest = plan.logs - first
        counts = [first] + [rest // (n - 1) + (1 if i < rest % (n - 1) else 0) for i in range(n - 1)]
    else:
        weights = [rng.uniform(0.5, 1.5) for _ in range(n)]
        total = sum(weights)
        counts = [int(plan.logs * w / total) for w in weights]
        counts[0] += plan.logs - sum(counts)
    counts = [max(c, 1) for c in counts]
    return counts


RESOURCE_COUNTS: dict[str, int] = {
    "incident": 25,
    "alert": 25,
    "monitor": 12,
    "team": 4,
    "status_page": 2,
    "status_page_announcement": 6,
    "scheduled_maintenance": 5,
    "on_call_duty_policy": 3,
    "on_call_duty_policy_escalation_rule": 6,
    "on_call_duty_policy_schedule": 4,
}


def _label(table: str, rng: random.Random, i: int) -> str:
    service = rng.choice(SERVICES)
    labels: dict[str, Callable[[], str]] = {
        "incident": lambda: f"{service} {rng.choice(SYMPTOMS)}",
        "alert": lambda: f"{service}: {rng.choice(['error rate', 'p99 latency', 'CPU'])} above threshold",
        "monitor": lambda: f"{service} {rng.choice(['HTTP', 'Ping', 'API', 'SSL'])} monitor",
        "team": lambda: ["Platform", "Payments", "Mobile", "SRE", "Data"][i % 5] + " Team",
        "status_page": lambda: ["Public Status", "Internal Status"][i % 2],
        "status_page_announcement": lambda: f"Planned upgrade of {service}",
        "scheduled_maintenance": lambda: f"{service} maintenance window",
        "on_call_duty_policy": lambda: f"{service} on-call",
        "on_call_duty_policy_escalation_rule": lambda: f"Escalate to level {i % 3 + 1}",
        "on_call_duty_policy_schedule": lambda: ["Weekday", "Weekend", "Follow the sun", "Holidays"][i % 4],
    }
    return labels[table]()


def _table(name: str) -> Table:
    return models.Base.metadata.tables[name]


@dataclass
class Summary:
    projects: list[dict[str, str]]
    logs: int


async def seed_demo(
    conn: AsyncConnection, plan: Plan, *, progress: Callable[[int], None] | None = None
) -> Summary:
    """Insert projects, their resources, users and plan.logs WhatsApp logs."""
    rng = random.Random(plan.seed)
    start = plan.now - timedelta(days=plan.days)

    def moment() -> datetime:
        return start + timedelta(seconds=rng.uniform(0, plan.days * 86400))

    projects: list[dict[str, Any]] = [
        {"id": _uuid(rng), "name": PROJECT_NAMES[i % len(PROJECT_NAMES)] + ("" if i < 10 else f" {i}"),
         "created_at": start}
        for i in range(plan.projects)
    ]  # fmt: skip
    await insert_rows(conn, _table("project"), projects)
    users: list[dict[str, Any]] = [
        {"id": _uuid(rng), "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}", "created_at": start}
        for _ in range(12)
    ]
    for user in users:
        user["email"] = user["name"].lower().replace(" ", ".") + "@example.com"
    await insert_rows(conn, _table("user"), users)

    resources: dict[str, dict[str, list[str]]] = {}
    for project in projects:
        per_project: dict[str, list[str]] = {}
        for table, count in RESOURCE_COUNTS.items():
            label = "title" if "title" in _table(table).c else "name"
            rows = [
                {"id": _uuid(rng), "project_id": project["id"], label: _label(table, rng, i),
                 "created_at": moment()}
                for i in range(count)
            ]  # fmt: skip
            await insert_rows(conn, _table(table), rows)
            per_project[table] = [r["id"] for r in rows]
        resources[project["id"]] = per_project

    statuses = [s for s, _ in STATUSES]
    status_weights = [w for _, w in STATUSES]
    business_numbers = [_phone(rng) for _ in range(4)]
    link_rates = {
        "incident": 0.3, "monitor": 0.5, "alert": 0.15, "team": 0.3, "on_call_duty_policy": 0.2,
        "on_call_duty_policy_escalation_rule": 0.15, "on_call_duty_policy_schedule": 0.15,
        "status_page": 0.1, "status_page_announcement": 0.05, "scheduled_maintenance": 0.05,
    }  # fmt: skip

    def logs() -> Iterator[dict[str, Any]]:
        done = 0
        for project, count in zip(projects, _log_counts(plan, rng), strict=True):
            owned = resources[project["id"]]
            for _ in range(count):
                created = moment()
                status = rng.choices(statuses, status_weights)[0]
                row: dict[str, Any] = {
                    "id": _uuid(rng),
                    "created_at": created,
                    "updated_at": min(created + timedelta(seconds=rng.randint(0, 600)), plan.now),
                    "deleted_at": min(created + timedelta(days=1), plan.now) if rng.random() < 0.01 else None,
                    "project_id": project["id"],
                    "to_number": _phone(rng),
                    "from_number": rng.choice(business_numbers) if rng.random() < 0.9 else None,
                    "message_text": _text(rng, *plan.text_length),
                    "status_message": STATUS_MESSAGES.get(status),
                    "whatsapp_message_id": f"wamid.{rng.getrandbits(64):016x}"
                    if status != "Queued"
                    else None,
                    "status": status,
                    "whatsapp_cost_in_usd_cents": rng.choice([0, 1, 1, 2, 3, 5, 8]),
                    "user_id": rng.choice(users)["id"] if rng.random() < 0.2 else None,
                }
                for table, rate in link_rates.items():
                    row[f"{table}_id"] = rng.choice(owned[table]) if rng.random() < rate else None
                yield row
                done += 1
                if progress is not None and done % 1000 == 0:
                    progress(1000)

    total = await insert_rows(conn, _table("whatsapp_log"), logs())
    if progress is not None:
        progress(total % 1000)
    return Summary(projects=[{"id": p["id"], "name": p["name"]} for p in projects], logs=total)
