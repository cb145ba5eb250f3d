"""The webhook SSRF guard: which addresses a webhook may reach, and URLs that try to
disguise a forbidden one."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ephemail.adapters.http.webhooks import AddressPolicy, HttpxWebhookSender, forbidden_class

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


# -- every class of forbidden address --------------------------------------------------

FORBIDDEN = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.0.1", "link-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("0.1.2.3", "this network"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.10", "reserved"),
    ("198.51.100.1", "reserved"),
    ("203.0.113.1", "reserved"),
    ("198.18.0.1", "reserved"),
    ("192.0.0.8", "reserved"),
    ("2001:db8::1", "reserved"),
    ("100::1", "reserved"),
    ("2001::1", "reserved"),  # Teredo: the IPv4 inside is obfuscated, so refuse it all
    ("::1.2.3.4", "reserved"),  # IPv4-compatible (deprecated)
    ("fec0::1", "site-local"),
    ("100.64.0.1", "shared address"),
    ("100.127.255.254", "shared address"),
    ("169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("100.100.100.200", "metadata"),
    ("64:ff9b:1::1", "local-use NAT64"),
    # IPv6 that embeds a forbidden IPv4: judged by what it embeds.
    ("::ffff:127.0.0.1", "IPv4-mapped address of 127.0.0.1, a loopback"),
    ("::ffff:10.1.2.3", "IPv4-mapped address of 10.1.2.3, a private"),
    ("::ffff:169.254.169.254", "IPv4-mapped address of 169.254.169.254, a cloud metadata"),
    ("::ffff:0:192.168.0.1", "IPv4-translated address of 192.168.0.1, a private"),
    ("64:ff9b::127.0.0.1", "NAT64 address of 127.0.0.1, a loopback"),
    ("64:ff9b::a9fe:a9fe", "NAT64 address of 169.254.169.254, a cloud metadata"),
    ("2002:7f00:1::1", "6to4 address of 127.0.0.1, a loopback"),
    ("2002:a00:1::", "6to4 address of 10.0.0.1, a private"),
    ("2002:a9fe:a9fe::1", "6to4 address of 169.254.169.254, a cloud metadata"),
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "100.63.255.255",  # just below the shared space
    "100.128.0.0",  # just above it
    "172.15.255.255",
    "172.32.0.0",
    "169.253.255.255",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8 (what DNS64 gives an IPv6-only host)
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]


@pytest.mark.parametrize(("address", "class_text"), FORBIDDEN)
def test_forbidden_address_classes(address: str, class_text: str) -> None:
    reason = forbidden_class(ip(address))
    assert reason is not None
    assert class_text in reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_class(ip(address)) is None
    assert AddressPolicy().refusal(ip(address)) is None


def test_refusal_names_address_class_and_setting() -> None:
    policy = AddressPolicy()
    assert policy.refusal(ip("127.0.0.1")) == (
        "refused: 127.0.0.1 is a loopback address; webhooks may reach it only if "
        "EPHEMAIL_WEBHOOK_ALLOW_NETWORKS includes it (e.g. 127.0.0.1/32)"
    )
    named = policy.refusal(ip("10.0.0.5"), host="hooks.internal")
    assert named is not None
    assert named.startswith("refused: hooks.internal resolves to 10.0.0.5, a private address;")
    v6 = policy.refusal(ip("fe80::1%eth0"))
    assert v6 is not None
    assert "(e.g. fe80::1/128)" in v6


# -- the allow-list ----------------------------------------------------------------------

ALLOW_CASES = [
    # (allow_networks, address, allowed)
    (["127.0.0.1/32"], "127.0.0.1", True),
    (["127.0.0.1/32"], "127.0.0.2", False),
    (["127.0.0.0/8"], "127.9.9.9", True),
    (["127.0.0.1"], "127.0.0.1", True),  # a bare address is its own /32
    (["10.0.0.0/8", "192.168.0.0/16"], "192.168.7.7", True),
    (["10.0.0.0/8"], "172.16.0.1", False),
    (["::1/128"], "::1", True),
    (["::1/128"], "127.0.0.1", False),  # families never cross
    (["127.0.0.1/32"], "::1", False),
    (["fd00::/8"], "fd12::1", True),
    (["fd00::/8"], "fc00::1", False),
    (["127.0.0.1/32"], "::ffff:127.0.0.1", True),  # the embedded address is allowed
    (["::ffff:0:0/96"], "::ffff:10.0.0.1", True),
    (["10.0.0.0/8"], "::ffff:127.0.0.1", False),
    (["169.254.0.0/16"], "169.254.169.254", True),  # metadata only if said explicitly
    (["169.254.169.254/32"], "169.254.169.253", False),
    (["100.64.0.0/10"], "100.100.100.200", True),
    ([" 127.0.0.1/32 ", ""], "127.0.0.1", True),  # blanks from a comma list are ignored
]


@pytest.mark.parametrize(("allow", "address", "allowed"), ALLOW_CASES)
def test_allow_list_hits_and_misses(allow: list[str], address: str, allowed: bool) -> None:
    refusal = AddressPolicy(allow).refusal(ip(address))
    assert (refusal is None) is allowed, refusal


@pytest.mark.parametrize(
    ("allow", "message"),
    [
        (["localhost"], "'localhost' is not a network in CIDR form"),
        (["10.0.0.0/33"], "'10.0.0.0/33' is not a network"),
        (["10.1.0.0/8"], "did you mean 10.0.0.0/8?"),
        (["fd00::1/8"], "did you mean fd00::/8?"),
    ],
)
def test_invalid_allow_networks_are_rejected_clearly(allow: list[str], message: str) -> None:
    with pytest.raises(ValueError, match="EPHEMAIL_WEBHOOK_ALLOW_NETWORKS") as raised:
        AddressPolicy(allow)
    assert message in str(raised.value)


def test_policy_checks_every_address_of_a_name() -> None:
    policy = AddressPolicy()
    assert policy.check("ok.example", [ip("8.8.8.8"), ip("2606:4700::1")]) is None
    refusal = policy.check("mixed.example", [ip("8.8.8.8"), ip("192.168.0.1")])
    assert refusal is not None
    assert refusal.startswith("refused: mixed.example resolves to 192.168.0.1, a private")
    literal = policy.check("10.0.0.1", [ip("10.0.0.1")])
    assert literal is not None
    assert literal.startswith("refused: 10.0.0.1 is a private address")


# -- properties --------------------------------------------------------------------------

# The forbidden networks, written out again from the requirements (an oracle that does
# not share the implementation's table).
ORACLE: list[IPNetwork] = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
        "255.255.255.255/32", "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8",
    )
]  # fmt: skip
FORBIDDEN_V4 = [n for n in ORACLE if n.version == 4]


def addresses_in(network: IPNetwork) -> st.SearchStrategy[IPAddress]:
    first, last = int(network.network_address), int(network.broadcast_address)
    make = type(network.network_address)  # ip_address(1) would be IPv4 even for ::1
    return st.integers(first, last).map(make)


forbidden_addresses = st.sampled_from(ORACLE).flatmap(addresses_in)
forbidden_v4 = st.sampled_from(FORBIDDEN_V4).flatmap(addresses_in)


def any_network() -> st.SearchStrategy[IPNetwork]:
    v4 = st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)).map(
        lambda t: ipaddress.IPv4Network((t[0], t[1]), strict=False)
    )
    v6 = st.tuples(st.integers(0, 2**128 - 1), st.integers(0, 128)).map(
        lambda t: ipaddress.IPv6Network((t[0], t[1]), strict=False)
    )
    return st.one_of(v4, v6)


def embed(v4: ipaddress.IPv4Address, form: str) -> ipaddress.IPv6Address:
    value = int(v4)
    if form == "mapped":
        return ipaddress.IPv6Address((0xFFFF << 32) | value)
    if form == "nat64":
        return ipaddress.IPv6Address((0x64FF9B << 96) | value)
    return ipaddress.IPv6Address((0x2002 << 112) | (value << 80))  # 6to4


def within(address: IPAddress, networks: list[IPNetwork]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


@given(forbidden_addresses)
def test_no_forbidden_address_is_allowed_by_default(address: IPAddress) -> None:
    refusal = AddressPolicy().refusal(address)
    assert refusal is not None
    assert str(address) in refusal
    assert "EPHEMAIL_WEBHOOK_ALLOW_NETWORKS" in refusal


@given(forbidden_addresses, st.lists(any_network(), max_size=4))
def test_a_forbidden_address_passes_only_when_allow_listed(
    address: IPAddress, allow: list[IPNetwork]
) -> None:
    refusal = AddressPolicy([str(n) for n in allow]).refusal(address)
    assert (refusal is None) == within(address, allow)


@given(forbidden_v4, st.sampled_from(["mapped", "nat64", "6to4"]), st.lists(any_network()))
def test_embedded_forbidden_ipv4_passes_only_when_allow_listed(
    inner: ipaddress.IPv4Address, form: str, allow: list[IPNetwork]
) -> None:
    outer = embed(inner, form)
    refusal = AddressPolicy([str(n) for n in allow]).refusal(outer)
    # Allowed when the operator allows the IPv6 address itself or the IPv4 it carries.
    assert (refusal is None) == (within(outer, allow) or within(inner, allow))
    if refusal is not None:
        assert str(inner) in refusal


@given(st.sampled_from(ORACLE).flatmap(lambda n: st.tuples(st.just(n), addresses_in(n))))
def test_allowing_the_network_allows_its_addresses(pair: tuple[IPNetwork, IPAddress]) -> None:
    network, address = pair
    assert AddressPolicy([str(network)]).refusal(address) is None


# -- hostile URLs --------------------------------------------------------------------------


@pytest.fixture
async def guarded() -> AsyncIterator[tuple[HttpxWebhookSender, list[str]]]:
    """A sender with no allow-list whose resolver answers from a table and records
    the names it was asked (no DNS)."""
    table = {
        "evil": ["93.184.215.14"],
        "public.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
        "metadata.google.internal": ["169.254.169.254"],
        "rebind.example": ["93.184.215.14", "10.0.0.7"],
        "localhost.": ["127.0.0.1"],
        "v6only.example": ["::1"],
    }
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    sender = HttpxWebhookSender(user_agent="test", resolver=resolve)
    try:
        yield sender, asked
    finally:
        await sender.close()


HOSTILE = [
    # (url, start of the refusal)
    ("http://127.0.0.1/", "refused: 127.0.0.1 is a loopback address"),
    ("HTTP://127.0.0.1:8080/x", "refused: 127.0.0.1 is a loopback address"),
    ("http://2130706433/", "refused: 2130706433 resolves to 127.0.0.1, a loopback"),
    ("http://0x7f.1/", "refused: 0x7f.1 resolves to 127.0.0.1, a loopback"),
    ("http://0x7f000001/", "refused: 0x7f000001 resolves to 127.0.0.1, a loopback"),
    ("http://017700000001/", "refused: 017700000001 resolves to 127.0.0.1, a loopback"),
    ("http://0177.0.0.1/", "invalid URL: Invalid IPv4 address"),  # httpx refuses it itself
    ("http://0177.0.0.01/", "invalid URL: Invalid IPv4 address"),
    ("http://127.1/", "refused: 127.1 resolves to 127.0.0.1, a loopback"),
    ("http://10.1/", "refused: 10.1 resolves to 10.0.0.1, a private"),
    ("http://0/", "refused: 0 resolves to 0.0.0.0, the unspecified address"),
    ("http://0.0.0.0:25/", "refused: 0.0.0.0 is the unspecified address"),
    ("http://[::]/", "refused: :: is the unspecified address"),
    ("http://[::1]:8025/", "refused: ::1 is a loopback address"),
    ("http://[0:0:0:0:0:0:0:1]/", "refused: ::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]/", "refused: ::ffff:7f00:1 is an IPv4-mapped address of 127"),
    ("http://[::ffff:7f00:1]/", "refused: ::ffff:7f00:1 is an IPv4-mapped address of 127"),
    ("http://[64:ff9b::a9fe:a9fe]/", "refused: 64:ff9b::a9fe:a9fe is a NAT64 address of 169"),
    ("http://169.254.169.254/latest/meta-data/", "refused: 169.254.169.254 is a cloud metadata"),
    ("http://[fd00:ec2::254]/", "refused: fd00:ec2::254 is a cloud metadata address"),
    ("http://100.100.100.200/", "refused: 100.100.100.200 is a cloud metadata address"),
    ("https://metadata.google.internal/", "refused: metadata.google.internal resolves to 169"),
    ("http://rebind.example/", "refused: rebind.example resolves to 10.0.0.7, a private"),
    ("http://localhost./", "refused: localhost. resolves to 127.0.0.1, a loopback"),
    ("http://v6only.example/", "refused: v6only.example resolves to ::1, a loopback"),
    ("http://127.0.0.1@evil/", "refused: the URL carries a user name or password"),
    ("http://evil:x@127.0.0.1/", "refused: the URL carries a user name or password"),
    ("ftp://evil/", "invalid URL: the scheme must be http or https"),
    ("file:///etc/passwd", "invalid URL"),
    ("gopher://127.0.0.1:25/", "invalid URL: the scheme must be http or https"),
]


@pytest.mark.parametrize(("url", "refusal"), HOSTILE)
async def test_hostile_urls_are_refused(
    guarded: tuple[HttpxWebhookSender, list[str]], url: str, refusal: str
) -> None:
    sender, _asked = guarded
    text = await sender.check_target(url)
    assert text is not None
    assert text.startswith(refusal), text
    response = await sender.post(url, b"{}", {}, timeout=2.0)
    assert (response.status_code, response.error) == (None, text)


@pytest.mark.parametrize(
    ("url", "asked"),
    [
        ("http://evil#@127.0.0.1/", ["evil"]),  # the fragment hides nothing
        ("http://evil/?next=http://127.0.0.1/", ["evil"]),
        ("https://public.example:8443/hook?token=x", ["public.example"]),
    ],
)
async def test_the_real_host_is_the_one_checked(
    guarded: tuple[HttpxWebhookSender, list[str]], url: str, asked: list[str]
) -> None:
    sender, names = guarded
    assert await sender.check_target(url) is None
    assert names == asked


async def test_an_unresolvable_name_is_not_refused_by_the_check(
    guarded: tuple[HttpxWebhookSender, list[str]],
) -> None:
    sender, _asked = guarded
    assert await sender.check_target("https://not-yet.example/hook") is None
