"""The context of one GraphQL request, or of one WebSocket connection and all its subscriptions: who is
asking (checked once, lazily) and its loaders."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response

from graphql_api.data.auth import Principal, api_key_header
from graphql_api.data.services import Services
from graphql_api.errors import ApiError, Unauthenticated
from graphql_api.schema.loaders import Loaders


class Context:
    def __init__(self, request: HTTPConnection, response: Response | None, services: Services) -> None:
        self.request = request
        # graphql-transport-ws: the `connection_init` payload (Strawberry sets it), where the key is.
        self.connection_params: dict[str, Any] | None = None
        self.response = response
        self.services = services
        self.settings = services.settings
        self.loaders = Loaders(services, self.principal)
        self._principal: Principal | None = None
        # A refusal is remembered too: every root field gets the same answer (and one rate-limit token
        # is taken per request, not per field).
        self._refusal: ApiError | None = None
        self._lock = asyncio.Lock()

    async def principal(self) -> Principal:
        """The caller, allowed to read logs. Introspection never asks, so it needs no key."""
        if self._principal is None:
            async with self._lock:
                if self._refusal is not None:
                    raise self._refusal
                if self._principal is None:
                    try:
                        self._principal = await self.services.authorize(self.api_key())
                    except ApiError as refusal:
                        self._refusal = refusal
                        raise
        return self._principal

    def api_key(self) -> str | None:
        """The key the caller sent: the `ApiKey` header, or over a WebSocket the `ApiKey` entry of
        `connection_init`'s payload (the header, when the payload has none: browsers cannot set one)."""
        params = self.connection_params
        if params is not None:
            sent = [value for name, value in params.items() if name.lower() == "apikey"]
            if len(sent) > 1:
                raise Unauthenticated("Send ApiKey once in the connection_init payload; it has several.")
            if sent:
                return sent[0] if isinstance(sent[0], str) else None
        return api_key_header(self.request.headers, self.request.query_params)
