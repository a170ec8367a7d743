"""The example SPA (examples/spa) in headless Chromium, served from another origin than the API.

The SPA is built from its sources by `npm run build` (after `npm ci`, which .ci/run does); the test
fills its connection form, pages, filters and sorts, and saves the screenshot the README shows.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.factories import BASE_TIME, Factory
from tests.live import LiveServer, serve, serve_directory, skip_loudly

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Page

pytestmark = pytest.mark.backends("sqlite")

ROOT = Path(__file__).parent.parent
SPA = ROOT / "examples" / "spa"
SCREENSHOT = ROOT / "docs" / "spa.png"

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


@pytest.fixture
def live_server(database_url: str, factory: Factory, spa_url: str) -> Iterator[LiveServer]:
    project = factory.project("Acme Production")
    incidents = [factory.related("incident", project, title) for title in INCIDENTS]
    monitors = [factory.related("monitor", project, name) for name in MONITORS]
    for i, fields in enumerate(LOGS):
        # Every fifth log was sent by no monitor.
        monitor = None if i % 5 == 4 else monitors[i % 3]
        factory.log(project, incident_id=incidents[i % 3], monitor_id=monitor, **fields)
    factory.logs(factory.project("Another tenant"), 7)
    key = factory.api_key(project)
    # The SPA is another origin: the browser calls the API only if the server allows it. A fixed port
    # when free keeps the URL in the screenshot, and so docs/spa.png, the same from run to run.
    with serve(database_url, preferred_port=8765, CORS_ORIGINS=spa_url) as url:
        yield LiveServer(url, key)


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


def test_the_spa_lists_pages_and_filters_a_projects_logs(
    live_server: LiveServer, spa_url: str, page: Page
) -> None:
    page.goto(spa_url)
    page.get_by_label("Server URL").fill(live_server.url)
    page.get_by_label("API key").fill(live_server.key)
    page.get_by_role("button", name="Connect").click()

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


def test_the_spa_says_why_a_key_is_refused(live_server: LiveServer, spa_url: str, page: Page) -> None:
    page.goto(spa_url)
    page.get_by_label("Server URL").fill(live_server.url)
    page.get_by_label("API key").fill("wal_not-a-key")
    page.get_by_role("button", name="Connect").click()

    page.get_by_role("alert").wait_for()
    assert page.get_by_role("alert").inner_text() == "UNAUTHENTICATED: Invalid or missing API key."
    assert page.locator("#app").is_hidden()
