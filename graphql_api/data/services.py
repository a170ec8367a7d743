"""What one server process holds for all requests: settings, database engines, the key cache."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from graphql_api.data.auth import Authenticator, Credential, Principal
from graphql_api.data.database import Database
from graphql_api.data.ratelimit import RateLimiter
from graphql_api.data.stream_hub import StreamHub
from graphql_api.data.tokens import TokenVerifier
from graphql_api.request_record import note
from graphql_api.settings import Settings


@dataclass
class Services:
    settings: Settings
    database: Database
    authenticator: Authenticator
    # CURSOR_SECRET, or one made for this process when unset (see Settings.cursor_secret).
    cursor_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    # RATE_LIMIT_PER_SECOND per key id (off when 0); every authorized request takes a token.
    rate_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(0))
    # Bearer tokens, when JWKS_URL is set (docs/tokens.md).
    tokens: TokenVerifier | None = field(default=None, repr=False)
    _streams: StreamHub | None = field(default=None, repr=False)

    @property
    def streams(self) -> StreamHub:
        """whatsAppLogStream's open streams and their watcher, made with the first stream."""
        if self._streams is None:
            self._streams = StreamHub(self.settings, self.database)
        return self._streams

    @classmethod
    def create(cls, settings: Settings) -> Services:
        return cls(
            settings=settings,
            database=Database(settings),
            authenticator=Authenticator(settings.auth_cache_seconds),
            cursor_secret=settings.cursor_secret or secrets.token_urlsafe(32),
            rate_limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
            tokens=TokenVerifier(settings) if settings.jwks_url else None,
        )

    async def authorize(self, credential: Credential | None) -> Principal:
        """The principal for a request's key or token, allowed to read logs; raises otherwise (RateLimited
        when the key has used up its rate)."""
        # A key verified within AUTH_CACHE_SECONDS, as nearly every request's is, without awaiting.
        principal = self._cached(credential) or await self._verified(credential)
        # The request's log line names the key by id; the secret never leaves this function.
        note(key_id=principal.key_id)
        self.rate_limiter.check(principal.key_id)
        principal.require_read()
        return principal

    async def recheck(self, credential: Credential | None) -> Principal:
        """The principal of a key or token that an open subscription holds, checked again (from the cache
        within AUTH_CACHE_SECONDS): raises once the key is revoked or the token expired. Takes no rate-limit
        token."""
        principal = self._cached(credential) or await self._verified(credential)
        principal.require_read()
        return principal

    def _cached(self, credential: Credential | None) -> Principal | None:
        """The principal of a key verified within AUTH_CACHE_SECONDS (no token is cached here)."""
        return self.authenticator.cached(_api_key(credential))

    async def _verified(self, credential: Credential | None) -> Principal:
        """The principal of a token, or of a key not in the cache: a key's lookup costs a connection."""
        if credential is not None and credential.is_token and self.tokens is not None:
            return await self.tokens.verify(credential.secret)
        async with self.database.reader() as conn:
            return await self.authenticator.authenticate(conn, _api_key(credential))

    async def close(self) -> None:
        if self._streams is not None:
            await self._streams.close()
        await self.database.dispose()


def _api_key(credential: Credential | None) -> str | None:
    """The `ApiKey` a request sent, or None (none sent, or a bearer token instead)."""
    return credential.secret if credential is not None and not credential.is_token else None
