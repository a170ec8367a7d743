"""Which part of a request a sampled stack is in: the issue's categories, by module and function.

A sample goes to the category of its innermost frame that has one. Library code that serves whoever
calls it (contextlib, asyncio's tasks and locks, uuid, hashlib, json's scanner) has none, so its time
goes to its caller's category: `uuid4` under the request-id middleware is middleware, `hashlib` under
the key check is the key check. C code has no frame of its own (bench/profile_worker.py), so SQLite's
work is the statement and the `write` of uvicorn's `send` is HTTP. Frames are matched by their file
(relative to sys.path) and, where one module does several things, by function.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

# The table's order; a category not seen in a profile is left out of it.
HTTP = "HTTP parsing and writing (uvicorn, httptools)"
MIDDLEWARE = "middleware (Starlette's, request id, routing)"
LIMITS = "limits (key gate, work budget, time limit)"
VIEW = "GraphQL view (request checks, context)"
BODY = "body decoding"
KEY = "key check"
PLAN = "plan-cache lookup"
BINDING = "parameter binding"
STATEMENT = "the statement (driver and database)"
RESPONSE = "response assembly"
METRICS = "metrics (Prometheus, request record)"
LOGS = "logs"
LOOP = "event loop (uvloop, asyncio's runner)"
FLOOR = "floor app (body read, splice, send)"
OTHER = "other"
ORDER = [HTTP, MIDDLEWARE, LIMITS, VIEW, BODY, KEY, PLAN, BINDING, STATEMENT, RESPONSE, METRICS, LOGS]
ORDER += [LOOP, FLOOR, OTHER]


@dataclass(frozen=True)
class Frame:
    function: str  # as py-spy prints it: `Class.method`, `function.<locals>.inner`
    file: str
    line: int


# (category, file, functions): a frame of `file` (a path suffix, or a package folder ending in "/")
# whose function is one of `functions` (any, when empty). The first rule that matches a frame wins.
RULES: list[tuple[str, str, tuple[str, ...]]] = [
    (LOGS, "logging/", ()),
    (LOGS, "graphql_api/http/logs.py", ()),
    (LOGS, "graphql_api/http/batched_logs.py", ()),
    (LOGS, "pythonjsonlogger/", ()),
    (METRICS, "prometheus_client/", ()),
    (METRICS, "graphql_api/http/observability.py", ()),
    (METRICS, "graphql_api/request_record.py", ()),
    # The compiled path announces each statement to the read engine's listeners (the metrics' count).
    (METRICS, "sqlalchemy/event/", ()),
    (METRICS, "graphql_api/compiler/runner.py", ("_Announce.__call__",)),
    (LIMITS, "graphql_api/data/work_budget.py", ()),
    (LIMITS, "graphql_api/http/time_limit.py", ()),
    (LIMITS, "graphql_api/data/ratelimit.py", ()),
    (KEY, "graphql_api/data/auth.py", ()),
    (KEY, "graphql_api/schema/context.py", ("Context.principal",)),
    (BINDING, "graphql_api/compiler/driver.py", ()),
    (STATEMENT, "graphql_api/compiler/runner.py", ()),
    (STATEMENT, "asyncpg/", ()),
    (
        STATEMENT,
        "bench/floor_app.py",
        ("Floor.start.<locals>.fetch_sqlite", "Floor.start.<locals>.fetch_asyncpg"),
    ),
    (FLOOR, "bench/floor_app.py", ()),
    (PLAN, "graphql_api/compiler/execution.py", ("CompiledExecution._plan", "CompiledExecution._compiled")),
    (PLAN, "graphql_api/compiler/execution.py", ("CompiledExecution._remembered",)),
    (PLAN, "graphql_api/compiler/execution.py", ("request_key", "CompiledExecution.execute_again")),
    (PLAN, "graphql_api/compiler/execution.py", ("CompiledExecution.answer_again",)),
    (PLAN, "graphql_api/compiler/execution.py", ("CompiledExecution.fast_path",)),
    (PLAN, "graphql_api/compiler/repeat.py", ()),
    (PLAN, "graphql_api/schema/lru.py", ()),
    # _execute's own time: the roots' bytes spliced into `data`.
    (RESPONSE, "graphql_api/compiler/execution.py", ()),
    (RESPONSE, "graphql_api/compiler/cursor_signing.py", ()),
    (RESPONSE, "graphql_api/http/graphql_view.py", ("GraphQLView.encode_json", "GraphQLView.process_result")),
    (RESPONSE, "graphql_api/http/negotiation.py", ("shape", "status")),
    (RESPONSE, "starlette/responses.py", ()),
    (RESPONSE, "strawberry/http/", ()),
    (BODY, "graphql_api/http/negotiation.py", ("decode_json",)),
    (BODY, "starlette/requests.py", ("Request.body", "Request.stream")),
    (BODY, "json/", ()),
    (VIEW, "graphql_api/http/graphql_view.py", ()),
    (VIEW, "graphql_api/http/negotiation.py", ()),
    (VIEW, "graphql_api/schema/context.py", ()),
    (VIEW, "starlette/requests.py", ()),
    (VIEW, "starlette/datastructures.py", ()),
    (VIEW, "strawberry/", ()),
    (VIEW, "cross_web/", ()),
    (MIDDLEWARE, "graphql_api/http/app.py", ()),
    (MIDDLEWARE, "graphql_api/http/body_limit.py", ()),
    (MIDDLEWARE, "starlette/", ()),
    (MIDDLEWARE, "uvicorn/middleware/", ()),
    (HTTP, "uvicorn/protocols/", ()),
    (HTTP, "httptools/", ()),
    (HTTP, "h11/", ()),
    # With nothing more specific under it: uvloop's own (compiled) code, before a callback.
    (LOOP, "uvicorn/server.py", ()),
    (LOOP, "uvicorn/_compat.py", ()),
    (LOOP, "asyncio/runners.py", ()),
    (LOOP, "uvloop/", ()),
]

# Frames that claim every sample under them, whatever the inner frames' rules say. SQLite calls the
# compiled path's progress handler (the work budget's and the loop's CPU checks) every 2,000 virtual
# machine instructions, and Python runs a signal's handler at the next bytecode, which during a statement
# is mostly that handler's: SQLite's own time would land in "limits". So the whole statement, handler
# included, is the statement; the floor's statement has no handler, and the difference is its cost.
ENCLOSING: list[tuple[str, str, tuple[str, ...]]] = [
    (STATEMENT, "graphql_api/compiler/runner.py", ("_SqliteConnection.fetch",)),
]

Stack = tuple[Frame, ...]  # from the outermost frame
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")


def _frame(text: str) -> Frame:
    match = _FRAME.match(text)
    if match is None:
        return Frame(text, "", 0)
    return Frame(match["function"], match["file"], int(match["line"]))


def parse(raw: str) -> Counter[Stack]:
    """Stacks one a line, `;`-separated, outermost first, then their count (py-spy's `raw` format)."""
    stacks: Counter[Stack] = Counter()
    for line in raw.splitlines():
        text, _, count = line.rpartition(" ")
        if text and count.isdigit():
            stacks[tuple(_frame(part) for part in text.split(";"))] += int(count)
    return stacks


def _matches(frame: Frame, file: str, functions: tuple[str, ...]) -> bool:
    path = "/" + frame.file
    found = ("/" + file) in path if file.endswith("/") else path.endswith("/" + file)
    return found and (not functions or frame.function in functions)


def category(frame: Frame) -> str | None:
    for name, file, functions in RULES:
        if _matches(frame, file, functions):
            return name
    return None


def owner(stack: Stack) -> Frame:
    """The function a sample's time is counted for: its enclosing frame if it has one, else its leaf."""
    for _name, file, functions in ENCLOSING:
        for frame in stack:
            if _matches(frame, file, functions):
                return frame
    return stack[-1]


def classify(stack: Stack) -> str:
    """The category of the innermost frame that has one (of an enclosing frame, if there is one)."""
    for name, file, functions in ENCLOSING:
        if any(_matches(frame, file, functions) for frame in stack):
            return name
    for frame in reversed(stack):
        found = category(frame)
        if found is not None:
            return found
    return OTHER
