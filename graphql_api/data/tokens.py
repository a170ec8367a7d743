"""Signed tokens (JWT) beside API keys: a JWKS of the identity provider's public keys, and the principal a
verified token stands for (docs/tokens.md)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from graphql_api.data.auth import Principal
from graphql_api.errors import INVALID_TOKEN_MESSAGE, ServiceUnavailable, Unauthenticated
from graphql_api.settings import Settings

logger = logging.getLogger("graphql_api.tokens")

# Asymmetric signatures only: never `none`, never HMAC (a public key used as an HMAC secret is the classic
# algorithm-confusion forgery).
ALGORITHMS = ("RS256", "ES256", "EdDSA")
# A token larger than this is refused unread: a header can be 8 KB, and a JWT that big is an attack.
MAX_TOKEN_CHARS = 8192
_FETCH_TIMEOUT_SECONDS = 5.0
_MAX_CACHED_TOKENS = 10_000
_KEYS_UNAVAILABLE = "The token signing keys cannot be read; try again shortly."


class Jwks:
    """The identity provider's public keys by `kid`, from `JWKS_URL` (http(s), fetched and cached) or a local
    file. Refreshed when older than `cache_seconds`, and on a token with an unknown `kid` (key rotation) at
    most once per `cooldown_seconds`, so that tokens with made-up kids cannot make the server fetch per
    request. A failed refresh keeps the keys it had."""

    def __init__(self, source: str, *, cache_seconds: float, cooldown_seconds: float) -> None:
        self.source = source
        self.cache_seconds = cache_seconds
        self.cooldown_seconds = cooldown_seconds
        self._keys: dict[str | None, PyJWK] = {}
        self._fetched_at: float | None = None
        self._tried_at = -float("inf")
        self._lock = asyncio.Lock()
        self._refreshing: asyncio.Task[None] | None = None
        scheme = urlsplit(source).scheme
        remote = scheme in ("http", "https")
        self._client = (
            PyJWKClient(source, cache_jwk_set=False, timeout=_FETCH_TIMEOUT_SECONDS) if remote else None
        )

    async def key(self, kid: str | None) -> PyJWK | None:
        now = time.monotonic()
        may_refresh = now - self._tried_at >= self.cooldown_seconds
        if self._fetched_at is None and not may_refresh:
            raise ServiceUnavailable(_KEYS_UNAVAILABLE)  # the last try failed a moment ago
        if self._fetched_at is None or (kid not in self._keys and may_refresh):
            # No keys yet, or a new one (rotation): this token waits for the set.
            await self._refresh(now)
            if self._fetched_at is None:
                raise ServiceUnavailable(_KEYS_UNAVAILABLE)  # another request's try failed
        elif may_refresh and now - self._fetched_at >= self.cache_seconds and self._refreshing is None:
            # Old keys keep verifying while the set is read again in the background.
            self._refreshing = asyncio.create_task(self._refresh(now))
            self._refreshing.add_done_callback(self._refreshed)
        if kid is None and len(self._keys) == 1:
            # A token without `kid` is read with the set's only key (providers with one key often omit it).
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    def _refreshed(self, task: asyncio.Task[None]) -> None:
        self._refreshing = None
        if not task.cancelled():
            task.exception()  # ServiceUnavailable cannot happen with keys in hand; nothing to raise to

    async def _refresh(self, asked_at: float) -> None:
        async with self._lock:
            if self._tried_at >= asked_at:
                return  # another request read the set while this one waited
            self._tried_at = time.monotonic()
            try:
                document = await asyncio.to_thread(self._read)
                keys = _usable_keys(document)
            except Exception as exc:  # noqa: BLE001 - any failure keeps the keys we had
                logger.warning("JWKS %s could not be read: %s", self.source, exc)
                if self._fetched_at is None:
                    raise ServiceUnavailable(_KEYS_UNAVAILABLE) from None
                return
            self._keys = keys
            self._fetched_at = time.monotonic()

    def _read(self) -> Any:
        if self._client is not None:
            return self._client.fetch_data()
        path = self.source.removeprefix("file://")
        return json.loads(Path(path).read_text(encoding="utf-8"))


def _usable_keys(document: Any) -> dict[str | None, PyJWK]:
    """The set's signature keys of the allowed algorithms (a PyJWK is bound to one algorithm: RSA keys to
    RS256, P-256 keys to ES256, Ed25519/Ed448 keys to EdDSA, unless the JWK's `alg` says otherwise)."""
    if not isinstance(document, Mapping):
        raise ValueError("a JWKS is a JSON object with `keys`")
    keys = PyJWKSet.from_dict(dict(document)).keys
    usable = {
        key.key_id: key
        for key in keys
        if key.algorithm_name in ALGORITHMS and key.public_key_use in (None, "sig")
    }
    if not usable:
        raise ValueError(f"no signature key of {', '.join(ALGORITHMS)}")
    return usable


