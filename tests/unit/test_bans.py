"""Ban normalisation and matching (SPEC Concepts → Ban)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ephemail.domain.bans import (
    Ban,
    BanError,
    BanMatch,
    BanScope,
    BanSet,
    BanStatus,
    normalize_ban,
)

S = BanScope
M = BanMatch


# --- normalize_ban ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "value", "match", "exp_scope", "exp_match", "exp_value"),
    [
        ("sender", "Spam@Example.COM", None, S.SENDER, M.EXACT, "spam@example.com"),
        (" SENDER ", " <Spam@Example.com> ", "", S.SENDER, M.EXACT, "spam@example.com"),
        ("sender", "Spam", "CONTAINS", S.SENDER, M.CONTAINS, "spam"),
        ("sender_domain", "*.Evil.COM.", None, S.SENDER_DOMAIN, M.EXACT, "evil.com"),
        (
            "sender_domain",
            "Bücher.example",
            "exact",
            S.SENDER_DOMAIN,
            M.EXACT,
            "xn--bcher-kva.example",
        ),
        ("recipient_domain", "x.com", None, S.RECIPIENT_DOMAIN, M.EXACT, "x.com"),
        ("domain", "*.X.com", None, S.RECIPIENT_DOMAIN, M.EXACT, "x.com"),  # legacy
        ("Domain", "contains:casino", None, S.RECIPIENT_DOMAIN, M.CONTAINS, "casino"),
        ("address", "Admin@X.com", None, S.ADDRESS, M.EXACT, "admin@x.com"),
        ("address", "ADMIN", "contains", S.ADDRESS, M.CONTAINS, "admin"),
        ("email", "Bad@Guy.com", None, S.EMAIL, M.EXACT, "bad@guy.com"),  # legacy kept
        ("email", "Contains:Viagra", None, S.EMAIL, M.CONTAINS, "viagra"),
        ("sender", "CONTAINS: Promo ", "exact", S.SENDER, M.CONTAINS, "promo"),
        ("sender_domain", "contains:*.x", None, S.SENDER_DOMAIN, M.CONTAINS, "*.x"),
        ("ip", "192.0.2.7", None, S.IP, M.EXACT, "192.0.2.7/32"),
        ("ip", " 192.0.2.7/24 ", None, S.IP, M.EXACT, "192.0.2.0/24"),
        ("ip", "2001:DB8::1", None, S.IP, M.EXACT, "2001:db8::1/128"),
        ("ip", "2001:db8::/32", None, S.IP, M.EXACT, "2001:db8::/32"),
        ("ip", "::ffff:192.0.2.7", None, S.IP, M.EXACT, "192.0.2.7/32"),
        ("ip", "::ffff:192.0.2.0/120", None, S.IP, M.EXACT, "192.0.2.0/24"),
        ("IP", "10.0.0.0/255.0.0.0", "EXACT", S.IP, M.EXACT, "10.0.0.0/8"),
    ],
)
def test_normalize_ban(
    scope: str,
    value: str,
    match: str | None,
    exp_scope: BanScope,
    exp_match: BanMatch,
    exp_value: str,
) -> None:
    ban = normalize_ban(scope, value, match)
    assert (ban.scope, ban.match, ban.value) == (exp_scope, exp_match, exp_value)
    assert ban.status is BanStatus.ACTIVE


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, BanStatus.ACTIVE),
        ("", BanStatus.ACTIVE),
        (" Inactive ", BanStatus.INACTIVE),
        ("ACTIVE", BanStatus.ACTIVE),
    ],
)
def test_normalize_ban_status(status: str | None, expected: BanStatus) -> None:
    assert normalize_ban("sender", "a@b.com", status=status).status is expected


def test_normalize_ban_keeps_reason() -> None:
    assert normalize_ban("ip", "1.2.3.4", reason="scanner").reason == "scanner"


@pytest.mark.parametrize(
    ("scope", "value", "match", "status", "message"),
    [
        ("bogus", "x", None, None, "allowed: sender, sender_domain"),
        ("sender", "x", "regex", None, "allowed: exact, contains"),
        ("sender", "x@y.com", None, "deleted", "allowed: active, inactive"),
        ("sender", "   ", None, None, "empty"),
        ("sender", "contains:", None, None, "empty"),
        ("ip", "not-an-ip", None, None, "CIDR"),
        ("ip", "10.0.0.0/33", None, None, "CIDR"),
        ("ip", "10.0.0.1", "contains", None, "contains"),
        ("ip", "contains:10.0", None, None, "contains"),
        ("sender", "no-at-sign", None, None, "not a valid address"),
        ("email", "<>", None, None, "not a valid address"),
        ("address", "a b@x.com", None, None, "not a valid address"),
        ("sender_domain", "bad domain", None, None, "not a valid domain"),
        ("recipient_domain", "a..b", None, None, "not a valid domain"),
        ("domain", "-x.com", None, None, "not a valid domain"),
    ],
)
def test_normalize_ban_rejects(
    scope: str, value: str, match: str | None, status: str | None, message: str
) -> None:
    with pytest.raises(BanError, match=message):
        normalize_ban(scope, value, match, status)


@given(st.text(max_size=10), st.text(max_size=30), st.one_of(st.none(), st.text(max_size=10)))
def test_normalize_ban_random_text_only_ban_error(
    scope: str, value: str, match: str | None
) -> None:
    try:
        ban = normalize_ban(scope, value, match)
    except BanError:
        return
    assert ban.value
    assert ban.value == ban.value.lower() or ban.scope is BanScope.IP


@given(st.sampled_from([s.value for s in BanScope] + ["domain"]), st.text(max_size=30))
def test_normalize_ban_known_scope_random_value(scope: str, value: str) -> None:
    try:
        ban = normalize_ban(scope, value)
    except BanError:
        return
    # Normalising an already-normalised ban changes nothing.
    again = normalize_ban(ban.scope.value, ban.value, ban.match.value)
    assert again == ban


# --- BanSet ----------------------------------------------------------------------------------


def b(scope: str, value: str, match: str | None = None, status: str | None = None) -> Ban:
    return normalize_ban(scope, value, match, status)


SENDER_BANS = BanSet(
    [
        b("sender", "spam@a.com"),
        b("email", "legacy@b.com"),
        b("sender", "contains:promo"),
        b("email", "contains:viagra"),
        b("sender_domain", "evil.com"),
        b("sender_domain", "*.wild.org"),
        b("sender_domain", "contains:casino"),
        b("sender", "off@a.com", status="inactive"),
        b("sender_domain", "offdomain.com", status="inactive"),
        b("address", "onlyaddress@a.com"),
        b("recipient_domain", "rcptonly.com"),
    ]
)


@pytest.mark.parametrize(
    ("mail_from", "banned_value"),
    [
        ("spam@a.com", "spam@a.com"),
        ("legacy@b.com", "legacy@b.com"),
        ("hot-promo-deals@x.com", "promo"),
        ("me@promo.net", "promo"),  # SENDER contains matches anywhere in the address
        ("buyviagra@x.com", "viagra"),
        ("a@evil.com", "evil.com"),
        ("a@mx.deep.evil.com", "evil.com"),  # parent walk
        ("a@wild.org", "wild.org"),
        ("a@x.wild.org", "wild.org"),
        ("a@mycasino.io", "casino"),
        ("a@notevil.com", None),
        ("a@evil.com.org", None),
        ("casino@x.com", None),  # SENDER_DOMAIN contains looks at the domain only
        ("off@a.com", None),  # inactive
        ("a@offdomain.com", None),  # inactive
        ("onlyaddress@a.com", None),  # address scope is not a sender ban
        ("a@rcptonly.com", None),  # recipient_domain is not a sender ban
        ("fine@a.com", None),
        ("", None),
    ],
)
def test_sender_ban(mail_from: str, banned_value: str | None) -> None:
    ban = SENDER_BANS.sender_ban(mail_from)
    assert (ban.value if ban else None) == banned_value


RCPT_BANS = BanSet(
    [
        b("recipient_domain", "x.com"),
        b("domain", "legacy.org"),
        b("recipient_domain", "contains:casino"),
        b("recipient_domain", "off.net", status="inactive"),
        b("address", "admin@y.com"),
        b("address", "contains:abuse"),
        b("email", "legacy@y.com"),
        b("email", "contains:viagra"),
        b("sender_domain", "senderonly.com"),
        b("sender", "sender@y.com"),
    ]
)


@pytest.mark.parametrize(
    ("domain", "banned_value"),
    [
        ("x.com", "x.com"),
        ("a.b.x.com", "x.com"),
        ("notx.com", None),
        ("legacy.org", "legacy.org"),
        ("bigcasino.com", "casino"),
        ("off.net", None),
        ("senderonly.com", None),
        ("y.com", None),
        ("", None),
    ],
)
def test_recipient_domain_ban(domain: str, banned_value: str | None) -> None:
    ban = RCPT_BANS.recipient_domain_ban(domain)
    assert (ban.value if ban else None) == banned_value


@pytest.mark.parametrize(
    ("address", "banned_value"),
    [
        ("admin@y.com", "admin@y.com"),
        ("admin@z.com", None),
        ("abuse@z.com", "abuse"),
        ("legacy@y.com", None),  # legacy email means the sender at SMTP, not the recipient
        ("getviagra@z.com", None),  # a legacy email contains-ban: sender only at SMTP
        ("sender@y.com", None),  # sender scope is not an address ban
        ("a@x.com", None),  # domain bans are not this method's job
        ("", None),
    ],
)
def test_address_ban(address: str, banned_value: str | None) -> None:
    ban = RCPT_BANS.address_ban(address)
    assert (ban.value if ban else None) == banned_value


@pytest.mark.parametrize(
    ("address", "banned_value"),
    [
        ("admin@y.com", "admin@y.com"),
        ("legacy@y.com", "legacy@y.com"),  # legacy email = address at mailbox creation
        ("getviagra@z.com", "viagra"),
        ("sender@y.com", None),
    ],
)
def test_creation_ban(address: str, banned_value: str | None) -> None:
    ban = RCPT_BANS.creation_ban(address)
    assert (ban.value if ban else None) == banned_value


IP_BANS = BanSet(
    [
        b("ip", "192.0.2.7"),
        b("ip", "198.51.100.0/24"),
        b("ip", "10.0.0.0/8"),
        b("ip", "10.1.0.0/16"),
        b("ip", "2001:db8::/32"),
        b("ip", "2001:db8:1::1"),
        b("ip", "203.0.113.9", status="inactive"),
        b("ip", "0.0.0.0/0", status="inactive"),
        Ban(scope=BanScope.IP, match=BanMatch.EXACT, value="garbage"),  # ignored, no crash
        Ban(scope=BanScope.IP, match=BanMatch.CONTAINS, value="172."),  # never valid, ignored
        Ban(scope=BanScope.IP, match=BanMatch.EXACT, value="::ffff:172.16.0.0/108"),
    ]
)


@pytest.mark.parametrize(
    ("ip", "banned_value"),
    [
        ("192.0.2.7", "192.0.2.7/32"),
        ("192.0.2.8", None),
        ("198.51.100.200", "198.51.100.0/24"),
        ("198.51.101.1", None),
        ("10.200.3.4", "10.0.0.0/8"),
        ("10.1.3.4", "10.1.0.0/16"),  # the most specific network is reported
        ("::ffff:192.0.2.7", "192.0.2.7/32"),  # IPv4-mapped IPv6
        ("::FFFF:198.51.100.1", "198.51.100.0/24"),
        ("2001:db8:ffff::1", "2001:db8::/32"),
        ("2001:db8:1::1", "2001:db8:1::1/128"),
        ("[2001:db8::5]", "2001:db8::/32"),
        ("2001:db9::1", None),
        ("203.0.113.9", None),  # inactive
        ("8.8.8.8", None),
        ("172.16.5.5", "::ffff:172.16.0.0/108"),  # stored mapped range applies to v4 clients
        ("172.32.0.1", None),  # /108 is the v4 /12: 172.16-172.31
        ("not an ip", None),
        ("", None),
        ("1.2.3.4.5", None),
    ],
)
def test_ip_ban(ip: str, banned_value: str | None) -> None:
    ban = IP_BANS.ip_ban(ip)
    assert (ban.value if ban else None) == banned_value


def test_ip_zero_prefix_matches_everything() -> None:
    bans = BanSet([b("ip", "0.0.0.0/0"), b("ip", "::/0")])
    assert bans.ip_ban("8.8.8.8") is not None
    assert bans.ip_ban("2606:4700::1111") is not None
    assert bans.ip_ban("::ffff:8.8.8.8") is not None


@pytest.mark.parametrize(
    ("method", "value"),
    [
        ("sender_ban", "x-promo@a.com"),
        ("sender_ban", "a@casino.com"),
        ("recipient_domain_ban", "casino.com"),
        ("address_ban", "abuse@z.com"),
    ],
)
def test_allow_contains_false_ignores_substring_bans(method: str, value: str) -> None:
    bans = [
        b("sender", "contains:promo"),
        b("sender_domain", "contains:casino"),
        b("recipient_domain", "contains:casino"),
        b("address", "contains:abuse"),
    ]
    assert getattr(BanSet(bans), method)(value) is not None
    assert getattr(BanSet(bans, allow_contains=False), method)(value) is None


def test_allow_contains_false_keeps_exact_bans() -> None:
    bans = BanSet([b("sender", "x@a.com"), b("sender", "contains:x")], allow_contains=False)
    assert bans.sender_ban("x@a.com") is not None
    assert bans.sender_ban("xx@a.com") is None
    assert not bans.allow_contains


def test_inactive_bans_are_dropped() -> None:
    bans = BanSet([b("sender", "a@b.com", status="inactive"), b("ip", "1.2.3.4")])
    assert len(bans) == 1
    assert [ban.scope for ban in bans.bans] == [BanScope.IP]


def test_exact_beats_contains_and_first_exact_wins() -> None:
    first = normalize_ban("sender", "a@b.com", reason="first")
    second = normalize_ban("email", "a@b.com", reason="second")
    bans = BanSet([b("sender", "contains:a@"), first, second])
    hit = bans.sender_ban("a@b.com")
    assert hit is not None
    assert hit.reason == "first"


@given(st.text(max_size=40))
def test_banset_never_raises(text: str) -> None:
    bans = BanSet(
        [
            b("sender", "contains:a"),
            b("sender_domain", "x.com"),
            b("ip", "10.0.0.0/8"),
            b("address", "a@b.com"),
            b("recipient_domain", "contains:q"),
        ]
    )
    for result in (
        bans.sender_ban(text),
        bans.recipient_domain_ban(text),
        bans.address_ban(text),
        bans.ip_ban(text),
    ):
        assert result is None or isinstance(result, Ban)
