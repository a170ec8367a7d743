"""live-log counts on PostgreSQL kept by statement-level triggers

0003's row-level trigger updates a project's counter row once per inserted log. Inside one transaction
PostgreSQL cannot prune the dead versions of that row, so every update walks a longer chain: a bulk
seed or import of n logs cost O(n²) (20,000 logs in 6 s, 40,000 in 15 s). Statement-level triggers
read the statement's transition tables and apply one delta per project per statement instead. SQLite
updates rows in place and keeps 0003's row triggers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE FUNCTION whatsapp_log_live_count_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO whatsapp_log_live_count (project_id, live_logs)
        SELECT project_id, count(*) FROM new_rows WHERE deleted_at IS NULL GROUP BY project_id
        ON CONFLICT (project_id)
        DO UPDATE SET live_logs = whatsapp_log_live_count.live_logs + EXCLUDED.live_logs;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE whatsapp_log_live_count AS c SET live_logs = c.live_logs - d.n
        FROM (
            SELECT project_id, count(*) AS n FROM old_rows WHERE deleted_at IS NULL GROUP BY project_id
        ) AS d
        WHERE c.project_id = d.project_id;
    ELSE
        INSERT INTO whatsapp_log_live_count (project_id, live_logs)
        SELECT project_id, sum(delta) FROM (
            SELECT project_id, 1 AS delta FROM new_rows WHERE deleted_at IS NULL
            UNION ALL
            SELECT project_id, -1 AS delta FROM old_rows WHERE deleted_at IS NULL
        ) AS changes
        GROUP BY project_id
        HAVING sum(delta) <> 0
        ON CONFLICT (project_id)
        DO UPDATE SET live_logs = whatsapp_log_live_count.live_logs + EXCLUDED.live_logs;
    END IF;
    RETURN NULL;
END
$$"""

# Transition tables allow one event per trigger and no column list: three triggers, one function.
TRIGGERS = {
    "insert": "AFTER INSERT ON whatsapp_log REFERENCING NEW TABLE AS new_rows",
    "delete": "AFTER DELETE ON whatsapp_log REFERENCING OLD TABLE AS old_rows",
    "update": "AFTER UPDATE ON whatsapp_log REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
}


def _on_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _on_postgresql():
        return
    # Swapped inside the migration's transaction, with whatsapp_log locked: no write is missed.
    op.execute("LOCK TABLE whatsapp_log IN SHARE ROW EXCLUSIVE MODE")
    op.execute("DROP TRIGGER whatsapp_log_live_count ON whatsapp_log")
    op.execute("DROP FUNCTION whatsapp_log_live_count_change()")
    op.execute(FUNCTION)
    for event, clause in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER whatsapp_log_live_count_{event} {clause} "
            "FOR EACH STATEMENT EXECUTE FUNCTION whatsapp_log_live_count_apply()"
        )


def _revision_0003() -> ModuleType:
    path = Path(__file__).with_name("0003_live_log_counts.py")
    spec = importlib.util.spec_from_file_location("revision_0003", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade() -> None:
    if not _on_postgresql():
        return
    for event in TRIGGERS:
        op.execute(f"DROP TRIGGER whatsapp_log_live_count_{event} ON whatsapp_log")
    op.execute("DROP FUNCTION whatsapp_log_live_count_apply()")
    previous = _revision_0003()
    op.execute(previous.POSTGRESQL_FUNCTION)
    op.execute(previous.POSTGRESQL_TRIGGER)
