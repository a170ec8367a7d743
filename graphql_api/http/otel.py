"""Optional OpenTelemetry tracing (docs/tracing.md): off unless OTEL_TRACES_EXPORTER names an exporter.

When on: a server span per request (OpenTelemetry's ASGI instrumentation: W3C `traceparent` in, the
request id and the GraphQL operation name added here), Strawberry's OpenTelemetry extension for the
operation, parse and validate spans (and root fields', not every field's), and a client span per SQL
statement, on the engines (regular path, REST, keys) and on the compiled path's own drivers. Off, nothing
here is imported: the request path is the same code as without it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from inspect import isawaitable
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import event
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions.tracing import OpenTelemetryExtension

from graphql_api.request_record import current_record

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from strawberry import Schema

    from graphql_api.compiler import CompiledExecution
    from graphql_api.compiler.driver import DriverStatement
    from graphql_api.data.database import Database

TRACER = "graphql_api"


def configure_provider(exporters: str) -> trace.TracerProvider:
    """The process's tracer provider, exporting to OTEL_TRACES_EXPORTER's exporters (`otlp`, `console`;
    comma-separated); the SDK reads the rest of the OTEL_* variables itself (service name, resource,
    endpoint, headers, sampler, batch sizes)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    os.environ.setdefault("OTEL_SERVICE_NAME", "graphql-api")
    provider = TracerProvider(resource=Resource.create())
    for name in (part.strip().lower() for part in exporters.split(",")):
        exporter: SpanExporter
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        elif name == "console":
            exporter = ConsoleSpanExporter()
        else:
            raise ValueError(f"OTEL_TRACES_EXPORTER: {name!r} is not one of otlp, console, none")
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def middleware() -> list[Middleware]:
    """Outermost: the server span, with `traceparent` extracted (the global propagator: W3C trace context
    and baggage unless OTEL_PROPAGATORS says otherwise), without a span per ASGI message."""
    return [Middleware(OpenTelemetryMiddleware, exclude_spans=["receive", "send"])]


class RequestSpan:
    """Inside the request-id and metrics layers: puts the request id and, once answered, the GraphQL
    operation's name on the request's server span."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        span = trace.get_current_span()
        span.set_attribute("http.request_id", scope.get("state", {}).get("request_id", ""))

        async def send_named(message: Message) -> None:
            # The ASGI instrumentation ends the span with the last byte: name it with the first.
            if message["type"] == "http.response.start":
                record = current_record()
                operation = record.get("operation") if record else None
                if operation:
                    span.set_attribute("graphql.operation.name", operation)
                    if span.is_recording() and hasattr(span, "name"):
                        span.update_name(f"{span.name} {operation}")
            await send(message)

        await self.app(scope, receive, send_named)


class GraphQLSpans(OpenTelemetryExtension):
    """Strawberry's extension, with two changes: no argument values on spans (filters hold phone numbers
    and message text), and spans for root fields only (a page of 100 would otherwise make thousands).

    The compiled path's shortcut stays on: a request seen before is not parsed or validated again, so it
    has no parse, validate or operation span, only the request's and its statements'. Turning the
    shortcut off to show them would make every request pay validation again (3.4 ms of CPU per page of
    10 with tracing on, against 0.6 ms off: bench/README.md#tracing)."""

    repeatable = True

    def __init__(self) -> None:
        super().__init__(arg_filter=lambda _args, _info: {})

    async def resolve(self, _next: Any, root: Any, info: Any, *args: str, **kwargs: Any) -> Any:
        if info.path.prev is not None:
            result = _next(root, info, *args, **kwargs)
            return await result if isawaitable(result) else result
        return await super().resolve(_next, root, info, *args, **kwargs)


def trace_engine(engine: AsyncEngine) -> None:
    """A client span per statement an engine runs. opentelemetry-instrumentation-sqlalchemy (0.66b2)
    refuses SQLAlchemy 2.1, and its listener reads the connection that the compiled path's statement
    announcements (compiler/runner.py) do not have: these listeners skip those, which TracedRunner traces."""
    tracer = trace.get_tracer(TRACER)
    system = "sqlite" if engine.dialect.name == "sqlite" else "postgresql"

    def before(conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
        if context is None:  # an announcement of the compiled path
            return
        context._otel_span = _statement_span(tracer, system, statement)

    def after(_conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool) -> None:
        span = getattr(context, "_otel_span", None)
        if span is not None:
            span.end()

    def failed(exception_context: Any) -> None:
        span = getattr(exception_context.execution_context, "_otel_span", None)
        if span is not None:
            span.record_exception(exception_context.original_exception)
            span.set_status(Status(StatusCode.ERROR, type(exception_context.original_exception).__name__))
            span.end()

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)
    event.listen(engine.sync_engine, "handle_error", failed)


def _statement_span(tracer: trace.Tracer, system: str, sql: str) -> trace.Span:
    operation = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "SQL"
    return tracer.start_span(
        operation,
        kind=SpanKind.CLIENT,
        attributes={"db.system": system, "db.statement": sql, "db.operation": operation},
    )


class TracedRunner:
    """The compiled path's runner, one statement at a time, each in its span (the statement's text, no
    parameter values). Only installed with tracing on."""

    def __init__(self, runner: Any, system: str) -> None:
        self._runner = runner
        self._system = system
        self._tracer = trace.get_tracer(TRACER)

    async def values(
        self, statements: Sequence[DriverStatement], project_id: str, *, on_loop_only: bool = False
    ) -> list[Any]:
        values = []
        for statement in statements:
            span = _statement_span(self._tracer, self._system, statement.sql)
            with trace.use_span(span, end_on_exit=True, record_exception=True):
                values += await self._runner.values([statement], project_id, on_loop_only=on_loop_only)
        return values

    def close(self) -> None:
        self._runner.close()


def instrument(schema: Schema, database: Database) -> None:
    """Tracing on: the schema's spans (before the compiled path is installed: it runs last) and the
    engines'."""
    schema.extensions = (*schema.extensions, GraphQLSpans)
    for engine in {id(e): e for e in (database.engine, database.read_engine)}.values():
        trace_engine(engine)


def instrument_compiled(compiled: CompiledExecution, database: Database) -> None:
    system = "sqlite" if database.read_engine.dialect.name == "sqlite" else "postgresql"
    compiled.wrap_runner(lambda runner: TracedRunner(runner, system))
