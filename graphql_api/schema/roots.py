"""One specification per root field: its arguments, as both executors receive them, become what the
statement reads (the filter, the order, the page) and what the answer's shape depends on.

The regular resolvers (schema/query.py, schema/log_connection.py) and the compiler's statement builders
(compiler/statements.py, connection_json.py, stats_json.py) both start from these functions, so the two
paths cannot disagree on a default, a bound or a cursor rule. Arguments are the resolver's keyword
arguments (Strawberry input objects), which compiler/arguments.py reproduces for the compiled path.
A specification is checked before the caller is known; `scope` then adds the caller's project.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql_api.data.cursors import decode_cursor, decode_feed_cursor, encode_feed_cursor
from graphql_api.data.feed_queries import FeedPosition
from graphql_api.data.filters import Node, SortKey, check_page, sort_keys
from graphql_api.data.queries import LogScope, ProjectId
from graphql_api.data.stats_queries import DEFAULT_BUCKETS, check_bucket_limit
from graphql_api.errors import BadUserInput
from graphql_api.schema.inputs import to_node, to_sort_keys
from graphql_api.schema.stats_buckets import group_key_names
from graphql_api.settings import Settings

DEFAULT_LIMIT = 10  # whatsAppLogs
DEFAULT_FIRST = 10  # whatsAppLogsConnection
DEFAULT_BATCH = 50  # whatsAppLogStream

Position = tuple[list[Any], str]  # a cursor's sort values and log id


@dataclass(frozen=True)
class Filtered:
    """A root field that reads the logs matching its `where` argument."""

    where: Node | None

    def scope(self, project_id: ProjectId, settings: Settings) -> LogScope:
        """The caller's logs that match `where`, with the server's filter limits."""
        return LogScope.of(project_id, self.where, settings)


@dataclass(frozen=True)
class LogsPage(Filtered):
    """`whatsAppLogs`: a page by offset."""

    order: tuple[SortKey, ...]
    skip: int
    limit: int


def _page(args: Mapping[str, Any]) -> tuple[int, int]:
    skip, limit = args.get("skip", 0), args.get("limit", DEFAULT_LIMIT)
    check_page(skip=skip, limit=limit)
    return skip, limit


def logs_page(args: Mapping[str, Any]) -> LogsPage:
    skip, limit = _page(args)
    return LogsPage(to_node(args.get("where")), sort_keys(to_sort_keys(args.get("order_by"))), skip, limit)


def log_count(args: Mapping[str, Any]) -> Filtered:
    """`whatsAppLogCount`: the logs to count."""
    return Filtered(to_node(args.get("where")))


@dataclass(frozen=True)
class LogStats(Filtered):
    """`whatsAppLogStats`: buckets of the matching logs, by the group keys' neutral names."""

    group_by: tuple[str, ...]
    limit: int


def _buckets(args: Mapping[str, Any]) -> int:
    limit: int = args.get("limit", DEFAULT_BUCKETS)
    check_bucket_limit(limit)
    return limit


def log_stats(args: Mapping[str, Any]) -> LogStats:
    limit = _buckets(args)
    return LogStats(to_node(args.get("where")), tuple(group_key_names(args.get("group_by"))), limit)


@dataclass(frozen=True)
class LogsSeek(Filtered):
    """`whatsAppLogsConnection`: a page by cursor, forward (`first`/`after`) or backward (`last`/`before`)."""

    keys: tuple[SortKey, ...]
    size: int
    backward: bool  # `last` was given: the page ends before `before` (or at the list's end)
    after_cursor: str | None
    before_cursor: str | None

    @property
    def fetch(self) -> int:
        """Rows to read: one more than the page tells whether another page follows."""
        return self.size + 1

    def positions(self, secret: str, caller_project: str) -> tuple[Position | None, Position | None]:
        """Where `after` and `before` point; BAD_USER_INPUT unless this query made them for this project."""

        def position(cursor: str | None, argument: str) -> Position | None:
            if cursor is None:
                return None
            return decode_cursor(secret, cursor, keys=self.keys, project_id=caller_project, argument=argument)

        return position(self.after_cursor, "after"), position(self.before_cursor, "before")

    def has_next_page(self, more: Any) -> Any:
        """Whether the extra row was there (`more`: a bool, or its SQL); going backward, whether
        `before` was given."""
        return (self.before_cursor is not None) if self.backward else more

    def has_previous_page(self, more: Any) -> Any:
        return more if self.backward else (self.after_cursor is not None)


def page_size(first: int | None, last: int | None) -> int:
    """The page size `first` or `last` asks for (BAD_USER_INPUT for both, or out of 1 to 100)."""
    if first is not None and last is not None:
        raise BadUserInput("Pass `first` or `last`, not both.")
    if last is not None:
        check_page(skip=0, limit=last, limit_name="last")
        return last
    size = DEFAULT_FIRST if first is None else first
    check_page(skip=0, limit=size, limit_name="first")
    return size


def _page_size(args: Mapping[str, Any]) -> int:
    return page_size(args.get("first"), args.get("last"))


def logs_seek(args: Mapping[str, Any]) -> LogsSeek:
    last = args.get("last")
    size = _page_size(args)
    keys = sort_keys(to_sort_keys(args.get("order_by")))
    where = to_node(args.get("where"))
    return LogsSeek(where, keys, size, last is not None, args.get("after"), args.get("before"))


@dataclass(frozen=True)
class LogStream(Filtered):
    """`whatsAppLogStream`: the logs created or changed after `after` (from now without it), in batches."""

    batch_size: int
    after_cursor: str | None

    def start(self, secret: str, caller_project: str) -> FeedPosition | None:
        """Where `after` points; None: from now. BAD_USER_INPUT unless a stream with this `where` made it
        for this project."""
        if self.after_cursor is None:
            return None
        position, last_id = decode_feed_cursor(
            secret, self.after_cursor, project_id=caller_project, where=self.where
        )
        return FeedPosition(position, last_id)

    def cursor(self, secret: str, caller_project: str, position: FeedPosition) -> str:
        return encode_feed_cursor(
            secret,
            project_id=caller_project,
            where=self.where,
            position=position.position,
            last_id=position.last_id,
        )


def _batch_size(args: Mapping[str, Any]) -> int:
    # Validation checks BOUNDS on the GraphQL arguments (`batchSize`), the resolver on its own (`batch_size`).
    size: int = args.get("batch_size", args.get("batchSize", DEFAULT_BATCH))
    check_page(skip=0, limit=size, limit_name="batchSize")
    return size


def log_stream(args: Mapping[str, Any]) -> LogStream:
    return LogStream(to_node(args.get("where")), _batch_size(args), args.get("after"))


# The page and bucket bounds of each root field, which validation checks before the cost (on the
# arguments' plain values), with the very functions the specifications above check them by.
BOUNDS: dict[str, Callable[[Mapping[str, Any]], object]] = {
    "whatsAppLogs": _page,
    "whatsAppLogsConnection": _page_size,
    "whatsAppLogStats": _buckets,
    "whatsAppLogStream": _batch_size,
}
