"""indexes for keyset pages by status and for counting a project's logs

The status index gains `id`, so that `status = ? ORDER BY created_at DESC, id DESC` (and its keyset
seek) reads the index in order instead of sorting ties in a temporary b-tree; a narrow index on the
project's live logs halves what a count has to read.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.drop_index("ix_whatsapp_log_project_status_created", table_name="whatsapp_log")
    op.create_index(
        "ix_whatsapp_log_project_status_created",
        "whatsapp_log",
        ["project_id", "status", "created_at", "id"],
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
    op.create_index(
        "ix_whatsapp_log_live_project",
        "whatsapp_log",
        ["project_id"],
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index("ix_whatsapp_log_live_project", table_name="whatsapp_log")
    op.drop_index("ix_whatsapp_log_project_status_created", table_name="whatsapp_log")
    op.create_index(
        "ix_whatsapp_log_project_status_created",
        "whatsapp_log",
        ["project_id", "status", "created_at"],
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
