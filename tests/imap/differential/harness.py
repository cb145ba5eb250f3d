"""Run one script against one server and keep every exchange, raw and normalised."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from tests.imap.differential.normalise import normalise
from tests.imap.differential.scripts import DOMAIN, SETUP, Script, login
from tests.imap.differential.wire import ImapWireError, RawImapClient


@dataclass(frozen=True, slots=True)
class Exchange:
    """One command as sent, the server's responses as received, and their normal form."""

    label: str  # "setup S3" or "A5"
    command: bytes
    responses: list[bytes]
    normalised: list[str]


def user_for(script: Script) -> str:
    """Each script gets a mailbox of its own on both servers."""
    return f"diff-{script.name}@{DOMAIN}"


def wait_for_greeting(port: int, timeout: float = 30.0) -> None:
    """Block until something on 127.0.0.1:port answers with an IMAP `* OK` greeting."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                if sock.recv(512).startswith(b"* OK"):
                    return
        except OSError as exc:
            last_error = exc
        time.sleep(0.1)
    raise RuntimeError(f"no IMAP greeting on port {port}: {last_error}")


def _run(client: RawImapClient, label: str, tag: bytes, command: bytes) -> Exchange:
    try:
        responses = client.command(tag, command)
    except (ImapWireError, OSError) as exc:
        return Exchange(label, command, [], [f"<connection lost: {type(exc).__name__}>"])
    return Exchange(label, command, responses, normalise(responses, tag, command))


def run_script(port: int, script: Script) -> list[Exchange]:
    """Build the starting state on one connection, then run the script on a fresh one."""
    exchanges: list[Exchange] = []
    user = user_for(script)
    with RawImapClient("127.0.0.1", port) as setup:
        commands = (login(user), *SETUP, b"LOGOUT")
        for number, command in enumerate(commands, start=1):
            exchanges.append(_run(setup, f"setup S{number}", b"S%d" % number, command))
    with RawImapClient("127.0.0.1", port) as session:
        commands = (login(user),)
        if script.select is not None:
            commands += (script.select,)
        commands += script.commands
        if not script.commands or not script.commands[-1].startswith(b"LOGOUT"):
            commands += (b"LOGOUT",)
        for number, command in enumerate(commands, start=1):
            exchange = _run(session, f"A{number}", b"A%d" % number, command)
            exchanges.append(exchange)
            if not exchange.responses:
                break
    return exchanges
