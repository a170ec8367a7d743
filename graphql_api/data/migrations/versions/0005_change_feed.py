"""the change feed of whatsAppLogStream: each log's place in it, and the triggers that keep it

`change_position` says where a log's latest insert or update sits in the feed (PostgreSQL: the writing
transaction's id; SQLite: the next value of `whatsapp_log_change_clock`), kept by the triggers of
`change_triggers.CHANGE_FEED`, which on PostgreSQL also NOTIFY the listening servers once per statement.
Logs already there get 0: the feed starts at the migration. The index reads a project's live logs in
feed order. docs/subscriptions.md explains why skipping a late commit cannot happen.

Adding a column with a constant default rebuilds nothing (PostgreSQL stores the default; SQLite's ALTER
TABLE ADD COLUMN), so the live-count triggers stay.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from graphql_api.data.migrations.change_triggers import CHANGE_FEED
from graphql_api.data.migrations.live_counts import create_triggers, drop_triggers

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "whatsapp_log_change_clock",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO whatsapp_log_change_clock (id, position) VALUES (1, 0)")
    op.add_column(
        "whatsapp_log",
        sa.Column("change_position", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
    )
    op.create_index(
        "ix_whatsapp_log_project_change",
        "whatsapp_log",
        ["project_id", "change_position", "id"],
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
    create_triggers(op, dialect, CHANGE_FEED)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    drop_triggers(op, dialect, CHANGE_FEED)
    op.drop_index("ix_whatsapp_log_project_change", table_name="whatsapp_log")
    # SQLite (3.35+) drops a column in place: no rebuild, the live-count triggers stay.
    with op.batch_alter_table("whatsapp_log", recreate="never") as batch:
        batch.drop_column("change_position")
    op.drop_table("whatsapp_log_change_clock")
