"""The Webhooks tab of a mailbox in a real browser (issue 6): add a webhook through the UI,
mail arriving by SMTP reaches a real HTTP receiver on loopback and shows as delivered in the
delivery log; a test send, a failed delivery and its redrive, a refused private URL explained
next to the form, the enabled switch, delete, and the reason a webhook was switched off.

The server is a real `Application` on a background thread (as in test_web_accounts) that
allows webhooks to 127.0.0.1 only (`webhook_allow_networks`), so 10.0.0.1 stays refused. The
receiver is a small HTTP/1.1 server in the same event loop that records every request.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, ViewportSize, expect

from tests.browser import mails
from tests.browser.conftest import DESKTOP, PHONE, UI_TIMEOUT_MS
from tests.browser.test_web_accounts import ThreadedApp

pytestmark = pytest.mark.slow

SECRET = "receiver shared secret"
REASONS = {200: "OK", 204: "No Content", 410: "Gone", 500: "Internal Server Error"}


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the receiver read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    def json(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.body)
        return payload


class Receiver:
    """An HTTP/1.1 endpoint on 127.0.0.1 that records requests and answers each path with
    the status set for it (200 unless told otherwise). Runs in the server's event loop."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.statuses: dict[str, int] = {}
        self._server: asyncio.Server | None = None
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: one connection may carry several requests
                request_line = await reader.readline()
                if not request_line.strip():
                    break
                method, target, _ = request_line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await self._body(reader, headers)
                status = self.statuses.get(target, 200)
                self.requests.append(Received(method, target, headers, body, status))
                writer.write(
                    f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
                    "Content-Length: 0\r\n\r\n".encode("ascii")
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        """The request body: Content-Length, or chunked (RFC 9112 section 7.1)."""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int((await reader.readline()).split(b";")[0].strip(), 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
        length = int(headers.get("content-length", "0"))
        return await reader.readexactly(length) if length else b""

    def posts(self, path: str, event: str | None = None) -> list[Received]:
        found = [r for r in list(self.requests) if r.method == "POST" and r.path == path]
        return [r for r in found if event is None or r.json().get("event") == event]

    def wait_for(
        self, path: str, match: Callable[[Received], bool], timeout: float = 15
    ) -> Received:
        """The first POST to `path` that `match`es, once it has arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for request in self.posts(path):
                if match(request):
                    return request
            time.sleep(0.05)
        raise AssertionError(f"no matching POST reached {path}: {self.posts(path)}")


def _subject_of(request: Received) -> str | None:
    email = request.json().get("email")
    return email.get("subject") if isinstance(email, dict) else None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedApp]:
    """One server for the module; webhooks may reach loopback (the receiver) and no more.
    A failing delivery is retried for one second only, so a test sees it fail."""
    threaded = ThreadedApp(
        tmp_path_factory.mktemp("webhooks") / "data",
        webhook_allow_networks=["127.0.0.1/32"],
        webhook_retry_hours=1 / 3600,
        webhook_backoff_base=0.2,
        webhook_backoff_max=0.5,
    )
    threaded.start()
    try:
        yield threaded
    finally:
        threaded.stop()


@pytest.fixture
def receiver(server: ThreadedApp) -> Iterator[Receiver]:
    endpoint = Receiver()
    server.run(endpoint.start())
    try:
        yield endpoint
    finally:
        server.run(endpoint.stop())


@pytest.fixture
def open_page(browser: Browser, server: ThreadedApp) -> Iterator[Callable[..., Page]]:
    """`open_page(viewport, scheme)` opens a fresh browser context; each is closed and its
    page checked for uncaught errors at the end."""
    opened: list[tuple[Any, list[str]]] = []

    def open_one(viewport: dict[str, int] = DESKTOP, color_scheme: Any = "light") -> Page:
        context = browser.new_context(
            base_url=server.url,
            viewport=ViewportSize(width=viewport["width"], height=viewport["height"]),
            color_scheme=color_scheme,
        )
        context.set_default_timeout(UI_TIMEOUT_MS)
        errors: list[str] = []
        opened.append((context, errors))
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield open_one
    for context, _ in opened:
        context.close()
    errors = [e for _, page_errors in opened for e in page_errors]
    assert errors == [], f"uncaught errors in the page: {errors}"


def _address(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def _card(page: Page, url: str) -> Locator:
    return page.locator("li.webhook").filter(has=page.locator("[data-webhook-url]", has_text=url))


def _log_row(card: Locator, event: str, status: str) -> Locator:
    return card.locator(f'tr.delivery-row[data-status="{status}"]').filter(
        has=card.page.locator("code.delivery-event", has_text=re.compile(f"^{re.escape(event)}$"))
    )


def _api_webhooks(server: ThreadedApp, address: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.url}/api/v1/mailboxes/{address}/webhooks", timeout=5)
    assert answer.status_code == 200, answer.text
    hooks: list[dict[str, Any]] = answer.json()["webhooks"]
    return hooks


def _open_webhooks(page: Page, address: str) -> None:
    page.goto(f"/m/{address}")
    page.locator(".list-meta").filter(has_text="message").wait_for()
    page.locator('[data-action="webhooks"]').click()
    expect(page).to_have_url(re.compile(rf"/m/{re.escape(address)}/webhooks$"))
    expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_focused()


def test_webhook_added_in_the_ui_delivers_mail_tests_and_redrives(
    open_page: Callable[..., Page], server: ThreadedApp, receiver: Receiver
) -> None:
    address = _address("hooked")
    page = open_page()
    _open_webhooks(page, address)
    expect(page.locator(".webhook-empty")).to_contain_text("No webhooks yet")
    form = page.locator("form.webhook-form")

    # A private address the server does not allow is refused, and said so beside the form.
    form.get_by_label("Endpoint URL").fill("http://10.0.0.1/hook")
    form.locator('[data-action="create-webhook"]').click()
    expect(form.locator(".form-error")).to_be_visible()
    expect(form.locator(".form-error")).to_have_attribute("data-code", "invalid_webhook")
    expect(form.locator(".form-error")).to_contain_text("10.0.0.1")
    assert _api_webhooks(server, address) == []

    # The receiver on loopback is allowed: arrival (the default) plus read, with a secret.
    hook_url = receiver.url("/hook")
    form.get_by_label("Endpoint URL").fill(hook_url)
    expect(form.locator(".form-error")).to_be_hidden()
    expect(form.get_by_role("checkbox", name=re.compile("^arrival"))).to_be_checked()
    form.get_by_role("checkbox", name=re.compile("^read")).check()
    form.locator("details.advanced-events > summary").click()
    expect(form.get_by_role("checkbox", name=re.compile(r"^mailbox\.deleted"))).to_be_visible()
    form.get_by_label("Secret (optional)").fill(SECRET)
    assert form.get_by_label("Secret (optional)").get_attribute("type") == "password"
    form.locator('[data-action="create-webhook"]').click()

    card = _card(page, hook_url)
    expect(card).to_be_visible()
    expect(card.locator(".event-chip")).to_have_text(["arrival", "read"])
    expect(card.locator("[data-has-secret]")).to_be_visible()
    expect(card.get_by_role("switch")).to_be_checked()
    expect(form.get_by_label("Endpoint URL")).to_have_value("")
    expect(form.get_by_label("Secret (optional)")).to_have_value("")
    [stored] = _api_webhooks(server, address)
    assert stored["url"] == hook_url and stored["has_secret"] is True
    assert set(stored["events"]) == {"arrival", "read"}

    # Mail arrives by SMTP: the receiver gets a signed arrival, the log shows it delivered.
    mails.send(server.app.smtp_port, mails.plain(address, "Webhook arrival", "code 424242"))
    arrival = receiver.wait_for("/hook", lambda r: _subject_of(r) == "Webhook arrival")
    assert arrival.json()["event"] == "arrival"
    assert arrival.json()["mailbox"] == address
    timestamp = arrival.headers["x-ephemail-timestamp"]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + arrival.body, hashlib.sha256)
    assert arrival.headers["x-ephemail-signature"] == f"sha256={expected.hexdigest()}"

    card.locator('[data-action="webhook-log"]').click()
    expect(card.locator('[data-action="webhook-log"]')).to_have_attribute("aria-expanded", "true")
    expect(_log_row(card, "arrival", "delivered")).to_have_count(1)
    expect(_log_row(card, "arrival", "delivered").locator(".delivery-status")).to_have_text(
        "Delivered"
    )
    expect(_log_row(card, "arrival", "delivered").locator(".delivery-answer")).to_contain_text(
        "HTTP 200"
    )

    # Send test: the result names the status code and the latency.
    card.locator('[data-action="test-webhook"]').click()
    result = card.locator(".test-result")
    expect(result).to_have_attribute("data-result", "delivered")
    expect(result).to_contain_text(re.compile(r"Test delivered: HTTP 200 · [\d.]+ ms"))
    assert receiver.posts("/hook", "test"), "the test event never reached the receiver"
    expect(_log_row(card, "test", "delivered")).to_have_count(1)

    # A failing endpoint: the test says so and is logged as failed (a test is not redriven).
    receiver.statuses["/hook"] = 500
    card.locator('[data-action="test-webhook"]').click()
    expect(result).to_have_attribute("data-result", "failed")
    expect(result).to_contain_text("HTTP 500")
    failed_test = _log_row(card, "test", "failed")
    expect(failed_test).to_have_count(1)
    expect(failed_test.locator(".delivery-answer")).to_contain_text("HTTP 500")
    expect(failed_test.locator('[data-action="redrive"]')).to_have_count(0)
    expect(card.locator('[data-action="redrive-all"]')).to_be_disabled()

    # Two arrivals fail until their (short, in this server) retry window is over; the log
    # shows them failed, newest first. Redrive one, then all failed: both are delivered.
    mails.send(server.app.smtp_port, mails.plain(address, "Bounced first", "a"))
    mails.send(server.app.smtp_port, mails.plain(address, "Bounced second", "b"))
    failed = _log_row(card, "arrival", "failed")
    expect(failed).to_have_count(2)
    expect(failed.first.locator(".delivery-answer")).to_contain_text("HTTP 500")
    expect(card.locator("tr.delivery-row").first).to_have_attribute("data-status", "failed")
    expect(card.locator('[data-action="redrive-all"]')).to_be_enabled()
    receiver.statuses["/hook"] = 200
    failed.first.locator('[data-action="redrive"]').click()
    expect(failed).to_have_count(1)
    card.locator('[data-action="redrive-all"]').click()
    expect(failed).to_have_count(0)
    expect(_log_row(card, "arrival", "delivered")).to_have_count(3)
    expect(card.locator('[data-action="redrive-all"]')).to_be_disabled()
    for subject in ("Bounced first", "Bounced second"):
        answered = [r for r in receiver.posts("/hook") if _subject_of(r) == subject]
        assert answered and answered[-1].status == 200, subject

    # Switched off from the keyboard: nothing is delivered; switched on again: delivered.
    switch = card.get_by_role("switch")
    switch.focus()
    page.keyboard.press("Space")
    expect(switch).not_to_be_checked()
    expect(card).to_have_attribute("data-enabled", "false")
    assert _api_webhooks(server, address)[0]["enabled"] is False
    mails.send(server.app.smtp_port, mails.plain(address, "While switched off", "x"))
    page.keyboard.press("Space")
    expect(switch).to_be_checked()
    expect(card).to_have_attribute("data-enabled", "true")
    assert _api_webhooks(server, address)[0]["enabled"] is True
    mails.send(server.app.smtp_port, mails.plain(address, "Switched on again", "y"))
    receiver.wait_for("/hook", lambda r: _subject_of(r) == "Switched on again")
    assert not [r for r in receiver.posts("/hook") if _subject_of(r) == "While switched off"]

    # Delete asks first; then the webhook is gone here and on the server.
    card.locator('[data-action="delete-webhook"]').click()
    page.locator("dialog[open]").get_by_role("button", name="Cancel").click()
    expect(card).to_be_visible()
    card.locator('[data-action="delete-webhook"]').click()
    page.locator('dialog[open] button[value="yes"]').click()
    expect(card).to_have_count(0)
    expect(page.locator(".webhook-empty")).to_contain_text("No webhooks yet")
    assert _api_webhooks(server, address) == []

    # The URL names the panel: a reload reopens it; Escape goes back to the messages.
    page.reload()
    expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    expect(page.locator(".webhook-empty")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page).to_have_url(re.compile(rf"/m/{re.escape(address)}$"))
    expect(page.locator(".webhooks-pane")).to_be_hidden()
    expect(page.locator("a.row").filter(has_text="Webhook arrival")).to_be_visible()


def test_a_webhook_switched_off_by_the_server_shows_why_on_a_phone_in_dark_mode(
    open_page: Callable[..., Page], server: ThreadedApp, receiver: Receiver
) -> None:
    address = _address("gone")
    gone_url = receiver.url("/gone")
    receiver.statuses["/gone"] = 410
    created = httpx.post(
        f"{server.url}/api/v1/mailboxes/{address}/webhooks",
        json={"url": gone_url, "events": ["arrival", "message.deleted"]},
        timeout=5,
    )
    assert created.status_code == 201, created.text

    page = open_page(PHONE, "dark")
    page.goto(f"/m/{address}/webhooks")
    card = _card(page, gone_url)
    expect(card).to_be_visible()
    expect(card.locator(".event-chip")).to_have_text(["arrival", "message.deleted"])
    expect(card.locator("[data-has-secret]")).to_have_count(0)
    expect(card.get_by_role("switch")).to_be_checked()
    # The panel takes the whole phone screen: the message list waits behind it.
    expect(page.locator(".list-pane")).to_be_hidden()

    # 410 Gone switches the webhook off; the open panel shows it, with the reason.
    mails.send(server.app.smtp_port, mails.plain(address, "To a gone endpoint", "z"))
    receiver.wait_for("/gone", lambda r: _subject_of(r) == "To a gone endpoint")
    notice = card.locator("[data-disabled-reason]")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Disabled:")
    expect(card.get_by_role("switch")).not_to_be_checked()
    [stored] = _api_webhooks(server, address)
    assert stored["enabled"] is False and stored["disabled_reason"]
    expect(notice).to_contain_text(stored["disabled_reason"])

    # Dark theme colours, and nothing wider than the phone.
    background = card.evaluate("el => getComputedStyle(el.closest('.card')).backgroundColor")
    assert background == "rgb(21, 24, 33)", background
    width = page.evaluate("() => document.querySelector('.webhooks-pane').scrollWidth")
    assert width <= PHONE["width"], width

    # The close button goes back to the list.
    page.locator('[data-action="close-webhooks"]').click()
    expect(page).to_have_url(re.compile(rf"/m/{re.escape(address)}$"))
    expect(page.locator(".list-pane")).to_be_visible()
    expect(page.locator('[data-action="webhooks"]')).to_be_focused()


def test_refused_urls_and_a_missing_event_are_explained_beside_the_form(
    open_page: Callable[..., Page], server: ThreadedApp
) -> None:
    """Private and link-local targets (cloud metadata) are refused with the server's reason;
    a URL that is not http(s) too; nothing is stored."""
    address = _address("refused")
    page = open_page()
    _open_webhooks(page, address)
    form = page.locator("form.webhook-form")
    error = form.locator(".form-error")
    for url in ("http://169.254.169.254/latest/meta-data", "ftp://127.0.0.1/x"):
        form.get_by_label("Endpoint URL").fill(url)
        form.locator('[data-action="create-webhook"]').click()
        expect(error).to_be_visible()
        expect(error).to_have_attribute("data-code", "invalid_webhook")
        expect(error).not_to_be_empty()
        expect(form.get_by_label("Endpoint URL")).to_be_focused()
    # No event chosen: said before asking the server.
    form.get_by_label("Endpoint URL").fill("http://127.0.0.1:9/x")
    form.get_by_role("checkbox", name=re.compile("^arrival")).uncheck()
    form.locator('[data-action="create-webhook"]').click()
    expect(error).to_have_text("Choose at least one event.")
    assert _api_webhooks(server, address) == []
