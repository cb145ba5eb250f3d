"""SMTP accept policy and the policy snapshot (SPEC Concepts → Accept policy, Ban)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ephemail.domain.address import AddressError
from ephemail.domain.bans import BanScope, BanSet, normalize_ban
from ephemail.domain.domains import DomainTable
from ephemail.domain.messages import DomainRecord
from ephemail.domain.policy import (
    AcceptMode,
    AcceptPolicy,
    PolicySnapshot,
    RecipientVerdict,
    SenderVerdict,
    parse_accept_policy,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
R = RecipientVerdict


def rec(name: str, active: bool = True) -> DomainRecord:
    return DomainRecord(
        id=1, name=name, active=active, shared=True, retention_hours=None, created_at=NOW
    )


@pytest.mark.parametrize(
    ("value", "mode", "single"),
    [
        ("all", AcceptMode.ALL, None),
        (" ALL ", AcceptMode.ALL, None),
        ("domains", AcceptMode.DOMAINS, None),
        ("Domains", AcceptMode.DOMAINS, None),
        ("mail.example.com", AcceptMode.SINGLE, "mail.example.com"),
        ("*.Example.COM.", AcceptMode.SINGLE, "example.com"),
        ("Bücher.example", AcceptMode.SINGLE, "xn--bcher-kva.example"),
    ],
)
def test_parse_accept_policy(value: str, mode: AcceptMode, single: str | None) -> None:
    policy = parse_accept_policy(value)
    assert policy.mode is mode
    assert policy.single_domain == single


@pytest.mark.parametrize("value", ["", "  ", "not a domain", "a..b", "-x.com", "x_y.com"])
def test_parse_accept_policy_junk(value: str) -> None:
    with pytest.raises(AddressError):
        parse_accept_policy(value)


def test_parse_accept_policy_bare_word_is_a_domain() -> None:
    # Only `all` and `domains` are keywords; `single` is a single-label domain name.
    assert parse_accept_policy("single") == AcceptPolicy(AcceptMode.SINGLE, "single")


@given(st.text(max_size=30))
def test_parse_accept_policy_random_text(value: str) -> None:
    try:
        policy = parse_accept_policy(value)
    except AddressError:
        return
    assert (policy.mode is AcceptMode.SINGLE) == (policy.single_domain is not None)


def test_accept_policy_validates_itself() -> None:
    assert AcceptPolicy(AcceptMode.SINGLE, "X.com").single_domain == "x.com"
    with pytest.raises(AddressError):
        AcceptPolicy(AcceptMode.SINGLE)
    with pytest.raises(ValueError, match="takes no domain"):
        AcceptPolicy(AcceptMode.ALL, "x.com")


BANS = BanSet(
    [
        normalize_ban("recipient_domain", "banned.example.com"),
        normalize_ban("domain", "contains:casino"),
        normalize_ban("address", "admin@example.com"),
        normalize_ban("email", "legacy@example.com"),
        normalize_ban("sender", "spammer@bad.org"),
        normalize_ban("sender_domain", "evil.org"),
        normalize_ban("ip", "192.0.2.0/24"),
    ]
)
DOMAINS = DomainTable([rec("example.com"), rec("off.example.com", active=False), rec("casino.net")])


def snap(policy: str, domains: DomainTable = DOMAINS, bans: BanSet = BANS) -> PolicySnapshot:
    return PolicySnapshot(parse_accept_policy(policy), domains, bans)


@pytest.mark.parametrize(
    ("policy", "address", "expected"),
    [
        ("all", "user@anything.org", R.ACCEPT),
        ("all", "user@banned.example.com", R.DOMAIN_BANNED),
        ("all", "user@a.banned.example.com", R.DOMAIN_BANNED),
        ("all", "user@bigcasino.org", R.DOMAIN_BANNED),
        ("all", "admin@example.com", R.ADDRESS_BANNED),
        ("all", "legacy@example.com", R.ACCEPT),  # legacy email bans the sender at SMTP
        ("all", "spammer@bad.org", R.ACCEPT),  # sender bans do not block recipients
        ("domains", "user@example.com", R.ACCEPT),
        ("domains", "user@sub.example.com", R.ACCEPT),
        ("domains", "user@off.example.com", R.DOMAIN_NOT_ALLOWED),
        ("domains", "user@x.off.example.com", R.DOMAIN_NOT_ALLOWED),
        ("domains", "user@notexample.com", R.DOMAIN_NOT_ALLOWED),
        ("domains", "user@other.org", R.DOMAIN_NOT_ALLOWED),
        ("domains", "admin@example.com", R.ADDRESS_BANNED),
        ("domains", "user@banned.example.com", R.DOMAIN_BANNED),
        ("domains", "admin@casino.net", R.DOMAIN_BANNED),  # domain ban before address ban
        ("example.com", "user@example.com", R.ACCEPT),
        ("example.com", "user@mx.example.com", R.ACCEPT),
        ("example.com", "user@notexample.com", R.DOMAIN_NOT_ALLOWED),
        ("example.com", "user@example.org", R.DOMAIN_NOT_ALLOWED),
        ("*.example.com", "user@off.example.com", R.ACCEPT),  # single ignores the table
        ("example.com", "admin@example.com", R.ADDRESS_BANNED),
        ("other.org", "admin@example.com", R.DOMAIN_NOT_ALLOWED),  # policy checked first
        ("all", "no-at-sign", R.DOMAIN_NOT_ALLOWED),
    ],
)
def test_check_recipient(policy: str, address: str, expected: RecipientVerdict) -> None:
    assert snap(policy).check_recipient(address) is expected


def test_recipient_decision_reports_ban() -> None:
    verdict, ban = snap("all").recipient_decision("x@a.banned.example.com")
    assert verdict is R.DOMAIN_BANNED
    assert ban is not None
    assert ban.scope is BanScope.RECIPIENT_DOMAIN
    assert snap("all").recipient_decision("x@fine.org") == (R.ACCEPT, None)


def test_domains_mode_with_empty_table_rejects_everything() -> None:
    for table in (DomainTable(), DomainTable([rec("example.com", active=False)])):
        s = snap("domains", domains=table)
        assert s.domains_empty_in_domains_mode
        assert s.check_recipient("user@example.com") is R.DOMAIN_NOT_ALLOWED
        assert s.check_recipient("user@anything.org") is R.DOMAIN_NOT_ALLOWED


@pytest.mark.parametrize(
    ("policy", "table"),
    [("all", DomainTable()), ("domains", DOMAINS), ("example.com", DomainTable())],
)
def test_domains_empty_flag_false_otherwise(policy: str, table: DomainTable) -> None:
    assert not snap(policy, domains=table).domains_empty_in_domains_mode


@pytest.mark.parametrize(
    ("mail_from", "expected"),
    [
        ("spammer@bad.org", SenderVerdict.SENDER_BANNED),
        ("<Spammer@Bad.org>", SenderVerdict.SENDER_BANNED),  # normalised before matching
        ("x@evil.org", SenderVerdict.SENDER_BANNED),
        ("x@mx.evil.org", SenderVerdict.SENDER_BANNED),
        ("x@notevil.org", SenderVerdict.ACCEPT),
        ("admin@example.com", SenderVerdict.ACCEPT),  # address ban is not a sender ban
        ("legacy@example.com", SenderVerdict.SENDER_BANNED),  # legacy email = sender at SMTP
        ("", SenderVerdict.ACCEPT),  # null reverse-path
        ("<>", SenderVerdict.ACCEPT),
        (" <> ", SenderVerdict.ACCEPT),
        ("garbage without at", SenderVerdict.ACCEPT),
    ],
)
def test_check_sender(mail_from: str, expected: SenderVerdict) -> None:
    assert snap("all").check_sender(mail_from) is expected


@pytest.mark.parametrize(
    ("ip", "banned"),
    [("192.0.2.1", True), ("::ffff:192.0.2.200", True), ("192.0.3.1", False), ("junk", False)],
)
def test_check_ip(ip: str, banned: bool) -> None:
    assert snap("all").check_ip(ip) is banned


def test_snapshot_exposes_parts() -> None:
    s = snap("domains")
    assert s.policy.mode is AcceptMode.DOMAINS
    assert s.domains is DOMAINS
    assert s.bans is BANS


@given(st.text(max_size=40))
def test_snapshot_never_raises(text: str) -> None:
    s = snap("domains")
    assert s.check_recipient(text) in set(RecipientVerdict)
    assert s.check_sender(text) in set(SenderVerdict)
    assert s.check_ip(text) in (True, False)
