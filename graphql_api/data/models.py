"""SQLAlchemy models: the WhatsApp log, its project, the related resources and API keys.

Table and column names are a contract: operators point this server at databases they fill.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from graphql_api.data.kinds import utc


class GUID(TypeDecorator[str]):
    """A UUID kept as its canonical text: native `uuid` on PostgreSQL, `varchar(36)` elsewhere."""

    impl = String(36)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.UUID(as_uuid=False))
        return dialect.type_descriptor(String(36))

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return str(uuid.UUID(str(value)))

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        # SQLite hands back the text as stored: no per-value work (a page has over a thousand ids).
        if dialect.name == "sqlite":
            return None
        return super().result_processor(dialect, coltype)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python; `timestamptz` on PostgreSQL, naive UTC text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError("a datetime is required")
        moment = utc(value)
        # SQLite compares dates as text: one zone and one format keep that order chronological.
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return utc(moment)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        # One C-level parse per value instead of SQLAlchemy's parse plus this decorator's conversion.
        def process(value: Any) -> datetime | None:
            if value is None:
                return None
            parsed = datetime.fromisoformat(value)
            return utc(parsed)

        return process


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


class _Resource:
    id: Mapped[str] = mapped_column(GUID, primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Project(_Resource, Base):
    __tablename__ = "project"
    name: Mapped[str] = mapped_column(String(100), nullable=False)


class _ProjectResource(_Resource):
    project_id: Mapped[str] = mapped_column(GUID, ForeignKey("project.id"), nullable=False, index=True)


class Incident(_ProjectResource, Base):
    __tablename__ = "incident"
    title: Mapped[str] = mapped_column(String(500), nullable=False)


class Alert(_ProjectResource, Base):
    __tablename__ = "alert"
    title: Mapped[str] = mapped_column(String(500), nullable=False)


class Monitor(_ProjectResource, Base):
    __tablename__ = "monitor"
    name: Mapped[str] = mapped_column(String(100), nullable=False)


class User(_Resource, Base):
    """Users span projects, so they carry no project_id."""

    __tablename__ = "user"
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    email: Mapped[str] = mapped_column(String(200), nullable=False)


class Team(_ProjectResource, Base):
    __tablename__ = "team"
    name: Mapped[str] = mapped_column(String(100), nullable=False)


class StatusPage(_ProjectResource, Base):
    __tablename__ = "status_page"
    name: Mapped[str] = mapped_column(String(100), nullable=False)


class StatusPageAnnouncement(_ProjectResource, Base):
    __tablename__ = "status_page_announcement"
    title: Mapped[str] = mapped_column(String(500), nullable=False)


class ScheduledMaintenance(_ProjectResource, Base):
    __tablename__ = "scheduled_maintenance"
    title: Mapped[str] = mapped_column(String(500), nullable=False)


class OnCallDutyPolicy(_ProjectResource, Base):
    __tablename__ = "on_call_duty_policy"
    name: Mapped[str] = mapped_column(String(100), nullable=False)


class OnCallDutyPolicyEscalationRule(_ProjectResource, Base):
    __tablename__ = "on_call_duty_policy_escalation_rule"
    name: Mapped[str] = mapped_column(String(100), nullable=False)


class OnCallDutyPolicySchedule(_ProjectResource, Base):
    __tablename__ = "on_call_duty_policy_schedule"
    name: Mapped[str] = mapped_column(String(100), nullable=False)


class WhatsAppLog(Base):
    __tablename__ = "whatsapp_log"

    id: Mapped[str] = mapped_column(GUID, primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    project_id: Mapped[str] = mapped_column(GUID, ForeignKey("project.id"), nullable=False)
    to_number: Mapped[str] = mapped_column(String(30), nullable=False)
    from_number: Mapped[str | None] = mapped_column(String(30))
    message_text: Mapped[str | None] = mapped_column(Text)
    status_message: Mapped[str | None] = mapped_column(String(500))
    whatsapp_message_id: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(100), nullable=False)
    whatsapp_cost_in_usd_cents: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default=text("0")
    )
    incident_id: Mapped[str | None] = mapped_column(GUID, ForeignKey("incident.id"), index=True)
    user_id: Mapped[str | None] = mapped_column(GUID, ForeignKey("user.id"), index=True)
    alert_id: Mapped[str | None] = mapped_column(GUID, ForeignKey("alert.id"), index=True)
    monitor_id: Mapped[str | None] = mapped_column(GUID, ForeignKey("monitor.id"), index=True)
    scheduled_maintenance_id: Mapped[str | None] = mapped_column(
        GUID, ForeignKey("scheduled_maintenance.id"), index=True
    )
    status_page_id: Mapped[str | None] = mapped_column(GUID, ForeignKey("status_page.id"), index=True)
    status_page_announcement_id: Mapped[str | None] = mapped_column(
        GUID, ForeignKey("status_page_announcement.id"), index=True
    )
    team_id: Mapped[str | None] = mapped_column(GUID, ForeignKey("team.id"), index=True)
    on_call_duty_policy_id: Mapped[str | None] = mapped_column(
        GUID, ForeignKey("on_call_duty_policy.id"), index=True
    )
    on_call_duty_policy_escalation_rule_id: Mapped[str | None] = mapped_column(
        GUID, ForeignKey("on_call_duty_policy_escalation_rule.id"), index=True
    )
    on_call_duty_policy_schedule_id: Mapped[str | None] = mapped_column(
        GUID, ForeignKey("on_call_duty_policy_schedule.id"), index=True
    )
    # The log's place in whatsAppLogStream's feed, set by triggers on every write (migration 0005):
    # PostgreSQL, the writing transaction's id; SQLite, whatsapp_log_change_clock's next value.
    change_position: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))

    __table_args__ = (
        # Live rows only: lists sorted by date and counts read these without touching the table.
        Index(
            "ix_whatsapp_log_project_created",
            "project_id",
            "created_at",
            "id",
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        # `id` too: pages by status, newest first, read this in order (ties included) and seek in it.
        Index(
            "ix_whatsapp_log_project_status_created",
            "project_id",
            "status",
            "created_at",
            "id",
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        # Counting a project's logs reads the narrowest index there is.
        Index(
            "ix_whatsapp_log_live_project",
            "project_id",
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        # whatsAppLogStream reads a project's live logs in feed order from its cursor.
        Index(
            "ix_whatsapp_log_project_change",
            "project_id",
            "change_position",
            "id",
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )


class WhatsAppLogLiveCount(Base):
    """How many live logs each project has, kept by triggers on whatsapp_log (migration 0003)."""

    __tablename__ = "whatsapp_log_live_count"

    project_id: Mapped[str] = mapped_column(GUID, ForeignKey("project.id"), primary_key=True)
    live_logs: Mapped[int] = mapped_column(Integer, nullable=False)


class WhatsAppLogChangeClock(Base):
    """One row: the last change position given out on SQLite (migration 0005); unused on PostgreSQL,
    whose positions are transaction ids."""

    __tablename__ = "whatsapp_log_change_clock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger, nullable=False)


class ApiKey(Base):
    __tablename__ = "api_key"

    id: Mapped[str] = mapped_column(GUID, primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(GUID, ForeignKey("project.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    # SHA-256 of the secret, hex; the secret itself is never stored.
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    permissions: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
