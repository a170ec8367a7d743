"""`graphql-api import`: WhatsApp logs from JSON lines in the REST shape, all or nothing.

Each line is one log as get-list returns it with every field selected (relations may come as
`{"_id": …, "title": …}` objects). The caller runs `import_lines` inside one transaction: the first bad
line raises `ImportFailed` ("line N: what is wrong") and the transaction is rolled back. Logs are
validated and written in chunks, so memory stays flat however long the file is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from graphql_api.data import models, queries, writes
from graphql_api.data.fields import FIELDS, LOG, PROJECT, RELATIONS, Relation
from graphql_api.data.kinds import DATETIME, ID, INT, INT_MAX, INT_MIN, STRING, Kind, canonical_id
from graphql_api.data.models import new_id, utcnow
from graphql_api.data.storable import OUTSIDE_CALENDAR, OutsideCalendar, parse_instant, text_problem
from graphql_api.http.rest_params import WIRE_FIELDS, WIRE_RELATIONS, relation_columns, title

CHUNK = 5000
# Required by the reference and without a default here: the id is generated, dates default to now,
# and the project is the one named on the command line.
REQUIRED = frozenset(
    name
    for name, f in FIELDS.items()
    if not f.nullable and name not in ("id", "createdAt", "updatedAt", "projectId")
)
PROJECT_TABLE: Table = models.Project.__table__  # type: ignore[assignment]
USER_TABLE: Table = models.User.__table__  # type: ignore[assignment]


class ImportFailed(Exception):
    """A line that cannot be imported; nothing of the import is kept."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


@dataclass
class Summary:
    lines: int = 0
    created: int = 0
    updated: int = 0
    # Of `updated`: logs the platform had deleted, updated and still deleted (an import never undeletes).
    still_deleted: int = 0
    placeholders: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "created": self.created,
            "updated": self.updated,
            "stillDeleted": self.still_deleted,
            "placeholders": self.placeholders,
        }


@dataclass
class Line:
    """One valid line: the log's row (column keys) and what its relation objects say about related records."""

    number: int
    row: dict[str, Any]
    related: dict[str, tuple[str | None, datetime | None]]  # relation -> (label, createdAt)


# asyncpg writes these two as PostgreSQL's -infinity and infinity, which read back differently on the
# two execution paths; they are refused rather than stored as something else than what was sent.
_INFINITIES = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))


def _shown(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)[:80]


def _value(key: str, kind: Kind, value: object, max_length: int | None = None) -> Any:
    """A JSON value checked against a field kind; raises ValueError saying what is wrong."""
    if kind is ID:
        if isinstance(value, str) and _CANONICAL_UUID.match(value):
            return value  # the common case, without building a UUID object
        canonical = canonical_id(value)
        if canonical is None:
            raise ValueError(f"{key} is not an ID (a UUID): {_shown(value)}")
        return canonical
    if kind is STRING:
        if not isinstance(value, str):
            raise ValueError(f"{key} must be text, not {_shown(value)}")
        problem = text_problem(value)
        if problem is not None:
            raise ValueError(f"{key} {problem}")
        if max_length is not None and len(value) > max_length:
            raise ValueError(f"{key} is longer than {max_length} characters")
        return value
    if kind is INT:
        if isinstance(value, bool) or not isinstance(value, int) or not INT_MIN <= value <= INT_MAX:
            raise ValueError(f"{key} must be a whole number (32-bit), not {_shown(value)}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{key} is not an ISO 8601 date-time: {_shown(value)}")
    try:
        parsed = parse_instant(value)
    except OutsideCalendar:
        raise ValueError(f"{key} {OUTSIDE_CALENDAR}: {_shown(value)}") from None
    except ValueError:
        raise ValueError(f"{key} is not an ISO 8601 date-time: {_shown(value)}") from None
    if parsed in _INFINITIES:
        raise ValueError(
            f"{key} is the first or last instant a date can hold, which PostgreSQL stores as "
            f"-infinity or infinity: {_shown(value)}"
        )
    return parsed


