"""The example SPA (examples/spa) in headless Chromium, served from another origin than the API.

The SPA is built from its sources by `npm run build` (after `npm ci`, which .ci/run does); the tests
fill its connection form, page, filter and sort, watch its live view while `graphql-api import` writes
logs and the server restarts, and save the screenshots the README shows.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from graphql_api.data.auth import DISPLAY_PREFIX_LENGTH
from tests.factories import BASE_TIME, Factory
from tests.live import LiveServer, serve_directory, serve_process, skip_loudly, stop

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from contextlib import AbstractContextManager

    from playwright.sync_api import Page, WebSocket

    Running = tuple[str, subprocess.Popen[bytes]]  # a server's URL and process

ROOT = Path(__file__).parent.parent
SPA = ROOT / "examples" / "spa"
MANIFEST = SPA / "generated" / "gql" / "persisted-documents.json"  # written by `npm run build`
SCREENSHOT = ROOT / "docs" / "spa.png"
LIVE_SCREENSHOT = ROOT / "docs" / "spa-live.png"
CLI = [sys.executable, "-m", "graphql_api"]
# Set, as a deployment sets it: without it each start signs cursors anew, and a stream cannot resume
# across a restart.
CURSOR_SECRET = "spa-test-cursor-secret"

INCIDENTS = ["Checkout is down", "API Gateway has high latency", "Login returns 5xx errors"]
MONITORS = ["Checkout API", "API Gateway", "Login service"]
# 45 logs over 14 days, the last 14 of them on one busy day: 27 Delivered, 9 Failed, 9 Read;
# costs 3 to 12 cents.
STATUSES = ["Delivered", "Delivered", "Failed", "Delivered", "Read"]
DAYS = 14
BUSY_DAY = 9


def _log(i: int) -> dict[str, Any]:
    days_ago = i % DAYS if i < 31 else BUSY_DAY
    return {
        "created_at": BASE_TIME - timedelta(days=days_ago, hours=i % 5),
        "to_number": f"+1-555-01{i:02d}",
        "from_number": "+1-555-9000",
        "status": STATUSES[i % len(STATUSES)],
        "whatsapp_cost_in_usd_cents": 3 + (i * 7) % 10,
    }


LOGS = [_log(i) for i in range(45)]


@pytest.fixture(scope="session")
def spa_dist(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SPA built from the current sources into a temporary folder."""
    npm = shutil.which("npm")
    if npm is None:
        skip_loudly(request, "npm is not installed: the example SPA cannot be built")
    if not (SPA / "node_modules" / ".bin" / "vite").exists():
        skip_loudly(request, "examples/spa has no node_modules: run `npm ci` there (.ci/run does)")
    out = tmp_path_factory.mktemp("spa-dist")
    build = subprocess.run(
        [npm, "run", "build", "--", "--outDir", str(out), "--emptyOutDir"],
        cwd=SPA, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout + build.stderr
    return out


@pytest.fixture
def spa_url(spa_dist: Path) -> Iterator[str]:
    with serve_directory(spa_dist) as url:
        yield url


@dataclass(frozen=True)
class Tenants:
    """The seeded projects: the key's, with its incidents, and another tenant's."""

    project: str
    incidents: list[str]
    other_project: str
    key: str


@pytest.fixture
def tenants(factory: Factory) -> Tenants:
    project = factory.project("Acme Production")
    incidents = [factory.related("incident", project, title) for title in INCIDENTS]
    monitors = [factory.related("monitor", project, name) for name in MONITORS]
    for i, fields in enumerate(LOGS):
        # Every fifth log was sent by no monitor.
        monitor = None if i % 5 == 4 else monitors[i % 3]
        factory.log(project, incident_id=incidents[i % 3], monitor_id=monitor, **fields)
    other_project = factory.project("Another tenant")
    factory.logs(other_project, 7)
    return Tenants(project, incidents, other_project, factory.api_key(project))


@pytest.fixture
def server(database_url: str, tenants: Tenants, spa_url: str) -> Iterator[Running]:
    """`graphql-api serve` over the seeded database: its URL and its process."""
    # The SPA is another origin: the browser calls the API only if the server allows it. A fixed port
    # when free keeps the URL in the screenshots, and so docs/spa*.png, the same from run to run.
    with _serve(database_url, spa_url, port=8765) as running:
        yield running


def _serve(database_url: str, spa_url: str, *, port: int) -> AbstractContextManager[Running]:
    # In production's trusted-documents mode, with the manifest the SPA's build wrote (npm run build
    # runs codegen): the page runs only by the ids it sends (docs/persisted-queries.md).
    return serve_process(
        database_url,
        preferred_port=port,
        CORS_ORIGINS=spa_url,
        CURSOR_SECRET=CURSOR_SECRET,
        TRUSTED_DOCUMENTS=str(MANIFEST),
    )


@pytest.fixture
def live_server(server: Running, tenants: Tenants) -> LiveServer:
    return LiveServer(server[0], tenants.key)


def _connect(page: Page, spa_url: str, live_server: LiveServer, key: str | None = None) -> None:
    page.goto(spa_url)
    page.get_by_label("Server URL").fill(live_server.url)
    page.get_by_label("API key").fill(key or live_server.key)
    page.get_by_role("button", name="Connect").click()


def _column(page: Page, index: int) -> list[str]:
    return page.locator(f"tbody tr td:nth-child({index})").all_inner_texts()


def _expect_summary(page: Page, text: str) -> None:
    page.get_by_role("status").filter(has_text=re.compile(f"^{re.escape(text)}$")).wait_for()


def _chart(page: Page) -> dict[str, int]:
    bars = page.locator("#spend rect.bar")
    return {
        bar.get_attribute("data-day") or "": int(bar.get_attribute("data-cents") or 0) for bar in bars.all()
    }


def _spend_per_day(logs: list[dict[str, Any]]) -> dict[str, int]:
    """What the chart must show: cents per UTC day, from the first day to the last, empty days as 0."""
    spend: Counter[str] = Counter()
    for log in logs:
        spend[log["created_at"].date().isoformat()] += log["whatsapp_cost_in_usd_cents"]
    first, last = min(log["created_at"].date() for log in logs), max(log["created_at"].date() for log in logs)
    days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    return {day: spend[day] for day in days}


@pytest.mark.backends("sqlite")
def test_the_spa_lists_pages_and_filters_a_projects_logs(
    live_server: LiveServer, spa_url: str, page: Page
) -> None:
    _connect(page, spa_url, live_server)

    _expect_summary(page, "Showing 1–20 of 45 logs")
    assert page.locator("tbody tr").count() == 20
    newest = [log for log in LOGS if log["created_at"] == max(log["created_at"] for log in LOGS)]
    assert _column(page, 2)[0] == newest[0]["to_number"]
    assert set(_column(page, 6)) == set(INCIDENTS)
    assert set(_column(page, 7)) == {*MONITORS, "—"}
    assert _chart(page) == _spend_per_day(LOGS)
    total = sum(log["whatsapp_cost_in_usd_cents"] for log in LOGS)
    assert (
        page.locator("#spend figcaption").inner_text()
        == f"Spend per day (UTC): ${total / 100:.2f} over 14 days"
    )
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.get_by_role("button", name="Next page").click()
    _expect_summary(page, "Showing 21–40 of 45 logs")
    assert page.locator("#page").inner_text() == "Page 2 of 3"

    page.get_by_label("Status").select_option("Failed")
    _expect_summary(page, "Showing 1–9 of 9 logs")
    assert set(_column(page, 4)) == {"Failed"}
    assert _chart(page) == _spend_per_day([log for log in LOGS if log["status"] == "Failed"])

    page.get_by_role("button", name="Clear filters").click()
    _expect_summary(page, "Showing 1–20 of 45 logs")
    page.get_by_label("Phone").fill("+1-555-010")
    _expect_summary(page, "Showing 1–10 of 10 logs")

    page.get_by_role("button", name="Clear filters").click()
    page.get_by_label("From").fill("2026-06-28")
    page.get_by_label("To").fill("2026-06-30")
    in_range = [log for log in LOGS if "2026-06-28" <= log["created_at"].date().isoformat() <= "2026-06-30"]
    _expect_summary(page, f"Showing 1–{len(in_range)} of {len(in_range)} logs")

    page.get_by_role("button", name="Cost").click()
    page.locator("th[aria-sort=descending]", has_text="Cost").wait_for()
    costs = [int(float(text.strip("$")) * 100) for text in _column(page, 5)]
    assert costs == sorted((log["whatsapp_cost_in_usd_cents"] for log in in_range), reverse=True)


@pytest.mark.backends("sqlite")
def test_the_spa_says_why_a_key_is_refused(live_server: LiveServer, spa_url: str, page: Page) -> None:
    _connect(page, spa_url, live_server, key="wal_not-a-key")

    page.get_by_role("alert").wait_for()
    assert page.get_by_role("alert").inner_text() == "UNAUTHENTICATED: Invalid or missing API key."
    assert page.locator("#app").is_hidden()


# The live view: logs written by the real importer, in another process as the platform writes them,
# while the page streams `whatsAppLogStream` over graphql-ws.

LIVE_TIME = BASE_TIME + timedelta(days=1)
NO_FILTER = {"where": None, "after": None, "batchSize": 50}


def _new_logs(
    label: str, count: int, *, status: str = "Sent", incidents: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """`count` lines for `graphql-api import` (the REST shape), to `<label>00`, `<label>01`…; every
    other one with an incident. Their ids are in the order of the lines, which is the order the stream
    sends the logs of one transaction in (by id)."""
    ids = sorted(str(uuid.uuid5(uuid.NAMESPACE_URL, f"{label}{i}")) for i in range(count))
    lines: list[dict[str, Any]] = []
    for i, log_id in enumerate(ids):
        line = {
            "_id": log_id,
            "createdAt": (LIVE_TIME + timedelta(seconds=7 * i)).isoformat(),
            "toNumber": f"{label}{i:02d}",
            "status": status,
            "whatsAppCostInUSDCents": 4,
        }
        if incidents and i % 2 == 0:
            line["incidentId"] = incidents[i // 2 % len(incidents)]
        lines.append(line)
    return lines


def _cli(database_url: str, *args: str) -> str:
    """`graphql-api <args>` in another process; its output."""
    done = subprocess.run(
        [*CLI, "--database-url", database_url, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _import(database_url: str, project: str, lines: list[dict[str, Any]], tmp_path: Path) -> dict[str, Any]:
    """`graphql-api import` of `lines` into `project`: its summary."""
    path = tmp_path / f"{uuid.uuid4()}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    summary: dict[str, Any] = json.loads(_cli(database_url, "import", str(path), "--project-id", project))
    return summary


@dataclass
class Frames:
    """What went over the page's sockets (graphql-transport-ws), in order: the variables of each
    `subscribe` and the batch of each `next`."""

    subscribed: list[dict[str, Any]] = field(default_factory=list)
    batches: list[dict[str, Any]] = field(default_factory=list)

    def record(self, payload: str | bytes) -> None:
        message = json.loads(payload)
        if message.get("type") == "subscribe":
            self.subscribed.append(message["payload"]["variables"])
        elif message.get("type") == "next" and message["payload"].get("data"):
            self.batches.append(message["payload"]["data"]["whatsAppLogStream"])

    def log_ids(self) -> list[str]:
        return [log["id"] for batch in self.batches for log in batch["logs"]]


def _frames(page: Page) -> Frames:
    frames = Frames()

    def watch(socket: WebSocket) -> None:
        socket.on("framesent", frames.record)
        socket.on("framereceived", frames.record)

    page.on("websocket", watch)
    return frames


def _expect_text(page: Page, selector: str, pattern: str) -> None:
    page.locator(selector).filter(has_text=re.compile(pattern)).wait_for()


def _expect_state(page: Page, text: str) -> None:
    _expect_text(page, "#live-state", f"^{re.escape(text)}$")


def _expect_live_logs(page: Page, count: int, statuses: str = "all statuses") -> None:
    _expect_text(
        page, "#live-summary", rf"^{count} logs? \({re.escape(statuses)}\) since the stream started$"
    )


def _open_live_view(page: Page, spa_url: str, live_server: LiveServer) -> None:
    _connect(page, spa_url, live_server)
    page.get_by_role("tab", name="Live").click()
    _expect_state(page, "Live")


def _live_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator("#live tbody tr").evaluate_all("rows => rows.map((tr) => tr.dataset.id)")
    return ids


def _live_column(page: Page, index: int) -> list[str]:
    return page.locator(f"#live tbody tr td:nth-child({index})").all_inner_texts()


def _newest_first(*lines: list[dict[str, Any]]) -> list[str]:
    return [line["_id"] for batch in reversed(lines) for line in reversed(batch)]


# On both backends (no marker): the server learns of a commit differently on each (data_version, NOTIFY).
def test_the_live_view_shows_the_keys_logs_as_they_are_written_and_updates_a_changed_one_in_place(
    database_url: str, tenants: Tenants, live_server: LiveServer, spa_url: str, page: Page, tmp_path: Path
) -> None:
    frames = _frames(page)
    _open_live_view(page, spa_url, live_server)

    # Another tenant's logs first: were they sent to this key, they would come before its own.
    _import(database_url, tenants.other_project, _new_logs("+44-20-7946-", 3), tmp_path)
    mine = _new_logs("+1-555-0300-", 20, incidents=tenants.incidents)
    assert _import(database_url, tenants.project, mine, tmp_path)["created"] == 20

    _expect_live_logs(page, 20)
    assert _live_ids(page) == _newest_first(mine)
    assert _live_column(page, 3) == [line["toNumber"] for line in reversed(mine)]
    titles = dict(zip(tenants.incidents, INCIDENTS, strict=True))
    assert _live_column(page, 4) == [titles.get(line.get("incidentId", ""), "—") for line in reversed(mine)]
    assert set(_live_column(page, 2)) == {"Sent"}

    # The platform's next word on one of them, through the importer's upsert by `_id`.
    changed = mine[5]
    row = page.locator(f'#live tbody tr[data-id="{changed["_id"]}"]')
    before = row.element_handle()
    delivered = {**changed, "status": "Delivered"}
    assert _import(database_url, tenants.project, [delivered], tmp_path)["updated"] == 1
    row.filter(has_text="Delivered").wait_for()
    assert before.evaluate("(tr) => tr.isConnected")  # the same row, changed where it was
    assert _live_ids(page) == _newest_first(mine)
    assert _live_column(page, 2).count("Delivered") == 1
    assert frames.subscribed == [NO_FILTER]
    assert sorted(frames.log_ids()) == sorted([line["_id"] for line in mine] + [changed["_id"]])
    page.screenshot(path=str(LIVE_SCREENSHOT), full_page=True, animations="disabled")

    # Another filter is another stream, from now: a cursor belongs to the filter it was given for.
    page.get_by_role("checkbox", name="Failed").check()
    _expect_state(page, "Live")
    assert frames.subscribed[-1] == {**NO_FILTER, "where": {"status": {"in": ["Failed"]}}}
    assert _live_ids(page) == []
    failed = _new_logs("+1-555-0400-", 2, status="Failed")
    _import(database_url, tenants.project, _new_logs("+1-555-0500-", 2, status="Read") + failed, tmp_path)
    _expect_live_logs(page, 2, "Failed")
    assert sorted(_live_ids(page)) == sorted(line["_id"] for line in failed)


def test_the_live_view_reconnects_after_a_server_restart_and_resumes_after_its_last_cursor(
    database_url: str,
    tenants: Tenants,
    server: Running,
    live_server: LiveServer,
    spa_url: str,
    page: Page,
    tmp_path: Path,
) -> None:
    url, process = server
    frames = _frames(page)
    _open_live_view(page, spa_url, live_server)
    first = _new_logs("+1-555-0600-", 3)
    _import(database_url, tenants.project, first, tmp_path)
    _expect_live_logs(page, 3)
    cursor = frames.batches[-1]["cursor"]

    stop(process)  # SIGTERM: the server closes the socket with 1012 (Service Restart)
    _expect_state(page, "Reconnecting…")
    while_down = _new_logs("+1-555-0700-", 4)
    _import(database_url, tenants.project, while_down, tmp_path)
    port = urlsplit(url).port or 0
    with _serve(database_url, spa_url, port=port) as (again, _):
        assert again == url
        _expect_live_logs(page, 7)
        _expect_state(page, "Live")
        assert page.locator("#live-error").is_hidden()  # "lost or refused" while it was down
        assert _live_ids(page) == _newest_first(first, while_down)
        # graphql-ws subscribed again with the variables as they were then: after the last cursor.
        assert frames.subscribed == [NO_FILTER, {**NO_FILTER, "after": cursor}]
        assert sorted(frames.log_ids()) == sorted(line["_id"] for line in first + while_down)


@pytest.mark.backends("sqlite")
def test_the_live_view_says_why_its_stream_ended(
    database_url: str, tenants: Tenants, live_server: LiveServer, spa_url: str, page: Page
) -> None:
    _open_live_view(page, spa_url, live_server)
    _cli(database_url, "api-key", "revoke", tenants.key[:DISPLAY_PREFIX_LENGTH])

    _expect_state(page, "Stopped")
    assert page.locator("#live-error").inner_text() == "UNAUTHENTICATED: Invalid or missing API key."


def test_the_spas_server_runs_only_the_documents_of_the_spas_manifest(live_server: LiveServer) -> None:
    """The pages above ran by id against a TRUSTED_DOCUMENTS server; a document of no build is refused."""
    request = urllib.request.Request(
        live_server.url + "/graphql",
        data=json.dumps({"query": "{ whatsAppLogCount }"}).encode(),
        headers={"Content-Type": "application/json", "ApiKey": live_server.key},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.load(response)
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
    assert any(key.startswith("sha256:") for key in json.loads(MANIFEST.read_text()))
