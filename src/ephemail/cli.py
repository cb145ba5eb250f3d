"""The `ephemail` command: serve, db, domain and ban administration.

Exit codes: 0 success, 1 the thing asked for is missing or exists already,
2 bad usage or invalid configuration, 3 the store is unavailable, 4 a listener
could not start (e.g. the port is in use).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ephemail.app import Application, DatabaseUrlError, open_store, upgrade_database
from ephemail.domain.address import AddressError
from ephemail.domain.bans import BanError
from ephemail.logs import configure_logging
from ephemail.ports import ConflictError, StoreError
from ephemail.services.admin import PolicyAdmin
from ephemail.settings import ConfigError, Settings, load_settings

T = TypeVar("T")


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    try:
        return load_settings(ctx.obj.get("config"), **overrides)
    except ConfigError as exc:
        _fail(str(exc), 2)
        raise AssertionError from exc  # unreachable


def _run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    try:
        return asyncio.run(main())
    except (ConfigError, DatabaseUrlError) as exc:
        _fail(str(exc), 2)
    except (AddressError, BanError, ValueError) as exc:
        _fail(str(exc), 2)
    except ConflictError as exc:
        _fail(str(exc), 1)
    except StoreError as exc:
        _fail(f"store unavailable: {exc}", 3)
    except OSError as exc:
        _fail(f"cannot start: {exc}", 4)
    raise AssertionError("unreachable")


async def _with_admin(settings: Settings, action: Callable[[PolicyAdmin], Awaitable[T]]) -> T:
    store = await open_store(settings)
    try:
        return await action(PolicyAdmin(store))
    finally:
        await store.close()


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


@main.group()
def domain() -> None:
    """Registered domains (used by the `domains` accept policy and retention)."""


@domain.command("add")
@click.argument("name")
@click.option("--inactive", is_flag=True, help="Register it switched off.")
@click.option("--shared", is_flag=True, help="Any account may create mailboxes on it.")
@click.option("--retention-hours", type=float, help="Override the global retention (0 = keep).")
@click.pass_context
def domain_add(
    ctx: click.Context, name: str, inactive: bool, shared: bool, retention_hours: float | None
) -> None:
    """Register NAME (and, with it, every subdomain)."""
    record = _run(
        _with_admin(
            _settings(ctx),
            lambda a: a.add_domain(
                name, active=not inactive, shared=shared, retention_hours=retention_hours
            ),
        )
    )
    click.echo(f"added domain {record.name}")


@domain.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def domain_list(ctx: click.Context, as_json: bool) -> None:
    """List registered domains."""
    records = _run(_with_admin(_settings(ctx), lambda a: a.list_domains()))
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "name": r.name,
                        "active": r.active,
                        "shared": r.shared,
                        "retention_hours": r.retention_hours,
                    }
                    for r in records
                ]
            )
        )
        return
    for r in records:
        flags = ["active" if r.active else "inactive"] + (["shared"] if r.shared else [])
        if r.retention_hours is not None:
            flags.append(f"retention={r.retention_hours:g}h")
        click.echo(f"{r.name}\t{' '.join(flags)}")


@domain.command("remove")
@click.argument("name")
@click.pass_context
def domain_remove(ctx: click.Context, name: str) -> None:
    """Unregister NAME. Exit 1 when it is not registered."""
    if not _run(_with_admin(_settings(ctx), lambda a: a.remove_domain(name))):
        _fail(f"domain {name} is not registered", 1)
    click.echo(f"removed domain {name}")


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
