"""The ASGI application: GraphQL, the health probes, request ids, CORS."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send

from graphql_api import compiler
from graphql_api.compiler import CompiledExecution
from graphql_api.data import queries, work_budget
from graphql_api.data.ratelimit import KeyGate
from graphql_api.data.services import Services
from graphql_api.errors import RateLimited
from graphql_api.http import graphiql, home, openapi
from graphql_api.http.body_limit import BodyLimit
from graphql_api.http.caching import Compression, HttpCaching
from graphql_api.http.fast_lane import FastLane
from graphql_api.http.graphql_sse import GraphQLStreamView
from graphql_api.http.graphql_view import GraphQLView
from graphql_api.http.logs import lean_records
from graphql_api.http.observability import METRICS_CONTENT_TYPE, Metrics, ObservabilityMiddleware
from graphql_api.http.request_ids import RequestIdMiddleware
from graphql_api.http.rest import routes as rest_routes
from graphql_api.request_record import note
from graphql_api.schema import build_schema
from graphql_api.settings import Settings

STREAM_PATH = "/graphql/stream"  # GraphQL over Server-Sent Events (http/graphql_sse.py)


class RequestWorkMiddleware:
    """Every request gets its budget of database work (REQUEST_WORK_SECONDS, see work_budget), and waits
    its turn when its key already has MAX_REQUESTS_PER_KEY requests in progress (ratelimit.KeyGate)."""

    def __init__(self, app: ASGIApp, settings: Settings, gate: KeyGate) -> None:
        self.app = app
        self.seconds = settings.request_work_seconds
        self.gate = gate  # shared with the fast lane: one count of a key's requests in progress

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # An event stream lasts as long as its subscription: StreamHub bounds those, and each of its
        # reads has a budget of its own.
        if scope["type"] != "http" or scope["path"] == STREAM_PATH:
            await self.app(scope, receive, send)
            return
        try:
            headers = dict(scope["headers"])
            release = await self.gate.enter(headers.get(b"apikey") or headers.get(b"authorization"))
        except RateLimited as refusal:
            note(outcome=refusal.code)
            body = {"errors": [{"message": refusal.message, "extensions": {"code": refusal.code}}]}
            response = JSONResponse(body, status_code=refusal.http_status, headers=refusal.headers)
            await response(scope, receive, send)
            return
        try:
            with work_budget.budget(self.seconds):
                await self.app(scope, receive, send)
        finally:
            release()


class _App(Starlette):
    """Starlette, with the subscriptions' WebSocket at /graphql handed straight to the GraphQL view.

    Every middleware passes WebSockets through untouched, yet each one's call (and the router's) stays
    on the stack of every open connection for its whole life: ten frames, some 4 KB of each idle
    subscription, of a server that holds thousands."""

    def __init__(self, *args: Any, subscriptions: ASGIApp, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._subscriptions = subscriptions
        self.lane: FastLane | None = None  # repeated GraphQL POSTs, answered before every layer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == "/graphql":
            scope["app"] = self
            await self._subscriptions(scope, receive, send)
            return
        if self.lane is not None and scope["type"] == "http":
            scope["app"] = self
            await self.lane(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def layered(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app with all its layers (what the fast lane hands on)."""
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, services: Services | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    services = services or Services.create(settings)
    metrics = Metrics(enabled=settings.metrics)
    metrics.instrument(services.database)
    compiled, graphql = _graphql_view(settings, services)
    stream = GraphQLStreamView(services, schema=graphql.schema, graphql_ide=None, documents=graphql.documents)
    gate = KeyGate(settings.max_requests_per_key, settings.pool_timeout)
    # Every method reaches the view, which refuses all but GET and POST with a JSON body.
    graphql_route = Route("/graphql", BodyLimit(graphql, settings.max_body_bytes))
    app = _App(
        subscriptions=graphql,
        routes=[
            home.route(settings),
            graphql_route,
            # Subscriptions: graphql-transport-ws (docs/subscriptions.md); _App hands them over first.
            WebSocketRoute("/graphql", graphql),
            Route(STREAM_PATH, BodyLimit(stream, settings.max_body_bytes)),
            *_probe_routes(settings, services, metrics),
            *rest_routes(),
            openapi.route(settings),
            *([graphiql.assets_route()] if settings.graphiql else []),
        ],
        middleware=_middleware(settings, metrics, gate),
        exception_handlers={404: home.http_error, 405: home.http_error},
        lifespan=_lifespan(services, metrics, compiled),
    )
    if settings.fast_lane:
        app.lane = FastLane(
            app.layered,
            view=graphql,
            metrics=metrics,
            gate=gate,
            route=graphql_route,
        )
    app.state.services = services
    app.state.compiled = compiled
    app.state.metrics = metrics
    return app


