"""GraphiQL is served by this server, assets included, and works in a real browser.

The browser test drives headless Chromium (tests/live.py) against `graphql-api serve`; the others read
the page over HTTP and always run.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from starlette.testclient import TestClient

from graphql_api.http.app import create_app
from graphql_api.settings import Settings
from tests.factories import Factory
from tests.live import LiveServer, serve

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Locator, Page

# What is tested here is the client side; the backends are covered by the other tests.
pytestmark = pytest.mark.backends("sqlite")

BROWSER = {"Accept": "text/html,application/xhtml+xml"}


def _assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_the_page_loads_every_asset_from_this_server(client: TestClient) -> None:
    page = client.get("/graphql", headers=BROWSER)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assets = [url for url in _assets(page.text) if not url.startswith("data:")]
    assert assets == [
        "graphiql/vendor/graphiql.min.css",
        "graphiql/vendor/react.production.min.js",
        "graphiql/vendor/react-dom.production.min.js",
        "graphiql/vendor/graphiql.min.js",
        "graphiql/page.js",
    ]
    for asset in assets:
        response = client.get(f"/{asset}")
        assert response.status_code == 200, asset
        assert "//unpkg.com" not in response.text and "//cdn" not in response.text, asset


def test_graphiql_off_serves_neither_the_page_nor_its_assets(settings: Settings) -> None:
    with TestClient(create_app(settings.with_(graphiql=False))) as client:
        assert client.get("/graphql", headers=BROWSER).status_code == 404
        assert client.get("/graphiql/vendor/graphiql.min.js").status_code == 404
        assert client.get("/graphiql/page.js").status_code == 404


def test_the_vendor_files_are_the_ones_the_refresh_script_recorded(client: TestClient) -> None:
    versions = client.get("/graphiql/vendor/VERSIONS").text
    assert re.search(r"^graphiql 4\.\d+\.\d+$", versions, re.M)
    assert re.search(r"^react 18\.\d+\.\d+$", versions, re.M)
    for name in ("LICENSE.graphiql", "LICENSE.react", "LICENSE.react-dom"):
        assert "MIT License" in client.get(f"/graphiql/vendor/{name}").text


QUERY = """{
  whatsAppLogs(orderBy: [{ toNumber: ASC }]) {
    toNumber status
    incident { title }
    monitor { name }
    project { name }
  }
  whatsAppLogCount
}"""


@pytest.fixture
def live_server(database_url: str, factory: Factory) -> Iterator[LiveServer]:
    project = factory.project("Acme")
    incident = factory.related("incident", project, "Checkout is down")
    monitor = factory.related("monitor", project, "Checkout API")
    factory.log(
        project, to_number="+1-555-0100", status="Delivered", incident_id=incident, monitor_id=monitor
    )
    factory.log(project, to_number="+1-555-0101", status="Failed", incident_id=incident)
    other = factory.project("Other")
    factory.log(other, to_number="+1-555-0199")
    key = factory.api_key(project)
    with serve(database_url) as url:
        yield LiveServer(url, key)


def _set_editor(page: Page, editor: str, text: str) -> None:
    # GraphiQL's editors are CodeMirror 5 instances; setting the value is what pasting does, without
    # the editor's auto-closed brackets that typing character by character would add.
    _visible_editor(page, editor).evaluate("(node, text) => node.CodeMirror.setValue(text)", text)


def _editor_text(page: Page, editor: str) -> Any:
    return _visible_editor(page, editor).evaluate("node => node.CodeMirror.getValue()")


def _visible_editor(page: Page, editor: str) -> Locator:
    # The variables and headers editors share a panel; the one of the tab not shown is hidden.
    return page.locator(f"{editor} .CodeMirror").filter(visible=True)


def test_graphiql_in_chromium_runs_a_query_with_nested_relations(live_server: LiveServer, page: Page) -> None:
    server = live_server.url
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{server}/graphql")
    page.get_by_role("button", name="Headers").wait_for()
    # The headers tab is open, with a hint naming the header the API reads.
    assert json.loads(_editor_text(page, ".graphiql-editor-tool")) == {
        "ApiKey": "wal_... (a key of your project)"
    }
    _set_editor(page, ".graphiql-editor-tool", json.dumps({"ApiKey": live_server.key}))
    _set_editor(page, ".graphiql-query-editor", QUERY)
    page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
    page.locator(".result-window").get_by_text('"whatsAppLogCount": 2').wait_for()

    assert json.loads(_editor_text(page, ".result-window")) == {
        "data": {
            "whatsAppLogs": [
                {"toNumber": "+1-555-0100", "status": "Delivered", "incident": {"title": "Checkout is down"},
                 "monitor": {"name": "Checkout API"}, "project": {"name": "Acme"}},
                {"toNumber": "+1-555-0101", "status": "Failed", "incident": {"title": "Checkout is down"},
                 "monitor": None, "project": {"name": "Acme"}},
            ],
            "whatsAppLogCount": 2,
        }
    }  # fmt: skip
    assert requested and all(url.startswith(f"{server}/") for url in requested), requested
