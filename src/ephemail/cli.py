"""The `ephemail` command: serve, db, and the administration of users, tokens,
domains, mailboxes and bans.

Exit codes: 0 success, 1 the thing asked for is missing or exists already,
2 bad usage or invalid input or configuration, 3 the store is unavailable, 4 a
listener could not start (e.g. the port is in use).

The administration commands run on the server with direct access to the store, as
the operator (`Principal.operator()`: an admin). Passwords are never taken from the
command line (it shows in `ps` and shell history): they come from a hidden prompt
with confirmation, or with `--password-stdin` from the first line of standard input.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, NoReturn, TypeVar

import click

from ephemail.app import (
    AdminServices,
    Application,
    DatabaseUrlError,
    open_admin_services,
    open_mcp_services,
    open_store,
    upgrade_database,
)
from ephemail.domain.accounts import (
    Account,
    Role,
    Scope,
    SubscriptionStatus,
    TokenInfo,
    TokenKind,
    check_password_policy,
    normalize_account_email,
)
from ephemail.domain.address import AddressError, normalize_domain
from ephemail.domain.bans import BanError
from ephemail.domain.messages import Mailbox, MailboxKind
from ephemail.logs import configure_logging
from ephemail.ports import ConflictError, StoreError
from ephemail.services.access import AccessDenied, Principal
from ephemail.services.accounts import AccountNotFound, TokenNotFound
from ephemail.services.admin import PolicyAdmin
from ephemail.services.mailboxes import MailboxNotAllowed
from ephemail.services.ownership import AlreadyClaimed, MailboxNotFound, NotClaimed
from ephemail.settings import ConfigError, Settings, load_settings

T = TypeVar("T")

OPERATOR = Principal.operator()
# What the claim rate limit keys on for the console (the operator is not rate limited).
_CONSOLE_IP = "console"


class Missing(Exception):
    """Something the command names does not exist (exit 1)."""


# Errors that mean "the thing is missing" or "it exists already" (exit 1).
_MISSING_OR_DUPLICATE = (
    Missing,
    ConflictError,
    AccountNotFound,
    TokenNotFound,
    MailboxNotFound,
    AlreadyClaimed,
    NotClaimed,
)
# Errors in what the operator asked for (exit 2). AccountEmailError and
# PasswordPolicyError are ValueErrors.
_INVALID = (AddressError, BanError, ValueError, MailboxNotAllowed, AccessDenied)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    try:
        return load_settings(ctx.obj.get("config"), **overrides)
    except ConfigError as exc:
        _fail(str(exc), 2)


def _run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    try:
        return asyncio.run(main())
    except (ConfigError, DatabaseUrlError) as exc:
        _fail(str(exc), 2)
    except _MISSING_OR_DUPLICATE as exc:
        _fail(str(exc) or type(exc).__name__, 1)
    except _INVALID as exc:
        _fail(str(exc) or type(exc).__name__, 2)
    except StoreError as exc:
        _fail(f"store unavailable: {exc}", 3)
    except OSError as exc:
        _fail(f"cannot start: {exc}", 4)


async def _with_admin(settings: Settings, action: Callable[[PolicyAdmin], Awaitable[T]]) -> T:
    store = await open_store(settings)
    try:
        return await action(PolicyAdmin(store))
    finally:
        await store.close()


def _admin(ctx: click.Context, action: Callable[[AdminServices], Awaitable[T]]) -> T:
    """Run `action` on the services over the configured store (exit codes as above)."""
    settings = _settings(ctx)

    async def act() -> T:
        async with open_admin_services(settings) as services:
            return await action(services)

    return _run(act())


# -- input -----------------------------------------------------------------------------


def _read_password(from_stdin: bool, prompt: str = "Password") -> str:
    """A password from the first line of stdin, or from a hidden prompt asked twice.
    Checked against the password policy here, so a bad one fails before any change."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not line:
            _fail("--password-stdin: nothing on standard input", 2)
    else:
        try:
            password = str(
                click.prompt(prompt, hide_input=True, confirmation_prompt=True, type=str)
            )
        except click.Abort:
            click.echo("", err=True)
            _fail("no password given", 2)
    try:
        check_password_policy(password)
    except ValueError as exc:
        _fail(str(exc), 2)
    return password


