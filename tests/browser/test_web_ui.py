"""The web UI in a real browser: live inbox, message view, hostile mail, downloads, search,
delete, keyboard, phone screen, theme."""

from __future__ import annotations

import os
import re
import smtplib
import struct
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute, expect

from tests.browser import mails
from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    Session,
    open_inbox,
    open_session,
    wait_for_message,
)
from tests.browser.screenshots import FILES, capture
from tests.support.server import EphemailProcess

pytestmark = pytest.mark.slow


def _row(page: Page, subject: str):  # type: ignore[no-untyped-def]
    return page.locator("a.row").filter(has_text=subject)


def _mark_no_reload(page: Page) -> None:
    page.evaluate("window.__sameDocument = true")


def _assert_no_reload(page: Page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"


def test_mail_sent_over_smtp_appears_in_the_open_inbox_without_reload(
    page: Page, server: EphemailProcess, address: str
) -> None:
    open_inbox(page, address)
    expect(page.get_by_text("Waiting for mail")).to_be_visible()
    _mark_no_reload(page)

    mails.send(server.smtp_port, mails.plain(address, "Live arrival", "hello"), to=address)

    row = _row(page, "Live arrival")
    expect(row).to_be_visible()
    expect(row).to_have_class(re.compile(r"\bunread\b"))
    expect(page.locator(".row-item.arrived")).to_have_count(1)
    expect(page.locator(".list-meta")).to_contain_text("1 message")
    expect(page).to_have_title(re.compile(r"^\(1\) "))
    _assert_no_reload(page)


def test_opening_a_message_shows_its_html_in_a_sandboxed_iframe_and_marks_it_read(
    page: Page, server: EphemailProcess, address: str
) -> None:
    subject = "Your Nimbus verification code: 482913"
    mails.send(
        server.smtp_port,
        mails.html_mail(address, subject, mails.VERIFY_HTML, text="Your code is 482913"),
        to=address,
    )
    summary = wait_for_message(server, address, subject)
    open_inbox(page, address)

    _row(page, subject).click()

    expect(page).to_have_url(re.compile(rf"/m/{re.escape(address)}/{summary['id']}$"))
    expect(page.locator(".reader-subject")).to_have_text(subject)
    frame = page.locator("iframe.html-frame")
    expect(frame).to_have_attribute("src", f"/api/v1/messages/{summary['id']}/html")
    sandbox = frame.get_attribute("sandbox")
    assert sandbox is not None
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox
    inside = page.frame_locator("iframe.html-frame")
    expect(inside.get_by_role("heading", name="Confirm your email address")).to_be_visible()
    # Opening marks it read, in the list and on the server.
    expect(_row(page, subject)).not_to_have_class(re.compile(r"\bunread\b"))
    detail = httpx.get(f"{server.api}/api/v1/messages/{summary['id']}", timeout=5).json()
    assert detail["seen"] is True
    # The code found in the mail is offered with a copy button.
    expect(page.locator(".code-value")).to_have_text("482913")
    page.locator(".code-card .copy-btn").click()
    expect(page.locator(".toast").filter(has_text="Code copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == "482913"


HOSTILE_HTML = """\
<html><head><script>
document.documentElement.setAttribute('data-script-ran', '1');
try { window.parent.document.title = 'pwned'; } catch (e) {}
try { top.pwned = 1; } catch (e) {}
try { localStorage.setItem('pwned', '1'); } catch (e) {}
try { parent.localStorage.setItem('pwned', '1'); } catch (e) {}
</script></head>
<body>
<p id="marker">Hostile content</p>
<img src="x" onerror="document.documentElement.setAttribute('data-onerror-ran', '1');
  top.pwned = 2; parent.document.title = 'pwned'">
<svg onload="top.pwned = 3"></svg>
<a href="javascript:top.pwned=4" id="js-link">click</a>
</body></html>
"""


def test_script_and_event_handlers_in_a_mail_never_run_in_the_app_origin(
    page: Page, server: EphemailProcess, address: str
) -> None:
    hostile_subject = "<img src=x onerror=\"top.pwned='subject'\"> Free prize"
    mails.send(
        server.smtp_port,
        mails.html_mail(
            address,
            hostile_subject,
            HOSTILE_HTML,
            text="<script>top.pwned='text'</script>",
            sender='"<b onmouseover=top.pwned=5>Evil</b>" <evil@attacker.example>',
        ),
        to=address,
    )
    wait_for_message(server, address, hostile_subject)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_inbox(page, address)
    title_before = page.title()

    row = _row(page, "Free prize")
    # Markup in a subject or sender is shown as text, never parsed.
    expect(row.locator(".row-subject")).to_have_text(hostile_subject)
    expect(row.locator(".row-from")).to_have_text("<b onmouseover=top.pwned=5>Evil</b>")
    row.hover()
    row.click()

    inside = page.frame_locator("iframe.html-frame")
    expect(inside.locator("#marker")).to_have_text("Hostile content")
    inside.locator("#js-link").click()
    page.locator('.tab[data-tab="text"]').click()
    expect(page.locator(".text-body")).to_contain_text("<script>top.pwned='text'</script>")
    page.locator('.tab[data-tab="html"]').click()
    expect(inside.locator("#marker")).to_be_visible()
    page.wait_for_timeout(300)

    frame = page.locator("iframe.html-frame")
    sandbox = frame.get_attribute("sandbox") or ""
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox
    assert "pwned" not in page.title()
    assert page.title().endswith(title_before.split(") ", 1)[-1])
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.evaluate("localStorage.getItem('pwned')") is None
    assert page.evaluate("document.querySelector('img[src=\"x\"]')") is None
    assert dialogs == []
    # Not even inside the frame did the mail's script or handlers run.
    html_element = inside.locator("html")
    expect(html_element).not_to_have_attribute("data-script-ran", "1")
    expect(html_element).not_to_have_attribute("data-onerror-ran", "1")


def test_attachment_download_gives_the_original_bytes(
    page: Page, server: EphemailProcess, address: str
) -> None:
    payload = os.urandom(48_000) + b"\r\n.\r\nend"
    subject = "Quarterly numbers"
    mails.send(
        server.smtp_port,
        mails.with_attachment(address, subject, payload, "numbers Q3.bin"),
        to=address,
    )
    wait_for_message(server, address, subject)
    open_inbox(page, address)
    expect(_row(page, subject).locator(".row-clip")).to_be_visible()
    _row(page, subject).click()

    chip = page.locator("a.chip.attachment")
    expect(chip).to_contain_text("numbers Q3.bin")
    with page.expect_download() as download_info:
        chip.click()
    download = download_info.value
    assert download.suggested_filename == "numbers Q3.bin"
    path = download.path()
    assert path.read_bytes() == payload


def test_search_finds_a_message(page: Page, server: EphemailProcess, address: str) -> None:
    for subject, body in [
        ("Invoice for March", "amount due: 42 EUR"),
        ("Team lunch on Friday", "pizza or sushi?"),
        ("Invoice for April", "amount due: 17 EUR"),
    ]:
        mails.send(server.smtp_port, mails.plain(address, subject, body), to=address)
    wait_for_message(server, address, "Invoice for April")
    open_inbox(page, address)
    expect(page.locator("a.row")).to_have_count(3)

    page.keyboard.press("/")
    expect(page.locator(".search-input")).to_be_focused()
    page.keyboard.type("sushi")
    page.keyboard.press("Enter")

    expect(page.locator("a.row")).to_have_count(1)
    expect(_row(page, "Team lunch on Friday")).to_be_visible()
    expect(page).to_have_url(re.compile(r"\?q=sushi$"))
    expect(page.locator(".list-meta")).to_contain_text("1 match")

    page.locator(".search-input").fill('subject:invoice -"April"')
    page.locator(".search-input").press("Enter")
    expect(page.locator("a.row")).to_have_count(1)
    expect(_row(page, "Invoice for March")).to_be_visible()

    page.locator(".list-meta").get_by_role("button", name="Clear search").click()
    expect(page.locator("a.row")).to_have_count(3)


def test_a_message_deleted_through_the_api_disappears_live(
    page: Page, server: EphemailProcess, address: str
) -> None:
    mails.send(server.smtp_port, mails.plain(address, "Keep me", "."), to=address)
    mails.send(server.smtp_port, mails.plain(address, "Delete me", "."), to=address)
    doomed = wait_for_message(server, address, "Delete me")
    wait_for_message(server, address, "Keep me")
    open_inbox(page, address)
    expect(page.locator("a.row")).to_have_count(2)
    _mark_no_reload(page)

    response = httpx.delete(f"{server.api}/api/v1/messages/{doomed['id']}", timeout=5)
    assert response.status_code == 204

    expect(_row(page, "Delete me")).to_have_count(0)
    expect(_row(page, "Keep me")).to_be_visible()
    expect(page.locator(".list-meta")).to_contain_text("1 message")
    _assert_no_reload(page)


def test_an_open_message_deleted_elsewhere_says_so(
    page: Page, server: EphemailProcess, address: str
) -> None:
    mails.send(server.smtp_port, mails.plain(address, "Reading this", "."), to=address)
    summary = wait_for_message(server, address, "Reading this")
    open_inbox(page, address)
    _row(page, "Reading this").click()
    expect(page.locator(".reader-subject")).to_have_text("Reading this")

    httpx.delete(f"{server.api}/api/v1/messages/{summary['id']}", timeout=5)

    expect(page.get_by_role("heading", name="This message was deleted")).to_be_visible()
    expect(page.locator("a.row")).to_have_count(0)


def test_older_pages_load_on_scroll(page: Page, server: EphemailProcess, address: str) -> None:
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        for n in range(55):
            smtp.send_message(
                mails.plain(address, f"Bulk message {n:02d}", "."), to_addrs=[address]
            )
    wait_for_message(server, address, "Bulk message 54")
    open_inbox(page, address)
    rows = page.locator("a.row")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("Bulk message 54")

    page.locator(".list-footer").scroll_into_view_if_needed()

    expect(rows).to_have_count(55)
    expect(rows.last).to_contain_text("Bulk message 00")
    expect(page.locator(".load-more")).to_have_count(0)
    expect(page.locator(".list-meta")).to_contain_text("55 messages")


def test_a_dropped_connection_resumes_after_the_last_event(
    page: Page, server: EphemailProcess, address: str
) -> None:
    """The client reconnects by itself and asks for what it missed (`after=<last id>`)."""
    sockets: list[WebSocketRoute] = []

    def through(route: WebSocketRoute) -> None:
        sockets.append(route)
        route.connect_to_server()

    page.route_web_socket(re.compile(r"/api/v1/events\?"), through)
    open_inbox(page, address)
    mails.send(server.smtp_port, mails.plain(address, "Before the drop", "."), to=address)
    expect(_row(page, "Before the drop")).to_be_visible()
    _mark_no_reload(page)

    sockets[0].close(code=1011, reason="network trouble")
    expect(page.locator('[data-live-status="connecting"]')).to_be_visible()
    mails.send(server.smtp_port, mails.plain(address, "While away", "."), to=address)

    expect(_row(page, "While away")).to_be_visible()
    expect(page.locator('[data-live-status="live"]')).to_be_visible()
    assert len(sockets) == 2
    assert "after=" in sockets[1].url
    assert "after=" not in sockets[0].url
    _assert_no_reload(page)


def test_the_delete_button_removes_the_open_message(
    page: Page, server: EphemailProcess, address: str
) -> None:
    mails.send(server.smtp_port, mails.plain(address, "Old news", "."), to=address)
    summary = wait_for_message(server, address, "Old news")
    open_inbox(page, address)
    _row(page, "Old news").click()
    expect(page.locator(".reader-subject")).to_have_text("Old news")

    page.locator('[data-action="delete"]').click()

    expect(_row(page, "Old news")).to_have_count(0)
    expect(page).to_have_url(re.compile(rf"/m/{re.escape(address)}$"))
    expect(page.locator(".toast").filter(has_text="Message deleted")).to_be_visible()
    expect(page.get_by_text("Waiting for mail")).to_be_visible()
    gone = httpx.get(f"{server.api}/api/v1/messages/{summary['id']}", timeout=5)
    assert gone.status_code == 404


def test_delete_all_asks_first(page: Page, server: EphemailProcess, address: str) -> None:
    for n in range(3):
        mails.send(server.smtp_port, mails.plain(address, f"Bulk {n}", "."), to=address)
    wait_for_message(server, address, "Bulk 2")
    open_inbox(page, address)
    expect(page.locator("a.row")).to_have_count(3)

    page.locator('[data-action="delete-all"]').click()
    dialog = page.locator("dialog.dialog[open]")
    expect(dialog).to_contain_text("deletes all 3 messages")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator("a.row")).to_have_count(3)

    page.locator('[data-action="delete-all"]').click()
    page.locator("dialog.dialog[open]").get_by_role("button", name="Delete all").click()
    expect(page.get_by_text("Waiting for mail")).to_be_visible()
    listing = httpx.get(f"{server.api}/api/v1/mailboxes/{address}/messages", timeout=5).json()
    assert listing["total"] == 0


def test_keyboard_navigation(page: Page, server: EphemailProcess, address: str) -> None:
    for subject in ("First", "Second", "Third"):
        mails.send(
            server.smtp_port, mails.plain(address, subject, f"body of {subject}"), to=address
        )
    wait_for_message(server, address, "Third")
    open_inbox(page, address)
    rows = page.locator("a.row")
    expect(rows).to_have_count(3)  # newest first: Third, Second, First

    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bcursor\b"))
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bcursor\b"))
    page.keyboard.press("ArrowDown")
    expect(rows.nth(2)).to_have_class(re.compile(r"\bcursor\b"))
    page.keyboard.press("k")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bcursor\b"))
    page.keyboard.press("Enter")
    expect(page.locator(".reader-subject")).to_have_text("Second")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bopen\b"))
    expect(rows.nth(1)).not_to_have_class(re.compile(r"\bunread\b"))

    page.keyboard.press("r")  # back to unread
    expect(rows.nth(1)).to_have_class(re.compile(r"\bunread\b"))
    page.keyboard.press("r")
    expect(rows.nth(1)).not_to_have_class(re.compile(r"\bunread\b"))

    page.keyboard.press("Escape")
    expect(page).to_have_url(re.compile(rf"/m/{re.escape(address)}$"))
    page.keyboard.press("o")
    expect(page.locator(".reader-subject")).to_have_text("Second")

    page.keyboard.press("#")
    expect(rows).to_have_count(2)
    expect(_row(page, "Second")).to_have_count(0)

    page.keyboard.press("?")
    help_dialog = page.locator("dialog[data-help][open]")
    expect(help_dialog).to_contain_text("Keyboard shortcuts")
    page.keyboard.press("Escape")
    expect(help_dialog).to_have_count(0)


def test_read_state_changes_elsewhere_show_live(
    page: Page, server: EphemailProcess, address: str
) -> None:
    mails.send(server.smtp_port, mails.plain(address, "Flip me", "."), to=address)
    summary = wait_for_message(server, address, "Flip me")
    open_inbox(page, address)
    row = _row(page, "Flip me")
    expect(row).to_have_class(re.compile(r"\bunread\b"))

    url = f"{server.api}/api/v1/messages/{summary['id']}"
    assert httpx.patch(url, json={"seen": True}, timeout=5).status_code == 200
    expect(row).not_to_have_class(re.compile(r"\bunread\b"))
    expect(page.locator(".meta-unread")).to_have_count(0)
    assert httpx.patch(url, json={"seen": False}, timeout=5).status_code == 200
    expect(row).to_have_class(re.compile(r"\bunread\b"))
    expect(page.locator(".meta-unread")).to_have_text("1 unread")


def test_remote_images_stay_blocked_until_asked(
    page: Page, server: EphemailProcess, address: str
) -> None:
    subject = "This week: bakeries"
    mails.send(
        server.smtp_port, mails.html_mail(address, subject, mails.NEWSLETTER_HTML), to=address
    )
    summary = wait_for_message(server, address, subject)
    open_inbox(page, address)
    _row(page, subject).click()

    banner = page.locator(".banner")
    expect(banner).to_contain_text("Remote images blocked")
    frame = page.locator("iframe.html-frame")
    expect(frame).to_have_attribute("src", f"/api/v1/messages/{summary['id']}/html")
    banner.get_by_role("button", name="Show images").click()
    expect(frame).to_have_attribute("src", f"/api/v1/messages/{summary['id']}/html?remote=1")
    expect(banner).to_have_count(0)


def test_headers_and_source_tabs(page: Page, server: EphemailProcess, address: str) -> None:
    mails.send(server.smtp_port, mails.plain(address, "Tabs", "plain body"), to=address)
    wait_for_message(server, address, "Tabs")
    open_inbox(page, address)
    _row(page, "Tabs").click()

    page.locator('.tab[data-tab="headers"]').click()
    table = page.locator(".headers-table")
    expect(table.locator("tr").filter(has_text="Subject")).to_contain_text("Tabs")
    page.locator('.tab[data-tab="source"]').click()
    expect(page.locator(".source-body")).to_contain_text("Subject: Tabs")
    expect(page.locator(".source-body")).to_contain_text("plain body")


def test_home_generates_an_address_and_remembers_it(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Disposable inboxes, instantly")).to_be_visible()
    expect(page.locator(".domain-select")).to_be_visible()

    page.locator('[data-action="generate"]').click()
    expect(page).to_have_url(re.compile(r"/m/[^/]+%40[^/]+$|/m/[^/]+@[^/]+$"))
    address = page.locator(".address-text").inner_text()
    assert "@" in address
    expect(page.get_by_text("Waiting for mail")).to_be_visible()
    expect(page.locator(".toast").filter(has_text="New address ready and copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == address

    page.locator(".brand").click()
    expect(page.locator(".recent-address")).to_have_text([address])
    page.locator("#address-input").fill("someone.else")
    page.locator("#address-input").press("Enter")
    expect(page.locator(".address-text")).to_have_text(re.compile(r"^someone\.else@"))


def test_theme_toggle_is_remembered(browser: Browser, server: EphemailProcess) -> None:
    dark_session = open_session(browser, server, color_scheme="dark")
    try:
        page = dark_session.page
        page.goto("/")
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        page.locator('[data-action="theme"]').click()
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        assert page.evaluate("localStorage.getItem('ephemail.theme')") == "light"
        page.reload()
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        expect(page.locator("#address-input")).to_be_focused()
        page.keyboard.press("Escape")  # leave the address field: shortcuts work outside it
        page.keyboard.press("t")
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        assert dark_session.page_errors == []
    finally:
        dark_session.context.close()


def test_phone_viewport(browser: Browser, server: EphemailProcess, address: str) -> None:
    mails.send(
        server.smtp_port,
        mails.html_mail(address, "Small screen", mails.VERIFY_HTML, text="482913"),
        to=address,
    )
    wait_for_message(server, address, "Small screen")
    phone: Session = open_session(browser, server, viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = phone.page
        open_inbox(page, address)
        reader = page.locator(".reader-pane")
        expect(reader).to_be_hidden()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        _row(page, "Small screen").tap()
        expect(page.locator(".list-pane")).to_be_hidden()
        expect(page.locator(".reader-subject")).to_have_text("Small screen")
        expect(page.frame_locator("iframe.html-frame").get_by_text("482913").first).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        page.locator(".reader-back").tap()
        expect(page.locator(".list-pane")).to_be_visible()
        expect(reader).to_be_hidden()
        assert phone.page_errors == []
    finally:
        phone.context.close()


def test_the_screenshot_script_still_works(
    browser: Browser, server: EphemailProcess, tmp_path: Path
) -> None:
    """tests/browser/screenshots.py makes the README images; keep it from rotting."""
    written = capture(browser, server, tmp_path)
    assert sorted(p.name for p in written) == sorted(FILES)
    for path in written:
        header = path.read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", header[16:24])
        expected = PHONE if path.name == "mobile.png" else DESKTOP
        assert (width, height) == (expected["width"], expected["height"])
