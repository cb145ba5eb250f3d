"""The web UI and IMAP folders: a real IMAP client (Python's imaplib against the server's
IMAP port) creates folders and appends or moves mail; the browser must show one folder at a
time, follow moves live, offer a folder switcher with counts, and keep the folder on reload."""

from __future__ import annotations

import imaplib
import re
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from email.message import EmailMessage
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser import mails
from tests.browser.conftest import PHONE, open_inbox, open_session, wait_for_message
from tests.support.server import EphemailProcess

pytestmark = pytest.mark.slow


def _row(page: Page, subject: str) -> Locator:
    return page.locator("a.row").filter(has_text=subject)


def _folder_item(page: Page, name: str) -> Locator:
    return page.locator(f'.folder-menu a.folder-item[data-folder="{name}"]')


def _wait_for_imap(server: EphemailProcess) -> None:
    """The shared server is started without waiting for IMAP; wait for its greeting here."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", server.imap_port), timeout=2) as s:
                if s.recv(512).startswith(b"* OK"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("the IMAP server never greeted")


@contextmanager
def imap_client(server: EphemailProcess, address: str) -> Iterator[imaplib.IMAP4]:
    """A logged-in IMAP session on `address` (open dev mode: any password opens a public
    mailbox; the mailbox exists once mail has reached it)."""
    _wait_for_imap(server)
    client = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=10)
    try:
        status, _ = client.login(address, "any-password")
        assert status == "OK"
        yield client
    finally:
        with suppress(imaplib.IMAP4.error, OSError):
            client.logout()


def _ok(result: tuple[str, Sequence[object]]) -> None:
    assert result[0] == "OK", result


def _create(client: imaplib.IMAP4, *names: str) -> None:
    for name in names:
        # imaplib sends names as they are: a name with spaces must be a quoted string.
        _ok(client.create(f'"{name}"' if " " in name else name))


def _append(client: imaplib.IMAP4, folder: str, message: EmailMessage, *, seen: bool) -> None:
    _ok(client.append(folder, r"(\Seen)" if seen else None, None, message.as_bytes()))


def _move(client: imaplib.IMAP4, uid: int, folder: str) -> None:
    """RFC 6851 UID MOVE out of INBOX."""
    _ok(client.select("INBOX"))
    _ok(client.uid("MOVE", str(uid), folder))
    _ok(client.unselect())


def _deliver(server: EphemailProcess, address: str, subject: str) -> dict[str, object]:
    mails.send(server.smtp_port, mails.plain(address, subject, "body"), to=address)
    return wait_for_message(server, address, subject)


def test_an_append_to_sent_never_shows_in_the_inbox(
    page: Page, server: EphemailProcess, address: str
) -> None:
    _deliver(server, address, "First arrival")
    open_inbox(page, address)
    expect(_row(page, "First arrival")).to_be_visible()
    # INBOX is the only folder: no switcher.
    expect(page.locator(".folder-bar")).to_be_hidden()

    with imap_client(server, address) as client:
        _create(client, "Sent")
        _append(client, "Sent", mails.plain("friend@example.org", "My sent copy", "hi"), seen=True)
    # A later delivery to INBOX: once it shows, the Sent event has been handled too.
    mails.send(server.smtp_port, mails.plain(address, "Second arrival", "."), to=address)
    expect(_row(page, "Second arrival")).to_be_visible()
    expect(_row(page, "My sent copy")).to_have_count(0)
    expect(page.locator(".list-meta")).to_contain_text("2 messages")
    expect(page.locator(".list-meta")).to_contain_text("2 unread")

    # The switcher appears (counts refreshed on the events) and Sent holds the copy, read.
    expect(page.locator(".folder-bar")).to_be_visible()
    page.locator(".folder-button").click()
    sent = _folder_item(page, "Sent")
    expect(sent).to_have_attribute("data-special-use", "\\Sent")
    expect(sent.locator(".folder-count")).to_have_count(0)
    expect(_folder_item(page, "INBOX").locator(".folder-count")).to_have_text("2")
    sent.click()
    expect(page).to_have_url(re.compile(r"\?folder=Sent$"))
    row = _row(page, "My sent copy")
    expect(row).to_be_visible()
    expect(row).not_to_have_class(re.compile(r"\bunread\b"))
    expect(_row(page, "First arrival")).to_have_count(0)


def test_a_move_to_archive_leaves_the_inbox_live_and_shows_in_archive_after_reload(
    page: Page, server: EphemailProcess, address: str
) -> None:
    moved = _deliver(server, address, "File me away")
    _deliver(server, address, "Stays in the inbox")
    later = _deliver(server, address, "Archived later")
    with imap_client(server, address) as client:
        _create(client, "Archive")
    open_inbox(page, address)
    expect(page.locator("a.row")).to_have_count(3)
    page.evaluate("window.__sameDocument = true")

    with imap_client(server, address) as client:
        _move(client, int(str(moved["uid"])), "Archive")
    expect(_row(page, "File me away")).to_have_count(0)
    expect(_row(page, "Stays in the inbox")).to_be_visible()
    expect(page.locator(".list-meta")).to_contain_text("2 messages")

    # The switcher's counts follow: Archive now has one unread message.
    button = page.locator(".folder-button")
    button.click()
    archive = _folder_item(page, "Archive")
    expect(archive.locator(".folder-count")).to_have_text("1")
    expect(archive).to_have_attribute("data-special-use", "\\Archive")
    expect(_folder_item(page, "INBOX").locator(".folder-count")).to_have_text("2")
    archive.click()
    expect(page.locator(".folder-menu")).to_be_hidden()
    expect(page).to_have_url(re.compile(r"/m/[^?]+\?folder=Archive$"))
    expect(_row(page, "File me away")).to_be_visible()
    expect(_row(page, "Stays in the inbox")).to_have_count(0)
    expect(button).to_contain_text("Archive")
    expect(page).to_have_title(re.compile(r"Archive · "))

    # A move INTO the folder shown adds the row live.
    with imap_client(server, address) as client:
        _move(client, int(str(later["uid"])), "Archive")
    expect(_row(page, "Archived later")).to_be_visible()
    expect(page.locator(".list-meta")).to_contain_text("2 messages")
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"

    # Opening a message keeps the folder in the URL; a reload keeps both.
    _row(page, "File me away").click()
    expect(page.locator(".reader-subject")).to_have_text("File me away")
    expect(page).to_have_url(re.compile(r"\?folder=Archive$"))
    page.reload()
    expect(page.locator(".reader-subject")).to_have_text("File me away")
    expect(_row(page, "Archived later")).to_be_visible()
    expect(_row(page, "Stays in the inbox")).to_have_count(0)
    expect(page.locator(".folder-button")).to_contain_text("Archive")

    # Back to the inbox through the switcher.
    page.locator(".folder-button").click()
    _folder_item(page, "INBOX").click()
    expect(_row(page, "Stays in the inbox")).to_be_visible()
    expect(page).not_to_have_url(re.compile(r"folder="))


def test_an_open_message_moved_elsewhere_says_where_it_went(
    page: Page, server: EphemailProcess, address: str
) -> None:
    summary = _deliver(server, address, "Reading then moved")
    with imap_client(server, address) as client:
        _create(client, "Archive")
    open_inbox(page, address)
    _row(page, "Reading then moved").click()
    expect(page.locator(".reader-subject")).to_have_text("Reading then moved")

    with imap_client(server, address) as client:
        _move(client, int(str(summary["uid"])), "Archive")
    expect(page.get_by_text("This message was moved")).to_be_visible()
    page.get_by_role("link", name="Open it in Archive").click()
    expect(page).to_have_url(re.compile(r"\?folder=Archive$"))
    expect(page.locator(".reader-subject")).to_have_text("Reading then moved")
    expect(_row(page, "Reading then moved")).to_be_visible()


def test_the_switcher_nests_folders_counts_live_and_works_from_the_keyboard(
    page: Page, server: EphemailProcess, address: str
) -> None:
    _deliver(server, address, "Inbox mail")
    with imap_client(server, address) as client:
        _create(client, "Work", "Work/Projects", "Drafts", "Trash", "Junk")
        _append(client, "Work/Projects", mails.plain(address, "Project plan", "."), seen=False)
        _append(client, "Work/Projects", mails.plain(address, "Old project", "."), seen=True)
    open_inbox(page, address)
    expect(page.locator(".folder-bar")).to_be_visible()

    page.keyboard.press("f")
    menu = page.locator(".folder-menu")
    expect(menu).to_be_visible()
    expect(page.locator(".folder-button")).to_have_attribute("aria-expanded", "true")
    expect(_folder_item(page, "INBOX")).to_be_focused()
    expect(_folder_item(page, "INBOX")).to_have_attribute("aria-current", "page")
    # INBOX first, then a tree: each parent right before its children.
    names = menu.locator("a.folder-item").evaluate_all("items => items.map(a => a.dataset.folder)")
    assert names == ["INBOX", "Drafts", "Junk", "Trash", "Work", "Work/Projects"], names
    for name, use in [("Drafts", "\\Drafts"), ("Junk", "\\Junk"), ("Trash", "\\Trash")]:
        expect(_folder_item(page, name)).to_have_attribute("data-special-use", use)
    child = _folder_item(page, "Work/Projects")
    expect(child.locator(".folder-name")).to_have_text("Projects")
    expect(child.locator(".folder-count")).to_have_text("1")
    # Nested names are indented by level (read in one go: a count refresh may repaint).
    indents = menu.evaluate(
        """m => ["Work", "Work/Projects"].map(name => parseFloat(getComputedStyle(
            [...m.querySelectorAll("a.folder-item")].find(a => a.dataset.folder === name)
        ).paddingLeft))"""
    )
    assert indents[1] > indents[0] > 0, indents

    # Counts refresh on events (an APPEND elsewhere), while the menu is open.
    with imap_client(server, address) as client:
        _append(client, "Work/Projects", mails.plain(address, "Another plan", "."), seen=False)
    expect(child.locator(".folder-count")).to_have_text("2")

    # Escape closes the menu and gives the focus back to the button.
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(page.locator(".folder-button")).to_be_focused()

    # Arrow keys walk the menu; Enter follows the link.
    page.keyboard.press("ArrowDown")
    expect(_folder_item(page, "INBOX")).to_be_focused()
    page.keyboard.press("End")
    expect(child).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(_folder_item(page, "Work")).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"\?folder=" + re.escape(quote("Work/Projects", safe=""))))
    expect(page.locator("a.row")).to_have_count(3)
    expect(_row(page, "Project plan")).to_have_class(re.compile(r"\bunread\b"))
    expect(_row(page, "Old project")).not_to_have_class(re.compile(r"\bunread\b"))
    expect(page.locator(".list-meta")).to_contain_text("2 unread")
    # A delivery to INBOX does not show in this folder.
    mails.send(server.smtp_port, mails.plain(address, "Meanwhile in the inbox", "."), to=address)
    expect(_folder_item(page, "INBOX").locator(".folder-count")).to_have_text("2")
    expect(_row(page, "Meanwhile in the inbox")).to_have_count(0)

    # An empty folder says so.
    page.goto(f"/m/{address}?folder=Trash")
    expect(page.get_by_text("Trash is empty")).to_be_visible()


def test_the_switcher_on_a_phone_in_dark_mode(
    browser: Browser, server: EphemailProcess, address: str
) -> None:
    moved = _deliver(server, address, "Pocket archive")
    _deliver(server, address, "Pocket inbox")
    with imap_client(server, address) as client:
        _create(client, "Archive", "Clients/Very long client folder name/Projects of 2026")
        _move(client, int(str(moved["uid"])), "Archive")
    phone = open_session(
        browser, server, viewport=PHONE, is_mobile=True, has_touch=True, color_scheme="dark"
    )
    try:
        page = phone.page
        open_inbox(page, address)
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        button = page.locator(".folder-button")
        expect(button).to_be_visible()
        button.tap()
        menu = page.locator(".folder-menu")
        expect(menu).to_be_visible()
        # Dark surfaces, and nothing wider than the screen.
        background = menu.evaluate("m => getComputedStyle(m).backgroundColor")
        assert background == "rgb(21, 24, 33)", background
        box = menu.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        deep = _folder_item(page, "Clients/Very long client folder name/Projects of 2026")
        expect(deep).to_have_attribute("data-depth", "2")
        deep_box = deep.bounding_box()
        assert deep_box is not None and deep_box["x"] + deep_box["width"] <= PHONE["width"]

        _folder_item(page, "Archive").tap()
        expect(_row(page, "Pocket archive")).to_be_visible()
        expect(_row(page, "Pocket inbox")).to_have_count(0)
        assert phone.page_errors == []
    finally:
        phone.context.close()
