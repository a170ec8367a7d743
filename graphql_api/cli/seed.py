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
from graphql_api.data.fields import FIELDS, RELATIONS, Field, Relation
from graphql_api.data.kinds import DATETIME, ID, INT, STRING
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


# Relations and fields added to the registry after the tables above get plain defaults, drawn from a
# random generator of their own: the data of a given seed stays what it was before they were added.
ADDED_RECORDS = 5
ADDED_LINK_RATE = 0.2
ADDED_NULL_RATE = 0.3


def _added_relations() -> list[Relation]:
    """Project resources (users aside) that RESOURCE_COUNTS does not know of."""
    return [r for r in RELATIONS.values() if r.project_scoped and r.table.name not in RESOURCE_COUNTS]


def _added_fields(row: dict[str, Any]) -> list[Field]:
    """The log's fields that a demo row does not set (ids are links, set above or left null)."""
    return [f for f in FIELDS.values() if f.kind is not ID and f.attribute not in row]


async def _insert_added(
    conn: AsyncConnection, relation: Relation, project_id: str, rng: random.Random, start: datetime
) -> list[str]:
    """A project's records of an added relation; their ids."""
    ids = [_uuid(rng) for _ in range(ADDED_RECORDS)]
    rows = [
        {"id": record_id, "project_id": project_id, "created_at": start,
         relation.label: f"{relation.type_name} {i + 1}"}
        for i, record_id in enumerate(ids)
    ]  # fmt: skip
    await insert_rows(conn, relation.table, rows)
    return ids


def _fill_added(
    row: dict[str, Any],
    relations: list[Relation],
    fields: list[Field],
    owned: dict[str, list[str]],
    rng: random.Random,
    now: datetime,
) -> None:
    """Links to added relations and values of added fields, into a demo log's row."""
    for relation in relations:
        linked = rng.random() < ADDED_LINK_RATE
        row[relation.fk_column.key] = rng.choice(owned[relation.table.name]) if linked else None
    for f in fields:
        row[f.attribute] = _added_value(f, rng, row["created_at"], now)


def _added_value(field: Field, rng: random.Random, created: datetime, now: datetime) -> Any:
    if field.nullable and rng.random() < ADDED_NULL_RATE:
        return None
    if field.kind is DATETIME:
        return min(created + timedelta(seconds=rng.randint(0, 3600)), now)
    if field.kind is INT:
        return rng.randint(0, 100)
    if field.kind is STRING:
        length: int | None = getattr(field.column.type, "length", None)
        return _text(rng, 1, min(length or 80, 80))
    raise ValueError(f"the demo data cannot fill {field.name} ({field.kind})")


@dataclass
class Summary:
    projects: list[dict[str, str]]
    logs: int


async def seed_demo(
    conn: AsyncConnection, plan: Plan, *, progress: Callable[[int], None] | None = None
) -> Summary:
    """Insert projects, their resources, users and plan.logs WhatsApp logs."""
    dice = _Dice(
        random.Random(plan.seed),
        random.Random(f"{plan.seed} added"),
        start=plan.now - timedelta(days=plan.days),
        days=plan.days,
    )
    projects = _project_rows(plan, dice)
    await insert_rows(conn, _table("project"), projects)
    users = _user_rows(dice)
    await insert_rows(conn, _table("user"), users)
    resources = {project["id"]: await _insert_resources(conn, project["id"], dice) for project in projects}
    logs = _log_rows(plan, dice, projects, users, resources, progress)
    total = await insert_rows(conn, _table("whatsapp_log"), logs)
    if progress is not None:
        progress(total % 1000)
    return Summary(projects=[{"id": p["id"], "name": p["name"]} for p in projects], logs=total)


@dataclass
class _Dice:
    """The seed's one random generator: every value comes from it, so the order of the draws makes
    the data, and a change of that order changes every value after it."""

    rng: random.Random
    # Draws for the relations and fields added since (ADDED_RECORDS): a generator of their own, so that
    # adding one leaves every value drawn from `rng` as it was.
    added: random.Random
    start: datetime
    days: int

    def moment(self) -> datetime:
        """A moment of the plan's days."""
        return self.start + timedelta(seconds=self.rng.uniform(0, self.days * 86400))


def _project_rows(plan: Plan, dice: _Dice) -> list[dict[str, Any]]:
    return [
        {"id": _uuid(dice.rng), "name": PROJECT_NAMES[i % len(PROJECT_NAMES)] + ("" if i < 10 else f" {i}"),
         "created_at": dice.start}
        for i in range(plan.projects)
    ]  # fmt: skip


