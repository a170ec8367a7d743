"""API keys: secrets, their hashes, permissions, and the principal of a request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.datastructures import Headers, QueryParams

from graphql_api.data import queries
from graphql_api.errors import INVALID_TOKEN_MESSAGE, Forbidden, Unauthenticated

# A recognisable prefix lets secret scanners find leaked keys.
SECRET_PREFIX = "wal_"
DISPLAY_PREFIX_LENGTH = len(SECRET_PREFIX) + 8

# The platform's permission names; the first five grant reading WhatsApp logs.
READ_PERMISSIONS = frozenset(
    {"ProjectOwner", "ProjectAdmin", "ProjectMember", "ReadWhatsAppLog", "ReadAllProjectResources"}
)
PERMISSIONS = READ_PERMISSIONS | {
    "ReadIncident",
    "ReadMonitor",
    "ReadAlert",
    "ReadTeam",
    "ReadStatusPage",
    "ReadProjectUser",
}


@dataclass(frozen=True)
class Principal:
    """Who is asking: a key of one project and what it may do."""

    key_id: str
    project_id: str
    permissions: frozenset[str]

    @property
    def can_read_logs(self) -> bool:
        return bool(self.permissions & READ_PERMISSIONS)

    def require_read(self) -> None:
        if not self.can_read_logs:
            raise Forbidden()


def new_secret() -> str:
    """A fresh secret: the prefix and 256 random bits."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Credential:
    """What a request authenticates with: an API key, or a bearer token (JWT) when tokens are on."""

    secret: str = field(repr=False)
    is_token: bool = False


def request_credential(
    headers: Headers, query_params: QueryParams | None = None, *, tokens: bool = False
) -> Credential | None:
    """The request's `ApiKey` header or, when tokens are on, its `Authorization: Bearer` token. Several of
    either, or both at once, are refused rather than one picked. Without either, a key sent where clients
    often put one (`Authorization`, `X-Api-Key`, `?apikey=`) is refused with a hint naming the header; the
    secret itself is never read, let alone echoed."""
    return credential_from(
        headers.getlist("apikey"),
        headers.getlist("authorization") if tokens else [],
        hint=lambda: misplaced_key_hint(headers, query_params),
        where="this request",
    )


def credential_from(
    keys: list[Any], authorizations: list[Any], *, hint: Callable[[], str | None], where: str
) -> Credential | None:
    """The one credential among the `ApiKey` and `Authorization` values a request (or a WebSocket's
    `connection_init` payload) carries; `hint` says what to do when there is neither."""
    if len(keys) > 1:
        raise Unauthenticated(f"Send the ApiKey header once; {where} has several.")
    if len(authorizations) > 1:
        raise Unauthenticated(f"Send the Authorization header once; {where} has several.")
    if keys and authorizations:
        raise Unauthenticated(f"Send an ApiKey or an Authorization bearer token, not both; {where} has both.")
    if authorizations:
        scheme, _, token = str(authorizations[0]).strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated(
                INVALID_TOKEN_MESSAGE, hint="Send the token as `Authorization: Bearer <token>`."
            )
        return Credential(token.strip(), is_token=True)
    if keys:
        return Credential(keys[0]) if isinstance(keys[0], str) else None
    refusal = hint()
    if refusal is not None:
        raise Unauthenticated(hint=refusal)
    return None


def _key_like(name: str) -> bool:
    return name.lower().removeprefix("x-").replace("-", "").replace("_", "") == "apikey"


def misplaced_key_hint(headers: Headers, query_params: QueryParams | None = None) -> str | None:
    """What to do instead, when the request carries a key elsewhere than in the `ApiKey` header."""
    header = "Send the key in the `ApiKey` header (`ApiKey: wal_…`)"
    if "authorization" in headers:
        return f"{header}, not in `Authorization`."
    if any(_key_like(name) for name in headers):
        return f"{header}: no other header is read."
    if query_params is not None and any(_key_like(name) for name in query_params):
        return f"{header}, not in the URL, which ends up in logs and browser history."
    return None


def looks_like_secret(value: str) -> bool:
    return value.startswith(SECRET_PREFIX) and 20 <= len(value) <= 100


class Authenticator:
    """Turns an `ApiKey` header into a principal; remembers verified keys for `cache_seconds`."""

    def __init__(self, cache_seconds: float) -> None:
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal]] = {}

    def cached(self, header: str | None) -> Principal | None:
        """The principal of a key verified less than `cache_seconds` ago; never touches the database."""
        if not header or not looks_like_secret(header.strip()):
            return None
        cached = self._cache.get(hash_secret(header.strip()))
        return cached[1] if cached and cached[0] > time.monotonic() else None

    async def authenticate(self, conn: AsyncConnection, header: str | None) -> Principal:
        if not header or not looks_like_secret(header.strip()):
            raise Unauthenticated()
        digest = hash_secret(header.strip())
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached and cached[0] > now:
            return cached[1]
        row = await queries.find_api_key(conn, secret_hash=digest)
        # The lookup is by hash, so its timing says nothing about the secret; compare anyway.
        if row is None or not hmac.compare_digest(row.secret_hash, digest):
            raise Unauthenticated()
        wall = datetime.now(UTC)
        if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= wall):
            raise Unauthenticated()
        principal = Principal(
            key_id=row.id, project_id=row.project_id, permissions=frozenset(row.permissions or ())
        )
        if self.cache_seconds > 0:
            expires = now + self.cache_seconds
            if row.expires_at is not None:
                expires = min(expires, now + (row.expires_at - wall).total_seconds())
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (expires, principal)
        return principal
