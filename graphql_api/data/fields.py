"""The WhatsApp log's fields and relations, defined once as data for GraphQL, REST and the SQL builder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Column, Table

from graphql_api.data import models

Kind = Literal["id", "string", "int", "datetime"]

LOG: Table = models.WhatsAppLog.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Field:
    """One scalar field of a WhatsApp log: its API name, column and what can be done with it."""

    name: str
    column: Column[object]
    kind: Kind
    nullable: bool
    sortable: bool = False

    @property
    def rest_name(self) -> str:
        return "_id" if self.name == "id" else self.name


def _field(name: str, column: str, kind: Kind, *, sortable: bool = False) -> Field:
    col = LOG.c[column]
    return Field(name=name, column=col, kind=kind, nullable=bool(col.nullable), sortable=sortable)


FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        _field("id", "id", "id"),
        _field("createdAt", "created_at", "datetime", sortable=True),
        _field("updatedAt", "updated_at", "datetime", sortable=True),
        _field("projectId", "project_id", "id"),
        _field("toNumber", "to_number", "string", sortable=True),
        _field("fromNumber", "from_number", "string", sortable=True),
        _field("messageText", "message_text", "string"),
        _field("statusMessage", "status_message", "string"),
        _field("whatsAppMessageId", "whatsapp_message_id", "string"),
        _field("status", "status", "string", sortable=True),
        _field("whatsAppCostInUSDCents", "whatsapp_cost_in_usd_cents", "int", sortable=True),
        _field("incidentId", "incident_id", "id"),
        _field("userId", "user_id", "id"),
        _field("alertId", "alert_id", "id"),
        _field("monitorId", "monitor_id", "id"),
        _field("scheduledMaintenanceId", "scheduled_maintenance_id", "id"),
        _field("statusPageId", "status_page_id", "id"),
        _field("statusPageAnnouncementId", "status_page_announcement_id", "id"),
        _field("teamId", "team_id", "id"),
        _field("onCallDutyPolicyId", "on_call_duty_policy_id", "id"),
        _field("onCallDutyPolicyEscalationRuleId", "on_call_duty_policy_escalation_rule_id", "id"),
        _field("onCallDutyPolicyScheduleId", "on_call_duty_policy_schedule_id", "id"),
    )
}

SORTABLE: dict[str, Field] = {name: f for name, f in FIELDS.items() if f.sortable}


@dataclass(frozen=True)
class Relation:
    """A resource a log links to: the foreign key on the log and the label the API shows."""

    name: str
    table: Table
    foreign_key: str  # API name of the `…Id` field
    label: str  # "name" or "title"
    project_scoped: bool = True

    @property
    def fk_column(self) -> Column[object]:
        return FIELDS[self.foreign_key].column


def _relation(name: str, model: type[models.Base], label: str) -> Relation:
    table: Table = model.__table__  # type: ignore[assignment]
    return Relation(
        name=name,
        table=table,
        foreign_key=f"{name}Id",
        label=label,
        project_scoped="project_id" in table.c,
    )


RELATIONS: dict[str, Relation] = {
    r.name: r
    for r in (
        _relation("incident", models.Incident, "title"),
        _relation("user", models.User, "name"),
        _relation("alert", models.Alert, "title"),
        _relation("monitor", models.Monitor, "name"),
        _relation("scheduledMaintenance", models.ScheduledMaintenance, "title"),
        _relation("statusPage", models.StatusPage, "name"),
        _relation("statusPageAnnouncement", models.StatusPageAnnouncement, "title"),
        _relation("team", models.Team, "name"),
        _relation("onCallDutyPolicy", models.OnCallDutyPolicy, "name"),
        _relation("onCallDutyPolicyEscalationRule", models.OnCallDutyPolicyEscalationRule, "name"),
        _relation("onCallDutyPolicySchedule", models.OnCallDutyPolicySchedule, "name"),
    )
}

# The project a log belongs to is a relation too, reached through `projectId`.
PROJECT = Relation(
    name="project",
    table=models.Project.__table__,  # type: ignore[arg-type]
    foreign_key="projectId",
    label="name",
    project_scoped=False,
)
