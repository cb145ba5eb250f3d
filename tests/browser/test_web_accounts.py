"""The account pages of the web UI in a real browser (issue 5): sign in and register, tokens
shown once and usable as bearer tokens, owned mailboxes receiving mail live, the admin pages
(admins only), and claiming a public mailbox with a password.

The server is a real `Application` running in its own asyncio loop on a background thread
(real HTTP, SMTP and SQLite), so a test can create accounts directly through
`app.accounts.add_account(...)` and read the store to check what the UI did.
"""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, ViewportSize, expect

from ephemail.app import Application
from ephemail.domain.accounts import Role
from ephemail.settings import load_settings
from tests.browser import mails
from tests.browser.conftest import DESKTOP, PHONE, UI_TIMEOUT_MS

pytestmark = pytest.mark.slow

T = TypeVar("T")
SHARED_DOMAIN = "accounts.test"
PASSWORD = "correct horse battery"


class ThreadedApp:
    """An `Application` started in an event loop of its own thread: the synchronous
    Playwright API owns the main thread, so the server cannot share its loop."""

    def __init__(self, data_dir: Path, **overrides: Any) -> None:
        self.settings = load_settings(
            data_dir=data_dir,
            smtp_port=0,
            http_port=0,
            imap_port=0,
            hostname="mx.ephemail.test",
            retention_interval=3600,
            **overrides,
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="ephemail-app")
        self._app: Application | None = None

    @property
    def app(self) -> Application:
        assert self._app is not None, "not started"
        return self._app

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.app.http_port}"

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run `coro` in the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        self.thread.start()

        async def start() -> Application:
            app = Application(self.settings)
            await app.start()
            return app

        self._app = self.run(start())

    def stop(self) -> None:
        try:
            if self._app is not None:
                self.run(self._app.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=30)
            self.loop.close()

    def add_account(self, email: str, *, role: Role = Role.USER, password: str = PASSWORD) -> None:
        self.run(self.app.accounts.add_account(email, password, role=role))


def _start(tmp: Path, **overrides: Any) -> ThreadedApp:
    server = ThreadedApp(tmp, **overrides)
    server.start()
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedApp]:
    """One server for the module; generous login limits (the limiter has its own test)."""
    threaded = _start(
        tmp_path_factory.mktemp("accounts") / "data",
        rate_login_per_minute=1000,
        rate_claim_per_minute=1000,
    )
    try:
        threaded.run(threaded.app.policy_admin.add_domain(SHARED_DOMAIN, shared=True))
        yield threaded
    finally:
        threaded.stop()


class Visitor:
    """One browser context (its own cookies and storage) and its page's uncaught errors."""

    def __init__(self, browser: Browser, base_url: str, viewport: dict[str, int]) -> None:
        self.context: BrowserContext = browser.new_context(
            base_url=base_url,
            viewport=ViewportSize(width=viewport["width"], height=viewport["height"]),
            color_scheme="dark",
            permissions=["clipboard-read", "clipboard-write"],
        )
        self.context.set_default_timeout(UI_TIMEOUT_MS)
        self.errors: list[str] = []
        self.page: Page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))


@pytest.fixture
def visitors(browser: Browser, server: ThreadedApp) -> Iterator[Any]:
    """`visitors()` opens a fresh browser context; all are closed (and checked) at the end."""
    opened: list[Visitor] = []

    def open_one(viewport: dict[str, int] = DESKTOP) -> Visitor:
        visitor = Visitor(browser, server.url, viewport)
        opened.append(visitor)
        return visitor

    yield open_one
    for visitor in opened:
        visitor.context.close()
    errors = [e for v in opened for e in v.errors]
    assert errors == [], f"uncaught errors in the page: {errors}"


@pytest.fixture
def page(visitors: Any) -> Page:
    visitor: Visitor = visitors()
    return visitor.page


def _email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@people.test"


def _sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/signin")
    page.locator('input[name="email"]').fill(email)
    page.locator('input[name="password"]').fill(password)
    page.locator(".auth-submit").click()
    expect(page.locator("[data-account-email]")).to_have_text(email)


def _open_menu(page: Page) -> Locator:
    page.locator('[data-action="account"]').click()
    menu = page.locator("#account-menu")
    expect(menu).to_be_visible()
    return menu


