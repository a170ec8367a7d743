"""The context of one GraphQL request, or of one WebSocket connection and all its subscriptions: who is
asking (checked once, lazily) and its loaders."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response

from graphql_api.data.auth import (
    Credential,
    Principal,
    credential_from,
    misplaced_key_hint,
    request_credential,
)
from graphql_api.data.services import Services
from graphql_api.errors import ApiError
from graphql_api.request_record import note
from graphql_api.schema.loaders import Loaders

# Where the HTTP edge leaves a caller it checked (request.state; http/fast_lane.py).
CHECKED_AT_THE_EDGE = "checked_at_the_edge"


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
        if self._principal is None and (checked := self._checked_at_the_edge()) is not None:
            self._principal = checked
        if self._principal is None:
            async with self._lock:
                if self._refusal is not None:
                    raise self._refusal
                if self._principal is None:
                    try:
                        self._principal = await self.services.authorize(self.credential())
                    except ApiError as refusal:
                        self._refusal = refusal
                        raise
        return self._principal

    def _checked_at_the_edge(self) -> Principal | None:
        """The caller as the fast lane (http/fast_lane.py) checked it for this request before handing
        it on: authorized once per request, one rate-limit token."""
        state = self.request.scope.get("state")
        principal = state.pop(CHECKED_AT_THE_EDGE, None) if state else None
        if principal is not None:
            note(key_id=principal.key_id)
        return principal

    def credential(self) -> Credential | None:
        """The key or token the caller sent: the `ApiKey` (or `Authorization: Bearer`) header, or over a
        WebSocket the `ApiKey` (or `Authorization`) entry of `connection_init`'s payload (the headers, when
        the payload has neither: browsers cannot set them)."""
        tokens = self.services.tokens is not None
        headers, query = self.request.headers, self.request.query_params
        params = self.connection_params
        if params is not None:
            keys = [value for name, value in params.items() if name.lower() == "apikey"]
            authorizations = [value for name, value in params.items() if name.lower() == "authorization"]
            if keys or (tokens and authorizations):
                return credential_from(
                    keys,
                    authorizations if tokens else [],
                    hint=lambda: misplaced_key_hint(headers, query),
                    where="the connection_init payload",
                )
        return request_credential(headers, query, tokens=tokens)
