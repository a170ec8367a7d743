"""The context of one GraphQL request: who is asking (checked once, lazily) and its loaders."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from graphql_api.data.auth import Principal, api_key_header
from graphql_api.data.services import Services
from graphql_api.errors import ApiError
from graphql_api.schema.loaders import Loaders


class Context:
    def __init__(self, request: Request, response: Response | None, services: Services) -> None:
        self.request = request
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
                        api_key = api_key_header(self.request.headers, self.request.query_params)
                        self._principal = await self.services.authorize(api_key)
                    except ApiError as refusal:
                        self._refusal = refusal
                        raise
        return self._principal
