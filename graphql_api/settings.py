"""Configuration from the environment; every value has a default that runs on a laptop."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./graphql_api.db"
# The schemes a database URL may have, and the driver each one runs on (the only two installed).
_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",  # what hosting providers hand out
    "postgresql+asyncpg": "postgresql+asyncpg",
}
ACCEPTED_DATABASE_URLS = (
    "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE "
    "(also postgres://, sqlite+aiosqlite://, postgresql+asyncpg://)"
)


def usable_database_url(url: str, name: str = "DATABASE_URL") -> str:
    """`url` as the engines take it (aiosqlite, asyncpg), or ValueError naming the accepted forms.

    The message never repeats the URL, which may hold a password: only its scheme.
    """
    scheme, separator, rest = url.strip().partition("://")
    driver = _DRIVERS.get(scheme.lower()) if separator else None
    if driver is None:
        shown = f"a {scheme}:// URL" if separator else "a value that is not a URL"
        raise ValueError(f"{name}: cannot use {shown}; use {ACCEPTED_DATABASE_URLS}")
    normalised = f"{driver}://{rest}"
    try:
        parsed = make_url(normalised)
    except ArgumentError:
        raise ValueError(f"{name}: not a database URL; use {ACCEPTED_DATABASE_URLS}") from None
    if driver == "postgresql+asyncpg" and "sslmode" in parsed.query:
        # libpq's `?sslmode=require` (in providers' URLs) is asyncpg's `ssl`, which takes the same values.
        mode = parsed.query["sslmode"]
        parsed = parsed.difference_update_query(["sslmode"]).update_query_dict({"ssl": mode})
        return parsed.render_as_string(hide_password=False)
    return normalised


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    """Every knob of the server. Environment variable names are the field names in upper case."""

    database_url: str = DEFAULT_DATABASE_URL
    # Reads go here when set (a replica); the CLI always writes to database_url.
    database_read_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "info"
    # `json` or `text` on stderr; unset: `serve` logs JSON (one line per request), other commands text.
    log_format: str | None = None
    # Serve Prometheus metrics at /metrics (keep that path off the public internet); false counts nothing.
    metrics: bool = True
    cors_origins: tuple[str, ...] = ()
    graphiql: bool = True
    introspection: bool = True

    # Database connections (PostgreSQL); SQLite uses its own settings.
    pool_size: int = 5
    max_overflow: int = 5
    pool_timeout: float = 5.0
    statement_timeout_ms: int = 5000
    # A read that waits this long for a lock (DDL such as a migration, VACUUM FULL, LOCK TABLE holding the
    # table) is answered TIMEOUT. Waiting is no work of the request's own: it must end before the work
    # budget (REQUEST_WORK_SECONDS, which counts PostgreSQL's wall time) would call it QUERY_TOO_COMPLEX.
    lock_timeout_ms: int = 500
    # SQLite: connections (each one an aiosqlite thread) per server process. Few threads share the GIL
    # better than many: one more lets Python work overlap SQLite's own.
    sqlite_pool_size: int = 2
    # Seconds to wait for a new connection before answering SERVICE_UNAVAILABLE.
    connect_timeout: float = 5.0

    # A verified key is remembered this long: a revoked key keeps working at most this many seconds.
    auth_cache_seconds: float = 10.0
    # Signed tokens beside API keys (docs/tokens.md): `Authorization: Bearer <JWT>` is accepted once JWKS_URL
    # (an http(s) URL or a file path) is set; JWT_ISSUER and JWT_AUDIENCE are then required. The keys are
    # re-read when older than JWKS_CACHE_SECONDS, and on an unknown `kid` at most once per
    # JWKS_REFRESH_COOLDOWN_SECONDS.
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_project_claim: str = "project_id"
    jwt_permissions_claim: str = "permissions"
    jwt_leeway_seconds: float = 30.0
    jwks_cache_seconds: float = 300.0
    jwks_refresh_cooldown_seconds: float = 10.0
    # Signs pagination cursors. Unset: `serve` makes one per start, shared by its workers (cursors then
    # stop working at a restart); set it to keep them valid across restarts and servers.
    cursor_secret: str | None = None

    # Limits on what one request may ask for.
    max_depth: int = 8
    max_aliases: int = 30
    max_tokens: int = 2000
    max_body_bytes: int = 64 * 1024
    max_filter_depth: int = 10
    # Conditions in all the filters of one request together (each root field's filter counts).
    max_filter_conditions: int = 100
    max_cost: int = 5000
    max_root_fields: int = 10
    max_in_items: int = 500
    allow_batching: bool = False
    max_batch_size: int = 10
    request_timeout_seconds: float = 10.0
    # Database time one request may use, over all its statements (CPU time on SQLite); 0: no limit.
    request_work_seconds: float = 0.8
    # Requests of one key in progress at once per server process; more wait up to POOL_TIMEOUT (0: off).
    max_requests_per_key: int = 4
    rate_limit_per_second: float = 0.0
    rate_limit_burst: int = 0

    # whatsAppLogStream (docs/subscriptions.md): open subscriptions per key and per server process, the
    # graphql-transport-ws ping interval, how long one message may take to reach a client before it is
    # disconnected, and how often SQLite's change counter is read.
    max_subscriptions_per_key: int = 100
    max_subscriptions: int = 2000
    subscription_heartbeat_seconds: float = 15.0
    subscription_send_timeout_seconds: float = 10.0
    change_poll_seconds: float = 0.1
    # permessage-deflate on WebSockets (serve): ~45 KB of zlib state per socket and ~5% of a busy
    # worker's CPU, for smaller frames. Off, as in Node's `ws` server.
    ws_per_message_deflate: bool = False

    # Compiled execution: queries the compiler covers run as one SQL statement per root field that
    # builds the JSON in the database; false forces Strawberry's regular execution for everything.
    compiled_execution: bool = True
    # Plans and compiled statements remembered per process (bounded).
    compiled_cache_size: int = 512
    # Repeated GraphQL POSTs answered before the app's layers, with the same checks (http/fast_lane.py).
    fast_lane: bool = True

    # The cyclic garbage collector of each server process (gc.set_threshold: young collections every
    # this many allocations, then how many young per middle and middle per full), and gc.freeze() of
    # what the process holds once started. Python's 700,10,10 spent a tenth of a worker serving 1,000
    # subscriptions in collections that find nearly nothing (bench.live: p99 569 -> 445 ms). "" keeps
    # Python's defaults and freezes nothing.
    gc_thresholds: str = "50000,20,100"

    # HTTP (docs/graphql.md#http-caching-and-compression): ETags and `If-None-Match` on GET answers;
    # gzip, Brotli or zstd by `Accept-Encoding` for answers of COMPRESSION_MIN_BYTES or more.
    etags: bool = True
    compression: bool = True
    compression_min_bytes: int = 1024

    # OpenTelemetry tracing (docs/tracing.md): the exporters, as the SDK's OTEL_TRACES_EXPORTER names
    # them (`otlp`, `console`); `none`, the default here, is off. The SDK reads the other OTEL_* variables.
    otel_traces_exporter: str = "none"
    otel_sdk_disabled: bool = False

    # Persisted documents (docs/persisted-queries.md): Apollo's automatic persisted queries, with a store
    # per process bounded in documents and bytes; and the trusted-documents mode, a manifest path
    # (GraphQL Code Generator's persisted-documents.json or Apollo's manifest) outside which nothing runs.
    persisted_queries: bool = True
    persisted_queries_max_entries: int = 1000
    persisted_queries_max_bytes: int = 4 * 1024 * 1024
    trusted_documents: str | None = None

    # Extra metadata for tests and tooling, never from the environment.
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every field from its upper-case environment variable, then apply overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(f.name.upper())
            if raw is None:
                continue
            values[f.name] = _convert(f.type, raw, f.name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def __post_init__(self) -> None:
        # Every way in (environment, --database-url, Settings(...)) gets the URL the engines can use.
        object.__setattr__(self, "database_url", usable_database_url(self.database_url))
        if self.database_read_url is not None:
            read_url = usable_database_url(self.database_read_url, "DATABASE_READ_URL")
            object.__setattr__(self, "database_read_url", read_url)

        for name in ("persisted_queries_max_entries", "persisted_queries_max_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.upper()}: must be at least 1, got {getattr(self, name)}")

        if self.jwks_url and not (self.jwt_issuer and self.jwt_audience):
            # Without both, a token the same provider issued to any other application would be accepted here.
            raise ValueError(
                "JWKS_URL is set: set JWT_ISSUER and JWT_AUDIENCE too (the tokens' `iss` and `aud`)"
            )
        if not 0 <= self.jwt_leeway_seconds <= 300:
            raise ValueError(f"JWT_LEEWAY_SECONDS: between 0 and 300, got {self.jwt_leeway_seconds}")

        exporters = {name.strip().lower() for name in self.otel_traces_exporter.split(",")} - {""}
        if exporters - {"otlp", "console", "none"}:
            raise ValueError(
                f"OTEL_TRACES_EXPORTER: use otlp, console or none (or otlp,console), "
                f"got {self.otel_traces_exporter!r}"
            )
        if self.tracing and importlib.util.find_spec("opentelemetry.instrumentation.asgi") is None:
            raise ValueError(
                "OTEL_TRACES_EXPORTER: tracing needs OpenTelemetry, which is not installed: "
                "pip install 'graphql_api[otel]' (or set OTEL_TRACES_EXPORTER=none)"
            )
        self.gc_threshold_values()  # refused at start, not when a worker starts

    @property
    def tracing(self) -> bool:
        return self.otel_traces_exporter.strip().lower() not in ("", "none") and not self.otel_sdk_disabled

    def gc_threshold_values(self) -> tuple[int, int, int] | None:
        """GC_THRESHOLDS as gc.set_threshold takes them, None for Python's own."""
        if not self.gc_thresholds.strip():
            return None
        try:
            first, second, third = (int(part) for part in self.gc_thresholds.split(","))
        except ValueError:
            raise ValueError(
                f"GC_THRESHOLDS: expected three whole numbers such as 50000,20,100 (or empty), got "
                f"{self.gc_thresholds!r}"
            ) from None
        if min(first, second, third) < 0:
            raise ValueError(f"GC_THRESHOLDS: cannot be negative, got {self.gc_thresholds!r}")
        return first, second, third

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _convert(annotation: Any, raw: str, name: str) -> Any:
    kind = str(annotation)
    try:
        if kind.startswith("bool"):
            return _bool(raw)
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        if kind.startswith("tuple"):
            return _list(raw)
        if kind.startswith("str | None"):
            return raw or None
        return raw
    except ValueError as exc:
        raise ValueError(f"{name.upper()}: {exc}") from None