def _email(raw: str) -> str:
    try:
        return normalize_account_email(raw)
    except ValueError as exc:
        _fail(str(exc), 2)


class _Moment(click.ParamType[datetime]):
    """An ISO 8601 date (midnight UTC) or date-time (UTC when it has no offset)."""

    name = "DATE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date, e.g. 2030-01-31", param, ctx)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)  # the store keeps UTC


class _Bytes(click.ParamType[int]):
    """A size in bytes: `1048576`, or with a suffix `K`, `M`, `G`, `T` (powers of 1024)."""

    name = "BYTES"
    _UNITS: ClassVar[dict[str, int]] = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().removesuffix("B").removesuffix("I")
        factor = self._UNITS.get(text[-1:], 1)
        digits = text[:-1] if factor != 1 else text
        if not digits.isdigit():
            self.fail(f"{value!r} is not a size, e.g. 1048576 or 500M", param, ctx)
        return int(digits) * factor


_SUBSCRIPTIONS = click.Choice([s.value for s in SubscriptionStatus], case_sensitive=False)
_ROLES = click.Choice([r.value for r in Role], case_sensitive=False)


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


async def _account(services: AdminServices, raw_email: str) -> Account:
    account = await services.accounts.account_by_email(_email(raw_email))
    if account is None:
        raise AccountNotFound(f"no account {raw_email.strip().lower()}")
    return account


# -- the command group ---------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML configuration file.",
)
@click.version_option(package_name="ephemail")
@click.pass_context
def main(ctx: click.Context, config: Path | None) -> None:
    """ephemail: a self-hostable temporary-mail server."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--database-url", help="sqlite:///path or postgresql://user@host/db")
@click.option("--smtp-bind")
@click.option("--smtp-port", type=int)
@click.option("--http-bind")
@click.option("--http-port", type=int)
@click.option("--hostname", help="Name used in the SMTP greeting and Received headers.")
@click.option("--accept-policy", help="all | domains | <single domain>")
@click.option("--default-domain")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
@click.pass_context
def serve(ctx: click.Context, /, **flags: Any) -> None:
    """Run SMTP, IMAP and HTTP (the API) until SIGTERM/SIGINT."""
    settings = _settings(ctx, **flags)
    configure_logging(settings.log_level, settings.log_format)
    _run(Application(settings).run_until_signalled())


@main.command("mcp")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--database-url", help="sqlite:///path or postgresql://user@host/db")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
@click.pass_context
def mcp_stdio(ctx: click.Context, /, **flags: Any) -> None:
    """Serve MCP over stdin/stdout for a local AI agent, on the store of `ephemail
    serve` (same configuration). The API token comes from the environment variable
    EPHEMAIL_TOKEN; without it the agent is anonymous. Logs go to stderr."""
    from ephemail.mcp.server import run_stdio  # the SDK is large: only for this command

    settings = _settings(ctx, **flags)
    configure_logging(settings.log_level, settings.log_format)
    token = os.environ.get("EPHEMAIL_TOKEN", "").strip() or None

    async def serve() -> None:
        async with open_mcp_services(settings, token=token) as opened:
            await run_stdio(opened.tools, opened.principal_for)

    _run(serve())


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply every pending migration."""
    before, after = _run(upgrade_database(_settings(ctx)))
    if before == after:
        click.echo(f"schema is up to date (revision {after})")
    else:
        click.echo(f"schema upgraded from {before or 'empty'} to {after}")


# -- users ---------------------------------------------------------------------------


@main.group()
def user() -> None:
    """Accounts (passwords come from a prompt or stdin, never from the command line)."""