def _length(table: Table, column: str) -> int | None:
    return getattr(table.c[column].type, "length", None)


def _related(name: str, relation: Relation, value: object) -> tuple[str, str | None, datetime | None]:
    """A relation object `{"_id": …, <label>: …, "createdAt": …}`: its id, label and creation date."""
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object or null, not {_shown(value)}")
    allowed = relation_columns(relation)
    for key in value:
        if key not in allowed:
            raise ValueError(f'{name} has an unknown field "{key}"')
    record_id = _value(f"{name}._id", ID, value.get("_id"))
    label = value.get(relation.label)
    if label is not None:
        label = _value(f"{name}.{relation.label}", STRING, label, _length(relation.table, relation.label))
    created = value.get("createdAt")
    if created is not None:
        created = _value(f"{name}.createdAt", DATETIME, created)
    return record_id, label, created


def parse_line(number: int, raw: bytes, *, project_id: str, now: datetime) -> Line | None:
    """One line of the file as a log row for `project_id`; None for a blank line."""
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ImportFailed(number, "not UTF-8 text") from None
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFailed(number, f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    except (ValueError, RecursionError):
        raise ImportFailed(number, "invalid JSON") from None
    if not isinstance(obj, dict):
        raise ImportFailed(number, f"expected a JSON object, not {_shown(obj)}")
    try:
        return _line(number, obj, project_id=project_id, now=now)
    except ValueError as exc:
        raise ImportFailed(number, str(exc)) from None


@dataclass(frozen=True)
class _Column:
    """What a line's key must hold, worked out once rather than per line."""

    key: str  # the REST name
    column: str
    kind: Kind
    required: bool
    max_length: int | None


_COLUMNS = tuple(
    _Column(f.rest_name, f.column.key, f.kind, name in REQUIRED, _length(LOG, f.column.key))
    for name, f in FIELDS.items()
)
_KNOWN_KEYS = frozenset(WIRE_FIELDS) | frozenset(WIRE_RELATIONS)
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def _line(number: int, obj: dict[str, Any], *, project_id: str, now: datetime) -> Line:
    for key in obj:
        if key not in _KNOWN_KEYS:
            raise ValueError(f'unknown field "{key}"')
    row: dict[str, Any] = {}
    for c in _COLUMNS:
        value = obj.get(c.key)
        if value is None:
            if c.required:
                raise ValueError(f"{c.key} is required")
            row[c.column] = None
        else:
            row[c.column] = _value(c.key, c.kind, value, c.max_length)
    related: dict[str, tuple[str | None, datetime | None]] = {}
    for name, relation in WIRE_RELATIONS.items():
        if obj.get(name) is None:
            continue
        record_id, label, created = _related(name, relation, obj[name])
        if relation is not PROJECT:
            fk = relation.fk_column.key
            if row[fk] is None:
                row[fk] = record_id
            elif row[fk] != record_id:
                raise ValueError(f"{name}._id and {relation.foreign_key} differ")
            related[name] = (label, created)
        elif record_id == project_id:
            related[name] = (label, created)
    # The log goes to the project named on the command line, whatever the file says.
    row["project_id"] = project_id
    row["id"] = row["id"] or new_id()
    row["created_at"] = row["created_at"] or now
    row["updated_at"] = row["updated_at"] or row["created_at"]
    return Line(number, row, related)


class _Importer:
    """Writes chunks of valid lines, remembering what earlier chunks settled."""

    def __init__(self, conn: AsyncConnection, project_id: str, now: datetime) -> None:
        self.conn = conn
        self.project_id = project_id
        self.now = now
        self.summary = Summary()
        self.known: dict[str, set[str]] = {name: set() for name in RELATIONS}
        self.seen: set[str] = set()
        self.project_ready = False

    def _placeholder(self, kind: str, count: int) -> None:
        self.summary.placeholders[kind] = self.summary.placeholders.get(kind, 0) + count

    async def _project(self, lines: list[Line]) -> None:
        if await queries.owners(self.conn, table=PROJECT_TABLE, ids=[self.project_id]):
            return
        label, created = next(
            (line.related["project"] for line in lines if "project" in line.related), (None, None)
        )
        row = {
            "id": self.project_id,
            "name": label or f"Project {self.project_id}",
            "created_at": created or self.now,
        }
        await writes.insert_rows(self.conn, PROJECT_TABLE, [row])
        self._placeholder("project", 1)

    async def _relation(self, name: str, relation: Relation, lines: list[Line]) -> None:
        """Check the related ids of a chunk; create placeholders for those that do not exist yet."""
        fk = relation.fk_column.key
        first: dict[str, Line] = {}
        for line in lines:
            record_id = line.row[fk]
            if record_id is not None and record_id not in self.known[name] and record_id not in first:
                first[record_id] = line
        if not first:
            return
        existing = await queries.owners(self.conn, table=relation.table, ids=first)
        for record_id, owner in existing.items():
            if relation.project_scoped and owner != self.project_id:
                line = first[record_id]
                raise ImportFailed(
                    line.number, f"{relation.foreign_key} {record_id} belongs to another project"
                )
        rows = []
        for record_id, line in first.items():
            if record_id in existing:
                continue
            label, created = line.related.get(name, (None, None))
            row: dict[str, Any] = {
                "id": record_id,
                relation.label: label or f"{title(name)} {record_id}",
                "created_at": created or self.now,
            }
            if relation.project_scoped:
                row["project_id"] = self.project_id
            elif relation.table is USER_TABLE:
                row["email"] = f"{record_id}@imported.invalid"  # a reserved domain: never a real address
            rows.append(row)
        await writes.insert_rows(self.conn, relation.table, rows)
        self.known[name].update(first)
        if rows:
            self._placeholder(name, len(rows))

    async def write(self, lines: list[Line]) -> None:
        if not lines:
            return
        if not self.project_ready:
            await self._project(lines)
            self.project_ready = True
        for name, relation in RELATIONS.items():
            await self._relation(name, relation, lines)
        latest = {line.row["id"]: line for line in lines}  # a log repeated in the file: its last line wins
        existing = await queries.owners(self.conn, table=LOG, ids=latest)
        for log_id, owner in existing.items():
            if owner != self.project_id:
                raise ImportFailed(latest[log_id].number, f"_id {log_id} belongs to another project")
        deleted = await queries.deleted_logs(self.conn, ids=existing) if existing else set()
        for log_id in latest:
            if log_id not in self.seen:
                self.seen.add(log_id)
                if log_id in existing:
                    self.summary.updated += 1
                    self.summary.still_deleted += log_id in deleted
                else:
                    self.summary.created += 1
        await writes.upsert_rows(self.conn, LOG, [line.row for line in latest.values()])


async def import_lines(
    conn: AsyncConnection,
    lines: Iterable[bytes],
    *,
    project_id: str,
    progress: Callable[[int], object] | None = None,
    chunk: int = CHUNK,
) -> Summary:
    """Import JSON lines into `project_id` on `conn`; the caller's transaction makes it all or nothing."""
    importer = _Importer(conn, project_id, utcnow())
    if conn.dialect.name == "sqlite":
        # Each upserted row gets a statement journal; on disk that is ~35 page writes a row (measured
        # with strace: 718k pwrite calls for 20k lines), in memory none.
        await conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
    batch: list[Line] = []
    reported = 0
    number = 0
    for number, raw in enumerate(lines, 1):
        line = parse_line(number, raw, project_id=project_id, now=importer.now)
        if line is not None:
            batch.append(line)
        if len(batch) >= chunk:
            await importer.write(batch)
            batch = []
            if progress is not None:
                progress(number - reported)
                reported = number
    await importer.write(batch)
    if progress is not None:
        progress(number - reported)
    importer.summary.lines = number
    return importer.summary


def count_lines(path: str) -> int:
    """Lines in a file, read in large blocks (for the progress bar's total)."""
    count = 0
    last = b"\n"
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")
