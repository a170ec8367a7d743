"""The registry: every field and relation of the WhatsApp log, declared once.

An entry here is the whole declaration of a field: its API name, column, kind, GraphQL scalar,
description, and what it allows (filtering, sorting, grouping in `whatsAppLogStats`). The GraphQL
types, filter and sort inputs, stats group keys, REST names, the compiled path's JSON and the tests'
tables are all derived from it. Adding a column takes the model, a migration and one entry in
`FIELDS`; adding a relation, its model too and one entry in `RELATIONS` (docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Table

from graphql_api.data import models
from graphql_api.data.kinds import DATETIME, ID, INT, STRING, Kind

LOG: Table = models.WhatsAppLog.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Sort:
    """A field logs can be sorted by: its place in `WhatsAppLogOrderBy` (messages list sortable fields
    in `FIELDS` order) and the key's description."""

    rank: int
    note: str = ""  # added to "Sort by <name>"


@dataclass(frozen=True)
class Group:
    """A `whatsAppLogStats` group key: its place among the keys and what the key and bucket say."""

    rank: int
    means: str  # the `WhatsAppLogGroupBy` value's description
    bucket: str  # the first sentence of the bucket field's description


@dataclass(frozen=True)
class Choices:
    """The values the platform writes to a free-text field, offered as an enum for `<name>In`."""

    enum: str  # the GraphQL enum's name
    values: tuple[str, ...]  # as stored
    description: str  # the enum's
    filter_description: str  # the filter's `<name>In`


@dataclass(frozen=True)
class Field:
    """One scalar field of a WhatsApp log: its API name, column and what can be done with it."""

    name: str
    column: Column[object]
    kind: Kind
    scalar: str  # GraphQL scalar: ID, String, Phone, Int, DateTime
    description: str
    nullable: bool
    filter_note: str = ""  # added to the filter field's "Conditions on `name`."
    sort: Sort | None = None
    group: Group | None = None
    choices: Choices | None = None

    @property
    def sortable(self) -> bool:
        return self.sort is not None

    @property
    def rest_name(self) -> str:
        return "_id" if self.name == "id" else self.name

    @property
    def attribute(self) -> str:
        """The row attribute (column key) that holds the value."""
        return self.column.key


def _field(
    name: str,
    column: str,
    kind: Kind,
    description: str,
    *,
    scalar: str | None = None,
    filter_note: str = "",
    sort: Sort | None = None,
    group: Group | None = None,
    choices: Choices | None = None,
) -> Field:
    col = LOG.c[column]
    return Field(
        name=name,
        column=col,
        kind=kind,
        scalar=scalar or kind.scalar,
        description=description,
        nullable=bool(col.nullable),
        filter_note=filter_note,
        sort=sort,
        group=group,
        choices=choices,
    )


STATUSES = (
    "Success",
    "Sent",
    "Delivered",
    "Read",
    "Failed",
    "Deleted",
    "Warning",
    "Queued",
    "Error",
    "Low Balance",
    "Not Verified",
    "Unknown",
)

FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        _field("id", "id", ID, "ID of this log record."),
        _field(
            "createdAt", "created_at", DATETIME, "Date and time when the message was logged.", sort=Sort(1)
        ),
        _field(
            "updatedAt",
            "updated_at",
            DATETIME,
            "Date and time when the log record was last updated.",
            sort=Sort(2),
        ),
        _field("projectId", "project_id", ID, "ID of the project this log belongs to."),
        _field(
            "toNumber",
            "to_number",
            STRING,
            "Phone number the WhatsApp message was sent to.",
            scalar="Phone",
            sort=Sort(4),
            group=Group(5, "The number it was sent to.", "The recipient's number."),
        ),
        _field(
            "fromNumber",
            "from_number",
            STRING,
            "Phone number the message was sent from (the business number ID).",
            scalar="Phone",
            sort=Sort(5, " (logs without one come first going up)"),
            group=Group(4, "The business number it was sent from.", "The business number."),
        ),
        _field("messageText", "message_text", STRING, "Text content of the WhatsApp message."),
        _field("statusMessage", "status_message", STRING, "Status message from the sender, if any."),
        _field("whatsAppMessageId", "whatsapp_message_id", STRING, "Message ID returned by Meta's API."),
        _field(
            "status",
            "status",
            STRING,
            f"Status of the message as stored (free text). The platform's values: {', '.join(STATUSES)} "
            "(the `WhatsAppLogStatus` enum, which the filter's `statusIn` takes).",
            filter_note=" Free text, compared exactly: `Failed`, not `failed`; see `statusIn`.",
            sort=Sort(3),
            group=Group(1, "The log's status, as stored.", "The status."),
            choices=Choices(
                enum="WhatsAppLogStatus",
                values=STATUSES,
                description=(
                    "The statuses the platform writes to `WhatsAppLog.status`, for `statusIn` (which tools "
                    "autocomplete). `status` itself is free text: logs imported from elsewhere may hold "
                    "other values, which `status: {eq: ...}` matches."
                ),
                filter_description=(
                    "The status is one of these platform statuses: `statusIn: [FAILED, ERROR]` is "
                    '`status: {in: ["Failed", "Error"]}`, with the values autocompleted.'
                ),
            ),
        ),
        _field(
            "whatsAppCostInUSDCents",
            "whatsapp_cost_in_usd_cents",
            INT,
            "What the message cost, in US cents.",
            sort=Sort(6),
        ),
        _field("incidentId", "incident_id", ID, "ID of the incident, if any."),
        _field("userId", "user_id", ID, "ID of the user who initiated it, if any."),
        _field("alertId", "alert_id", ID, "ID of the alert, if any."),
        _field("monitorId", "monitor_id", ID, "ID of the monitor, if any."),
        _field(
            "scheduledMaintenanceId",
            "scheduled_maintenance_id",
            ID,
            "ID of the scheduled maintenance event, if any.",
        ),
        _field("statusPageId", "status_page_id", ID, "ID of the status page, if any."),
        _field(
            "statusPageAnnouncementId",
            "status_page_announcement_id",
            ID,
            "ID of the status page announcement, if any.",
        ),
        _field("teamId", "team_id", ID, "ID of the team, if any."),
        _field("onCallDutyPolicyId", "on_call_duty_policy_id", ID, "ID of the on-call duty policy, if any."),
        _field(
            "onCallDutyPolicyEscalationRuleId",
            "on_call_duty_policy_escalation_rule_id",
            ID,
            "ID of the on-call duty policy escalation rule, if any.",
        ),
        _field(
            "onCallDutyPolicyScheduleId",
            "on_call_duty_policy_schedule_id",
            ID,
            "ID of the on-call duty policy schedule, if any.",
        ),
    )
}

