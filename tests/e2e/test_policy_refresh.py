"""Policy changes made by the CLI (another process) reach a running server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

from tests.e2e.conftest import MakeServer
from tests.smtp.support import RawClient


def cli(server_env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ephemail", *args],
        env={**os.environ, **server_env},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr


async def mail_from_reply(port: int, sender: str) -> str:
    client = await RawClient.connect(port)
    try:
        await client.greet()
        return (await client.cmd(f"MAIL FROM:<{sender}>")).last
    finally:
        await client.close()


async def test_cli_ban_and_domain_policy_apply_without_restart(make_server: MakeServer) -> None:
    server = make_server(EPHEMAIL_POLICY_POLL_INTERVAL="0.2", EPHEMAIL_ACCEPT_POLICY="domains")
    server.start()
    env = {k: v for k, v in server.env.items() if k.startswith("EPHEMAIL_")}

    # domains mode with no domain registered: everything is rejected, and the log says why.
    assert "accept policy is 'domains' but no active domain" in server.log.read_text()

    assert await mail_from_reply(server.smtp_port, "spammer@bad.test") == "250 2.1.0 Ok"
    cli(env, "ban", "add", "sender", "spammer@bad.test")
    deadline = time.monotonic() + 10
    reply = ""
    while time.monotonic() < deadline:
        reply = await mail_from_reply(server.smtp_port, "spammer@bad.test")
        if reply.startswith("550"):
            break
        await asyncio.sleep(0.1)
    assert reply == "550 5.7.1 Sender banned"
    server.stop()
