"""The admin CLI (`ephemail user|token|domain|mailbox`) on a real store, SQLite and
PostgreSQL: exit codes (0 ok, 1 missing or duplicate, 2 invalid, 3 store down),
passwords from a hidden prompt or stdin and never from argv, token secrets printed
once and usable, domain owners, and the mailbox kinds (owned, public, claimed).

In-process through click's CliRunner (the real command code, a real database); the
subprocess tests at the end run `python -m ephemail` for the real stdin and a real
terminal."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import click
import pytest
from click.testing import CliRunner, Result

from ephemail.app import AdminServices, open_admin_services
from ephemail.cli import main
from ephemail.domain.accounts import Scope, TokenKind, parse_token
from ephemail.domain.messages import MailboxKind
from ephemail.services.access import Via
from ephemail.services.accounts import InvalidCredentials
from ephemail.settings import load_settings

T = TypeVar("T")
PASSWORD = "correct horse battery"
OTHER_PASSWORD = "another good password"


@dataclass
class Cli:
    """`cli("user", "add", ..., input=...)` against one database."""

    env: dict[str, str | None]
    database_url: str

    def __call__(self, *args: str, input: str | None = None) -> Result:
        runner = CliRunner(env=self.env)
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    def services(self, action: Callable[[AdminServices], Awaitable[T]]) -> T:
        """Look at the store through the same services, after the command."""

        async def run() -> T:
            settings = load_settings(database_url=self.database_url)
            async with open_admin_services(settings) as services:
                return await action(services)

        return asyncio.run(run())


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    return Cli(
        {"EPHEMAIL_DATABASE_URL": database_url, "EPHEMAIL_DATA_DIR": str(tmp_path / "data")},
        database_url,
    )


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.output)
    return result


def add_user(cli: Cli, email: str, *flags: str, password: str = PASSWORD) -> Result:
    return ok(cli("user", "add", email, "--password-stdin", *flags, input=password + "\n"))


# -- users -----------------------------------------------------------------------------


def test_user_add_exists_list_delete(cli: Cli) -> None:
    added = add_user(
        cli,
        "Alice@Example.COM",
        "--admin",
        "--subscription",
        "past_due",
        "--until",
        "2031-02-03",
        "--quota",
        "5M",
    )
    assert "added admin alice@example.com" in added.stdout
    assert PASSWORD not in added.output

    assert cli("user", "exists", "alice@example.com").exit_code == 0
    assert cli("user", "exists", "ALICE@example.com ").exit_code == 0
    assert cli("user", "exists", "bob@example.com").exit_code == 1

    duplicate = cli("user", "add", "alice@EXAMPLE.com", "--password-stdin", input="x" * 12)
    assert duplicate.exit_code == 1 and "exists already" in duplicate.stderr

    add_user(cli, "bob@example.com")
    [alice, bob] = json.loads(ok(cli("user", "list", "--json")).stdout)
    assert alice | {"id": 0, "created_at": ""} == {
        "id": 0,
        "email": "alice@example.com",
        "role": "admin",
        "subscription_status": "past_due",
        "subscription_ends_at": "2031-02-03T00:00:00+00:00",
        "quota_bytes": 5 * 1024 * 1024,
        "created_at": "",
        "mailboxes": 0,
        "used_bytes": 0,
    }
    assert (bob["role"], bob["subscription_status"], bob["quota_bytes"]) == (
        "user",
        "inactive",
        None,
    )
    text = ok(cli("user", "list")).stdout.splitlines()
    assert text[1] == "bob@example.com\tuser\tinactive\tquota=default\tmailboxes=0\tused=0"

    # The password stored is the one given: a web login with it works.
    grant = cli.services(lambda s: s.accounts.login("alice@example.com", PASSWORD, ip="192.0.2.1"))
    assert grant.account.email == "alice@example.com"

    assert "deleted alice@example.com" in ok(cli("user", "delete", "alice@example.com")).stdout
    assert cli("user", "exists", "alice@example.com").exit_code == 1
    missing = cli("user", "delete", "alice@example.com")
    assert missing.exit_code == 1 and "no account alice@example.com" in missing.stderr


def test_password_from_stdin_is_the_first_line_only(cli: Cli) -> None:
    add_user(cli, "carol@example.com", password=f"{PASSWORD}\r\nsecond line")
    assert cli.services(lambda s: s.accounts.login("carol@example.com", PASSWORD, ip="192.0.2.1"))
    empty = cli("user", "add", "dave@example.com", "--password-stdin", input="")
    assert empty.exit_code == 2 and "nothing on standard input" in empty.stderr
    assert cli("user", "exists", "dave@example.com").exit_code == 1


def test_password_prompt_is_hidden_and_confirmed(cli: Cli) -> None:
    typed = f"{PASSWORD}\nnot the same password\n{PASSWORD}\n{PASSWORD}\n"
    result = ok(cli("user", "add", "erin@example.com", input=typed))
    assert "Password:" in result.output and "Repeat for confirmation:" in result.output
    assert "do not match" in result.output
    assert PASSWORD not in result.output  # nothing typed is echoed
    assert cli.services(lambda s: s.accounts.login("erin@example.com", PASSWORD, ip="192.0.2.1"))

    # End of input at the prompt: no password, no account.
    gave_up = cli("user", "add", "frank@example.com", input="")
    assert gave_up.exit_code == 2 and "no password given" in gave_up.stderr
    assert cli("user", "exists", "frank@example.com").exit_code == 1


def test_invalid_email_or_password_exit_2_and_change_nothing(cli: Cli) -> None:
    bad_email = cli("user", "add", "not-an-email", "--password-stdin", input=PASSWORD)
    assert bad_email.exit_code == 2 and "not an email address" in bad_email.stderr
    short = cli("user", "add", "gina@example.com", "--password-stdin", input="short\n")
    assert short.exit_code == 2 and "at least 8 characters" in short.stderr
    spaces = cli("user", "add", "gina@example.com", "--password-stdin", input=" " * 10 + "\n")
    assert spaces.exit_code == 2
    assert cli("user", "exists", "gina@example.com").exit_code == 1
    assert cli("user", "exists", "not-an-email").exit_code == 2
    bad_date = cli("user", "add", "gina@example.com", "--until", "tomorrow")
    assert bad_date.exit_code == 2 and "ISO 8601" in bad_date.output
    bad_size = cli("user", "add", "gina@example.com", "--quota", "lots")
    assert bad_size.exit_code == 2
    assert json.loads(ok(cli("user", "list", "--json")).stdout) == []


def _walk(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, click.Group):
            yield from _walk(command, path)
        else:
            yield " ".join(path), command


def test_no_command_takes_a_password_or_secret_from_argv(cli: Cli) -> None:
    for path, command in _walk(main):
        for param in command.params:
            names = " ".join(getattr(param, "opts", [])) + " " + (param.name or "")
            if any(word in names.lower() for word in ("password", "secret", "token_value")):
                assert isinstance(param, click.Option) and param.is_flag, (path, param.name)
    attempt = cli("user", "add", "h@example.com", "--password", PASSWORD)
    assert attempt.exit_code == 2 and "No such option" in attempt.output
    assert cli("user", "exists", "h@example.com").exit_code == 1
    for args in (["user", "add"], ["user", "set"], ["mailbox", "claim"]):
        assert "--password-stdin" in ok(cli(*args, "--help")).stdout


def test_user_set(cli: Cli) -> None:
    add_user(cli, "ivan@example.com")
    changed = cli(
        "user", "set", "ivan@example.com", "--role", "admin", "--subscription", "active",
        "--until", "2032-05-06T07:08:09+02:00", "--quota", "1024",
    )  # fmt: skip
    assert ok(changed).stdout.strip() == "updated ivan@example.com"
    [ivan] = json.loads(cli("user", "list", "--json").stdout)
    assert (ivan["role"], ivan["subscription_status"], ivan["quota_bytes"]) == (
        "admin",
        "active",
        1024,
    )
    assert ivan["subscription_ends_at"] == "2032-05-06T05:08:09+00:00"

    ok(cli("user", "set", "ivan@example.com", "--password-stdin", input=OTHER_PASSWORD + "\n"))
    assert cli.services(
        lambda s: s.accounts.login("ivan@example.com", OTHER_PASSWORD, ip="192.0.2.1")
    )
    typed = f"{PASSWORD}\n{PASSWORD}\n"
    ok(cli("user", "set", "ivan@example.com", "--password-prompt", input=typed))
    assert cli.services(lambda s: s.accounts.login("ivan@example.com", PASSWORD, ip="192.0.2.1"))

    nothing = cli("user", "set", "ivan@example.com")
    assert nothing.exit_code == 2 and "nothing to change" in nothing.stderr
    missing = cli("user", "set", "nobody@example.com", "--role", "user")
    assert missing.exit_code == 1 and "no account" in missing.stderr


# -- tokens ----------------------------------------------------------------------------


def test_api_token_is_printed_once_and_works_until_revoked(cli: Cli) -> None:
    add_user(cli, "jane@example.com")
    created = ok(
        cli(
            "token", "create", "jane@example.com", "--kind", "api", "--name", "ci",
            "--scope", "read", "--expires-in-days", "30",
        )
    )  # fmt: skip
    # stdout is the secret alone (TOKEN=$(ephemail token create ...)); details on stderr.
    secret = created.stdout.strip()
    assert created.stdout == secret + "\n"
    parsed = parse_token(secret)
    assert parsed is not None and parsed.kind is TokenKind.API
    assert "not shown again" in created.stderr and secret not in created.stderr

    principal = cli.services(lambda s: s.accounts.principal_from_bearer(secret, ip="192.0.2.1"))
    assert principal.account is not None and principal.account.email == "jane@example.com"
    assert principal.scopes == frozenset({Scope.READ}) and principal.via is Via.API_TOKEN

    listed = ok(cli("token", "list", "jane@example.com", "--json"))
    assert secret not in listed.output and parsed.secret not in listed.output
    [row] = json.loads(listed.stdout)
    assert (row["kind"], row["name"], row["scopes"], row["revoked_at"]) == (
        "api",
        "ci",
        ["read"],
        None,
    )
    assert secret.startswith(row["prefix"]) and row["expires_at"] is not None
    text = ok(cli("token", "list", "jane@example.com")).stdout
    assert text.startswith(f"{row['id']}\tapi\tci\tread\t{row['prefix']}\texpires ")
    assert parsed.secret not in text

    ok(cli("token", "revoke", "jane@example.com", str(row["id"])))
    with pytest.raises(InvalidCredentials):
        cli.services(lambda s: s.accounts.principal_from_bearer(secret, ip="192.0.2.1"))
    [revoked] = json.loads(cli("token", "list", "jane@example.com", "--json").stdout)
    assert revoked["revoked_at"] is not None
    assert "revoked" in cli("token", "list", "jane@example.com").stdout

    unknown = cli("token", "revoke", "jane@example.com", "999999")
    assert unknown.exit_code == 1 and "no token 999999" in unknown.stderr
    add_user(cli, "kate@example.com")
    not_hers = cli("token", "revoke", "kate@example.com", str(row["id"]))
    assert not_hers.exit_code == 1


def test_default_api_scopes_and_imap_tokens(cli: Cli) -> None:
    add_user(cli, "lena@example.com")
    api = ok(cli("token", "create", "lena@example.com", "--kind", "api", "--name", "script"))
    principal = cli.services(
        lambda s: s.accounts.principal_from_bearer(api.stdout.strip(), ip="192.0.2.1")
    )
    assert principal.scopes == frozenset({Scope.READ, Scope.WRITE})

    imap = ok(cli("token", "create", "lena@example.com", "--kind", "imap", "--name", "phone"))
    secret = imap.stdout.strip()
    assert secret.startswith("eph_imap_")
    principal = cli.services(lambda s: s.accounts.imap_login("LENA@example.com", secret))
    assert principal.account is not None and principal.account.email == "lena@example.com"
    # An IMAP token is no bearer token.
    with pytest.raises(InvalidCredentials):
        cli.services(lambda s: s.accounts.principal_from_bearer(secret, ip="192.0.2.1"))

    scoped = cli(
        "token", "create", "lena@example.com", "--kind", "imap", "--name", "x", "--scope", "read"
    )
    assert scoped.exit_code == 2 and "no scopes" in scoped.stderr
    no_account = cli("token", "create", "nobody@example.com", "--kind", "api", "--name", "x")
    assert no_account.exit_code == 1 and no_account.stdout == ""
    assert cli("token", "list", "nobody@example.com").exit_code == 1
    assert (
        cli("token", "create", "lena@example.com", "--kind", "smtp", "--name", "x").exit_code == 2
    )
    assert len(json.loads(cli("token", "list", "lena@example.com", "--json").stdout)) == 2


# -- domains ---------------------------------------------------------------------------


def test_domain_owner_and_shared(cli: Cli) -> None:
    add_user(cli, "mia@example.com")
    ok(cli("domain", "add", "*.Mia.Test", "--owner", "MIA@example.com"))
    ok(cli("domain", "add", "shared.test", "--shared", "--retention-hours", "3"))
    ok(cli("domain", "add", "off.test", "--not-shared", "--inactive"))
    assert json.loads(ok(cli("domain", "list", "--json")).stdout) == [
        {"name": "mia.test", "active": True, "shared": False, "owner": "mia@example.com",
         "retention_hours": None},
        {"name": "off.test", "active": False, "shared": False, "owner": None,
         "retention_hours": None},
        {"name": "shared.test", "active": True, "shared": True, "owner": None,
         "retention_hours": 3.0},
    ]  # fmt: skip
    lines = ok(cli("domain", "list")).stdout.splitlines()
    assert lines == [
        "mia.test\tactive owner=mia@example.com",
        "off.test\tinactive",
        "shared.test\tactive shared retention=3h",
    ]

    no_owner = cli("domain", "add", "x.test", "--owner", "nobody@example.com")
    assert no_owner.exit_code == 1 and "no account" in no_owner.stderr
    assert cli("domain", "add", "mia.test").exit_code == 1  # registered already

    ok(cli("domain", "set-owner", "shared.test", "mia@example.com"))
    ok(cli("domain", "set-owner", "mia.test", "--none"))
    owners = {d["name"]: d["owner"] for d in json.loads(cli("domain", "list", "--json").stdout)}
    assert owners == {"mia.test": None, "shared.test": "mia@example.com", "off.test": None}
    missing = cli("domain", "set-owner", "nowhere.test", "--none")
    assert missing.exit_code == 1 and "not registered" in missing.stderr
    assert cli("domain", "set-owner", "mia.test", "nobody@example.com").exit_code == 1
    assert cli("domain", "set-owner", "mia.test").exit_code == 2
    assert cli("domain", "set-owner", "mia.test", "mia@example.com", "--none").exit_code == 2

    # Deleting the account leaves its domains unowned.
    ok(cli("user", "delete", "mia@example.com"))
    owners = {d["name"]: d["owner"] for d in json.loads(cli("domain", "list", "--json").stdout)}
    assert owners["shared.test"] is None


# -- mailboxes -------------------------------------------------------------------------


def test_mailboxes_owned_public_claimed(cli: Cli) -> None:
    add_user(cli, "nina@example.com")
    ok(cli("domain", "add", "nina.test", "--owner", "nina@example.com"))

    created = ok(cli("mailbox", "create", "Inbox@Nina.test", "--owner", "nina@example.com"))
    assert created.stdout.strip() == "created owned mailbox inbox@nina.test"
    assert cli("mailbox", "create", "inbox@nina.test", "--owner", "nina@example.com").exit_code == 1
    public = ok(cli("mailbox", "create", "open@public.test"))
    assert public.stdout.strip() == "created public mailbox open@public.test"
    duplicate = cli("mailbox", "create", "open@public.test")
    assert duplicate.exit_code == 1 and "exists already" in duplicate.stderr
    assert cli("mailbox", "create", "x@public.test", "--owner", "nobody@example.com").exit_code == 1
    assert cli("mailbox", "create", "not an address").exit_code == 2

    everything = json.loads(ok(cli("mailbox", "list", "--json")).stdout)
    assert [(m["address"], m["kind"], m["owner"]) for m in everything] == [
        ("inbox@nina.test", "owned", "nina@example.com"),
        ("open@public.test", "public", None),
    ]
    owned = json.loads(ok(cli("mailbox", "list", "--owner", "nina@example.com", "--json")).stdout)
    assert [(m["address"], m["messages"], m["bytes"]) for m in owned] == [("inbox@nina.test", 0, 0)]
    assert ok(cli("mailbox", "list")).stdout.splitlines() == [
        "inbox@nina.test\towned\towner=nina@example.com",
        "open@public.test\tpublic",
    ]
    [row] = json.loads(cli("user", "list", "--json").stdout)
    assert row["mailboxes"] == 1

    # Claim: a password on a public mailbox (created when absent); only once.
    claimed = ok(cli("mailbox", "claim", "open@public.test", "--password-stdin", input=PASSWORD))
    assert claimed.stdout.strip() == "claimed mailbox open@public.test"
    again = cli("mailbox", "claim", "open@public.test", "--password-stdin", input=OTHER_PASSWORD)
    assert again.exit_code == 1 and "claimed already" in again.stderr
    owned_claim = cli("mailbox", "claim", "inbox@nina.test", "--password-stdin", input=PASSWORD)
    assert owned_claim.exit_code == 1
    short = cli("mailbox", "claim", "new@public.test", "--password-stdin", input="short")
    assert short.exit_code == 2
    ok(cli("mailbox", "claim", "new@public.test", input=f"{PASSWORD}\n{PASSWORD}\n"))

    async def verify(services: AdminServices) -> tuple[bool, bool]:
        mailbox = await services.store.get_mailbox("open@public.test")
        assert mailbox is not None and mailbox.kind is MailboxKind.CLAIMED
        right = await services.accounts.verify_mailbox_password(mailbox, PASSWORD)
        wrong = await services.accounts.verify_mailbox_password(mailbox, OTHER_PASSWORD)
        return right, wrong

    assert cli.services(verify) == (True, False)
    kinds = {m["address"]: m["kind"] for m in json.loads(cli("mailbox", "list", "--json").stdout)}
    assert kinds == {
        "inbox@nina.test": "owned",
        "new@public.test": "claimed",
        "open@public.test": "claimed",
    }

    released = ok(cli("mailbox", "release", "open@public.test"))
    assert released.stdout.strip() == "released mailbox open@public.test"
    not_claimed = cli("mailbox", "release", "open@public.test")
    assert not_claimed.exit_code == 1 and "not claimed" in not_claimed.stderr

    assert ok(cli("mailbox", "delete", "open@public.test")).stdout.strip() == (
        "deleted mailbox open@public.test"
    )
    gone = cli("mailbox", "delete", "open@public.test")
    assert gone.exit_code == 1 and "no mailbox open@public.test" in gone.stderr

    # Deleting the account deletes the mailboxes it owns.
    ok(cli("user", "delete", "nina@example.com"))
    remaining = [m["address"] for m in json.loads(cli("mailbox", "list", "--json").stdout)]
    assert remaining == ["new@public.test"]


# -- real processes --------------------------------------------------------------------


def _process_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPHEMAIL_")}
    return {**env, "EPHEMAIL_DATA_DIR": str(tmp_path / "data"), **extra}


def run(
    tmp_path: Path, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ephemail", *args],
        env=_process_env(tmp_path, **env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        start_new_session=True,  # no controlling terminal: a prompt could not hang
    )


def test_real_process_stdin_token_capture_and_store_down(tmp_path: Path) -> None:
    added = run(tmp_path, "user", "add", "olga@example.com", "--password-stdin", stdin=PASSWORD)
    assert added.returncode == 0, added.stderr
    assert run(tmp_path, "user", "exists", "olga@example.com").returncode == 0
    created = run(
        tmp_path, "token", "create", "olga@example.com", "--kind", "imap", "--name", "mutt"
    )
    assert created.returncode == 0, created.stderr
    [secret] = created.stdout.splitlines()
    assert parse_token(secret) is not None
    listed = run(tmp_path, "token", "list", "olga@example.com")
    assert listed.returncode == 0 and secret not in listed.stdout
    no_password = run(tmp_path, "user", "add", "pia@example.com")  # stdin is empty
    assert no_password.returncode == 2 and "Traceback" not in no_password.stderr

    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    down = run(
        tmp_path,
        "user",
        "list",
        EPHEMAIL_DATABASE_URL=f"postgresql://x@127.0.0.1:{dead}/x",
    )
    assert down.returncode == 3 and "store unavailable" in down.stderr
    assert "Traceback" not in down.stderr


def _reap(pid: int, timeout: float = 30) -> int:
    """The child's wait status; killed (it is ours) when it does not end in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def test_real_terminal_prompt_does_not_echo_the_password(tmp_path: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        os.chdir(tmp_path)
        os.execve(
            sys.executable,
            [sys.executable, "-m", "ephemail", "user", "add", "quinn@example.com"],
            _process_env(tmp_path),
        )
    seen = b""

    def read_until(marker: bytes, timeout: float = 60) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError(f"no {marker!r} in {seen!r}")
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                raise AssertionError(f"no {marker!r} in {seen!r}") from None
            if not chunk:
                raise AssertionError(f"no {marker!r} in {seen!r}")
            seen += chunk

    try:
        read_until(b"Password: ")
        os.write(fd, PASSWORD.encode() + b"\n")
        read_until(b"Repeat for confirmation: ")
        os.write(fd, PASSWORD.encode() + b"\n")
        read_until(b"added user quinn@example.com")
    finally:
        status = _reap(pid)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert PASSWORD.encode() not in seen  # the terminal did not echo it
    assert run(tmp_path, "user", "exists", "quinn@example.com").returncode == 0


def test_mailbox_message_cap(cli: Cli) -> None:
    ok(cli("mailbox", "create", "capped@public.test"))
    assert ok(cli("mailbox", "cap", "capped@public.test", "3")).stdout.strip() == (
        "mailbox capped@public.test: cap 3"
    )

    async def cap(services: AdminServices) -> int | None:
        mailbox = await services.store.get_mailbox("capped@public.test")
        assert mailbox is not None
        return mailbox.max_messages

    assert cli.services(cap) == 3
    ok(cli("mailbox", "cap", "capped@public.test", "none"))
    assert cli.services(cap) is None
    assert cli("mailbox", "cap", "capped@public.test", "0").exit_code == 2
    assert cli("mailbox", "cap", "capped@public.test", "many").exit_code == 2
    assert cli("mailbox", "cap", "nobody@public.test", "3").exit_code == 1
