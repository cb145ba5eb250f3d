"""The admin CLI through a real process: output, exit codes, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ephemail


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ephemail", *args],
        env={**os.environ, "EPHEMAIL_DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )


def test_db_upgrade_then_up_to_date(tmp_path: Path) -> None:
    first = run(tmp_path, "db", "upgrade")
    versions = Path(ephemail.__file__).parent / "adapters/sql/migrations/versions"
    head = max(p.name[:4] for p in versions.glob("[0-9][0-9][0-9][0-9]_*.py"))
    assert first.returncode == 0 and f"upgraded from empty to {head}" in first.stdout
    second = run(tmp_path, "db", "upgrade")
    assert second.returncode == 0 and "up to date" in second.stdout


def test_domain_lifecycle_and_exit_codes(tmp_path: Path) -> None:
    assert run(tmp_path, "domain", "add", "*.Example.COM", "--retention-hours", "2").returncode == 0
    duplicate = run(tmp_path, "domain", "add", "example.com")
    assert duplicate.returncode == 1 and "exists already" in duplicate.stderr
    listed = json.loads(run(tmp_path, "domain", "list", "--json").stdout)
    assert listed == [
        {
            "name": "example.com",
            "active": True,
            "shared": False,
            "owner": None,
            "retention_hours": 2.0,
        }
    ]
    assert "example.com\tactive retention=2h" in run(tmp_path, "domain", "list").stdout
    bad = run(tmp_path, "domain", "add", "not a domain")
    assert bad.returncode == 2 and "error:" in bad.stderr
    assert run(tmp_path, "domain", "remove", "example.com").returncode == 0
    missing = run(tmp_path, "domain", "remove", "example.com")
    assert missing.returncode == 1 and "not registered" in missing.stderr


def test_ban_lifecycle(tmp_path: Path) -> None:
    added = run(tmp_path, "ban", "add", "sender", "contains:Viagra", "--reason", "spam")
    assert added.returncode == 0, added.stderr
    assert "sender contains 'viagra' (active)" in added.stdout
    assert run(tmp_path, "ban", "add", "ip", "10.0.0.0/8", "--status", "inactive").returncode == 0
    bans = json.loads(run(tmp_path, "ban", "list", "--json").stdout)
    assert [(b["scope"], b["match"], b["value"], b["status"]) for b in bans] == [
        ("sender", "contains", "viagra", "active"),
        ("ip", "exact", "10.0.0.0/8", "inactive"),
    ]
    bad_ip = run(tmp_path, "ban", "add", "ip", "999.1.1.1")
    assert bad_ip.returncode == 2 and "error:" in bad_ip.stderr
    bad_scope = run(tmp_path, "ban", "add", "planet", "mars")
    assert bad_scope.returncode == 2
    assert run(tmp_path, "ban", "remove", str(bans[0]["id"])).returncode == 0
    assert run(tmp_path, "ban", "remove", str(bans[0]["id"])).returncode == 1


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SMTP_PORT": "seventy"}, "SMTP_PORT"),
        ({"EPHEMAIL_ACCEPT_POLICY": "bad domain!"}, "accept_policy"),
        ({"DATABASE_URL": "mysql://nope"}, "DATABASE_URL"),
    ],
)
def test_invalid_configuration_fails_at_start_naming_the_setting(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    result = run(tmp_path, "serve", **env)
    assert result.returncode == 2
    assert named.lower() in result.stderr.lower()


def test_missing_config_file(tmp_path: Path) -> None:
    result = run(tmp_path, "--config", str(tmp_path / "missing.toml"), "serve")
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_port_in_use_and_unreachable_database_are_clear_errors(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        clash = run(tmp_path, "serve", "--smtp-port", str(port), "--http-port", "0")
    assert clash.returncode == 4
    assert "cannot start" in clash.stderr and "address already in use" in clash.stderr

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]  # nothing listens here once closed
    down = run(tmp_path, "db", "upgrade", DATABASE_URL=f"postgresql://x@127.0.0.1:{dead}/x")
    assert down.returncode == 3
    assert "store unavailable" in down.stderr and "Traceback" not in down.stderr
