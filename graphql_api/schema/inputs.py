"""GraphQL inputs: the log filter, its operator inputs and the sort order; converted to the neutral form."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from graphql_api.data.fields import FIELDS, SORTABLE
from graphql_api.data.filters import All, AnyOf, Condition, Node, Not, SortKey

_EQ = "Equal to this value."
_NE = "Not equal to this value; also matches records where the field is null."
_IN = "Equal to one of these values."
_NOT_IN = "Equal to none of these values; also matches records where the field is null."
_IS_NULL = "true: the field is null; false: the field has a value."
_CONTAINS = "Contains this text, ignoring case; `%` and `_` are matched literally."
_STARTS = "Starts with this text, ignoring case; `%` and `_` are matched literally."
_ENDS = "Ends with this text, ignoring case; `%` and `_` are matched literally."


@strawberry.input(description="Conditions on a text field; all given operators must hold.")
class StringFilter:
    eq: str | None = strawberry.field(default=strawberry.UNSET, description=_EQ)
    ne: str | None = strawberry.field(default=strawberry.UNSET, description=_NE)
    in_: list[str] | None = strawberry.field(default=strawberry.UNSET, name="in", description=_IN)
    not_in: list[str] | None = strawberry.field(default=strawberry.UNSET, description=_NOT_IN)
    contains: str | None = strawberry.field(default=strawberry.UNSET, description=_CONTAINS)
    starts_with: str | None = strawberry.field(default=strawberry.UNSET, description=_STARTS)
    ends_with: str | None = strawberry.field(default=strawberry.UNSET, description=_ENDS)
    is_null: bool | None = strawberry.field(default=strawberry.UNSET, description=_IS_NULL)


@strawberry.input(description="Conditions on an integer field; all given operators must hold.")
class IntFilter:
    eq: int | None = strawberry.field(default=strawberry.UNSET, description=_EQ)
    ne: int | None = strawberry.field(default=strawberry.UNSET, description=_NE)
    in_: list[int] | None = strawberry.field(default=strawberry.UNSET, name="in", description=_IN)
    not_in: list[int] | None = strawberry.field(default=strawberry.UNSET, description=_NOT_IN)
    gt: int | None = strawberry.field(default=strawberry.UNSET, description="Greater than this value.")
    gte: int | None = strawberry.field(
        default=strawberry.UNSET, description="Greater than or equal to this value."
    )
    lt: int | None = strawberry.field(default=strawberry.UNSET, description="Less than this value.")
    lte: int | None = strawberry.field(
        default=strawberry.UNSET, description="Less than or equal to this value."
    )
    is_null: bool | None = strawberry.field(default=strawberry.UNSET, description=_IS_NULL)


@strawberry.input(description="Conditions on a date-time field; all given operators must hold.")
class DateTimeFilter:
    eq: datetime | None = strawberry.field(default=strawberry.UNSET, description=_EQ)
    ne: datetime | None = strawberry.field(default=strawberry.UNSET, description=_NE)
    in_: list[datetime] | None = strawberry.field(default=strawberry.UNSET, name="in", description=_IN)
    not_in: list[datetime] | None = strawberry.field(default=strawberry.UNSET, description=_NOT_IN)
    gt: datetime | None = strawberry.field(default=strawberry.UNSET, description="Later than this moment.")
    gte: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="At or later than this moment."
    )
    lt: datetime | None = strawberry.field(default=strawberry.UNSET, description="Earlier than this moment.")
    lte: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="At or earlier than this moment."
    )
    is_null: bool | None = strawberry.field(default=strawberry.UNSET, description=_IS_NULL)


@strawberry.input(description="Conditions on an id field; all given operators must hold.")
class IDFilter:
    eq: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description=_EQ)
    ne: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description=_NE)
    in_: list[strawberry.ID] | None = strawberry.field(default=strawberry.UNSET, name="in", description=_IN)
    not_in: list[strawberry.ID] | None = strawberry.field(default=strawberry.UNSET, description=_NOT_IN)
    is_null: bool | None = strawberry.field(default=strawberry.UNSET, description=_IS_NULL)


def _by(field: str) -> str:
    return f"Conditions on `{field}`."


@strawberry.enum(
    description=(
        "The statuses the platform writes to `WhatsAppLog.status`, for `statusIn` (which tools "
        "autocomplete). `status` itself is free text: logs imported from elsewhere may hold other values, "
        "which `status: {eq: ...}` matches."
    )
)
class WhatsAppLogStatus(Enum):
    SUCCESS = strawberry.enum_value("Success", description="Stored as `Success`.")
    SENT = strawberry.enum_value("Sent", description="Stored as `Sent`.")
    DELIVERED = strawberry.enum_value("Delivered", description="Stored as `Delivered`.")
    READ = strawberry.enum_value("Read", description="Stored as `Read`.")
    FAILED = strawberry.enum_value("Failed", description="Stored as `Failed`.")
    DELETED = strawberry.enum_value("Deleted", description="Stored as `Deleted`.")
    WARNING = strawberry.enum_value("Warning", description="Stored as `Warning`.")
    QUEUED = strawberry.enum_value("Queued", description="Stored as `Queued`.")
    ERROR = strawberry.enum_value("Error", description="Stored as `Error`.")
    LOW_BALANCE = strawberry.enum_value("Low Balance", description="Stored as `Low Balance`.")
    NOT_VERIFIED = strawberry.enum_value("Not Verified", description="Stored as `Not Verified`.")
    UNKNOWN = strawberry.enum_value("Unknown", description="Stored as `Unknown`.")


# The stored text of each known status, in the enum's order (for descriptions and documentation).
KNOWN_STATUSES: tuple[str, ...] = tuple(str(status.value) for status in WhatsAppLogStatus)


@strawberry.input(
    description=(
        "Which logs to return. Conditions on several fields must all hold; combine with `and`, `or` "
        "and `not`. `not: F` matches exactly the logs that `F` does not."
    )
)
class WhatsAppLogFilter:
    id: IDFilter | None = strawberry.field(default=strawberry.UNSET, description=_by("id"))
    created_at: DateTimeFilter | None = strawberry.field(
        default=strawberry.UNSET, description=_by("createdAt")
    )
    updated_at: DateTimeFilter | None = strawberry.field(
        default=strawberry.UNSET, description=_by("updatedAt")
    )
    project_id: IDFilter | None = strawberry.field(default=strawberry.UNSET, description=_by("projectId"))
    to_number: StringFilter | None = strawberry.field(default=strawberry.UNSET, description=_by("toNumber"))
    from_number: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description=_by("fromNumber")
    )
    message_text: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description=_by("messageText")
    )
    status_message: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description=_by("statusMessage")
    )
    whatsapp_message_id: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, name="whatsAppMessageId", description=_by("whatsAppMessageId")
    )
    status: StringFilter | None = strawberry.field(
        default=strawberry.UNSET,
        description=_by("status") + " Free text, compared exactly: `Failed`, not `failed`; see `statusIn`.",
    )
    status_in: list[WhatsAppLogStatus] | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "The status is one of these platform statuses: `statusIn: [FAILED, ERROR]` is "
            '`status: {in: ["Failed", "Error"]}`, with the values autocompleted.'
        ),
    )
    whatsapp_cost_in_usd_cents: IntFilter | None = strawberry.field(
        default=strawberry.UNSET, name="whatsAppCostInUSDCents", description=_by("whatsAppCostInUSDCents")
    )
    incident_id: IDFilter | None = strawberry.field(default=strawberry.UNSET, description=_by("incidentId"))
    user_id: IDFilter | None = strawberry.field(default=strawberry.UNSET, description=_by("userId"))
    alert_id: IDFilter | None = strawberry.field(default=strawberry.UNSET, description=_by("alertId"))
    monitor_id: IDFilter | None = strawberry.field(default=strawberry.UNSET, description=_by("monitorId"))
    scheduled_maintenance_id: IDFilter | None = strawberry.field(
        default=strawberry.UNSET, description=_by("scheduledMaintenanceId")
    )
    status_page_id: IDFilter | None = strawberry.field(
        default=strawberry.UNSET, description=_by("statusPageId")
    )
    status_page_announcement_id: IDFilter | None = strawberry.field(
        default=strawberry.UNSET, description=_by("statusPageAnnouncementId")
    )
    team_id: IDFilter | None = strawberry.field(default=strawberry.UNSET, description=_by("teamId"))
    on_call_duty_policy_id: IDFilter | None = strawberry.field(
        default=strawberry.UNSET, description=_by("onCallDutyPolicyId")
    )
    on_call_duty_policy_escalation_rule_id: IDFilter | None = strawberry.field(
        default=strawberry.UNSET, description=_by("onCallDutyPolicyEscalationRuleId")
    )
    on_call_duty_policy_schedule_id: IDFilter | None = strawberry.field(
        default=strawberry.UNSET, description=_by("onCallDutyPolicyScheduleId")
    )
    and_: list[WhatsAppLogFilter] | None = strawberry.field(
        default=strawberry.UNSET, name="and", description="Every one of these filters must match."
    )
    or_: list[WhatsAppLogFilter] | None = strawberry.field(
        default=strawberry.UNSET, name="or", description="At least one of these filters must match."
    )
    not_: WhatsAppLogFilter | None = strawberry.field(
        default=strawberry.UNSET, name="not", description="This filter must not match (its exact complement)."
    )


@strawberry.enum(description="Direction of a sort key.")
class SortOrder(Enum):
    ASC = strawberry.enum_value("ASC", description="Smallest, earliest or A first; nulls first.")
    DESC = strawberry.enum_value("DESC", description="Largest, latest or Z first; nulls last.")


@strawberry.input(
    one_of=True,
    description=(
        "One sort key: set exactly one field. In a list, earlier keys take priority; the log id, "
        "in the direction of the last key, always breaks ties so pages never overlap."
    ),
)
class WhatsAppLogOrderBy:
    created_at: SortOrder | None = strawberry.field(
        default=strawberry.UNSET, description="Sort by createdAt."
    )
    updated_at: SortOrder | None = strawberry.field(
        default=strawberry.UNSET, description="Sort by updatedAt."
    )
    status: SortOrder | None = strawberry.field(default=strawberry.UNSET, description="Sort by status.")
    to_number: SortOrder | None = strawberry.field(default=strawberry.UNSET, description="Sort by toNumber.")
    from_number: SortOrder | None = strawberry.field(
        default=strawberry.UNSET, description="Sort by fromNumber (logs without one come first going up)."
    )
    whatsapp_cost_in_usd_cents: SortOrder | None = strawberry.field(
        default=strawberry.UNSET, name="whatsAppCostInUSDCents", description="Sort by whatsAppCostInUSDCents."
    )


_OPERATORS = ("eq", "ne", "in_", "not_in", "contains", "starts_with", "ends_with", "gt", "gte", "lt", "lte")


def _given(value: Any) -> bool:
    """An operator counts when it has a value: omitted and explicit null both mean no condition."""
    return value is not None and value is not strawberry.UNSET


def _conditions(name: str, operators: Any) -> list[Node]:
    nodes: list[Node] = []
    for attr in _OPERATORS:
        value = getattr(operators, attr, None)
        if _given(value):
            nodes.append(Condition(name, attr.rstrip("_"), value))  # type: ignore[arg-type]
    if _given(operators.is_null):
        nodes.append(Condition(name, "is_null", operators.is_null))
    return nodes


def to_node(where: WhatsAppLogFilter | None) -> Node | None:
    """The neutral filter for a GraphQL filter input (None when there is nothing to filter)."""
    if where is None:
        return None
    parts: list[Node] = []
    for name, f in FIELDS.items():
        operators = getattr(where, f.column.key)
        if _given(operators):
            parts.extend(_conditions(name, operators))
    if where.status_in is not None and where.status_in is not strawberry.UNSET:
        parts.append(Condition("status", "in", [status.value for status in where.status_in]))
    if where.and_:
        parts.append(All(tuple(n for n in map(to_node, where.and_) if n is not None)))
    if where.or_ is not None and where.or_ is not strawberry.UNSET:
        parts.append(AnyOf(tuple(to_node(f) or All(()) for f in where.or_)))
    if _given(where.not_):
        parts.append(Not(to_node(where.not_) or All(())))
    # One condition needs no wrapper: nesting depth then counts only `and` / `or` / `not`.
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def to_sort_keys(order_by: list[WhatsAppLogOrderBy] | None) -> list[SortKey]:
    """The neutral sort keys for a GraphQL `orderBy` list."""
    keys: list[SortKey] = []
    for element in order_by or ():
        for name, f in SORTABLE.items():
            direction = getattr(element, f.column.key)
            if _given(direction):
                keys.append(SortKey(name, descending=direction is SortOrder.DESC))
    return keys