@user.command("add")
@click.argument("email")
@click.option("--admin", "is_admin", is_flag=True, help="Give the account the admin role.")
@click.option("--subscription", type=_SUBSCRIPTIONS, default=SubscriptionStatus.INACTIVE.value)
@click.option("--until", type=_Moment(), help="End of the subscription (ISO 8601).")
@click.option("--quota", type=_Bytes(), help="Size quota (default: the deployment's).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")
@click.pass_context
def user_add(
    ctx: click.Context,
    email: str,
    is_admin: bool,
    subscription: str,
    until: datetime | None,
    quota: int | None,
    password_stdin: bool,
) -> None:
    """Create the account EMAIL. Exit 1 when it exists already."""
    address = _email(email)

    async def add(services: AdminServices) -> Account:
        if await services.accounts.account_by_email(address) is not None:
            raise ConflictError(f"account {address} exists already")
        password = _read_password(password_stdin)
        return await services.accounts.add_account(
            address,
            password,
            role=Role.ADMIN if is_admin else Role.USER,
            subscription_status=SubscriptionStatus(subscription.lower()),
            subscription_ends_at=until,
            quota_bytes=quota,
        )

    account = _admin(ctx, add)
    click.echo(f"added {account.role.value} {account.email} (id {account.id})")


@user.command("set")
@click.argument("email")
@click.option("--role", type=_ROLES)
@click.option("--subscription", type=_SUBSCRIPTIONS)
@click.option("--until", type=_Moment(), help="End of the subscription (ISO 8601).")
@click.option("--quota", type=_Bytes(), help="Size quota of the account's mailboxes.")
@click.option("--password-stdin", is_flag=True, help="New password from stdin's first line.")
@click.option("--password-prompt", is_flag=True, help="Ask for a new password (hidden).")
@click.pass_context
def user_set(
    ctx: click.Context,
    email: str,
    role: str | None,
    subscription: str | None,
    until: datetime | None,
    quota: int | None,
    password_stdin: bool,
    password_prompt: bool,
) -> None:
    """Change the account EMAIL. Exit 1 when there is none."""
    address = _email(email)
    new_password = password_stdin or password_prompt
    nothing = role is None and subscription is None and until is None and quota is None
    if nothing and not new_password:
        _fail("nothing to change (see --help)", 2)

    async def change(services: AdminServices) -> Account:
        account = await _account(services, address)
        password = _read_password(password_stdin, "New password") if new_password else None
        return await services.accounts.update_account(
            OPERATOR,
            account.id,
            role=Role(role.lower()) if role else None,
            subscription_status=SubscriptionStatus(subscription.lower()) if subscription else None,
            subscription_ends_at=until,
            quota_bytes=quota,
            password=password,
        )

    account = _admin(ctx, change)
    click.echo(f"updated {account.email}")


@user.command("delete")
@click.argument("email")
@click.pass_context
def user_delete(ctx: click.Context, email: str) -> None:
    """Delete the account EMAIL, its tokens, sessions and owned mailboxes. Exit 1 when
    there is none."""

    async def delete(services: AdminServices) -> str:
        account = await _account(services, email)
        await services.accounts.delete_account(OPERATOR, account.id)
        return account.email

    click.echo(f"deleted {_admin(ctx, delete)}")


@user.command("exists")
@click.argument("email")
@click.pass_context
def user_exists(ctx: click.Context, email: str) -> None:
    """Exit 0 when the account EMAIL exists, 1 when not."""
    address = _email(email)

    async def exists(services: AdminServices) -> bool:
        return await services.accounts.account_by_email(address) is not None

    if not _admin(ctx, exists):
        sys.exit(1)


