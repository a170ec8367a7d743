"""The triggers behind `whatsAppLogStream`: every write of a log stamps its place in the change feed, and on
PostgreSQL every writing statement wakes the servers that listen (docs/subscriptions.md says why the
place is what it is).

- `change_position` of whatsapp_log, set on every INSERT and UPDATE whoever writes:
  - PostgreSQL: the 64-bit id of the writing (top-level) transaction, `pg_current_xact_id()`, by a BEFORE
    row trigger (it only sets a field of the row being written: no extra row version, no O(n²));
  - SQLite: the next value of the one-row clock `whatsapp_log_change_clock`, by AFTER row triggers
    (SQLite writers are serialised, so the clock's order is the commit order).
- PostgreSQL: `NOTIFY whatsapp_log_change` once per INSERT or UPDATE statement (statement-level triggers
  over the transition table), payload `<xid> <project id>,<project id>…` (`*` past 20 projects). It is
  delivered at commit, and only then.

Like live_counts.py, a set stays as the revision that introduced it left it. A revision that rebuilds
whatsapp_log (SQLite batch mode) drops these triggers with the table and must call `recreate_triggers`
for this set too.
"""

from __future__ import annotations

from graphql_api.data.migrations.live_counts import Triggers, TriggerSet

CHANNEL = "whatsapp_log_change"
# More projects than this in one statement: the payload says `*`, and every listener wakes everyone.
NOTIFY_MAX_PROJECTS = 20

# Both SQLite triggers: the clock moves on, and the row takes its new value.
_SQLITE_STAMP_BODY = """
    BEGIN
        INSERT INTO whatsapp_log_change_clock (id, position) VALUES (1, 1)
        ON CONFLICT (id) DO UPDATE SET position = position + 1;
        UPDATE whatsapp_log SET change_position = (SELECT position FROM whatsapp_log_change_clock)
        WHERE id = NEW.id;
    END"""

_SQLITE_STAMP = Triggers(
    function=(),
    triggers=(
        "CREATE TRIGGER whatsapp_log_change_insert AFTER INSERT ON whatsapp_log" + _SQLITE_STAMP_BODY,
        # Not for its own stamp (which changes change_position): a writer's update always moves it.
        """CREATE TRIGGER whatsapp_log_change_update AFTER UPDATE ON whatsapp_log
    WHEN NEW.change_position IS OLD.change_position"""
        + _SQLITE_STAMP_BODY,
    ),
    drop=("DROP TRIGGER whatsapp_log_change_insert", "DROP TRIGGER whatsapp_log_change_update"),
)

_NOTIFY_EVENTS = {
    "insert": "AFTER INSERT ON whatsapp_log REFERENCING NEW TABLE AS new_rows",
    "update": "AFTER UPDATE ON whatsapp_log REFERENCING NEW TABLE AS new_rows",
}

_POSTGRESQL_STAMP_AND_NOTIFY = Triggers(
    function=(
        """
CREATE FUNCTION whatsapp_log_change_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_position := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END
$$""",
        f"""
CREATE FUNCTION whatsapp_log_change_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    projects text;
    n integer;
BEGIN
    SELECT count(*), string_agg(project_id::text, ',') INTO n, projects
    FROM (SELECT DISTINCT project_id FROM new_rows LIMIT {NOTIFY_MAX_PROJECTS + 1}) AS changed;
    IF n > {NOTIFY_MAX_PROJECTS} THEN
        projects := '*';
    END IF;
    IF n > 0 THEN
        PERFORM pg_notify('{CHANNEL}', pg_current_xact_id()::text || ' ' || projects);
    END IF;
    RETURN NULL;
END
$$""",
    ),
    triggers=(
        """
CREATE TRIGGER whatsapp_log_change_stamp BEFORE INSERT OR UPDATE ON whatsapp_log
FOR EACH ROW EXECUTE FUNCTION whatsapp_log_change_stamp()""",
        *(
            f"CREATE TRIGGER whatsapp_log_change_notify_{event} {clause} "
            "FOR EACH STATEMENT EXECUTE FUNCTION whatsapp_log_change_notify()"
            for event, clause in _NOTIFY_EVENTS.items()
        ),
    ),
    drop=(
        "DROP TRIGGER whatsapp_log_change_stamp ON whatsapp_log",
        *(f"DROP TRIGGER whatsapp_log_change_notify_{event} ON whatsapp_log" for event in _NOTIFY_EVENTS),
        "DROP FUNCTION whatsapp_log_change_stamp()",
        "DROP FUNCTION whatsapp_log_change_notify()",
    ),
)

CHANGE_FEED: TriggerSet = {"sqlite": _SQLITE_STAMP, "postgresql": _POSTGRESQL_STAMP_AND_NOTIFY}
