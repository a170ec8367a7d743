"""The self-hosted GraphiQL page: its HTML and the route serving its assets from the package."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


@cache
def page_html() -> str:
    """The page `GET /graphql` answers a browser with; it loads its assets from `assets_route()`."""
    return (STATIC / "graphiql.html").read_text(encoding="utf-8")


def assets_route() -> Mount:
    """`/graphiql/…`: GraphiQL, React and the page script, as committed (no CDN, no build step)."""
    return Mount("/graphiql", app=StaticFiles(directory=STATIC / "graphiql"), name="graphiql")