@user.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def user_list(ctx: click.Context, as_json: bool) -> None:
    """List accounts with their owned mailboxes and the bytes those hold."""

    async def listing(services: AdminServices) -> list[dict[str, Any]]:
        rows = []
        for account in await services.accounts.list_accounts(OPERATOR):
            usage = await services.ownership.usage(OPERATOR, account_id=account.id)
            rows.append(
                {
                    "id": account.id,
                    "email": account.email,
                    "role": account.role.value,
                    "subscription_status": account.subscription_status.value,
                    "subscription_ends_at": _time(account.subscription_ends_at),
                    "quota_bytes": account.quota_bytes,
                    "created_at": _time(account.created_at),
                    "mailboxes": usage.mailboxes,
                    "used_bytes": usage.used_bytes,
                }
            )
        return rows

    rows = _admin(ctx, listing)
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        subscription = r["subscription_status"]
        if r["subscription_ends_at"]:
            subscription += f" until {r['subscription_ends_at']}"
        quota = "default" if r["quota_bytes"] is None else str(r["quota_bytes"])
        click.echo(
            f"{r['email']}\t{r['role']}\t{subscription}\tquota={quota}\t"
            f"mailboxes={r['mailboxes']}\tused={r['used_bytes']}"
        )


# -- tokens --------------------------------------------------------------------------


def _token_row(token: TokenInfo) -> dict[str, Any]:
    return {
        "id": token.id,
        "kind": token.kind.value,
        "name": token.name,
        "scopes": sorted(scope.value for scope in token.scopes),
        "prefix": token.prefix,
        "created_at": _time(token.created_at),
        "expires_at": _time(token.expires_at),
        "last_used_at": _time(token.last_used_at),
        "revoked_at": _time(token.revoked_at),
    }


@main.group()
def token() -> None:
    """API tokens (HTTP) and IMAP app tokens of an account."""


@token.command("create")
@click.argument("email")
@click.option("--kind", type=click.Choice(["api", "imap"], case_sensitive=False), required=True)
@click.option("--name", required=True, help="What the token is for (shown in lists).")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice([s.value for s in Scope], case_sensitive=False),
    help="API tokens: read, write, admin (repeat it); default read and write.",
)
@click.option("--expires-in-days", type=click.IntRange(1, 3650))
@click.pass_context
def token_create(
    ctx: click.Context,
    email: str,
    kind: str,
    name: str,
    scopes: tuple[str, ...],
    expires_in_days: int | None,
) -> None:
    """Create a token for EMAIL. Its secret is printed once, alone on the first line
    of stdout (`TOKEN=$(ephemail token create ...)`); the details go to stderr."""
    token_kind = TokenKind(kind.lower())
    if token_kind is TokenKind.IMAP and scopes:
        _fail("IMAP app tokens have no scopes", 2)
    chosen = frozenset(Scope(s.lower()) for s in scopes)
    if token_kind is TokenKind.API and not chosen:
        chosen = frozenset({Scope.READ, Scope.WRITE})

    async def create(services: AdminServices) -> tuple[str, TokenInfo]:
        account = await _account(services, email)
        expires_at = None
        if expires_in_days is not None:
            expires_at = datetime.now(UTC) + timedelta(days=expires_in_days)
        issued = await services.accounts.create_token(
            OPERATOR,
            kind=token_kind,
            name=name,
            scopes=chosen,
            expires_at=expires_at,
            account_id=account.id,
        )
        return issued.secret, issued.info

    secret, info = _admin(ctx, create)
    click.echo(secret)
    scope_text = " ".join(sorted(s.value for s in info.scopes)) or "-"
    click.echo(
        f"created {info.kind.value} token {info.id} {info.name!r} ({info.prefix}..., "
        f"scopes {scope_text}, expires {_time(info.expires_at) or 'never'}); "
        "the secret above is not shown again",
        err=True,
    )


@token.command("list")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def token_list(ctx: click.Context, email: str, as_json: bool) -> None:
    """List the tokens of EMAIL (never their secrets)."""

    async def listing(services: AdminServices) -> list[TokenInfo]:
        account = await _account(services, email)
        return await services.accounts.list_tokens(OPERATOR, account_id=account.id)

    rows = [_token_row(t) for t in _admin(ctx, listing)]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        state = "revoked" if r["revoked_at"] else f"expires {r['expires_at'] or 'never'}"
        click.echo(
            f"{r['id']}\t{r['kind']}\t{r['name']}\t{' '.join(r['scopes']) or '-'}\t"
            f"{r['prefix']}\t{state}\tlast used {r['last_used_at'] or 'never'}"
        )


