"""Settings: defaults, EPHEMAIL_* variables, seed aliases, .env, TOML, flags, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ephemail.domain.policy import AcceptMode
from ephemail.settings import ConfigError, load_settings

_ENV_NAMES = (
    "SMTP_PORT",
    "SMTP_RECEIVE_PORT",
    "API_PORT",
    "DOMAIN_NAME",
    "DATABASE_URL",
    "EMAIL_RETENTION_HOURS",
    "REJECT_NON_DOMAIN_EMAILS",
    "HEARTBEAT_URL",
    "IMAP_PORT",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in _ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"EPHEMAIL_{name}", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_are_the_open_dev_setup() -> None:
    s = load_settings()
    assert (s.smtp_bind, s.smtp_port, s.http_bind, s.http_port) == (
        "127.0.0.1",
        2525,
        "127.0.0.1",
        8025,
    )
    assert s.accept.mode is AcceptMode.ALL
    assert s.retention_hours == 24
    assert s.effective_database_url.startswith("sqlite:///")
    assert s.effective_database_url.endswith("data/ephemail.sqlite3")


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        ("SMTP_PORT", "2626", "smtp_port", 2626),
        ("SMTP_RECEIVE_PORT", "2727", "smtp_port", 2727),
        ("API_PORT", "9000", "http_port", 9000),
        ("DOMAIN_NAME", "Mail.Example.COM", "default_domain", "mail.example.com"),
        ("EMAIL_RETENTION_HOURS", "2.5", "retention_hours", 2.5),
        ("DATABASE_URL", "postgresql://u@h/db", "database_url", "postgresql://u@h/db"),
        ("HEARTBEAT_URL", "https://hb.example/x", "heartbeat_url", "https://hb.example/x"),
        ("EPHEMAIL_SMTP_PORT", "2828", "smtp_port", 2828),
        ("EPHEMAIL_SMTP_BANNER", "hello", "smtp_banner", "hello"),
    ],
)
def test_environment_and_seed_aliases(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str, expected: object
) -> None:
    monkeypatch.setenv(name, value)
    assert getattr(load_settings(), field) == expected


def test_reject_non_domain_emails_means_single_domain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOMAIN_NAME", "example.com")
    monkeypatch.setenv("REJECT_NON_DOMAIN_EMAILS", "true")
    s = load_settings()
    assert s.accept.mode is AcceptMode.SINGLE and s.accept.single_domain == "example.com"


def test_precedence_flags_over_env_over_dotenv_over_toml(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    toml = tmp_path / "ephemail.toml"
    toml.write_text('smtp_port = 1001\nhttp_port = 1002\nsmtp_banner = "toml"\nhostname = "t"\n')
    (tmp_path / ".env").write_text("EPHEMAIL_HTTP_PORT=2002\nEPHEMAIL_SMTP_BANNER=dotenv\n")
    monkeypatch.setenv("EPHEMAIL_SMTP_BANNER", "env")
    s = load_settings(toml, smtp_port=3001)
    assert s.smtp_port == 3001  # flag
    assert s.smtp_banner == "env"  # environment beats .env
    assert s.http_port == 2002  # .env beats TOML
    assert s.hostname == "t"  # TOML beats the default


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"smtp_port": 70000}, "smtp_port"),
        ({"accept_policy": "not a domain!"}, "accept_policy"),
        ({"heartbeat_url": "ftp://x"}, "heartbeat_url"),
        ({"database_url": "mysql://x"}, "database_url"),
        ({"default_domain": "bad..domain"}, "default_domain"),
        ({"smtp_max_recipients": 0}, "smtp_max_recipients"),
    ],
)
def test_invalid_configuration_names_the_setting(overrides: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(**overrides)


def test_invalid_environment_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PORT", "twenty")
    with pytest.raises(ConfigError, match=r"SMTP_PORT|smtp_port"):
        load_settings()


def test_missing_and_broken_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("smtp_port = = 1\n")
    with pytest.raises(ConfigError, match="invalid configuration"):
        load_settings(broken)


def test_webhook_allow_networks_are_checked_cidrs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPHEMAIL_WEBHOOK_ALLOW_NETWORKS", "127.0.0.1/32, 10.0.0.0/8,")
    assert load_settings().webhook_allow_networks == ["127.0.0.1/32", "10.0.0.0/8"]
    for bad in ("10.1.0.0/8", "not-a-network", "300.1.1.1/32"):
        with pytest.raises(ConfigError, match="webhook_allow_networks"):
            load_settings(webhook_allow_networks=[bad])
