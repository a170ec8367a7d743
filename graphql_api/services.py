"""What one server process holds for all requests: settings, database engines, the key cache."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from graphql_api.auth import Authenticator, Principal
from graphql_api.database import Database
from graphql_api.observability import note
from graphql_api.settings import Settings


@dataclass
class Services:
    settings: Settings
    database: Database
    authenticator: Authenticator
    # CURSOR_SECRET, or one made for this process when unset (see Settings.cursor_secret).
    cursor_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    @classmethod
    def create(cls, settings: Settings) -> Services:
        return cls(
            settings=settings,
            database=Database(settings),
            authenticator=Authenticator(settings.auth_cache_seconds),
            cursor_secret=settings.cursor_secret or secrets.token_urlsafe(32),
        )

    async def authorize(self, api_key: str | None) -> Principal:
        """The principal for an `ApiKey` header, allowed to read logs; raises otherwise."""
        async with self.database.reader() as conn:
            principal = await self.authenticator.authenticate(conn, api_key)
        # The request's log line names the key by id; the secret never leaves this function.
        note(key_id=principal.key_id)
        principal.require_read()
        return principal

    async def close(self) -> None:
        await self.database.dispose()