@token.command("revoke")
@click.argument("email")
@click.argument("token_id", type=int)
@click.pass_context
def token_revoke(ctx: click.Context, email: str, token_id: int) -> None:
    """Revoke the token TOKEN_ID of EMAIL. Exit 1 when it has none with that id."""

    async def revoke(services: AdminServices) -> None:
        account = await _account(services, email)
        try:
            await services.accounts.revoke_token(OPERATOR, token_id, account_id=account.id)
        except TokenNotFound:
            raise Missing(f"{account.email} has no token {token_id}") from None

    _admin(ctx, revoke)
    click.echo(f"revoked token {token_id}")


# -- domains -------------------------------------------------------------------------


@main.group()
def domain() -> None:
    """Registered domains (used by the `domains` accept policy, retention and ownership)."""


@domain.command("add")
@click.argument("name")
@click.option("--owner", help="Account (email) that owns the domain and its mailboxes.")
@click.option(
    "--shared/--not-shared", default=False, help="Any account may create mailboxes on it."
)
@click.option("--inactive", is_flag=True, help="Register it switched off.")
@click.option("--retention-hours", type=float, help="Override the global retention (0 = keep).")
@click.pass_context
def domain_add(
    ctx: click.Context,
    name: str,
    owner: str | None,
    shared: bool,
    inactive: bool,
    retention_hours: float | None,
) -> None:
    """Register NAME (and, with it, every subdomain). Exit 1 when it is registered
    already or the owner account does not exist."""

    async def add(services: AdminServices) -> str:
        owner_account = await _account(services, owner) if owner is not None else None
        record = await services.policy_admin.add_domain(
            name, active=not inactive, shared=shared, retention_hours=retention_hours
        )
        if owner_account is not None:
            await services.store.set_domain_owner(record.name, owner_account.id)
        return record.name

    click.echo(f"added domain {_admin(ctx, add)}")


@domain.command("set-owner")
@click.argument("name")
@click.argument("email", required=False)
@click.option("--none", "no_owner", is_flag=True, help="Make the domain unowned.")
@click.pass_context
def domain_set_owner(ctx: click.Context, name: str, email: str | None, no_owner: bool) -> None:
    """Give the domain NAME to the account EMAIL, or to nobody with --none. Exit 1 when
    the domain is not registered or the account does not exist."""
    if (email is None) == (not no_owner):
        _fail("give either an account EMAIL or --none", 2)

    async def set_owner(services: AdminServices) -> str:
        domain_name = normalize_domain(name)
        account = await _account(services, email) if email is not None else None
        if not await services.store.set_domain_owner(
            domain_name, account.id if account is not None else None
        ):
            raise Missing(f"domain {domain_name} is not registered")
        return account.email if account is not None else "nobody"

    click.echo(f"domain {name.strip().lower()} now belongs to {_admin(ctx, set_owner)}")


@domain.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def domain_list(ctx: click.Context, as_json: bool) -> None:
    """List registered domains with their owner."""

    async def listing(services: AdminServices) -> list[dict[str, Any]]:
        emails = {a.id: a.email for a in await services.accounts.list_accounts(OPERATOR)}
        return [
            {
                "name": r.name,
                "active": r.active,
                "shared": r.shared,
                "owner": emails.get(r.owner_account_id) if r.owner_account_id else None,
                "retention_hours": r.retention_hours,
            }
            for r in await services.policy_admin.list_domains()
        ]

    rows = _admin(ctx, listing)
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        flags = ["active" if r["active"] else "inactive"] + (["shared"] if r["shared"] else [])
        if r["retention_hours"] is not None:
            flags.append(f"retention={r['retention_hours']:g}h")
        if r["owner"] is not None:
            flags.append(f"owner={r['owner']}")
        click.echo(f"{r['name']}\t{' '.join(flags)}")


