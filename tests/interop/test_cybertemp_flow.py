"""The Cybertemp flow end to end, with imapclient (a client nobody here wrote), on
SQLite and PostgreSQL.

A subscriber registers over HTTP, the operator gives the account a domain and turns
its subscription on, the subscriber makes an IMAP app token over HTTP and then lives
in IMAP: logs in with email + token, creates mailboxes by address (on its own domain
and on a shared one), receives mail over SMTP in each (also while in IDLE) and reads
it byte for byte. The HTTP API shows the same mailboxes as owned, closed to anyone
else.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
from typing import Any

import httpx
import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from ephemail.app import Application
from ephemail.domain.accounts import SubscriptionStatus
from ephemail.services.access import Principal
from tests.conftest import StartApp
from tests.interop.mails import SENDER, SampleMail, note, sample_mails

HOST = "127.0.0.1"
EMAIL = "subscriber@customer.example"
PASSWORD = "a long and private passphrase"
OWN_DOMAIN = "cyber.test"
SHARED_DOMAIN = "shared-pool.test"
_RECEIVED_TRACE = re.compile(rb"\AReceived: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*")


def smtp_send(port: int, address: str, mail: SampleMail) -> None:
    with smtplib.SMTP(HOST, port, timeout=15) as smtp:
        assert smtp.sendmail(SENDER, [address], mail.raw) == {}


async def stored_raw(http: httpx.AsyncClient, address: str) -> dict[bytes, bytes]:
    """Message-ID header line -> the stored bytes of every message of one mailbox."""
    page = await http.get(f"/api/v1/mailboxes/{address}/messages", params={"limit": 100})
    assert page.status_code == 200, page.text
    stored = {}
    for message in page.json()["messages"]:
        raw = (await http.get(f"/api/v1/messages/{message['id']}/raw")).content
        match = re.search(rb"^Message-ID: [^\r\n]*", raw, re.MULTILINE)
        assert match is not None
        stored[match.group(0)] = raw
    return stored


async def test_cybertemp_flow_with_imapclient(app_factory: StartApp, database_url: str) -> None:
    app: Application = await app_factory(
        database_url=database_url,
        open_mode=False,  # a public service: no global reads, no password-free IMAP
        enforce_subscriptions=True,
        smtp_max_message_size=4 * 1024 * 1024,
    )
    base = f"http://{HOST}:{app.http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=15) as http:
        # The subscriber registers (signed in by the cookie) and makes an IMAP token.
        registered = await http.post(
            "/api/v1/auth/register", json={"email": EMAIL, "password": PASSWORD}
        )
        assert registered.status_code == 201, registered.text
        account_id = registered.json()["account"]["id"]
        http.headers["X-CSRF-Token"] = registered.json()["csrf_token"]
        created = await http.post("/api/v1/tokens", json={"kind": "imap", "name": "Thunderbird"})
        assert created.status_code == 201, created.text
        token = created.json()["secret"]
        assert token.startswith("eph_imap_")

        # The operator: a domain for this customer, a shared pool, and the subscription.
        await app.policy_admin.add_domain(OWN_DOMAIN)
        assert await app.policy_admin.set_domain_owner(OWN_DOMAIN, account_id)
        await app.policy_admin.add_domain(SHARED_DOMAIN, shared=True)

        def log_in() -> None:
            with IMAPClient(HOST, port=app.imap_port, ssl=False, timeout=15) as client:
                client.login(EMAIL, token)

        with pytest.raises(LoginError, match=r"\[AUTHENTICATIONFAILED\]"):
            await asyncio.to_thread(log_in)  # not subscribed yet
        await app.accounts.update_account(
            Principal.operator(), account_id, subscription_status=SubscriptionStatus.ACTIVE
        )

        home, alias = f"inbox@{OWN_DOMAIN}", f"signup-alias@{SHARED_DOMAIN}"
        mails = sample_mails(home, "cyber")
        alias_mail = note(alias, "cyber", "alias", "Your verification code is 482913")

        def create_and_list() -> dict[str, Any]:
            seen: dict[str, Any] = {}
            with IMAPClient(HOST, port=app.imap_port, ssl=False, timeout=15) as client:
                client.login(EMAIL.upper(), token)
                seen["before"] = [name for _, _, name in client.list_folders()]
                client.create_folder(home)
                client.create_folder(alias)
                seen["after"] = [name for _, _, name in client.list_folders()]
                client.logout()
            return seen

        seen = await asyncio.to_thread(create_and_list)
        assert seen["before"] == ["INBOX"]
        assert seen["after"] == ["INBOX", alias]  # `home` came first: it is INBOX

        for mail in mails:
            await asyncio.to_thread(smtp_send, app.smtp_port, home, mail)

        def read_everything() -> dict[str, Any]:
            result: dict[str, Any] = {}
            with IMAPClient(HOST, port=app.imap_port, ssl=False, timeout=15) as client:
                client.login(EMAIL, token)
                client.select_folder("INBOX")
                uids = client.search(["ALL"])
                fetched = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"])
                result["inbox"] = [bytes(item[b"BODY[]"]) for item in fetched.values()]
                client.select_folder(alias)
                client.idle()
                smtp_send(app.smtp_port, alias, alias_mail)
                result["idle"] = client.idle_check(timeout=10)
                client.idle_done()
                uids = client.search(["ALL"])
                fetched = client.fetch(uids, ["BODY[]"])
                result["alias"] = [bytes(item[b"BODY[]"]) for item in fetched.values()]
                result["alias flags"] = client.get_flags(uids)
                client.logout()
            return result

        result = await asyncio.to_thread(read_everything)
        assert (1, b"EXISTS") in result["idle"]

        # Byte for byte: what IMAP served is what the server stored, which is its
        # Received line followed by exactly the SMTP DATA.
        stored = await stored_raw(http, home)
        assert len(stored) == len(mails) == len(result["inbox"])
        for raw in result["inbox"]:
            message_id = re.search(rb"^Message-ID: [^\r\n]*", raw, re.MULTILINE)
            assert message_id is not None
            assert stored[message_id.group(0)] == raw
        sent = {mail.raw for mail in mails}
        for raw in result["inbox"]:
            trace = _RECEIVED_TRACE.match(raw)
            assert trace is not None and raw[trace.end() :] in sent
        (alias_raw,) = result["alias"]
        trace = _RECEIVED_TRACE.match(alias_raw)
        assert trace is not None and alias_raw[trace.end() :] == alias_mail.raw
        # FETCH BODY[] (not PEEK) marked it read.
        (alias_flags,) = result["alias flags"].values()
        assert set(alias_flags) - {b"\\Recent"} == {b"\\Seen"}

        # The API agrees: both mailboxes are owned by the subscriber ...
        owned = await http.get("/api/v1/account/mailboxes")
        assert owned.status_code == 200, owned.text
        listed = {m["address"]: m for m in owned.json()["mailboxes"]}
        assert set(listed) == {home, alias}
        assert {m["kind"] for m in listed.values()} == {"owned"}
        assert listed[home]["messages"] == len(mails) and listed[alias]["messages"] == 1

    # ... and closed to everyone else.
    async with httpx.AsyncClient(base_url=base, timeout=15) as anonymous:
        denied = await anonymous.get(f"/api/v1/mailboxes/{home}/messages")
        assert denied.status_code == 401, denied.text
