"""Browser tests: Debian's chromium, driven by Playwright (sync API), against a real
`ephemail serve` subprocess that receives mail over real SMTP.

One server and one browser serve the whole module set (they are slow to start); every test
opens its own browser context (fresh storage) and uses its own mailbox address.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.support.server import EphemailProcess

# Assertions wait for the page instead of Playwright's 5 s default: with two test
# workers, chromium and the server share 2 cores, and a live arrival once took longer
# than 5 s to paint (what is asserted is unchanged; latency is measured by `make bench`).
expect.set_options(timeout=15_000)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
# How long a UI expectation may take (live updates arrive in milliseconds).
UI_TIMEOUT_MS = 10_000


def chromium_executable() -> str:
    """Debian's chromium; a missing browser is a failure with a clear message, never a skip."""
    path = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    )
    if path is None:
        pytest.fail(
            "chromium is not installed: the browser tests drive Debian's chromium "
            "(`apt-get install chromium`; `make test` installs it when run as root)",
            pytrace=False,
        )
    return path


# Package scope, not session: the sync Playwright driver keeps an event loop running
# in this thread until it stops, and every asyncio test collected after this package
# would fail with "Runner.run() cannot be called from a running event loop".
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(
        executable_path=chromium_executable(), args=CHROMIUM_ARGS, headless=True
    )
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EphemailProcess]:
    """One real `ephemail serve` (SQLite) for all browser tests."""
    process = EphemailProcess(tmp_path_factory.mktemp("browser") / "data")
    process.start()
    try:
        yield process
    finally:
        process.kill()


class Session:
    """A browser context plus the page's uncaught errors (a test fails on any of them)."""

    def __init__(self, context: BrowserContext, base_url: str) -> None:
        self.context = context
        self.base_url = base_url
        self.page_errors: list[str] = []
        self.page = self.new_page()

    def new_page(self) -> Page:
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        return page


def open_session(browser: Browser, server: EphemailProcess, **options: Any) -> Session:
    context = browser.new_context(
        base_url=server.api,
        viewport=options.pop("viewport", DESKTOP),
        color_scheme=options.pop("color_scheme", "light"),
        accept_downloads=True,
        **options,
    )
    context.set_default_timeout(UI_TIMEOUT_MS)
    return Session(context, server.api)


@pytest.fixture
def session(browser: Browser, server: EphemailProcess) -> Iterator[Session]:
    """A fresh desktop browser context (empty localStorage) for one test."""
    opened = open_session(
        browser,
        server,
        permissions=["clipboard-read", "clipboard-write"],
    )
    try:
        yield opened
    finally:
        opened.context.close()
    assert opened.page_errors == [], f"uncaught errors in the page: {opened.page_errors}"


@pytest.fixture
def page(session: Session) -> Page:
    return session.page


@pytest.fixture
def address() -> str:
    """A mailbox of this test's own."""
    return f"ui-{uuid.uuid4().hex[:12]}@example.com"


def wait_for_message(server: EphemailProcess, address: str, subject: str) -> dict[str, Any]:
    """The summary of the message with `subject` once the API lists it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        page = httpx.get(f"{server.api}/api/v1/mailboxes/{address}/messages", timeout=5).json()
        for message in page["messages"]:
            if message["subject"] == subject:
                found: dict[str, Any] = message
                return found
        time.sleep(0.05)
    raise AssertionError(f"{subject!r} never reached {address}")


def open_inbox(page: Page, address: str, *, live: bool = True) -> None:
    """Open the inbox page and wait until the list (and the live connection) is up."""
    page.goto(f"/m/{address}")
    page.locator(".list-meta").filter(has_text="message").wait_for()
    if live:
        page.locator('[data-live-status="live"]').wait_for()


def screenshot_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "docs" / "screenshots"