def _user_rows(dice: _Dice) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = [
        {"id": _uuid(dice.rng), "name": f"{dice.rng.choice(FIRST)} {dice.rng.choice(LAST)}",
         "created_at": dice.start}
        for _ in range(12)
    ]  # fmt: skip
    for user in users:
        user["email"] = user["name"].lower().replace(" ", ".") + "@example.com"
    return users


async def _insert_resources(conn: AsyncConnection, project_id: str, dice: _Dice) -> dict[str, list[str]]:
    """A project's incidents, alerts, monitors and the rest (RESOURCE_COUNTS); their ids by table."""
    ids: dict[str, list[str]] = {}
    for table, count in RESOURCE_COUNTS.items():
        label = "title" if "title" in _table(table).c else "name"
        rows: list[dict[str, Any]] = [
            {"id": _uuid(dice.rng), "project_id": project_id, label: _label(table, dice.rng, i),
             "created_at": dice.moment()}
            for i in range(count)
        ]  # fmt: skip
        await insert_rows(conn, _table(table), rows)
        ids[table] = [r["id"] for r in rows]
    for relation in _added_relations():
        ids[relation.table.name] = await _insert_added(conn, relation, project_id, dice.added, dice.start)
    return ids


STATUS_NAMES = [s for s, _ in STATUSES]
STATUS_WEIGHTS = [w for _, w in STATUSES]
# How often a log links to a resource of each table.
LINK_RATES = {
    "incident": 0.3, "monitor": 0.5, "alert": 0.15, "team": 0.3, "on_call_duty_policy": 0.2,
    "on_call_duty_policy_escalation_rule": 0.15, "on_call_duty_policy_schedule": 0.15,
    "status_page": 0.1, "status_page_announcement": 0.05, "scheduled_maintenance": 0.05,
}  # fmt: skip


def _log_rows(
    plan: Plan,
    dice: _Dice,
    projects: list[dict[str, Any]],
    users: list[dict[str, Any]],
    resources: dict[str, dict[str, list[str]]],
    progress: Callable[[int], None] | None,
) -> Iterator[dict[str, Any]]:
    """plan.logs logs, project after project; `progress` hears of each thousand."""
    business_numbers = [_phone(dice.rng) for _ in range(4)]
    added_relations = _added_relations()
    added_fields: list[Field] | None = None  # the same for every row
    done = 0
    for project, count in zip(projects, _log_counts(plan, dice.rng), strict=True):
        owned = resources[project["id"]]
        for _ in range(count):
            row = _log_row(plan, dice, project["id"], owned, users, business_numbers)
            added_fields = _added_fields(row) if added_fields is None else added_fields
            _fill_added(row, added_relations, added_fields, owned, dice.added, plan.now)
            yield row
            done += 1
            if progress is not None and done % 1000 == 0:
                progress(1000)


def _log_row(
    plan: Plan,
    dice: _Dice,
    project_id: str,
    resources: dict[str, list[str]],
    users: list[dict[str, Any]],
    business_numbers: list[str],
) -> dict[str, Any]:
    """One log of a project, linked to some of its `resources` (ids by table)."""
    rng = dice.rng
    created = dice.moment()
    status = rng.choices(STATUS_NAMES, STATUS_WEIGHTS)[0]
    row: dict[str, Any] = {
        "id": _uuid(rng),
        "created_at": created,
        "updated_at": min(created + timedelta(seconds=rng.randint(0, 600)), plan.now),
        "deleted_at": min(created + timedelta(days=1), plan.now) if rng.random() < 0.01 else None,
        "project_id": project_id,
        "to_number": _phone(rng),
        "from_number": rng.choice(business_numbers) if rng.random() < 0.9 else None,
        "message_text": _text(rng, *plan.text_length),
        "status_message": STATUS_MESSAGES.get(status),
        "whatsapp_message_id": f"wamid.{rng.getrandbits(64):016x}" if status != "Queued" else None,
        "status": status,
        "whatsapp_cost_in_usd_cents": rng.choice([0, 1, 1, 2, 3, 5, 8]),
        "user_id": rng.choice(users)["id"] if rng.random() < 0.2 else None,
    }
    for table, rate in LINK_RATES.items():
        row[f"{table}_id"] = rng.choice(resources[table]) if rng.random() < rate else None
    return row