SORTABLE: dict[str, Field] = {name: f for name, f in FIELDS.items() if f.sort is not None}


@dataclass(frozen=True)
class Relation:
    """A resource a log links to: the foreign key on the log, the label the API shows, its GraphQL type."""

    name: str
    table: Table
    foreign_key: str  # API name of the `…Id` field
    label: str  # the label column and field: "name" or "title"
    type_name: str  # its GraphQL type
    description: str  # the type's
    label_description: str  # its label field's
    field_description: str  # the relation field's, on WhatsAppLog
    project_scoped: bool = True
    shows_created_at: bool = True  # whether the GraphQL type has `createdAt`
    group: Group | None = None

    @property
    def fk_column(self) -> Column[object]:
        return FIELDS[self.foreign_key].column


def _relation(
    name: str,
    model: type[models.Base],
    label: str,
    description: str,
    label_description: str,
    *,
    field_description: str = "",
    shows_created_at: bool = True,
    group: Group | None = None,
) -> Relation:
    table: Table = model.__table__  # type: ignore[assignment]
    if not field_description:
        # "ID of the status page, if any." -> "Status page associated with this message, if any."
        what = FIELDS[f"{name}Id"].description.removeprefix("ID of the ").removesuffix(", if any.")
        field_description = f"{what[0].upper()}{what[1:]} associated with this message, if any."
    return Relation(
        name=name,
        table=table,
        foreign_key=f"{name}Id",
        label=label,
        type_name=model.__name__,
        description=description,
        label_description=label_description,
        field_description=field_description,
        project_scoped="project_id" in table.c,
        shows_created_at=shows_created_at,
        group=group,
    )


RELATIONS: dict[str, Relation] = {
    r.name: r
    for r in (
        _relation(
            "incident",
            models.Incident,
            "title",
            "An incident that caused a message.",
            "Title of the incident.",
            group=Group(6, "The incident that caused it.", "The incident."),
        ),
        _relation(
            "user",
            models.User,
            "name",
            "A user who initiated a message. E-mail addresses are not exposed.",
            "Name of the user.",
            field_description="User who initiated this message, if any.",
            shows_created_at=False,
        ),
        _relation("alert", models.Alert, "title", "An alert that caused a message.", "Title of the alert."),
        _relation(
            "monitor",
            models.Monitor,
            "name",
            "A monitor whose state change caused a message.",
            "Name of the monitor.",
            group=Group(7, "The monitor that caused it.", "The monitor."),
        ),
        _relation(
            "scheduledMaintenance",
            models.ScheduledMaintenance,
            "title",
            "A scheduled maintenance event a message was about.",
            "Title of the scheduled maintenance event.",
        ),
        _relation(
            "statusPage",
            models.StatusPage,
            "name",
            "A status page a message announced something on.",
            "Name of the status page.",
        ),
        _relation(
            "statusPageAnnouncement",
            models.StatusPageAnnouncement,
            "title",
            "A status page announcement a message carried.",
            "Title of the announcement.",
        ),
        _relation(
            "team",
            models.Team,
            "name",
            "A team a message was sent for.",
            "Name of the team.",
            group=Group(8, "The team it was sent for.", "The team."),
        ),
        _relation(
            "onCallDutyPolicy",
            models.OnCallDutyPolicy,
            "name",
            "An on-call duty policy that paged someone through a message.",
            "Name of the on-call duty policy.",
        ),
        _relation(
            "onCallDutyPolicyEscalationRule",
            models.OnCallDutyPolicyEscalationRule,
            "name",
            "An escalation rule of an on-call duty policy.",
            "Name of the escalation rule.",
        ),
        _relation(
            "onCallDutyPolicySchedule",
            models.OnCallDutyPolicySchedule,
            "name",
            "A schedule of an on-call duty policy.",
            "Name of the on-call schedule.",
        ),
    )
}

# The project a log belongs to is a relation too, reached through `projectId` (never null).
PROJECT = Relation(
    name="project",
    table=models.Project.__table__,  # type: ignore[arg-type]
    foreign_key="projectId",
    label="name",
    type_name="Project",
    description="The project (tenant) a log belongs to; an API key sees only its own.",
    label_description="Name of the project.",
    field_description="The project this log belongs to.",
    project_scoped=False,
)


# Group keys computed from a field rather than read: the UTC day and month a log was created.
PERIODS: dict[str, Group] = {
    "day": Group(2, "The UTC calendar day the log was created.", "The UTC day, `YYYY-MM-DD`."),
    "month": Group(3, "The UTC calendar month the log was created.", "The UTC month, `YYYY-MM`."),
}