def _confirm(page: Page) -> None:
    page.locator('dialog[open] button[value="yes"]').click()


def _row(page: Page, subject: str) -> Locator:
    return page.locator("a.row").filter(has_text=subject)


# ----- sign in, register, sign out --------------------------------------------------------


def test_sign_in_shows_the_account_and_a_wrong_password_an_error(
    page: Page, server: ThreadedApp
) -> None:
    email = _email()
    server.add_account(email)
    page.goto("/")
    page.locator('[data-action="sign-in"]').click()
    expect(page).to_have_url(re.compile(r"/signin$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    page.locator('input[name="email"]').fill(email)
    page.locator('input[name="password"]').fill("not the password")
    page.locator(".auth-submit").click()
    expect(page.locator(".form-error")).to_have_text("Wrong email or password.")
    expect(page).to_have_url(re.compile(r"/signin$"))
    expect(page.locator('[data-action="account"]')).to_have_count(0)
    expect(page.locator('input[name="password"]')).to_be_focused()

    page.locator('input[name="password"]').fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/account/mailboxes$"))
    expect(page.locator("[data-account-email]")).to_have_text(email)
    expect(page.get_by_role("heading", name="Your mailboxes")).to_be_visible()

    # The session survives a reload (HttpOnly cookie; the script cannot read it).
    page.reload()
    expect(page.locator("[data-account-email]")).to_have_text(email)
    assert "ephemail_session" not in page.evaluate("document.cookie")

    # The menu works from the keyboard; a user has no Admin entry.
    page.locator('[data-action="account"]').focus()
    page.keyboard.press("ArrowDown")
    menu = page.locator("#account-menu")
    expect(menu).to_be_visible()
    expect(menu.locator('[data-menu="mailboxes"]')).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(menu.locator('[data-menu="tokens"]')).to_be_focused()
    expect(menu.locator('[data-menu="admin"]')).to_have_count(0)
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(page.locator('[data-action="account"]')).to_be_focused()

    _open_menu(page).locator('[data-menu="sign-out"]').click()
    expect(page.locator('[data-action="sign-in"]')).to_be_visible()
    expect(page).to_have_url(re.compile(r"/$"))
    status = page.evaluate("fetch('/api/v1/auth/me').then((r) => r.status)")
    assert status == 401


def test_register_through_the_ui_signs_in_and_a_taken_email_is_explained(
    page: Page, server: ThreadedApp
) -> None:
    email = _email("new")
    page.goto("/register")
    page.locator('input[name="email"]').fill(email)
    page.locator('input[name="password"]').fill("short")
    page.locator('input[name="password-again"]').fill("short")
    page.locator(".auth-submit").click()
    expect(page.locator(".form-error")).to_contain_text("at least 8 characters")

    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('input[name="password-again"]').fill(PASSWORD)
    page.locator(".auth-submit").click()
    expect(page.locator("[data-account-email]")).to_have_text(email)
    expect(page).to_have_url(re.compile(r"/account/mailboxes$"))
    account = server.run(server.app.accounts.account_by_email(email))
    assert account is not None and account.role is Role.USER

    _open_menu(page).locator('[data-menu="sign-out"]').click()
    page.goto("/register")
    page.locator('input[name="email"]').fill(email)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('input[name="password-again"]').fill(PASSWORD)
    page.locator(".auth-submit").click()
    expect(page.locator(".form-error")).to_have_text(
        "An account with this email exists already. Sign in instead."
    )


def test_closed_registration_and_rate_limited_sign_in_are_explained(
    browser: Browser, tmp_path: Path
) -> None:
    """Its own server: registration closed, two login failures a minute."""
    strict = _start(tmp_path / "data", registration_enabled=False, rate_login_per_minute=2)
    visitor = Visitor(browser, strict.url, DESKTOP)
    try:
        page = visitor.page
        page.goto("/register")
        page.locator('input[name="email"]').fill(_email())
        page.locator('input[name="password"]').fill(PASSWORD)
        page.locator('input[name="password-again"]').fill(PASSWORD)
        page.locator(".auth-submit").click()
        expect(page.locator(".form-error")).to_have_text(
            "Registration is closed on this server. Ask its administrator for an account."
        )

        email = _email()
        strict.add_account(email)
        page.goto("/signin")
        page.locator('input[name="email"]').fill(email)
        error = page.locator(".form-error")
        for _ in range(5):
            page.locator('input[name="password"]').fill("wrong password!")
            page.locator(".auth-submit").click()
            expect(error).to_be_visible()
            if "Too many" in error.inner_text():
                break
        expect(error).to_have_text(re.compile(r"^Too many attempts\. Try again in \d+ s\.$"))
        assert visitor.errors == []
    finally:
        visitor.context.close()
        strict.stop()


def test_a_visitor_is_asked_to_sign_in_and_brought_back(page: Page, server: ThreadedApp) -> None:
    email = _email()
    server.add_account(email)
    page.goto("/account/tokens")
    expect(page.get_by_role("heading", name="Sign in first")).to_be_visible()
    page.locator('[data-action="sign-in-prompt"]').click()
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Faccount%2Ftokens$"))
    page.locator('input[name="email"]').fill(email)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator(".auth-submit").click()
    expect(page).to_have_url(re.compile(r"/account/tokens$"))
    expect(page.get_by_role("heading", name="Tokens", exact=True)).to_be_visible()
    # Somewhere else than this app is never a place to return to.
    _open_menu(page).locator('[data-menu="sign-out"]').click()
    page.goto("/signin?next=//evil.example/")
    page.locator('input[name="email"]').fill(email)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator(".auth-submit").click()
    expect(page).to_have_url(f"{server.url}/account/mailboxes")


def test_a_page_whose_session_was_replaced_in_another_tab_still_writes(
    visitors: Any, server: ThreadedApp
) -> None:
    """Signing in again in a second tab replaces the session cookie and its CSRF token;
    the first tab's next write fetches the current token and succeeds."""
    email = _email()
    server.add_account(email)
    visitor: Visitor = visitors()
    first = visitor.page
    _sign_in(first, email)
    first.goto("/account/tokens")
    expect(first.get_by_text("No tokens yet")).to_be_visible()
    second = visitor.context.new_page()
    second.on("pageerror", lambda error: visitor.errors.append(str(error)))
    second.goto("/")
    status = second.evaluate(
        """([email, password]) => fetch("/api/v1/auth/login", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ email, password }),
        }).then((r) => r.status)""",
        [email, PASSWORD],
    )
    assert status == 200

    first.locator('input[name="name"]').fill("after a new sign-in")
    first.locator('[data-action="create-token"]').click()
    expect(first.locator("[data-secret-box]")).to_be_visible()
    expect(first.locator("tr.token-row")).to_have_count(1)


# ----- tokens ----------------------------------------------------------------------------


def test_an_api_token_is_shown_once_works_as_a_bearer_token_and_revoking_stops_it(
    page: Page, server: ThreadedApp
) -> None:
    email = _email()
    server.add_account(email)
    _sign_in(page, email)
    _open_menu(page).locator('[data-menu="tokens"]').click()
    expect(page).to_have_url(re.compile(r"/account/tokens$"))
    expect(page.get_by_text("No tokens yet")).to_be_visible()

    page.locator('input[name="name"]').fill("CI script")
    page.locator('[data-action="create-token"]').click()
    box = page.locator('[data-secret-box="api"]')
    expect(box).to_be_visible()
    expect(box).to_contain_text("it will not be shown again")
    secret = page.locator("[data-secret]").input_value()
    assert re.fullmatch(r"eph_api_[0-9a-f]{16}_\S{43}", secret), secret
    box.locator(".copy-btn").click()
    assert page.evaluate("navigator.clipboard.readText()") == secret

    row = page.locator("tr.token-row").filter(has_text="CI script")
    expect(row).to_have_count(1)
    expect(row.locator('[data-status="active"]')).to_be_visible()
    expect(row.locator(".token-prefix")).to_have_text(f"{secret[:24]}…")

    me = httpx.get(
        f"{server.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"}, timeout=5
    )
    assert me.status_code == 200, me.text
    assert me.json()["account"]["email"] == email
    assert me.json()["via"] == "api_token"

    # Once dismissed (or after a reload), the secret is nowhere on the page.
    page.locator('[data-action="dismiss-secret"]').click()
    expect(box).to_have_count(0)
    assert secret not in page.content()
    page.reload()
    expect(page.locator("tr.token-row")).to_have_count(1)
    assert secret not in page.content()

    page.locator("tr.token-row").filter(has_text="CI script").locator(
        '[data-action="revoke-token"]'
    ).click()
    _confirm(page)
    expect(page.locator("tr.token-row").locator('[data-status="revoked"]')).to_be_visible()
    refused = httpx.get(
        f"{server.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"}, timeout=5
    )
    assert refused.status_code == 401


