"""`ephemail serve` end to end: swaks and smtplib send, the API shows each recipient's copy."""

from __future__ import annotations

import shutil
import smtplib
import subprocess
from email.message import EmailMessage

import httpx
import pytest

from tests.e2e.conftest import MakeServer

pytestmark = pytest.mark.slow


def _messages(api: str, address: str) -> list[dict[str, object]]:
    page = httpx.get(f"{api}/api/v1/mailboxes/{address}/messages", timeout=10).json()
    messages: list[dict[str, object]] = page["messages"]
    return messages


def test_smtplib_and_swaks_to_several_recipients(make_server: MakeServer) -> None:
    server = make_server()
    server.start()

    msg = EmailMessage()
    msg["From"] = "Alice <alice@example.org>"
    msg["To"] = "bob@example.com"
    msg["Subject"] = "Grüße from smtplib"
    msg.set_content("Your verification code is 482913\n")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        refused = smtp.send_message(
            msg, to_addrs=["bob@example.com", "Carol@Example.com", "hidden-bcc@example.net"]
        )
    assert refused == {}

    swaks = shutil.which("swaks")
    assert swaks, "swaks is installed by `make test` (scripts/system-deps.sh)"
    result = subprocess.run(
        [
            swaks,
            "--server", f"127.0.0.1:{server.smtp_port}",
            "--from", "qa@example.org",
            "--to", "bob@example.com,dave@example.com",
            "--header", "Subject: from swaks",
            "--body", "link: https://example.org/verify?t=abc",
        ],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "250 2.0.0 Ok: queued as" in result.stdout

    bob = _messages(server.api, "bob@example.com")
    assert sorted(m["subject"] for m in bob) == ["Grüße from smtplib", "from swaks"]
    for address in ("carol@example.com", "hidden-bcc@example.net"):
        (only,) = _messages(server.api, address)
        assert only["subject"] == "Grüße from smtplib"
    (dave,) = _messages(server.api, "dave@example.com")
    detail = httpx.get(f"{server.api}/api/v1/messages/{dave['id']}", timeout=10).json()
    assert "https://example.org/verify?t=abc" in detail["text"]
    assert detail["envelope_from"] == "qa@example.org"
    raw = httpx.get(f"{server.api}/api/v1/messages/{dave['id']}/raw", timeout=10).content
    assert raw.startswith(b"Received: from ")
    assert b"Subject: from swaks" in raw
    assert server.stop() == 0  # graceful shutdown on SIGTERM exits 0
