"""Address and domain normalisation (SPEC Concepts → Address / mailbox)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ephemail.domain.address import (
    AddressError,
    domain_of,
    local_part_of,
    mask_address,
    normalize_address,
    normalize_domain,
)

LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
DOMAIN = st.lists(LABEL, min_size=1, max_size=4).map(".".join)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com", "example.com"),
        ("  Example.COM  ", "example.com"),
        ("example.com.", "example.com"),
        ("*.example.com", "example.com"),
        ("*.Example.com.", "example.com"),
        ("Bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("münchen。de", "xn--mnchen-3ya.de"),  # ideographic full stop, RFC 3490 3.1
        ("a-b.c0", "a-b.c0"),
        ("localhost", "localhost"),
        ("[127.0.0.1]", "[127.0.0.1]"),
        ("[IPv6:2001:DB8::1]", "[ipv6:2001:db8::1]"),
        ("a" * 63 + ".com", "a" * 63 + ".com"),
    ],
)
def test_normalize_domain_valid(raw: str, expected: str) -> None:
    assert normalize_domain(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        ".",
        "a..b",
        ".example.com",
        "example.com..",
        "a" * 64 + ".com",
        ".".join(["a" * 63] * 4),  # 255 chars > 253
        "exa mple.com",
        "exa_mple.com",
        "ex\x00ample.com",
        "ex\tample.com",
        "-example.com",
        "example-.com",
        "*.*.example.com",
        "ex!ample.com",
        "[300.0.0.1]",
        "[IPv6:not-an-ip]",
        "[]",
        "\ud800.com",
    ],
)
def test_normalize_domain_rejects(raw: str) -> None:
    with pytest.raises(AddressError):
        normalize_domain(raw)


def test_domain_max_total_length_boundary() -> None:
    ok = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # exactly 253
    assert len(ok) == 253
    assert normalize_domain(ok) == ok
    with pytest.raises(AddressError):
        normalize_domain(ok + "d")


@pytest.mark.parametrize(
    ("raw", "default", "expected"),
    [
        ("User@Example.COM", None, "user@example.com"),
        ("  <User@Example.com>  ", None, "user@example.com"),
        ("< user@example.com >", None, "user@example.com"),
        ("user@Bücher.example", None, "user@xn--bcher-kva.example"),
        ("Ünïcode@example.com", None, "ünïcode@example.com"),  # RFC 6531 UTF-8 local part
        ("a@b@example.com", None, "a@b@example.com"),  # split at the LAST @
        ('"John"@example.com', None, "john@example.com"),  # needless quotes dropped
        ('"a(b"@example.com', None, '"a(b"@example.com'),  # needed quotes kept
        ("<@relay.example,@r2.example:User@example.com>", None, "user@example.com"),
        ("user@example.com.", None, "user@example.com"),
        ("user@[127.0.0.1]", None, "user@[127.0.0.1]"),
        ("alice", "Example.com", "alice@example.com"),
        ("Alice", "*.bücher.example", "alice@xn--bcher-kva.example"),
        ("alice@other.org", "example.com", "alice@other.org"),
        ("a" * 64 + "@x.com", None, "a" * 64 + "@x.com"),
    ],
)
def test_normalize_address_valid(raw: str, default: str | None, expected: str) -> None:
    assert normalize_address(raw, default) == expected


@pytest.mark.parametrize(
    ("raw", "default"),
    [
        ("<>", None),
        ("< >", None),
        ("", None),
        ("   ", "example.com"),
        ("alice", None),
        ("@example.com", None),
        ("a" * 65 + "@x.com", None),  # RFC 5321 4.5.3.1.1
        ("é" * 33 + "@x.com", None),  # 66 octets in UTF-8
        ("a b@example.com", None),
        ("a\tb@example.com", None),
        ("a\x00b@example.com", None),
        ("a\x7fb@example.com", None),
        ("a\nb@example.com", None),
        ("a\u2028b@example.com", None),
        ("user@", None),
        ("user@exa mple.com", None),
        ("user@-bad.com", None),
        ("alice", "not a domain"),
        ("@@example.com", None),
        ("a\ud800@example.com", None),
        ("a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".cc", None),  # 64 + 1 + 247 > 254
    ],
)
def test_normalize_address_rejects(raw: str, default: str | None) -> None:
    with pytest.raises(AddressError):
        normalize_address(raw, default)


def test_null_path_message_is_clear() -> None:
    with pytest.raises(AddressError, match="null reverse-path"):
        normalize_address("<>")


def test_address_error_is_value_error() -> None:
    assert issubclass(AddressError, ValueError)


@pytest.mark.parametrize(
    ("address", "local", "domain"),
    [
        ("user@example.com", "user", "example.com"),
        ("a@b@example.com", "a@b", "example.com"),
        ('"x"@[127.0.0.1]', '"x"', "[127.0.0.1]"),
    ],
)
def test_parts(address: str, local: str, domain: str) -> None:
    assert local_part_of(address) == local
    assert domain_of(address) == domain


@pytest.mark.parametrize("fn", [domain_of, local_part_of])
def test_parts_need_at(fn: object) -> None:
    assert callable(fn)
    with pytest.raises(AddressError):
        fn("no-at-sign")


@given(st.text())
def test_normalize_domain_idempotent_or_address_error(raw: str) -> None:
    try:
        once = normalize_domain(raw)
    except AddressError:
        return
    assert normalize_domain(once) == once
    assert once.isascii()
    assert once == once.lower()


@given(DOMAIN)
def test_normalize_domain_keeps_valid_domains(domain: str) -> None:
    if any(label.startswith("-") or label.endswith("-") for label in domain.split(".")):
        return
    assert normalize_domain(domain) == domain
    assert normalize_domain("*." + domain.upper() + ".") == domain


@given(st.text(), st.one_of(st.none(), DOMAIN))
def test_normalize_address_idempotent_or_address_error(raw: str, default: str | None) -> None:
    try:
        once = normalize_address(raw, default)
    except AddressError:
        return
    assert normalize_address(once) == once
    assert normalize_address(once, "elsewhere.example") == once
    assert "@" in once


@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"))),
    DOMAIN,
)
def test_normalize_address_built_from_parts(local: str, domain: str) -> None:
    try:
        result = normalize_address(f"{local}@{domain}")
    except AddressError:
        return
    assert domain_of(result) == normalize_domain(domain)
    assert normalize_address(result) == result


ADDRESSY = st.text(alphabet='aZ9.-_@<>" \t*[]:,üßİÄ。\x00', max_size=40)


@given(ADDRESSY)
def test_addressy_text_idempotent(raw: str) -> None:
    try:
        once = normalize_address(raw)
    except AddressError:
        return
    assert normalize_address(once) == once
    assert once == once.strip()
    assert not any(ch.isspace() for ch in once)


@given(ADDRESSY)
def test_domainy_text_idempotent(raw: str) -> None:
    try:
        once = normalize_domain(raw)
    except AddressError:
        return
    assert normalize_domain(once) == once


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("alice@example.com", "a***@example.com"),
        ("a@x.test", "a***@x.test"),
        ("", "<>"),
        ("no-at-sign", "***"),
        ("we@ird@x.test", "w***@x.test"),
    ],
)
def test_mask_address(address: str, masked: str) -> None:
    assert mask_address(address) == masked
