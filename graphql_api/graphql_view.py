"""Strawberry's ASGI view, answering every refusal with a JSON body and a code."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from graphql_api.graphiql import page_html
from graphql_api.observability import graphql_outcome, note
from graphql_api.schema.context import Context
from graphql_api.schema.errors import with_code
from graphql_api.services import Services


def error_body(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, services: Services, **kwargs: Any) -> None:
        self.services = services
        super().__init__(**kwargs)

    async def get_context(self, request: Request, response: Response | Any) -> Context:  # type: ignore[override]
        return Context(request, response, self.services)

    async def render_graphql_ide(self, request: Request) -> Response:
        # Strawberry's own page loads GraphiQL from a CDN; ours is served by this server.
        return HTMLResponse(page_html())

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:  # type: ignore[override]
        # Errors raised before the operation's extensions run (a parse error seen by the parser
        # cache, say) have not been through ErrorCodes yet.
        if result.errors:
            request_id = getattr(request.state, "request_id", None)
            result.errors = [with_code(error, request_id) for error in result.errors]
        note(outcome=graphql_outcome([(e.extensions or {}).get("code") for e in result.errors or ()]))
        return await super().process_result(request, result)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            response: Response = JSONResponse(error_body("Not found.", "BAD_USER_INPUT"), status_code=404)
            await response(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self.run(request)
        except HTTPException as exc:
            code = "BAD_USER_INPUT"
            note(outcome=code)
            response = JSONResponse(error_body(_sentence(exc.reason), code), status_code=exc.status_code)
        await response(scope, receive, send)


def _sentence(reason: str) -> str:
    return reason if reason.endswith(".") else reason + "."
