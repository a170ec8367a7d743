"""initial schema: projects, the resources a log links to, WhatsApp logs and API keys

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from graphql_api.data.models import GUID, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# the resources of a project: table -> (label column, its length)
RESOURCES: dict[str, tuple[str, int]] = {
    "incident": ("title", 500),
    "alert": ("title", 500),
    "monitor": ("name", 100),
    "team": ("name", 100),
    "status_page": ("name", 100),
    "status_page_announcement": ("title", 500),
    "scheduled_maintenance": ("title", 500),
    "on_call_duty_policy": ("name", 100),
    "on_call_duty_policy_escalation_rule": ("name", 100),
    "on_call_duty_policy_schedule": ("name", 100),
}
LOG_LINKS = [
    "incident",
    "user",
    "alert",
    "monitor",
    "scheduled_maintenance",
    "status_page",
    "status_page_announcement",
    "team",
    "on_call_duty_policy",
    "on_call_duty_policy_escalation_rule",
    "on_call_duty_policy_schedule",
]
LIVE = sa.text("deleted_at IS NULL")


def _id_and_created() -> list[sa.Column[object]]:
    return [
        sa.Column("id", GUID(), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table("project", *_id_and_created(), sa.Column("name", sa.String(100), nullable=False))
    op.create_table(
        "user",
        *_id_and_created(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("email", sa.String(200), nullable=False),
    )
    for table, (label, length) in RESOURCES.items():
        op.create_table(
            table,
            *_id_and_created(),
            sa.Column("project_id", GUID(), sa.ForeignKey("project.id"), nullable=False),
            sa.Column(label, sa.String(length), nullable=False),
        )
        op.create_index(f"ix_{table}_project_id", table, ["project_id"])

    op.create_table(
        "whatsapp_log",
        *_id_and_created(),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.Column("project_id", GUID(), sa.ForeignKey("project.id"), nullable=False),
        sa.Column("to_number", sa.String(30), nullable=False),
        sa.Column("from_number", sa.String(30), nullable=True),
        sa.Column("message_text", sa.Text(), nullable=True),
        sa.Column("status_message", sa.String(500), nullable=True),
        sa.Column("whatsapp_message_id", sa.String(100), nullable=True),
        sa.Column("status", sa.String(100), nullable=False),
        sa.Column("whatsapp_cost_in_usd_cents", sa.Integer(), server_default=sa.text("0"), nullable=False),
        *[sa.Column(f"{link}_id", GUID(), sa.ForeignKey(f"{link}.id"), nullable=True) for link in LOG_LINKS],
    )
    op.create_index(
        "ix_whatsapp_log_project_created",
        "whatsapp_log",
        ["project_id", "created_at", "id"],
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
    op.create_index(
        "ix_whatsapp_log_project_status_created",
        "whatsapp_log",
        ["project_id", "status", "created_at"],
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
    for link in LOG_LINKS:
        op.create_index(f"ix_whatsapp_log_{link}_id", "whatsapp_log", [f"{link}_id"])

    op.create_table(
        "api_key",
        sa.Column("id", GUID(), primary_key=True),
        sa.Column("project_id", GUID(), sa.ForeignKey("project.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_api_key_project_id", "api_key", ["project_id"])


def downgrade() -> None:
    op.drop_table("api_key")
    op.drop_table("whatsapp_log")
    for table in RESOURCES:
        op.drop_table(table)
    op.drop_table("user")
    op.drop_table("project")