def _graphql_view(settings: Settings, services: Services) -> tuple[CompiledExecution | None, GraphQLView]:
    """The schema's view, and the compiled path it runs on when COMPILED_EXECUTION is on."""
    schema = build_schema(settings)
    if settings.tracing:
        from graphql_api.http import otel

        otel.instrument(schema, services.database)
    # Installed last, after every extension of build_schema, so that it runs after all validation.
    compiled = (
        compiler.install(schema, services, cache_size=settings.compiled_cache_size)
        if settings.compiled_execution
        else None
    )
    if settings.tracing and compiled is not None:
        otel.instrument_compiled(compiled, services.database)
    graphql = GraphQLView(
        services,
        compiled=compiled,
        schema=schema,
        # Trusted documents: GraphiQL's documents are not the manifest's (docs/persisted-queries.md).
        graphql_ide="graphiql" if settings.graphiql and not settings.trusted_documents else None,
        allow_queries_via_get=True,
        # A browser page on another origin may open the subscription socket when CORS lets it read.
        allowed_origins=settings.cors_origins,
    )
    return compiled, graphql


def _probe_routes(settings: Settings, services: Services, metrics: Metrics) -> list[Route]:
    """/healthz (the process answers), /readyz (the database answers) and, when on, /metrics."""

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def metrics_endpoint(_: Request) -> Response:
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    async def readyz(_: Request) -> JSONResponse:
        try:
            async with services.database.reader() as conn:
                await queries.ping(conn)
        except Exception:  # noqa: BLE001 - any failure means not ready
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *([Route("/metrics", metrics_endpoint, methods=["GET"])] if settings.metrics else []),
    ]


def _middleware(settings: Settings, metrics: Metrics, gate: KeyGate) -> list[Middleware]:
    # Inside RequestIdMiddleware, so that the request log line carries the request id.
    middleware = [Middleware(RequestIdMiddleware), Middleware(ObservabilityMiddleware, metrics=metrics)]
    if settings.tracing:
        from graphql_api.http import otel

        middleware = [*otel.middleware(), *middleware, Middleware(otel.RequestSpan)]
    if settings.etags:  # outside compression: the tag is of the bytes that go out
        middleware.append(Middleware(HttpCaching))
    if settings.compression:
        middleware.append(Middleware(Compression, minimum_bytes=settings.compression_min_bytes))
    middleware.append(Middleware(RequestWorkMiddleware, settings=settings, gate=gate))
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["ApiKey", "Authorization", "Content-Type", "X-Request-Id"],
                expose_headers=["X-Request-Id"],
                max_age=600,
            )
        )
    return middleware


def _lifespan(
    services: Services, metrics: Metrics, compiled: CompiledExecution | None
) -> Lifespan[Starlette]:
    """Nothing to start (connections open on demand); at shutdown, close what the app holds."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        provider = getattr(app.state, "tracer_provider", None)
        if provider is not None:
            provider.shutdown()  # what the batch processor holds goes out
        metrics.close()
        if compiled is not None:
            compiled.close()
        await services.close()

    return lifespan


def app_from_env() -> Starlette:
    """The factory `graphql-api serve` hands to uvicorn (each worker builds its own), in a process tuned
    for serving (GC_THRESHOLDS)."""
    settings = Settings.from_env()
    lean_records()  # one request log line per request
    provider = None
    if settings.tracing:
        from graphql_api.http import otel

        provider = otel.configure_provider(settings.otel_traces_exporter)
    app = create_app(settings)
    app.state.tracer_provider = provider
    thresholds = settings.gc_threshold_values()
    if thresholds is not None:
        gc.set_threshold(*thresholds)
        # What the process holds now (modules, the schema, compiled statements) lives as long as it:
        # full collections no longer walk through it.
        gc.collect()
        gc.freeze()
    return app
