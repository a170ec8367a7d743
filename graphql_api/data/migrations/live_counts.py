"""The triggers that keep `whatsapp_log_live_count` equal to each project's number of live logs.

`whatsAppLogCount` without a filter reads a project's row of whatsapp_log_live_count instead of counting
(revision 0003). Triggers on whatsapp_log keep the rows right whoever writes the logs: inserts, deletes,
and updates of `deleted_at` or `project_id`. Their DDL lives here so that every revision that needs it
imports it (0004 swaps 0003's triggers for its own, and its downgrade puts 0003's back):

- `ROW_LEVEL` (0003): three row triggers on SQLite; one row trigger and its function on PostgreSQL.
- `STATEMENT_LEVEL` (0004, head): on PostgreSQL, three statement-level triggers over transition tables
  and their function, one delta per project per statement (row triggers made bulk writes O(n²)); SQLite
  keeps the row triggers.

A set stays as the revision that introduced it left it, and every revision names the set it means: a
revision must create the same objects whatever comes after it. Changing the triggers is a new set here
and a revision that drops the old set and creates the new one.

Rebuilding whatsapp_log drops its triggers, silently. env.py turns on Alembic's batch mode on SQLite, and
there `op.batch_alter_table("whatsapp_log")` rebuilds the table for every change that SQLite's ALTER TABLE
cannot make: a column with a foreign key (a new relation), a changed or dropped column, a constraint; on
both backends with `recreate="always"`. It copies the rows into a new table, drops the old one and renames
the new one, and the triggers go with the old table: nothing fails, the counts just stop following the
logs. A revision that rebuilds whatsapp_log, in its upgrade or its downgrade, must create the triggers
again after the batch block:

    with op.batch_alter_table("whatsapp_log") as batch:
        batch.add_column(sa.Column("team_id", GUID(), sa.ForeignKey("team.id", name=...), nullable=True))
    if op.get_bind().dialect.name == "sqlite":  # PostgreSQL altered the table in place
        recreate_triggers(op, "sqlite", STATEMENT_LEVEL)

`recreate_triggers` creates the triggers without their function, which outlives the table on PostgreSQL
(on SQLite it is `create_triggers`). The counts survive the copy: dropping a table fires no trigger.
tests/test_migrations.py fails when any revision, up or down, leaves whatsapp_log without working triggers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import TextClause, text


class Executes(Protocol):
    """Alembic's `op`, or a SQLAlchemy `Connection`: anything that executes a statement."""

    def execute(self, statement: TextClause, /) -> object: ...


@dataclass(frozen=True)
class Triggers:
    """The statements that create one backend's live-count triggers, and those that drop them."""

    function: tuple[str, ...]
    """PostgreSQL: the function that the triggers execute, which outlives whatsapp_log."""
    triggers: tuple[str, ...]
    """The triggers themselves, which whatsapp_log takes with it when it is dropped."""
    drop: tuple[str, ...]


# The statements as 0003 wrote them: SQLite keeps their text in sqlite_master.
_SQLITE_ROW_CREATE = (
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
)

_SQLITE_ROW_TRIGGERS = Triggers(
    function=(),
    triggers=_SQLITE_ROW_CREATE,
    drop=tuple(f"DROP TRIGGER whatsapp_log_live_count_{event}" for event in ("insert", "delete", "update")),
)

_POSTGRESQL_ROW_TRIGGER = Triggers(
    function=(
        """
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
$$""",
    ),
    triggers=(
        """
CREATE TRIGGER whatsapp_log_live_count
AFTER INSERT OR DELETE OR UPDATE OF deleted_at, project_id ON whatsapp_log
FOR EACH ROW EXECUTE FUNCTION whatsapp_log_live_count_change()""",
    ),
    drop=(
        "DROP TRIGGER whatsapp_log_live_count ON whatsapp_log",
        "DROP FUNCTION whatsapp_log_live_count_change()",
    ),
)

# Transition tables allow one event per trigger and no column list: three triggers, one function.
_STATEMENT_EVENTS = {
    "insert": "AFTER INSERT ON whatsapp_log REFERENCING NEW TABLE AS new_rows",
    "delete": "AFTER DELETE ON whatsapp_log REFERENCING OLD TABLE AS old_rows",
    "update": "AFTER UPDATE ON whatsapp_log REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
}

_POSTGRESQL_STATEMENT_TRIGGERS = Triggers(
    function=(
        """
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
$$""",
    ),
    triggers=tuple(
        f"CREATE TRIGGER whatsapp_log_live_count_{event} {clause} "
        "FOR EACH STATEMENT EXECUTE FUNCTION whatsapp_log_live_count_apply()"
        for event, clause in _STATEMENT_EVENTS.items()
    ),
    drop=(
        *(f"DROP TRIGGER whatsapp_log_live_count_{event} ON whatsapp_log" for event in _STATEMENT_EVENTS),
        "DROP FUNCTION whatsapp_log_live_count_apply()",
    ),
)

# dialect name -> that backend's triggers
TriggerSet = Mapping[str, Triggers]

ROW_LEVEL: TriggerSet = {"sqlite": _SQLITE_ROW_TRIGGERS, "postgresql": _POSTGRESQL_ROW_TRIGGER}
STATEMENT_LEVEL: TriggerSet = {"sqlite": _SQLITE_ROW_TRIGGERS, "postgresql": _POSTGRESQL_STATEMENT_TRIGGERS}


def _for(dialect: str, trigger_set: TriggerSet) -> Triggers:
    try:
        return trigger_set[dialect]
    except KeyError:
        raise ValueError(f"no live-count triggers for the {dialect!r} dialect") from None


def _execute(target: Executes, statements: tuple[str, ...]) -> None:
    for statement in statements:
        target.execute(text(statement))


def create_triggers(target: Executes, dialect: str, trigger_set: TriggerSet) -> None:
    """Create the live-count triggers of `trigger_set` on whatsapp_log, and the function they run."""
    triggers = _for(dialect, trigger_set)
    _execute(target, triggers.function + triggers.triggers)


def recreate_triggers(target: Executes, dialect: str, trigger_set: TriggerSet) -> None:
    """Create again the triggers that a rebuild of whatsapp_log dropped (not their function, which stays)."""
    _execute(target, _for(dialect, trigger_set).triggers)


def drop_triggers(target: Executes, dialect: str, trigger_set: TriggerSet) -> None:
    """Drop the live-count triggers of `trigger_set` from whatsapp_log, and the function they run."""
    _execute(target, _for(dialect, trigger_set).drop)
