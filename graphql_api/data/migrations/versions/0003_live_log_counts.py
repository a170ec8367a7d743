"""per-project counts of live logs, kept by triggers

`whatsAppLogCount` without a filter is the most common count (a list's total) and, counted from an
index, costs time in proportion to the project's size (tens of milliseconds at 400,000 logs). Triggers
on whatsapp_log keep each project's number of live (not soft-deleted) logs in a one-row-per-project
table, whoever writes the logs: inserts, deletes, and updates of `deleted_at` or `project_id`. Filtered
counts still count rows. The triggers are `live_counts.ROW_LEVEL`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from graphql_api.data.migrations.live_counts import ROW_LEVEL, create_triggers, drop_triggers
from graphql_api.data.models import GUID

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "whatsapp_log_live_count",
        sa.Column("project_id", GUID(), sa.ForeignKey("project.id"), primary_key=True),
        sa.Column("live_logs", sa.Integer(), nullable=False),
    )
    # The triggers, then the counts of the logs already there. On PostgreSQL, CREATE TRIGGER locks
    # other writers out of whatsapp_log until the migration commits: no log is missed or counted twice.
    create_triggers(op, op.get_bind().dialect.name, ROW_LEVEL)
    op.execute(
        "INSERT INTO whatsapp_log_live_count (project_id, live_logs) "
        "SELECT project_id, count(*) FROM whatsapp_log WHERE deleted_at IS NULL GROUP BY project_id"
    )


def downgrade() -> None:
    drop_triggers(op, op.get_bind().dialect.name, ROW_LEVEL)
    op.drop_table("whatsapp_log_live_count")
