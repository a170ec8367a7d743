"""GraphQL types of the cost and delivery statistics: group keys, buckets, and rows -> buckets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import Row

from graphql_api.schema.scalars import BigInt, Phone
from graphql_api.schema.types import Incident, Monitor, Team


@strawberry.enum(description="What to group WhatsApp logs by in `whatsAppLogStats`; combine several.")
class WhatsAppLogGroupBy(Enum):
    STATUS = strawberry.enum_value("status", description="The log's status, as stored.")
    DAY = strawberry.enum_value("day", description="The UTC calendar day the log was created.")
    MONTH = strawberry.enum_value("month", description="The UTC calendar month the log was created.")
    FROM_NUMBER = strawberry.enum_value("fromNumber", description="The business number it was sent from.")
    TO_NUMBER = strawberry.enum_value("toNumber", description="The number it was sent to.")
    INCIDENT = strawberry.enum_value("incident", description="The incident that caused it.")
    MONITOR = strawberry.enum_value("monitor", description="The monitor that caused it.")
    TEAM = strawberry.enum_value("team", description="The team it was sent for.")


_KEY = " Null when not grouped by this key"


@strawberry.type(
    description=(
        "The logs that share one value of every group key: how many there are and what they cost. "
        "Fields of keys not grouped by are null."
    )
)
class WhatsAppLogStatsBucket:
    status: str | None = strawberry.field(description="The status." + _KEY + ".")
    day: str | None = strawberry.field(description="The UTC day, `YYYY-MM-DD`." + _KEY + ".")
    month: str | None = strawberry.field(description="The UTC month, `YYYY-MM`." + _KEY + ".")
    from_number: Phone | None = strawberry.field(
        description="The business number." + _KEY + " or for logs without one."
    )
    to_number: Phone | None = strawberry.field(description="The recipient's number." + _KEY + ".")
    incident: Incident | None = strawberry.field(
        description="The incident." + _KEY + " or for logs without one (in this project)."
    )
    monitor: Monitor | None = strawberry.field(
        description="The monitor." + _KEY + " or for logs without one (in this project)."
    )
    team: Team | None = strawberry.field(
        description="The team." + _KEY + " or for logs without one (in this project)."
    )
    count: int = strawberry.field(description="How many logs are in this bucket (at least 1).")
    total_cost_in_usd_cents: BigInt = strawberry.field(
        name="totalCostInUSDCents", description="What the bucket's messages cost together, in US cents."
    )
    min_cost_in_usd_cents: int = strawberry.field(
        name="minCostInUSDCents", description="The cheapest message of the bucket, in US cents."
    )
    max_cost_in_usd_cents: int = strawberry.field(
        name="maxCostInUSDCents", description="The dearest message of the bucket, in US cents."
    )


def _record(values: Mapping[str, Any], key: str, cls: type[Any], label: str) -> Any:
    record_id = values.get(f"{key}_id")
    if record_id is None:
        return None
    return cls(id=record_id, created_at=values[f"{key}_created_at"], **{label: values[f"{key}_label"]})


def _bucket(values: Mapping[str, Any]) -> WhatsAppLogStatsBucket:
    return WhatsAppLogStatsBucket(
        status=values.get("status"),
        day=values.get("day"),
        month=values.get("month"),
        from_number=values.get("fromNumber"),
        to_number=values.get("toNumber"),
        incident=_record(values, "incident", Incident, "title"),
        monitor=_record(values, "monitor", Monitor, "name"),
        team=_record(values, "team", Team, "name"),
        count=values["log_count"],
        total_cost_in_usd_cents=values["total_cost"],
        min_cost_in_usd_cents=values["min_cost"],
        max_cost_in_usd_cents=values["max_cost"],
    )


def group_key_names(group_by: Iterable[WhatsAppLogGroupBy] | None) -> list[str]:
    """The neutral names (`stats.GROUP_KEYS`) of the GraphQL group keys."""
    return [str(key.value) for key in group_by or ()]


def to_buckets(rows: Iterable[Row[Any]]) -> list[WhatsAppLogStatsBucket]:
    """Buckets from the rows of `stats.log_stats`; absent columns (keys not grouped by) become null."""
    return [_bucket(dict(row._mapping)) for row in rows]
