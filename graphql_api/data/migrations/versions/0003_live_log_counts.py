"""per-project counts of live logs, kept by triggers

`whatsAppLogCount` without a filter is the most common count (a list's total) and, counted from an
index, costs time in proportion to the project's size (tens of milliseconds at 400,000 logs). Triggers
on whatsapp_log keep each project's number of live (not soft-deleted) logs in a one-row-per-project
table, whoever writes the logs: inserts, deletes, and updates of `deleted_at` or `project_id`. Filtered
counts still count rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from graphql_api.data.models import GUID

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = [
    """CREATE TRIGGER whatsapp_log_live_count_insert AFTER INSERT ON whatsapp_log
    WHEN NEW.deleted_at IS NULL
    BEGIN
        INSERT INTO whatsapp_log_live_count (project_id, live_logs) VALUES (NEW.project_id, 1)
        ON CONFLICT (project_id) DO UPDATE SET live_logs = live_logs + 1;
    END""",
    """CREATE TRIGGER whatsapp_log_live_count_delete AFTER DELETE ON whatsapp_log
    WHEN OLD.deleted_at IS NULL
    BEGIN
        UPDATE whatsapp_log_live_count SET live_logs = live_logs - 1 WHERE project_id = OLD.project_id;
    END""",
    """CREATE TRIGGER whatsapp_log_live_count_update AFTER UPDATE OF deleted_at, project_id ON whatsapp_log
    BEGIN
        UPDATE whatsapp_log_live_count SET live_logs = live_logs - 1
        WHERE OLD.deleted_at IS NULL AND project_id = OLD.project_id;
        INSERT INTO whatsapp_log_live_count (project_id, live_logs)
        SELECT NEW.project_id, 1 WHERE NEW.deleted_at IS NULL
        ON CONFLICT (project_id) DO UPDATE SET live_logs = live_logs + 1;
    END""",
]

POSTGRESQL_FUNCTION = """
CREATE FUNCTION whatsapp_log_live_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        IF OLD.deleted_at IS NULL THEN
            UPDATE whatsapp_log_live_count SET live_logs = live_logs - 1 WHERE project_id = OLD.project_id;
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        IF NEW.deleted_at IS NULL THEN
            INSERT INTO whatsapp_log_live_count (project_id, live_logs) VALUES (NEW.project_id, 1)
            ON CONFLICT (project_id) DO UPDATE SET live_logs = whatsapp_log_live_count.live_logs + 1;
        END IF;
    END IF;
    RETURN NULL;
END
$$"""

POSTGRESQL_TRIGGER = """
CREATE TRIGGER whatsapp_log_live_count
AFTER INSERT OR DELETE OR UPDATE OF deleted_at, project_id ON whatsapp_log
FOR EACH ROW EXECUTE FUNCTION whatsapp_log_live_count_change()"""


def upgrade() -> None:
    op.create_table(
        "whatsapp_log_live_count",
        sa.Column("project_id", GUID(), sa.ForeignKey("project.id"), primary_key=True),
        sa.Column("live_logs", sa.Integer(), nullable=False),
    )
    # The triggers, then the counts of the logs already there. On PostgreSQL, CREATE TRIGGER locks
    # other writers out of whatsapp_log until the migration commits: no log is missed or counted twice.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        op.execute(POSTGRESQL_TRIGGER)
    else:
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
    op.execute(
        "INSERT INTO whatsapp_log_live_count (project_id, live_logs) "
        "SELECT project_id, count(*) FROM whatsapp_log WHERE deleted_at IS NULL GROUP BY project_id"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER whatsapp_log_live_count ON whatsapp_log")
        op.execute("DROP FUNCTION whatsapp_log_live_count_change()")
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER whatsapp_log_live_count_{name}")
    op.drop_table("whatsapp_log_live_count")
