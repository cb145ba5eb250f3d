"""Screenshots of the web UI for the README, made from a real server and real mail.

    .venv/bin/python -m tests.browser.screenshots            # writes docs/screenshots/*.png
    .venv/bin/python -m tests.browser.screenshots --out /tmp/shots

It starts its own `ephemail serve`, sends a handful of realistic messages over SMTP and
saves inbox.png and message.png (1280x800), inbox-dark.png and mobile.png (375x740).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser import mails
from tests.browser.conftest import CHROMIUM_ARGS, DESKTOP, PHONE
from tests.support.server import EphemailProcess

DOMAIN = "ephemail.test"
ADDRESS = f"quiet-otter-4821@{DOMAIN}"
FILES = ("inbox.png", "message.png", "inbox-dark.png", "mobile.png")


def _ids_by_subject(server: EphemailProcess, address: str, count: int) -> dict[str, str]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        page = httpx.get(f"{server.api}/api/v1/mailboxes/{address}/messages", timeout=5).json()
        if len(page["messages"]) >= count:
            return {m["subject"]: m["id"] for m in page["messages"]}
        time.sleep(0.1)
    raise RuntimeError(f"the sample messages did not all arrive at {address}")


def _settle(page: Page) -> None:
    """Wait for the list, the live connection and any message view to finish loading."""
    page.locator('[data-live-status="live"]').wait_for()
    page.locator(".list-meta").filter(has_text="message").wait_for()
    page.wait_for_function("!document.querySelector('.skeleton')")
    if page.locator("iframe.html-frame").count():
        page.frame_locator("iframe.html-frame").locator("body").wait_for()
    page.mouse.move(0, 0)
    page.wait_for_timeout(400)  # fonts, the arrival animation and toasts settle


def capture(browser: Browser, server: EphemailProcess, out_dir: Path) -> list[Path]:
    """Send the sample mail to `server` and write the four screenshots into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = mails.showcase(ADDRESS)
    for message in samples:
        mails.send(server.smtp_port, message, to=ADDRESS)
    ids = _ids_by_subject(server, ADDRESS, len(samples))
    verify = ids["Your Nimbus verification code: 482913"]
    order = ids["Your order #10482 has shipped"]
    written: list[Path] = []

    def shoot(
        path: str,
        name: str,
        *,
        viewport: dict[str, int],
        scheme: str = "light",
        wait_for: str | None = None,
    ) -> None:
        context = browser.new_context(base_url=server.api, viewport=viewport, color_scheme=scheme)
        try:
            page = context.new_page()
            page.goto(path)
            if wait_for:
                page.locator(wait_for).first.wait_for()
            _settle(page)
            target = out_dir / name
            page.screenshot(path=str(target))
            written.append(target)
        finally:
            context.close()

    shoot(f"/m/{ADDRESS}", "mobile.png", viewport=PHONE, wait_for="a.row")
    shoot(f"/m/{ADDRESS}/{order}", "inbox.png", viewport=DESKTOP, wait_for=".link-row")
    shoot(f"/m/{ADDRESS}/{verify}", "message.png", viewport=DESKTOP, wait_for=".code-value")
    shoot(
        f"/m/{ADDRESS}/{verify}",
        "inbox-dark.png",
        viewport=DESKTOP,
        scheme="dark",
        wait_for=".code-value",
    )
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    parser.add_argument("--out", type=Path, default=default_out, help="where to write the PNGs")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory(prefix="ephemail-shots-") as scratch:
        server = EphemailProcess(Path(scratch) / "data", EPHEMAIL_DEFAULT_DOMAIN=DOMAIN)
        server.start()
        try:
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                try:
                    for path in capture(browser, server, args.out):
                        print(path)
                finally:
                    browser.close()
        finally:
            server.kill()


if __name__ == "__main__":
    main()