def test_an_imap_token_explains_how_a_mail_client_signs_in(page: Page, server: ThreadedApp) -> None:
    email = _email()
    server.add_account(email)
    _sign_in(page, email)
    page.goto("/account/tokens")
    page.locator('[data-kind="imap"]').click()
    expect(page.locator("fieldset.scopes")).to_be_hidden()
    page.locator('input[name="name"]').fill("Thunderbird")
    page.locator('select[name="expires"]').select_option("30")
    page.locator('[data-action="create-token"]').click()
    box = page.locator('[data-secret-box="imap"]')
    expect(box).to_be_visible()
    assert page.locator("[data-secret]").input_value().startswith("eph_imap_")
    hint = box.locator(".imap-hint")
    expect(hint).to_contain_text(email)
    expect(hint).to_contain_text("127.0.0.1")
    expect(hint).to_contain_text("this token")
    row = page.locator("tr.token-row").filter(has_text="Thunderbird")
    expect(row).to_contain_text("IMAP")
    expect(row).to_contain_text("IMAP login")


# ----- owned mailboxes -------------------------------------------------------------------


def test_an_owned_mailbox_created_in_the_ui_receives_mail_live_and_stays_private(
    visitors: Any, server: ThreadedApp
) -> None:
    email = _email()
    server.add_account(email)
    owner: Visitor = visitors()
    page = owner.page
    _sign_in(page, email)
    expect(page.get_by_text("No mailboxes yet")).to_be_visible()
    expect(page.locator('select[name="domain"]')).to_have_value(SHARED_DOMAIN)

    local = f"mine-{uuid.uuid4().hex[:8]}"
    address = f"{local}@{SHARED_DOMAIN}"
    page.locator('input[name="local"]').fill(local)
    page.locator('[data-action="create-mailbox"]').click()
    row = page.locator(f'.owned-row[data-address="{address}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("0 messages")
    expect(page.locator("[data-usage]")).to_contain_text("1 mailbox")

    # A second one, random on the chosen domain.
    page.locator('[data-action="random-mailbox"]').click()
    expect(page.locator(".owned-row")).to_have_count(2)

    row.locator(".owned-link").click()
    expect(page).to_have_url(re.compile(rf"/m/{re.escape(address)}$"))
    expect(page.locator('[data-live-status="live"]')).to_be_visible()
    expect(page.get_by_text("Waiting for mail")).to_be_visible()
    expect(page.locator('.kind-badge[data-kind="owned"]')).to_be_visible()
    page.evaluate("window.__sameDocument = true")

    mails.send(server.app.smtp_port, mails.plain(address, "Owned arrival", "hello"), to=address)
    expect(_row(page, "Owned arrival")).to_be_visible()
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"

    # Anybody else: a visitor is asked to sign in, another account is not allowed.
    stranger = visitors().page
    stranger.goto(f"/m/{address}")
    expect(stranger.get_by_role("heading", name="Sign in first")).to_be_visible()
    expect(_row(stranger, "Owned arrival")).to_have_count(0)
    other = _email("other")
    server.add_account(other)
    _sign_in(stranger, other)
    stranger.goto(f"/m/{address}")
    expect(stranger.get_by_role("heading", name="Not allowed")).to_be_visible()

    # The list counts the message; deleting asks first.
    page.goto("/account/mailboxes")
    row = page.locator(f'.owned-row[data-address="{address}"]')
    expect(row).to_contain_text("1 message")
    row.locator('[data-action="delete-mailbox"]').click()
    expect(page.locator("dialog[open]")).to_contain_text(address)
    _confirm(page)
    expect(row).to_have_count(0)
    expect(page.locator(".owned-row")).to_have_count(1)


def test_creating_an_owned_mailbox_somebody_holds_is_explained(
    page: Page, server: ThreadedApp
) -> None:
    email = _email()
    server.add_account(email)
    _sign_in(page, email)
    taken = f"taken-{uuid.uuid4().hex[:8]}"
    page.locator('input[name="local"]').fill(taken)
    page.locator('[data-action="create-mailbox"]').click()
    expect(page.locator(".owned-row")).to_have_count(1)
    page.locator('input[name="local"]').fill(taken)
    page.locator('[data-action="create-mailbox"]').click()
    expect(page.locator(".form-error")).to_be_visible()
    expect(page.locator(".owned-row")).to_have_count(1)


# ----- admin -----------------------------------------------------------------------------


def test_admin_pages_are_for_admins_only(visitors: Any, server: ThreadedApp) -> None:
    anonymous = visitors().page
    anonymous.goto("/admin")
    expect(anonymous.get_by_role("heading", name="Sign in first")).to_be_visible()

    user_email = _email()
    server.add_account(user_email)
    user = visitors().page
    _sign_in(user, user_email)
    expect(_open_menu(user).locator('[data-menu="admin"]')).to_have_count(0)
    user.goto("/admin/users")
    expect(user.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(user.locator("table")).to_have_count(0)

    admin_email = _email("admin")
    server.add_account(admin_email, role=Role.ADMIN)
    admin = visitors().page
    _sign_in(admin, admin_email)
    _open_menu(admin).locator('[data-menu="admin"]').click()
    expect(admin).to_have_url(re.compile(r"/admin/users$"))
    users = admin.locator("tr[data-email]")
    expect(users.filter(has_text=user_email)).to_have_count(1)
    expect(users.filter(has_text=admin_email)).to_contain_text("you")

    # Add a user, then make them an admin.
    added = _email("added")
    admin.locator('input[name="email"]').fill(added)
    admin.locator('input[name="password"]').fill(PASSWORD)
    admin.locator('[data-action="add-user"]').click()
    new_row = admin.locator(f'tr[data-email="{added}"]')
    expect(new_row).to_be_visible()
    new_row.locator('select[data-field="role"]').select_option("admin")
    expect(admin.locator(".toast").filter(has_text=f"Updated {added}")).to_be_visible()
    account = server.run(server.app.accounts.account_by_email(added))
    assert account is not None and account.role is Role.ADMIN

    # Domains.
    admin.locator('[data-tab="domains"]').click()
    expect(admin).to_have_url(re.compile(r"/admin/domains$"))
    expect(admin.locator(f'tr[data-domain="{SHARED_DOMAIN}"]')).to_be_visible()
    domain = f"d{uuid.uuid4().hex[:8]}.example"
    admin.locator('input[name="name"]').fill(domain)
    admin.locator('input[name="owner"]').fill(user_email)
    admin.locator('input[name="retention_hours"]').fill("48")
    admin.locator('[data-action="add-domain"]').click()
    domain_row = admin.locator(f'tr[data-domain="{domain}"]')
    expect(domain_row).to_contain_text(user_email)
    expect(domain_row).to_contain_text("48 h")

    # Bans: add, then delete.
    admin.locator('[data-tab="bans"]').click()
    value = f"spam-{uuid.uuid4().hex[:6]}@bad.example"
    admin.locator('select[name="scope"]').select_option("sender")
    admin.locator('input[name="value"]').fill(value)
    admin.locator('input[name="reason"]').fill("test")
    admin.locator('[data-action="add-ban"]').click()
    ban_row = admin.locator("tr[data-ban-id]").filter(has_text=value)
    expect(ban_row).to_be_visible()
    ban_row.locator('[data-action="delete"]').click()
    _confirm(admin)
    expect(ban_row).to_have_count(0)

    # Counts match the store.
    # Counts: what the API says, at least the three accounts of this test.
    admin.locator('[data-tab="stats"]').click()
    shown = admin.locator('[data-stat="accounts"] .stat-value')
    expect(shown).to_have_text(re.compile(r"^\d[\d,]*$"))
    stats = admin.evaluate("fetch('/api/v1/admin/stats').then((r) => r.json())")
    assert int(shown.inner_text().replace(",", "")) == stats["accounts"] >= 4
    for key in ("mailboxes", "messages", "owned_mailboxes", "claimed_mailboxes"):
        value = admin.locator(f'[data-stat="{key}"] .stat-value').inner_text()
        assert int(value.replace(",", "")) == stats[key]


# ----- claiming a public mailbox -----------------------------------------------------------


def test_claim_with_a_password_then_another_browser_unlocks_and_sees_mail_live(
    visitors: Any, server: ThreadedApp
) -> None:
    address = f"claim-{uuid.uuid4().hex[:10]}@{SHARED_DOMAIN}"
    mailbox_password = "open sesame 42"
    mails.send(server.app.smtp_port, mails.plain(address, "Before the claim", "x"), to=address)

    holder = visitors().page
    holder.goto(f"/m/{address}")
    expect(_row(holder, "Before the claim")).to_be_visible()
    holder.locator('[data-action="claim"]').click()
    dialog = holder.locator('dialog[data-dialog="password"]')
    dialog.locator('input[name="password"]').fill(mailbox_password)
    dialog.locator('input[name="password-again"]').fill("something else")
    dialog.locator('button[type="submit"]').click()
    expect(dialog.locator(".form-error")).to_have_text("The two passwords differ.")
    dialog.locator('input[name="password-again"]').fill(mailbox_password)
    dialog.locator('button[type="submit"]').click()
    expect(dialog).to_have_count(0)
    expect(holder.locator('[data-action="release"]')).to_be_visible()
    status = httpx.get(f"{server.url}/api/v1/mailboxes/{address}/status", timeout=5).json()
    assert status["claimed"] is True
    # The holder's browser stays unlocked, live updates included.
    expect(holder.locator('[data-live-status="live"]')).to_be_visible()
    mails.send(server.app.smtp_port, mails.plain(address, "For the holder", "y"), to=address)
    expect(_row(holder, "For the holder")).to_be_visible()

    # A second browser without the password is asked for it.
    guest = visitors().page
    guest.goto(f"/m/{address}")
    form = guest.locator("form[data-unlock]")
    expect(form).to_contain_text("This mailbox is claimed")
    expect(_row(guest, "Before the claim")).to_have_count(0)
    form.locator('input[name="mailbox-password"]').fill("not it")
    form.locator('[data-action="unlock"]').click()
    expect(form.locator(".form-error")).to_have_text("Wrong password.")
    form.locator('input[name="mailbox-password"]').fill(mailbox_password)
    form.locator('[data-action="unlock"]').click()
    expect(_row(guest, "Before the claim")).to_be_visible()
    expect(guest.locator('[data-live-status="live"]')).to_be_visible()
    guest.evaluate("window.__sameDocument = true")
    mails.send(server.app.smtp_port, mails.plain(address, "Live after unlock", "z"), to=address)
    expect(_row(guest, "Live after unlock")).to_be_visible()
    assert guest.evaluate("window.__sameDocument === true"), "the page was reloaded"

    # The unlock cookie is HttpOnly and survives a reload.
    assert "ephemail_unlock" not in guest.evaluate("document.cookie")
    guest.reload()
    expect(_row(guest, "Live after unlock")).to_be_visible()

    # Releasing (with the password) makes it public again.
    guest.locator('[data-action="release"]').click()
    dialog = guest.locator('dialog[data-dialog="password"]')
    dialog.locator('input[name="password"]').fill(mailbox_password)
    dialog.locator('button[type="submit"]').click()
    expect(guest.locator('[data-action="claim"]')).to_be_visible()
    status = httpx.get(f"{server.url}/api/v1/mailboxes/{address}/status", timeout=5).json()
    assert status["claimed"] is False


# ----- small screens -----------------------------------------------------------------------


def test_account_pages_fit_a_phone_screen(visitors: Any, server: ThreadedApp) -> None:
    admin_email = _email("phone-admin")
    server.add_account(admin_email, role=Role.ADMIN)
    phone: Visitor = visitors(PHONE)
    page = phone.page
    _sign_in(page, admin_email)
    for path, ready in (
        ("/account/mailboxes", ".owned-list"),
        ("/account/tokens", "form.token-form"),
        ("/admin/users", "tr[data-email]"),
        ("/admin/bans", "form.admin-form"),
        ("/admin/stats", ".stat-grid"),
    ):
        page.goto(path)
        page.locator(ready).first.wait_for()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide"
