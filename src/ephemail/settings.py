"""Configuration: one source of truth for every component.

Precedence, highest first: CLI flags, `EPHEMAIL_*` environment variables (and the
seed systems' names, e.g. `SMTP_PORT`), a `.env` file, a TOML file (`--config`),
built-in defaults. The defaults are the open development setup: accept any
recipient, everything bound to 127.0.0.1, SQLite under `./data`.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ephemail.domain.address import AddressError, normalize_domain
from ephemail.domain.policy import AcceptPolicy, parse_accept_policy

MiB = 1024 * 1024


def _aliases(name: str, *legacy: str) -> AliasChoices:
    """Accept the field name (TOML, flags), EPHEMAIL_<NAME> and the seed names."""
    return AliasChoices(name, f"EPHEMAIL_{name.upper()}", *legacy)


class ConfigError(Exception):
    """Invalid configuration; the message names the setting."""


class Settings(BaseSettings):
    """Every setting of ephemail. See README "Configuration" for the table."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
    )

    # -- general --------------------------------------------------------------
    data_dir: Path = Field(Path("data"), validation_alias=_aliases("data_dir"))
    database_url: str | None = Field(
        None, validation_alias=_aliases("database_url", "DATABASE_URL")
    )
    hostname: str = Field(default_factory=socket.gethostname, validation_alias=_aliases("hostname"))
    default_domain: str = Field(
        "localhost", validation_alias=_aliases("default_domain", "DOMAIN_NAME")
    )
    accept_policy: str = Field("all", validation_alias=_aliases("accept_policy"))
    reject_non_domain_emails: bool = Field(
        False,
        validation_alias=_aliases("reject_non_domain_emails", "REJECT_NON_DOMAIN_EMAILS"),
    )
    allow_substring_bans: bool = Field(True, validation_alias=_aliases("allow_substring_bans"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=_aliases("log_level")
    )
    log_format: Literal["text", "json"] = Field("text", validation_alias=_aliases("log_format"))

    # -- SMTP -----------------------------------------------------------------
    smtp_enabled: bool = Field(True, validation_alias=_aliases("smtp_enabled"))
    smtp_bind: str = Field("127.0.0.1", validation_alias=_aliases("smtp_bind", "SMTP_BIND"))
    smtp_port: int = Field(
        2525,
        ge=0,
        le=65535,
        validation_alias=_aliases("smtp_port", "SMTP_PORT", "SMTP_RECEIVE_PORT"),
    )
    smtp_banner: str = Field("ephemail", validation_alias=_aliases("smtp_banner"))
    smtp_max_message_size: int = Field(
        25 * MiB, ge=1024, validation_alias=_aliases("smtp_max_message_size")
    )
    smtp_max_recipients: int = Field(100, ge=1, validation_alias=_aliases("smtp_max_recipients"))
    smtp_idle_timeout: float = Field(300, gt=0, validation_alias=_aliases("smtp_idle_timeout"))
    smtp_session_timeout: float = Field(
        1800, gt=0, validation_alias=_aliases("smtp_session_timeout")
    )
    smtp_max_connections: int = Field(500, ge=1, validation_alias=_aliases("smtp_max_connections"))
    smtp_max_connections_per_ip: int = Field(
        100, ge=1, validation_alias=_aliases("smtp_max_connections_per_ip")
    )
    smtp_connection_rate_per_ip: int = Field(
        0,
        ge=0,
        description="New connections per IP per minute; 0 = unlimited.",
        validation_alias=_aliases("smtp_connection_rate_per_ip"),
    )
    smtp_error_budget: int = Field(10, ge=1, validation_alias=_aliases("smtp_error_budget"))

    # -- HTTP -----------------------------------------------------------------
    http_enabled: bool = Field(True, validation_alias=_aliases("http_enabled"))
    http_bind: str = Field("127.0.0.1", validation_alias=_aliases("http_bind", "API_BIND"))
    http_port: int = Field(8025, ge=0, le=65535, validation_alias=_aliases("http_port", "API_PORT"))
    page_size_max: int = Field(200, ge=1, validation_alias=_aliases("page_size_max"))
    events_heartbeat_interval: float = Field(
        15.0, gt=0, le=3600, validation_alias=_aliases("events_heartbeat_interval")
    )
    events_queue_size: int = Field(
        1000,
        ge=1,
        le=1_000_000,
        description="Events buffered per live client before it is dropped as too slow.",
        validation_alias=_aliases("events_queue_size"),
    )
    events_relay_poll_interval: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="PostgreSQL: seconds between safety polls for other nodes' events "
        "(LISTEN/NOTIFY delivers them at once; the poll covers lost notifications).",
        validation_alias=_aliases("events_relay_poll_interval"),
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Extra browser origins allowed to open WebSockets (the server's own "
        "always is); a JSON list or comma-separated; `*` allows any.",
        validation_alias=_aliases("allowed_origins"),
    )

    # -- IMAP -----------------------------------------------------------------
    imap_enabled: bool = Field(True, validation_alias=_aliases("imap_enabled", "IMAP_ENABLED"))
    imap_bind: str = Field("127.0.0.1", validation_alias=_aliases("imap_bind", "IMAP_BIND"))
    imap_port: int = Field(
        1143, ge=0, le=65535, validation_alias=_aliases("imap_port", "IMAP_PORT")
    )
    imap_max_connections: int = Field(500, ge=1, validation_alias=_aliases("imap_max_connections"))
    imap_idle_timeout: float = Field(
        1800,
        gt=0,
        description="Seconds without a command (or IDLE re-arm) before the server says BYE "
        "(RFC 3501 section 5.4: at least 30 minutes for real deployments).",
        validation_alias=_aliases("imap_idle_timeout"),
    )
    imap_login_failure_delay: float = Field(
        1.0, ge=0, le=60, validation_alias=_aliases("imap_login_failure_delay")
    )
    imap_max_line: int = Field(
        64 * 1024,
        ge=8192,
        description="Longest command line in bytes, literals excluded (RFC 7162 asks 8192).",
        validation_alias=_aliases("imap_max_line"),
    )
    imap_max_literal: int = Field(
        50 * MiB,
        ge=1024,
        description="Largest APPEND message literal in bytes.",
        validation_alias=_aliases("imap_max_literal"),
    )

    # -- accounts and access (SPEC: Concepts, HTTP authentication) ------------
    public_read: bool = Field(
        True,
        description="Public mailboxes are readable by anyone who knows the address.",
        validation_alias=_aliases("public_read"),
    )
    open_mode: bool = Field(
        True,
        description="The open dev mode: anyone may list every mailbox, search globally and "
        "follow every event; IMAP accepts any password for a public mailbox. Turn off on a "
        "public service.",
        validation_alias=_aliases("open_mode"),
    )
    registration_enabled: bool = Field(
        True,
        description="Anyone may register an account (POST /api/v1/auth/register).",
        validation_alias=_aliases("registration_enabled"),
    )
    registration_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="When not empty, only account emails on these domains (or their "
        "subdomains) may register.",
        validation_alias=_aliases("registration_domains"),
    )
    enforce_subscriptions: bool = Field(
        False,
        description="IMAP app-token logins need a subscription that is active, trialing, "
        "or past_due before its end date.",
        validation_alias=_aliases("enforce_subscriptions"),
    )
    session_secret: str | None = Field(
        None,
        min_length=32,
        description="Key that signs web session cookies and CSRF tokens. When unset, one is "
        "generated on first start and kept in the store (shared by every node).",
        validation_alias=_aliases("session_secret"),
    )
    session_max_age: float = Field(
        14 * 24 * 3600, gt=60, validation_alias=_aliases("session_max_age")
    )
    secure_cookies: bool = Field(
        False,
        description="Mark session cookies Secure (set when the UI is served over HTTPS).",
        validation_alias=_aliases("secure_cookies"),
    )
    account_quota_bytes: int | None = Field(
        None,
        ge=0,
        description="Default size quota of an account's owned mailboxes together (None: none).",
        validation_alias=_aliases("account_quota_bytes"),
    )
    mailbox_max_messages: int | None = Field(
        None,
        ge=1,
        description="Default cap on the messages one mailbox holds (None: none).",
        validation_alias=_aliases("mailbox_max_messages"),
    )
    password_hash_time_cost: int = Field(
        3,
        ge=1,
        le=20,
        description="Argon2id passes per password hash (RFC 9106 low-memory profile: 3).",
        validation_alias=_aliases("password_hash_time_cost"),
    )
    password_hash_memory_kib: int = Field(
        64 * 1024,
        ge=32,  # Argon2 needs 8 KiB per lane, 4 lanes
        le=4 * 1024 * 1024,
        description="Argon2id memory per password hash in KiB (RFC 9106 low-memory: 64 MiB). "
        "Stored hashes keep their parameters; a changed value re-hashes at the next login.",
        validation_alias=_aliases("password_hash_memory_kib"),
    )
    rate_limit_enabled: bool = Field(True, validation_alias=_aliases("rate_limit_enabled"))
    rate_login_per_minute: int = Field(
        10,
        ge=1,
        description="Login attempts (HTTP, IMAP) per minute per IP and per account.",
        validation_alias=_aliases("rate_login_per_minute"),
    )
    rate_claim_per_minute: int = Field(
        10,
        ge=1,
        description="Claims and releases per minute per IP and per mailbox.",
        validation_alias=_aliases("rate_claim_per_minute"),
    )
    rate_api_per_minute: int = Field(
        6000,
        ge=1,
        description="API requests per minute per IP and per principal.",
        validation_alias=_aliases("rate_api_per_minute"),
    )

    # -- webhooks ---------------------------------------------------------------
    webhooks_enabled: bool = Field(
        True,
        description="Run the webhook dispatcher on this node (deliveries from the outbox).",
        validation_alias=_aliases("webhooks_enabled"),
    )
    webhook_timeout: float = Field(
        10.0,
        gt=0,
        le=120,
        description="Seconds per delivery attempt.",
        validation_alias=_aliases("webhook_timeout"),
    )
    webhook_retry_hours: float = Field(
        24.0,
        gt=0,
        description="How long a failing delivery is retried before it is given up.",
        validation_alias=_aliases("webhook_retry_hours"),
    )
    webhook_backoff_base: float = Field(
        10.0,
        gt=0,
        description="First retry delay in seconds; doubles per attempt, with jitter.",
        validation_alias=_aliases("webhook_backoff_base"),
    )
    webhook_backoff_max: float = Field(
        3600.0,
        gt=0,
        description="Longest delay between two attempts, in seconds.",
        validation_alias=_aliases("webhook_backoff_max"),
    )
    webhook_disable_after: int = Field(
        50,
        ge=1,
        description="Consecutive failed attempts (no success between) that disable a webhook.",
        validation_alias=_aliases("webhook_disable_after"),
    )
    webhook_disable_after_hours: float = Field(
        24.0,
        ge=0,
        description="...and for at least this long: a short outage never disables a webhook.",
        validation_alias=_aliases("webhook_disable_after_hours"),
    )
    webhook_concurrency: int = Field(
        64,
        ge=1,
        description="Deliveries in flight at once on this node.",
        validation_alias=_aliases("webhook_concurrency"),
    )
    webhook_concurrency_per_endpoint: int = Field(
        4,
        ge=1,
        description="Deliveries in flight at once to one endpoint (scheme, host, port).",
        validation_alias=_aliases("webhook_concurrency_per_endpoint"),
    )
    webhook_allow_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Networks (CIDR) webhooks may reach although they are loopback, private "
        "or link-local; a JSON list or comma-separated, e.g. `127.0.0.1/32`.",
        validation_alias=_aliases("webhook_allow_networks"),
    )
    webhook_log_days: float = Field(
        7.0,
        gt=0,
        description="Days a finished delivery and its attempts stay in the log.",
        validation_alias=_aliases("webhook_log_days"),
    )

    # -- MCP --------------------------------------------------------------------
    mcp_enabled: bool = Field(
        True,
        description="Serve MCP (streamable HTTP) at /mcp and the REST shim at /tools.",
        validation_alias=_aliases("mcp_enabled", "MCP_ENABLED"),
    )

    # -- later protocols (accepted and validated now; see README "Status") ----
    smtp_ssl_enabled: bool = Field(
        False, validation_alias=_aliases("smtp_ssl_enabled", "SMTP_SSL_ENABLED")
    )
    smtp_ssl_port: int = Field(
        465, ge=0, le=65535, validation_alias=_aliases("smtp_ssl_port", "SMTP_SSL_PORT")
    )
    smtp_ssl_cert_path: Path | None = Field(
        None, validation_alias=_aliases("smtp_ssl_cert_path", "SMTP_SSL_CERT_PATH")
    )
    smtp_ssl_key_path: Path | None = Field(
        None, validation_alias=_aliases("smtp_ssl_key_path", "SMTP_SSL_KEY_PATH")
    )

    # -- storage --------------------------------------------------------------
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL", validation_alias=_aliases("sqlite_synchronous")
    )
    max_batch: int = Field(256, ge=1, le=10000, validation_alias=_aliases("max_batch"))
    pg_writers: int = Field(1, ge=1, le=64, validation_alias=_aliases("pg_writers"))

    # -- lifecycle ------------------------------------------------------------
    retention_hours: float = Field(
        24, ge=0, validation_alias=_aliases("retention_hours", "EMAIL_RETENTION_HOURS")
    )
    retention_interval: float = Field(60, gt=0, validation_alias=_aliases("retention_interval"))
    policy_refresh_interval: float = Field(
        60, gt=0, validation_alias=_aliases("policy_refresh_interval")
    )
    policy_poll_interval: float = Field(2, gt=0, validation_alias=_aliases("policy_poll_interval"))
    heartbeat_url: str | None = Field(
        None, validation_alias=_aliases("heartbeat_url", "HEARTBEAT_URL")
    )
    heartbeat_interval: float = Field(60, gt=0, validation_alias=_aliases("heartbeat_interval"))
    heartbeat_timeout: float = Field(10, gt=0, validation_alias=_aliases("heartbeat_timeout"))
    shutdown_grace: float = Field(10, ge=0, validation_alias=_aliases("shutdown_grace"))

    @field_validator("default_domain")
    @classmethod
    def _domain_is_valid(cls, value: str) -> str:
        try:
            return normalize_domain(value)
        except AddressError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator(
        "allowed_origins", "registration_domains", "webhook_allow_networks", mode="before"
    )
    @classmethod
    def _origins_list(cls, value: Any) -> Any:
        """An environment variable may hold a JSON list or comma-separated origins."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("webhook_allow_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        """Each entry a network in CIDR form (an address alone is one host)."""
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=True)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not a network (e.g. 10.0.0.0/8): {exc}") from exc
        return [entry.strip() for entry in value if entry.strip()]

    @field_validator("heartbeat_url")
    @classmethod
    def _heartbeat_is_http(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_scheme(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("sqlite", "postgres://", "postgresql")):
            raise ValueError("must be a sqlite:/// path or a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _accept_policy_is_valid(self) -> Settings:
        if self.reject_non_domain_emails and self.accept_policy == "all":
            # dynip's REJECT_NON_DOMAIN_EMAILS: accept only DOMAIN_NAME (and its subdomains).
            self.accept_policy = self.default_domain
        try:
            parse_accept_policy(self.accept_policy)
        except AddressError as exc:
            raise ValueError(f"accept_policy: {exc}") from exc
        return self

    @property
    def accept(self) -> AcceptPolicy:
        return parse_accept_policy(self.accept_policy)

    @property
    def effective_database_url(self) -> str:
        """The SQLAlchemy URL of the store (SQLite under data_dir by default)."""
        if self.database_url is None:
            return f"sqlite:///{(self.data_dir / 'ephemail.sqlite3').resolve()}"
        return self.database_url

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _toml_path.get("path")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


# The TOML path is passed by `load_settings`; pydantic-settings builds sources per class.
_toml_path: dict[str, Path | None] = {"path": None}


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from every source; raise ConfigError naming the bad setting."""
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist")
    _toml_path["path"] = config_file
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            problems.append(f"{where}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from exc
    except ValueError as exc:  # e.g. a TOML syntax error
        raise ConfigError(f"invalid configuration: {exc}") from exc
    finally:
        _toml_path["path"] = None
