"""What the live bench subscribes to: the documents (three `where`s times two selections), which
project and key each subscription has, and where the server is."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

SCALARS = "id status createdAt updatedAt toNumber messageText whatsAppCostInUSDCents"
# Each `where` as it is written in the document (inline: streams of one document share it whole), and
# the statuses it matches (None: all).
WHERES: dict[str, tuple[str, frozenset[str] | None]] = {
    "all": ("", None),
    "failing": ('where: { status: { in: ["Failed", "Error"] } }', frozenset({"Failed", "Error"})),
    "delivered": ('where: { status: { in: ["Delivered", "Read"] } }', frozenset({"Delivered", "Read"})),
}
SELECTIONS = {"scalars": SCALARS, "incident": f"{SCALARS} incident {{ title }}"}
VARIANTS = list(itertools.product(WHERES, SELECTIONS))


def document(where: str, selection: str, after: str | None = None) -> str:
    given = [WHERES[where][0], f"after: {orjson.dumps(after).decode()}" if after else ""]
    arguments = f"({', '.join(a for a in given if a)})" if any(given) else ""
    return f"subscription {{ whatsAppLogStream{arguments} {{ cursor logs {{ {SELECTIONS[selection]} }} }} }}"


@dataclass(frozen=True)
class Endpoint:
    url: str  # ws://host:port/graphql
    deflate: bool = True  # offer permessage-deflate, as browsers do


@dataclass(frozen=True)
class Subscription:
    index: int
    project: str
    key: str
    where: str
    selection: str

    @property
    def statuses(self) -> frozenset[str] | None:
        return WHERES[self.where][1]


def keys_per_project(subscriptions: int, projects: int, per_key: int = 100) -> int:
    """Keys each project needs so that no key holds more than `per_key` subscriptions (the server's
    MAX_SUBSCRIPTIONS_PER_KEY is per process; a key under it overall is under it on every worker)."""
    return max(1, math.ceil(subscriptions / projects / per_key))


def arrange(count: int, projects: Sequence[str], keys: dict[str, list[str]]) -> list[Subscription]:
    """`count` subscriptions, round-robin over the projects; within a project, round-robin over the six
    (where, selection) variants and over its keys."""
    out = []
    for index in range(count):
        project = projects[index % len(projects)]
        turn = index // len(projects)
        where, selection = VARIANTS[turn % len(VARIANTS)]
        key = keys[project][turn % len(keys[project])]
        out.append(Subscription(index, project, key, where, selection))
    return out
