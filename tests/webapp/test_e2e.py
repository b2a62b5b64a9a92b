"""End-to-end in headless Chromium (Playwright for Python driving Debian's ``chromium`` package):
log in, filter, open an ad, see a highlighted span and its hover/focus text, decide with the
keyboard, see the ad leave the queue and the decision appear in the audit log.

Chromium comes from ``apt-get install chromium`` (``/usr/bin/chromium``), never from
``playwright install``. Without it (or without the playwright package) these tests FAIL when ``CI``
is set and are skipped elsewhere.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.webapp.conftest import PASSWORD, PHONE_TEXT, Seeded, fast_settings
from webapp.app import create_app

CHROMIUM = os.environ.get("ADWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--disable-extensions", "--no-first-run", "--disable-sync"]


def _need(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}: CI must run the browser tests (see .ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("the playwright package is not installed")
    if not Path(CHROMIUM).exists():
        _need(f"{CHROMIUM} not found (apt-get install chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def server(seeded: Seeded, tmp_path: Path) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1 at a free port (port 0), on a copy of the seeded data."""
    import uvicorn

    db = tmp_path / "e2e.db"
    shutil.copy(seeded.path, db)
    app = create_app(fast_settings(f"sqlite:///{db}"))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(5)


def test_review_flow_with_keyboard(browser, server: str, seeded: Seeded) -> None:
    from playwright.sync_api import expect

    a, b = seeded.ads["escort_a"], seeded.ads["escort_b"]
    page = browser.new_page()  # type: ignore[attr-defined]
    page.set_default_timeout(5000)
    page.goto(server + "/queue")
    assert page.url.startswith(server + "/login")
    page.fill("#username", "supervisor")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(server + "/queue")
    expect(page.locator("a.row-link")).to_have_count(3)

    page.select_option("select[name=category]", "youth")
    page.click("button:has-text('Filter')")
    expect(page.locator("a.row-link")).to_have_count(1)
    page.keyboard.press("j")  # keyboard: first row gets focus
    expect(page.locator("a.row-link").first).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server}/ads/{a}")

    mark = page.locator("mark[data-category=youth]").first
    expect(mark).to_have_text("just turned 18")
    expect(page.locator(".catlabel", has_text="youth").first).to_be_visible()
    tip = page.locator("#" + mark.get_attribute("aria-describedby"))
    expect(tip).to_be_hidden()
    mark.focus()  # keyboard focus shows the indicator's description and source
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("stated age of 18 or 19")
    expect(tip).to_contain_text("Source:")
    page.locator("h1").click()
    expect(tip).to_be_hidden()
    mark.hover()  # and so does hovering
    expect(tip).to_be_visible()
    page.mouse.move(0, 0)
    assert PHONE_TEXT not in page.inner_text("#ad-text")

    page.locator("h1").click()  # focus out of the text, then decide with the keyboard
    page.keyboard.press("c")
    page.wait_for_url(f"{server}/ads/{b}")  # the next ad in the queue opens

    page.goto(server + "/queue")
    expect(page.locator(f"a.row-link[href='/ads/{a}']")).to_have_count(0)
    expect(page.locator("a[aria-current=page]")).to_contain_text("new (2)")

    page.goto(server + "/audit?action=decision")
    row = page.locator("#audit-table tbody tr").first
    expect(row).to_contain_text("supervisor")
    expect(row).to_contain_text("decision")
    expect(row).to_contain_text(f"ad {a}")
    expect(row).to_contain_text("reason=indicators_confirmed")

    page.goto(f"{server}/ads/{b}")  # u undoes the last decision: ad a is back in the queue
    page.keyboard.press("u")
    page.wait_for_url(f"{server}/ads/{a}?done=undo")
    expect(page.locator("#review-status")).to_have_text("new")
    page.close()