@domain.command("remove")
@click.argument("name")
@click.pass_context
def domain_remove(ctx: click.Context, name: str) -> None:
    """Unregister NAME. Exit 1 when it is not registered."""
    if not _run(_with_admin(_settings(ctx), lambda a: a.remove_domain(name))):
        _fail(f"domain {name} is not registered", 1)
    click.echo(f"removed domain {name}")


# -- mailboxes -----------------------------------------------------------------------


@main.group()
def mailbox() -> None:
    """Mailboxes: public, claimed (a first-claim password) or owned by an account."""


@mailbox.command("create")
@click.argument("address")
@click.option("--owner", help="Account (email) that owns it; without, a public mailbox.")
@click.pass_context
def mailbox_create(ctx: click.Context, address: str, owner: str | None) -> None:
    """Create the mailbox ADDRESS. Exit 1 when it exists already."""

    async def create(services: AdminServices) -> Mailbox:
        if owner is not None:
            account = await _account(services, owner)
            return await services.ownership.create_owned(OPERATOR, address, account_id=account.id)
        created, new = await services.mailboxes.create_mailbox(OPERATOR, address, None)
        if not new:
            raise ConflictError(f"mailbox {created.address} exists already")
        return created

    created = _admin(ctx, create)
    click.echo(f"created {created.kind.value} mailbox {created.address}")