class TokenVerifier:
    """Turns a bearer token into a principal: signature by a JWKS key, `exp` (required) and `nbf` with
    `leeway_seconds` of clock skew, `iss`, `aud`, the project claim and the permissions claim. Verified
    tokens are remembered for AUTH_CACHE_SECONDS, never past their `exp`."""

    def __init__(self, settings: Settings, jwks: Jwks | None = None) -> None:
        if not settings.jwks_url:
            raise ValueError("JWKS_URL is not set")
        self.jwks = jwks or Jwks(
            settings.jwks_url,
            cache_seconds=settings.jwks_cache_seconds,
            cooldown_seconds=settings.jwks_refresh_cooldown_seconds,
        )
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.leeway = settings.jwt_leeway_seconds
        self.project_claim = settings.jwt_project_claim
        self.permissions_claim = settings.jwt_permissions_claim
        self.cache_seconds = settings.auth_cache_seconds
        self._cache: dict[str, tuple[float, float, Principal]] = {}

    def cached(self, token: str) -> Principal | None:
        cached = self._cache.get(token)
        if cached is None or cached[0] <= time.monotonic() or cached[1] <= time.time() - self.leeway:
            return None
        return cached[2]

    async def verify(self, token: str) -> Principal:
        cached = self.cached(token)
        if cached is not None:
            return cached
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated(INVALID_TOKEN_MESSAGE)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated(INVALID_TOKEN_MESSAGE) from None
        if header.get("alg") not in ALGORITHMS:
            raise Unauthenticated(INVALID_TOKEN_MESSAGE)
        kid = header.get("kid")
        key = await self.jwks.key(kid if isinstance(kid, str) else None)
        if key is None:
            raise Unauthenticated(INVALID_TOKEN_MESSAGE)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"], "enforce_minimum_key_length": True},
            )
        except jwt.PyJWTError as exc:
            logger.debug("token refused: %s", exc)
            raise Unauthenticated(INVALID_TOKEN_MESSAGE) from None
        principal = self._principal(claims)
        if self.cache_seconds > 0:
            if len(self._cache) > _MAX_CACHED_TOKENS:
                self._cache.clear()
            self._cache[token] = (time.monotonic() + self.cache_seconds, float(claims["exp"]), principal)
        return principal

    def _principal(self, claims: dict[str, Any]) -> Principal:
        project_id = claims.get(self.project_claim)
        permissions = claims.get(self.permissions_claim, [])
        if not isinstance(project_id, str) or not project_id:
            raise Unauthenticated(INVALID_TOKEN_MESSAGE)
        if not isinstance(permissions, list) or not all(isinstance(name, str) for name in permissions):
            raise Unauthenticated(INVALID_TOKEN_MESSAGE)
        # Rate limits, per-key request and subscription limits and the log line count per subject; the
        # subject itself (often an e-mail address) never reaches a log.
        subject = f"{claims.get('iss')}\n{claims.get('sub', project_id)}"
        key_id = "token:" + hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        return Principal(key_id=key_id, project_id=project_id, permissions=frozenset(permissions))
