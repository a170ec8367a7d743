"""GraphQL object types. At run time their values are database rows: fields read row attributes."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import strawberry

from graphql_api.data.fields import RELATIONS
from graphql_api.schema.inputs import KNOWN_STATUSES
from graphql_api.schema.scalars import Phone

if TYPE_CHECKING:
    from graphql_api.schema.context import Context

STATUS_VALUES = ", ".join(KNOWN_STATUSES)

_ID = "Unique id of this record (a UUID)."
_CREATED = "When this record was created."


@strawberry.type(description="The project (tenant) a log belongs to; an API key sees only its own.")
class Project:
    id: strawberry.ID = strawberry.field(description=_ID)
    name: str = strawberry.field(description="Name of the project.")
    created_at: datetime = strawberry.field(description=_CREATED)


@strawberry.type(description="An incident that caused a message.")
class Incident:
    id: strawberry.ID = strawberry.field(description=_ID)
    title: str = strawberry.field(description="Title of the incident.")
    created_at: datetime = strawberry.field(description=_CREATED)


@strawberry.type(description="An alert that caused a message.")
class Alert:
    id: strawberry.ID = strawberry.field(description=_ID)
    title: str = strawberry.field(description="Title of the alert.")
    created_at: datetime = strawberry.field(description=_CREATED)


@strawberry.type(description="A monitor whose state change caused a message.")
class Monitor:
    id: strawberry.ID = strawberry.field(description=_ID)
    name: str = strawberry.field(description="Name of the monitor.")
    created_at: datetime = strawberry.field(description=_CREATED)


@strawberry.type(description="A user who initiated a message. E-mail addresses are not exposed.")
class User:
    id: strawberry.ID = strawberry.field(description=_ID)
    name: str = strawberry.field(description="Name of the user.")


@strawberry.type(description="A team a message was sent for.")
class Team:
    id: strawberry.ID = strawberry.field(description=_ID)
    name: str = strawberry.field(description="Name of the team.")
    created_at: datetime = strawberry.field(description=_CREATED)


@strawberry.type(description="A status page a message announced something on.")
class StatusPage:
    id: strawberry.ID = strawberry.field(description=_ID)
    name: str = strawberry.field(description="Name of the status page.")
    created_at: datetime = strawberry.field(description=_CREATED)


@strawberry.type(description="A status page announcement a message carried.")
class StatusPageAnnouncement:
    id: strawberry.ID = strawberry.field(description=_ID)
    title: str = strawberry.field(description="Title of the announcement.")
    created_at: datetime = strawberry.field(description=_CREATED)


@strawberry.type(description="A scheduled maintenance event a message was about.")
class ScheduledMaintenance:
    id: strawberry.ID = strawberry.field(description=_ID)
    title: str = strawberry.field(description="Title of the scheduled maintenance event.")
    created_at: datetime = strawberry.field(description=_CREATED)


@strawberry.type(description="An on-call duty policy that paged someone through a message.")
class OnCallDutyPolicy:
    id: strawberry.ID = strawberry.field(description=_ID)
    name: str = strawberry.field(description="Name of the on-call duty policy.")
    created_at: datetime = strawberry.field(description=_CREATED)


@strawberry.type(description="An escalation rule of an on-call duty policy.")
class OnCallDutyPolicyEscalationRule:
    id: strawberry.ID = strawberry.field(description=_ID)
    name: str = strawberry.field(description="Name of the escalation rule.")
    created_at: datetime = strawberry.field(description=_CREATED)


@strawberry.type(description="A schedule of an on-call duty policy.")
class OnCallDutyPolicySchedule:
    id: strawberry.ID = strawberry.field(description=_ID)
    name: str = strawberry.field(description="Name of the on-call schedule.")
    created_at: datetime = strawberry.field(description=_CREATED)


RELATED_TYPES: dict[str, type] = {
    "project": Project,
    "incident": Incident,
    "user": User,
    "alert": Alert,
    "monitor": Monitor,
    "scheduledMaintenance": ScheduledMaintenance,
    "statusPage": StatusPage,
    "statusPageAnnouncement": StatusPageAnnouncement,
    "team": Team,
    "onCallDutyPolicy": OnCallDutyPolicy,
    "onCallDutyPolicyEscalationRule": OnCallDutyPolicyEscalationRule,
    "onCallDutyPolicySchedule": OnCallDutyPolicySchedule,
}


# Marks a resolver that graphql-core may call as it is, `(root, info)`: see schema/resolvers.py.
DIRECT = "_direct_resolver"


def _related(name: str, description: str) -> Any:
    """A nullable relation field: preloaded with the page, else batched by the request's DataLoader.

    Not `async`: a preloaded record is returned as it is, sparing GraphQL execution a coroutine per row.
    """
    relation = RELATIONS[name]
    fk = relation.fk_column.key

    def resolve(root: Any, info: strawberry.Info[Context, None]) -> Any:
        value = getattr(root, fk)
        if value is None:
            return None
        return info.context.loaders.get(name, value)

    resolve.__annotations__["return"] = RELATED_TYPES[name] | None
    setattr(resolve, DIRECT, True)
    return strawberry.field(resolver=resolve, description=description)


def _project(root: Any, info: strawberry.Info[Context, None]) -> Project:
    return info.context.loaders.get("project", root.project_id)  # type: ignore[no-any-return]


setattr(_project, DIRECT, True)


@strawberry.type(
    description=(
        "A WhatsApp message the platform sent (an incident alert, an on-call page, a status-page "
        "announcement...), with its delivery status, cost and the records that caused it."
    )
)
class WhatsAppLog:
    id: strawberry.ID = strawberry.field(description="ID of this log record.")
    created_at: datetime = strawberry.field(description="Date and time when the message was logged.")
    updated_at: datetime = strawberry.field(description="Date and time when the log record was last updated.")
    project_id: strawberry.ID = strawberry.field(description="ID of the project this log belongs to.")
    project: Project = strawberry.field(resolver=_project, description="The project this log belongs to.")
    to_number: Phone = strawberry.field(description="Phone number the WhatsApp message was sent to.")
    from_number: Phone | None = strawberry.field(
        description="Phone number the message was sent from (the business number ID)."
    )
    message_text: str | None = strawberry.field(description="Text content of the WhatsApp message.")
    status_message: str | None = strawberry.field(description="Status message from the sender, if any.")
    whatsapp_message_id: str | None = strawberry.field(
        name="whatsAppMessageId", description="Message ID returned by Meta's API."
    )
    status: str = strawberry.field(
        description=(
            f"Status of the message as stored (free text). The platform's values: {STATUS_VALUES} "
            "(the `WhatsAppLogStatus` enum, which the filter's `statusIn` takes)."
        )
    )
    whatsapp_cost_in_usd_cents: int = strawberry.field(
        name="whatsAppCostInUSDCents", description="What the message cost, in US cents."
    )
    incident_id: strawberry.ID | None = strawberry.field(description="ID of the incident, if any.")
    incident: Incident | None = _related("incident", "Incident associated with this message, if any.")
    user_id: strawberry.ID | None = strawberry.field(description="ID of the user who initiated it, if any.")
    user: User | None = _related("user", "User who initiated this message, if any.")
    alert_id: strawberry.ID | None = strawberry.field(description="ID of the alert, if any.")
    alert: Alert | None = _related("alert", "Alert associated with this message, if any.")
    monitor_id: strawberry.ID | None = strawberry.field(description="ID of the monitor, if any.")
    monitor: Monitor | None = _related("monitor", "Monitor associated with this message, if any.")
    scheduled_maintenance_id: strawberry.ID | None = strawberry.field(
        description="ID of the scheduled maintenance event, if any."
    )
    scheduled_maintenance: ScheduledMaintenance | None = _related(
        "scheduledMaintenance", "Scheduled maintenance event associated with this message, if any."
    )
    status_page_id: strawberry.ID | None = strawberry.field(description="ID of the status page, if any.")
    status_page: StatusPage | None = _related(
        "statusPage", "Status page associated with this message, if any."
    )
    status_page_announcement_id: strawberry.ID | None = strawberry.field(
        description="ID of the status page announcement, if any."
    )
    status_page_announcement: StatusPageAnnouncement | None = _related(
        "statusPageAnnouncement", "Status page announcement associated with this message, if any."
    )
    team_id: strawberry.ID | None = strawberry.field(description="ID of the team, if any.")
    team: Team | None = _related("team", "Team associated with this message, if any.")
    on_call_duty_policy_id: strawberry.ID | None = strawberry.field(
        description="ID of the on-call duty policy, if any."
    )
    on_call_duty_policy: OnCallDutyPolicy | None = _related(
        "onCallDutyPolicy", "On-call duty policy associated with this message, if any."
    )
    on_call_duty_policy_escalation_rule_id: strawberry.ID | None = strawberry.field(
        description="ID of the on-call duty policy escalation rule, if any."
    )
    on_call_duty_policy_escalation_rule: OnCallDutyPolicyEscalationRule | None = _related(
        "onCallDutyPolicyEscalationRule",
        "On-call duty policy escalation rule associated with this message, if any.",
    )
    on_call_duty_policy_schedule_id: strawberry.ID | None = strawberry.field(
        description="ID of the on-call duty policy schedule, if any."
    )
    on_call_duty_policy_schedule: OnCallDutyPolicySchedule | None = _related(
        "onCallDutyPolicySchedule", "On-call duty policy schedule associated with this message, if any."
    )
