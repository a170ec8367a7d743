"""live-log counts on PostgreSQL kept by statement-level triggers

0003's row-level trigger updates a project's counter row once per inserted log. Inside one transaction
PostgreSQL cannot prune the dead versions of that row, so every update walks a longer chain: a bulk
seed or import of n logs cost O(n²) (20,000 logs in 6 s, 40,000 in 15 s). Statement-level triggers
read the statement's transition tables and apply one delta per project per statement instead. SQLite
updates rows in place and keeps 0003's row triggers. The triggers are `live_counts.STATEMENT_LEVEL`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

from graphql_api.data.migrations.live_counts import (
    ROW_LEVEL,
    STATEMENT_LEVEL,
    create_triggers,
    drop_triggers,
)

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _on_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _on_postgresql():
        return
    # Swapped inside the migration's transaction, with whatsapp_log locked: no write is missed.
    op.execute("LOCK TABLE whatsapp_log IN SHARE ROW EXCLUSIVE MODE")
    drop_triggers(op, "postgresql", ROW_LEVEL)
    create_triggers(op, "postgresql", STATEMENT_LEVEL)


def downgrade() -> None:
    if not _on_postgresql():
        return
    drop_triggers(op, "postgresql", STATEMENT_LEVEL)
    create_triggers(op, "postgresql", ROW_LEVEL)
