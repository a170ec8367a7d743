"""`GET /`: where the API is, as JSON (or a small HTML page for a browser); and JSON for unknown paths.

Someone who opens the server's address, or mistypes a path, learns where to go instead of reading a
plain-text "Not Found".
"""

from __future__ import annotations

import html
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from graphql_api.http.rest import PREFIX
from graphql_api.settings import Settings

NOT_FOUND_MESSAGE = "Not found. GET / lists this server's endpoints."


def endpoints(settings: Settings) -> dict[str, Any]:
    """What `GET /` answers: the API's endpoints, by what they are for."""
    ide = " (GraphiQL when opened in a browser)" if settings.graphiql else ""
    index: dict[str, Any] = {
        "message": (
            f"The WhatsApp Log read API: GraphQL at /graphql{ide} and the platform's REST endpoints. "
            "Send your API key in the `ApiKey` header."
        ),
        "graphql": "/graphql",
    }
    if settings.graphiql:
        index["graphiql"] = "/graphql"
    index["rest"] = {
        "list": f"{PREFIX}/get-list",
        "item": f"{PREFIX}/{{id}}/get-item",
        "count": f"{PREFIX}/count",
    }
    index["health"] = {"alive": "/healthz", "ready": "/readyz"}
    index["docs"] = "README.md, at the root of the source tree"
    return index


def _page(index: dict[str, Any]) -> str:
    """The same as an HTML page with links (nothing in it comes from the request)."""

    def link(path: str) -> str:
        return f'<a href="{html.escape(path)}"><code>{html.escape(path)}</code></a>'

    items = [f"<li>GraphQL: {link(index['graphql'])}</li>"]
    if "graphiql" in index:
        items.append(f"<li>GraphiQL (explore and run queries): {link('/graphql')}</li>")
    rest = index["rest"]
    item = f"<code>{html.escape(rest['item'])}</code>"
    items.append(f"<li>REST: {link(rest['list'])}, {item}, {link(rest['count'])}</li>")
    items.append(f"<li>Health: {link(index['health']['alive'])}, {link(index['health']['ready'])}</li>")
    items.append(f"<li>Documentation: {html.escape(index['docs'])}</li>")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>WhatsApp Log API</title></head>'
        f"<body><h1>WhatsApp Log API</h1><p>Send your API key in the <code>ApiKey</code> header.</p>"
        f"<ul>{''.join(items)}</ul></body></html>\n"
    )


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return "text/html" in accept


def route(settings: Settings) -> Route:
    index = endpoints(settings)
    page = _page(index)

    async def home(request: Request) -> Response:
        return HTMLResponse(page) if _wants_html(request) else JSONResponse(index)

    return Route("/", home, methods=["GET"])


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405 (no route, or a route without that method) as JSON."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        text = NOT_FOUND_MESSAGE
    elif exc.status_code == 405:
        text = "Method not allowed."
    else:
        text = exc.detail
    return JSONResponse({"message": text}, status_code=exc.status_code, headers=exc.headers)