@mailbox.command("list")
@click.option("--owner", help="Only the mailboxes of this account (email).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def mailbox_list(ctx: click.Context, owner: str | None, as_json: bool) -> None:
    """List every mailbox (address order), or those an account owns with their usage."""

    async def listing(services: AdminServices) -> list[dict[str, Any]]:
        emails = {a.id: a.email for a in await services.accounts.list_accounts(OPERATOR)}

        def row(m: Mailbox) -> dict[str, Any]:
            return {
                "address": m.address,
                "kind": m.kind.value,
                "owner": emails.get(m.owner_account_id) if m.owner_account_id else None,
                "created_at": _time(m.created_at),
                "max_messages": m.max_messages,
            }

        if owner is not None:
            account = await _account(services, owner)
            owned = await services.ownership.list_owned(OPERATOR, account_id=account.id)
            return [
                row(o.mailbox) | {"messages": o.usage.messages, "bytes": o.usage.bytes}
                for o in owned
            ]
        rows: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            page = await services.ownership.list_all(OPERATOR, limit=500, after=after)
            rows.extend(row(m) for m in page)
            if len(page) < 500:
                return rows
            after = page[-1].address

    rows = _admin(ctx, listing)
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        line = f"{r['address']}\t{r['kind']}"
        if r["owner"] is not None:
            line += f"\towner={r['owner']}"
        if "messages" in r:
            line += f"\tmessages={r['messages']}\tbytes={r['bytes']}"
        click.echo(line)


@mailbox.command("delete")
@click.argument("address")
@click.pass_context
def mailbox_delete(ctx: click.Context, address: str) -> None:
    """Delete the mailbox ADDRESS with every message. Exit 1 when there is none."""

    async def delete(services: AdminServices) -> str:
        normalized = services.mailboxes.address(address)
        try:
            await services.ownership.delete_mailbox(OPERATOR, normalized)
        except MailboxNotFound:
            raise Missing(f"no mailbox {normalized}") from None
        return normalized

    click.echo(f"deleted mailbox {_admin(ctx, delete)}")


@mailbox.command("claim")
@click.argument("address")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")
@click.pass_context
def mailbox_claim(ctx: click.Context, address: str, password_stdin: bool) -> None:
    """Claim the public mailbox ADDRESS with a password (created when absent). Exit 1
    when it is claimed or owned already."""

    async def claim(services: AdminServices) -> Mailbox:
        status = await services.ownership.status(OPERATOR, address)
        if status.kind is not MailboxKind.PUBLIC:
            raise AlreadyClaimed(f"mailbox {status.address} is {status.kind.value} already")
        password = _read_password(password_stdin)
        return await services.ownership.claim(OPERATOR, address, password, ip=_CONSOLE_IP)

    claimed = _admin(ctx, claim)
    click.echo(f"claimed mailbox {claimed.address}")


@mailbox.command("release")
@click.argument("address")
@click.pass_context
def mailbox_release(ctx: click.Context, address: str) -> None:
    """Make the claimed mailbox ADDRESS public again (the operator needs no password).
    Exit 1 when it is not claimed."""

    async def release(services: AdminServices) -> Mailbox:
        normalized = services.mailboxes.address(address)
        try:
            return await services.ownership.release(OPERATOR, normalized, "", ip=_CONSOLE_IP)
        except NotClaimed:
            raise Missing(f"mailbox {normalized} is not claimed") from None

    released = _admin(ctx, release)
    click.echo(f"released mailbox {released.address}")


@mailbox.command("cap")
@click.argument("address")
@click.argument("max_messages", metavar="N|none")
@click.pass_context
def mailbox_cap(ctx: click.Context, address: str, max_messages: str) -> None:
    """Set the most messages ADDRESS may hold (SMTP answers `452 4.2.2` when full), or
    `none` for the deployment default. Exit 1 when there is no such mailbox."""
    if max_messages.strip().lower() == "none":
        cap: int | None = None
    else:
        try:
            cap = int(max_messages)
        except ValueError:
            _fail(f"N must be a whole number or 'none', not {max_messages!r}", 2)
            raise AssertionError from None  # unreachable

    async def set_cap(services: AdminServices) -> str:
        normalized = services.mailboxes.address(address)
        try:
            await services.ownership.set_message_cap(OPERATOR, normalized, cap)
        except MailboxNotFound:
            raise Missing(f"no mailbox {normalized}") from None
        return normalized

    normalized = _admin(ctx, set_cap)
    click.echo(f"mailbox {normalized}: cap {'default' if cap is None else cap}")


# -- bans ----------------------------------------------------------------------------


@main.group()
def ban() -> None:
    """Bans on senders, domains, addresses and client IPs."""


@ban.command("add")
@click.argument(
    "scope",
    type=click.Choice(
        ["sender", "sender_domain", "recipient_domain", "address", "ip", "email", "domain"],
        case_sensitive=False,
    ),
)
@click.argument("value")
@click.option(
    "--match", type=click.Choice(["exact", "contains"], case_sensitive=False), default=None
)
@click.option(
    "--status", type=click.Choice(["active", "inactive"], case_sensitive=False), default=None
)
@click.option("--reason", default="")
@click.pass_context
def ban_add(
    ctx: click.Context, scope: str, value: str, match: str | None, status: str | None, reason: str
) -> None:
    """Ban VALUE in SCOPE (`contains:foo` as VALUE means --match contains)."""
    created = _run(
        _with_admin(
            _settings(ctx),
            lambda a: a.add_ban(scope, value, match=match, status=status, reason=reason),
        )
    )
    click.echo(
        f"added ban {created.id}: {created.scope.value} {created.match.value} "
        f"{created.value!r} ({created.status.value})"
    )


@ban.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ban_list(ctx: click.Context, as_json: bool) -> None:
    """List bans."""
    bans = _run(_with_admin(_settings(ctx), lambda a: a.list_bans()))
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "id": b.id,
                        "scope": b.scope.value,
                        "match": b.match.value,
                        "value": b.value,
                        "status": b.status.value,
                        "reason": b.reason,
                    }
                    for b in bans
                ]
            )
        )
        return
    for b in bans:
        click.echo(
            f"{b.id}\t{b.scope.value}\t{b.match.value}\t{b.value}\t{b.status.value}\t{b.reason}"
        )


@ban.command("remove")
@click.argument("ban_id", type=int)
@click.pass_context
def ban_remove(ctx: click.Context, ban_id: int) -> None:
    """Remove the ban with id BAN_ID. Exit 1 when there is none."""
    if not _run(_with_admin(_settings(ctx), lambda a: a.remove_ban(ban_id))):
        _fail(f"no ban with id {ban_id}", 1)
    click.echo(f"removed ban {ban_id}")
