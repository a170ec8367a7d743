"""Strawberry's ASGI view, answering every refusal with a JSON body and a code; over a WebSocket,
graphql-transport-ws (http/graphql_ws.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import orjson
from cross_web import HTTPException, StarletteRequestAdapter
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from graphql_api.compiler import CompiledExecution, RawJSON, compiled_response
from graphql_api.data.services import Services
from graphql_api.errors import ApiError
from graphql_api.http import fast_lane, negotiation, time_limit
from graphql_api.http.graphiql import page_html
from graphql_api.http.graphql_ws import SendWatch, TransportWSHandler, WebSocketAdapter
from graphql_api.http.observability import graphql_outcome
from graphql_api.http.persisted_documents import PersistedDocuments, Resolved
from graphql_api.request_record import note
from graphql_api.schema.context import Context
from graphql_api.schema.error_codes import with_code


def error_body(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


class _RequestAdapter(StarletteRequestAdapter):
    @property
    def content_type(self) -> str | None:
        # Media types are case-insensitive (RFC 9110); Strawberry compares them as written.
        value = super().content_type
        return value.lower() if value else value

    @property
    def request(self) -> Request:
        return self._request


@dataclass
class _PersistedRequestData(GraphQLRequestData):
    """A request whose document came by hash (APQ): remembered once it ran."""

    registration: tuple[str, str] | None = None


class GraphQLView(GraphQL[Context, None]):
    request_adapter_class = _RequestAdapter
    websocket_adapter_class = WebSocketAdapter
    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(
        self,
        services: Services,
        compiled: CompiledExecution | None = None,
        documents: PersistedDocuments | None = None,
        **kwargs: Any,
    ) -> None:
        self.services = services
        self.compiled = compiled
        self.send_watch = SendWatch(services.settings.subscription_send_timeout_seconds)
        # APQ's store and the trusted manifest: one per app, shared by its views.
        self.documents = documents or PersistedDocuments.from_settings(services.settings)
        # graphql-transport-ws only: the legacy `graphql-ws` protocol is unmaintained.
        kwargs.setdefault("subscription_protocols", (GRAPHQL_TRANSPORT_WS_PROTOCOL,))
        super().__init__(
            connection_init_wait_timeout=timedelta(seconds=10),
            # Operations in progress on one socket (a socket belongs to one key): refused RATE_LIMITED
            # past it, by TransportWSHandler, before the operation is parsed.
            max_subscriptions_per_connection=services.settings.max_subscriptions_per_key,
            **kwargs,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """`connection_init`: the payload's `ApiKey` must be a key that may read logs (else 4403)."""
        try:
            await context.principal()
        except ApiError as refusal:
            raise ConnectionRejectionError({"message": refusal.message, "code": refusal.code}) from None
        unset: UnsetType = UNSET
        return unset

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        # The fast path: a request that went through the whole pipeline before is answered by the
        # compiled statements directly (see compiler.execution); anything else takes the pipeline.
        # A JSON POST has tried it already, before Strawberry's request handling (_answer_repeated).
        if (
            self.compiled is not None
            and request_data.query is not None
            and not request_data.extensions
            and not getattr(request.state, "repeat_tried", False)
        ):
            result = await self.compiled.execute_again(
                query=request_data.query,
                operation_name=request_data.operation_name,
                variables=request_data.variables,
                context=context,
            )
            if result is not None:
                self._remember(request_data, result)
                return result
        result = await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        self._remember(request_data, result)
        return result

    def _remember(self, request_data: GraphQLRequestData, result: ExecutionResult) -> None:
        # Executed (data, even null fields): the document parsed and passed every limit.
        if isinstance(request_data, _PersistedRequestData) and result.data is not None:
            self.documents.remember(request_data.registration)

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        """Strawberry's parsing, then the document named by a persisted id or hash (persisted_documents),
        or a refusal before anything parses it."""
        data = await super().parse_http_body(request)
        if isinstance(data, list):
            return [self._resolve(request.request, item, None) for item in data]
        if request.method == "GET":
            document_id = request.query_params.get("documentId")
        elif data.query is None and not data.extensions:
            # The client preset's `{"documentId": ...}`: read again only when there is no document.
            raw = self.decode_json(await request.get_body())
            document_id = raw.get("documentId") if isinstance(raw, dict) else None
        else:
            document_id = None
        return self._resolve(request.request, data, document_id)

    def _resolve(self, request: Request, data: GraphQLRequestData, document_id: object) -> GraphQLRequestData:
        try:
            resolved = self.documents.resolve(data.query, data.extensions, document_id)
        except ApiError as error:
            raise _refusal(request, error) from None
        if resolved.registration is None:
            return replace(data, query=resolved.query, extensions=resolved.extensions)
        return _PersistedRequestData(
            query=resolved.query,
            variables=data.variables,
            operation_name=data.operation_name,
            extensions=resolved.extensions,
            protocol=data.protocol,
            registration=resolved.registration,
        )

    def encode_json(self, data: object) -> str | bytes:
        # The compiled path's `data` is JSON the database built: spliced in as bytes, never parsed.
        if isinstance(data, list):  # a batch
            return b"[" + b",".join(_bytes(self.encode_json(item)) for item in data) + b"]"
        if isinstance(data, dict) and isinstance(data.get("data"), RawJSON):
            return compiled_response(data)
        # orjson: a page of 100 logs is tens of kilobytes, encoded several times faster than by json.
        return orjson.dumps(data)

    async def get_context(self, request: HTTPConnection, response: Response | Any) -> Context:
        return Context(request, response, self.services)

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET naming a persisted document (APQ's `extensions`, `documentId`) has no `query` either:
        # Apollo Client sends it with `Accept: */*`, which Strawberry would answer with GraphiQL.
        params = request.query_params
        if params.get("extensions") is not None or params.get("documentId") is not None:
            return False
        return bool(super().should_render_graphql_ide(request))

    async def render_graphql_ide(self, request: Request) -> Response:
        # Strawberry's own page loads GraphiQL from a CDN; ours is served by this server.
        return HTMLResponse(page_html())

    def decode_json(self, data: str | bytes) -> object:
        return negotiation.decode_json(data)

    async def execute_operation(self, **kwargs: Any) -> Any:  # type: ignore[override]
        """Strawberry's execution of the request's operation(s), within REQUEST_TIMEOUT_SECONDS."""
        data = kwargs["request_data"]
        return await time_limit.execute_within(
            self.services.settings.request_timeout_seconds,
            super().execute_operation(**kwargs),
            context=kwargs["context"],
            operations=len(data) if isinstance(data, list) else None,
        )

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        # Errors raised before the operation's extensions run (a parse error seen by the parser
        # cache, say) have not been through ErrorCodes yet.
        if result.errors:
            request_id = getattr(request.state, "request_id", None)
            result.errors = [with_code(error, request_id) for error in result.errors]
        note(outcome=graphql_outcome([(e.extensions or {}).get("code") for e in result.errors or ()]))
        body = await super().process_result(request, result)
        media_type = getattr(request.state, "media_type", negotiation.JSON)
        request.state.graphql_bodies = [*getattr(request.state, "graphql_bodies", ()), body]
        return negotiation.shape(body, media_type)  # type: ignore[arg-type,return-value]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await super().__call__(scope, receive, send)
            return
        if scope["type"] != "http":
            response: Response = JSONResponse(error_body("Not found.", "BAD_USER_INPUT"), status_code=404)
            await response(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self._answer(request)
        except negotiation.Refusal as refusal:
            note(outcome=refusal.code)
            response = refusal.response()
        except HTTPException as exc:
            code = "BAD_USER_INPUT"
            note(outcome=code)
            # 405 comes from Strawberry for methods other than GET and POST.
            headers = {"Allow": "GET, POST"} if exc.status_code == 405 else None
            response = JSONResponse(
                error_body(_sentence(exc.reason), code), status_code=exc.status_code, headers=headers
            )
        await response(scope, receive, send)

    async def _answer(self, request: Request) -> Response:
        """Check the content type and Accept header, run the request, then set the status and media type
        that the GraphQL-over-HTTP rules give its results (see negotiation)."""
        if request.method in ("GET", "POST"):
            negotiation.check_content_type(request.method, request.headers.get("content-type"))
            if not self.should_render_graphql_ide(self.request_adapter_class(request)):
                request.state.media_type = negotiation.response_type(request.headers.get("accept"))
        context = None
        response = None
        if self.compiled is not None and request.method == "POST" and self.compiled.fast_path:
            context = await self.get_context(request, None)
            response = await self._answer_repeated(request, context)
        if response is None:
            response = await self.run(request, context=context or UNSET)
        return _shaped(request, response)

    async def _answer_repeated(self, request: Request, context: Context) -> Response | None:
        """The fast path's HTTP side: a JSON POST of one operation that passed the whole pipeline before
        is answered by its compiled statements without Strawberry's request handling (a third of a small
        repeated page's Python time); None: Strawberry handles it, with the same context (the caller's key
        is checked once per request)."""
        assert self.compiled is not None
        if not (request.headers.get("content-type") or "").lower().startswith("application/json"):
            return None
        try:
            data = self.decode_json(await request.body())
        except HTTPException:
            return None  # Strawberry reports it
        if not isinstance(data, dict):
            return None
        try:
            resolved: Resolved = self.documents.resolve(
                data.get("query"), data.get("extensions"), data.get("documentId")
            )
        except ApiError as error:
            raise _refusal(request, error) from None
        query, variables, operation_name = resolved.query, data.get("variables"), data.get("operationName")
        if not (
            isinstance(query, str)
            and resolved.extensions is None
            and isinstance(variables, dict | None)
            and isinstance(operation_name, str | None)
        ):
            return None
        request.state.repeat_tried = True
        result = await time_limit.execute_within(
            self.services.settings.request_timeout_seconds,
            self.compiled.execute_again(
                query=query, operation_name=operation_name, variables=variables, context=context
            ),
            context=context,
            operations=None,
        )
        if result is None:
            return None
        # A plan the compiled path knew: the document passed the whole pipeline before.
        self.documents.remember(resolved.registration)
        if resolved.registration is None and data.keys() <= _PLAIN_BODY and not result.errors:
            # The same bytes again are for the fast lane to answer (http/fast_lane.py).
            setattr(request.state, fast_lane.LEARNED, fast_lane.Known(query, operation_name, variables))
        body = await self.process_result(request, result)
        return Response(self.encode_json(body), media_type="application/json")

    async def respond(self, request: Request, result: ExecutionResult, media_type: str) -> Response:
        """The answer to a request of one operation whose result came from the compiled path directly
        (the fast lane's, for results with errors), as `_answer` gives it."""
        request.state.media_type = media_type
        body = await self.process_result(request, result)
        return _shaped(request, Response(self.encode_json(body), media_type="application/json"))


def _shaped(request: Request, response: Response) -> Response:
    """`response` with the status and media type the GraphQL-over-HTTP rules give the request's results
    (see negotiation), when it has any."""
    bodies = getattr(request.state, "graphql_bodies", None)
    if bodies is not None:
        media_type = request.state.media_type
        response.status_code, headers = negotiation.status(bodies, media_type)
        response.headers.update(headers)
        response.headers["content-type"] = media_type
    return response


_PLAIN_BODY = frozenset({"query", "operationName", "variables"})


def _bytes(encoded: str | bytes) -> bytes:
    return encoded if isinstance(encoded, bytes) else encoded.encode()


def _sentence(reason: str) -> str:
    return reason if reason.endswith(".") else reason + "."


def _refusal(request: Request, error: ApiError) -> negotiation.Refusal:
    """A persisted document refused: a GraphQL result without data. With `application/json` that is
    HTTP 200 (as any GraphQL result, and as Apollo's clients expect), otherwise the error's status."""
    media_type = getattr(request.state, "media_type", None)
    status = 200 if media_type == negotiation.JSON else error.http_status
    return negotiation.Refusal(status, error.message, error.code)
