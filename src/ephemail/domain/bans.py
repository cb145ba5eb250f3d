"""Bans: scope × match × status, and how a value is matched against them.

SPEC (Concepts → Ban). Scopes `sender`, `sender_domain`, `recipient_domain`,
`address`, `ip`; legacy `email` (sender at SMTP, address at mailbox creation)
and legacy `domain` (= recipient_domain).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ephemail.domain.address import AddressError, normalize_address, normalize_domain
from ephemail.domain.domains import parent_domains


class BanScope(StrEnum):
    SENDER = "sender"
    SENDER_DOMAIN = "sender_domain"
    RECIPIENT_DOMAIN = "recipient_domain"
    ADDRESS = "address"
    IP = "ip"
    EMAIL = "email"  # legacy: sender at SMTP, address at mailbox creation


class BanMatch(StrEnum):
    EXACT = "exact"
    CONTAINS = "contains"


class BanStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class BanError(ValueError):
    """A ban that cannot be stored (unknown scope, empty value, bad CIDR ...)."""


@dataclass(frozen=True, slots=True)
class Ban:
    """One stored ban. `value` is already normalised (see `normalize_ban`)."""

    scope: BanScope
    match: BanMatch
    value: str
    status: BanStatus = BanStatus.ACTIVE
    reason: str = ""
    id: int | None = None
    created_at: datetime | None = None


_DOMAIN_SCOPES = frozenset({BanScope.SENDER_DOMAIN, BanScope.RECIPIENT_DOMAIN})
_ADDRESS_SCOPES = frozenset({BanScope.SENDER, BanScope.ADDRESS, BanScope.EMAIL})
# Legacy scope names accepted on input and what they mean today.
_SCOPE_ALIASES = {"domain": BanScope.RECIPIENT_DOMAIN}
_CONTAINS_PREFIX = "contains:"
_MAPPED_V4 = ipaddress.IPv6Network("::ffff:0:0/96")  # RFC 4291 2.5.5.2


def _allowed(values: Iterable[str]) -> str:
    return ", ".join(values)


def _parse_scope(scope: str) -> BanScope:
    key = scope.strip().lower()
    if key in _SCOPE_ALIASES:
        return _SCOPE_ALIASES[key]
    try:
        return BanScope(key)
    except ValueError:
        allowed = _allowed([*(s.value for s in BanScope), *_SCOPE_ALIASES])
        raise BanError(f"unknown ban scope {scope!r}; allowed: {allowed}") from None


def _parse_match(match: str | None) -> BanMatch:
    key = (match or "").strip().lower()
    if not key:
        return BanMatch.EXACT
    try:
        return BanMatch(key)
    except ValueError:
        allowed = _allowed(m.value for m in BanMatch)
        raise BanError(f"unknown ban match {match!r}; allowed: {allowed}") from None


def _parse_status(status: str | None) -> BanStatus:
    key = (status or "").strip().lower()
    if not key:
        return BanStatus.ACTIVE
    try:
        return BanStatus(key)
    except ValueError:
        allowed = _allowed(s.value for s in BanStatus)
        raise BanError(f"unknown ban status {status!r}; allowed: {allowed}") from None


def _canonical_network(value: str) -> str:
    """Canonical CIDR text; an IPv4-mapped IPv6 range is stored as the IPv4 range."""
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise BanError(f"ip ban value is not an IP address or CIDR network: {value!r}") from None
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED_V4):
        mapped = network.network_address.ipv4_mapped
        assert mapped is not None
        network = ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return str(network)


def normalize_ban(
    scope: str,
    value: str,
    match: str | None = None,
    status: str | None = None,
    reason: str = "",
) -> Ban:
    """Validate and normalise a ban as given by an admin or a legacy import.

    Scope, match and status are case-insensitive; `domain` means `recipient_domain`; a value
    written `contains:foo` becomes a `contains` ban on `foo`; exact domain values are
    normalised like domains (`*.x.com` → `x.com`, IDNA) and exact address values like addresses,
    so that matching is a plain equality on normalised input.
    """
    ban_scope = _parse_scope(scope)
    ban_match = _parse_match(match)
    ban_status = _parse_status(status)
    text = value.strip()
    if text[: len(_CONTAINS_PREFIX)].lower() == _CONTAINS_PREFIX:
        ban_match = BanMatch.CONTAINS
        text = text[len(_CONTAINS_PREFIX) :].strip()
    text = text.lower()
    if not text:
        raise BanError(f"empty ban value for scope {ban_scope.value}")
    if ban_scope is BanScope.IP:
        if ban_match is BanMatch.CONTAINS:
            raise BanError("ip bans cannot use match 'contains'; use a CIDR network instead")
        text = _canonical_network(text)
    elif ban_match is BanMatch.EXACT and ban_scope in _DOMAIN_SCOPES:
        try:
            text = normalize_domain(text)
        except AddressError as exc:
            raise BanError(f"{ban_scope.value} ban value is not a valid domain: {exc}") from exc
    elif ban_match is BanMatch.EXACT and ban_scope in _ADDRESS_SCOPES:
        try:
            text = normalize_address(text)
        except AddressError as exc:
            raise BanError(f"{ban_scope.value} ban value is not a valid address: {exc}") from exc
    return Ban(scope=ban_scope, match=ban_match, value=text, status=ban_status, reason=reason)


_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class _ScopeIndex:
    """Exact values (dict, O(1)) and contains-substrings (list) of one group of scopes."""

    __slots__ = ("contains", "exact")

    def __init__(self) -> None:
        self.exact: dict[str, Ban] = {}
        self.contains: list[Ban] = []

    def add(self, ban: Ban, allow_contains: bool) -> None:
        if ban.match is BanMatch.EXACT:
            self.exact.setdefault(ban.value, ban)  # first stored ban wins on duplicates
        elif allow_contains and ban.value:
            self.contains.append(ban)

    def find(self, keys: Iterable[str], haystack: str) -> Ban | None:
        """First exact hit over `keys` (most specific first), else first substring hit."""
        for key in keys:
            ban = self.exact.get(key)
            if ban is not None:
                return ban
        for ban in self.contains:
            if ban.value in haystack:
                return ban
        return None


class _NetworkIndex:
    """IP networks grouped by prefix length: one dict lookup per distinct prefix length."""

    __slots__ = ("_v4", "_v6")

    def __init__(self) -> None:
        # Each entry: (mask, {network int: ban}), longest prefix first so the reported ban is
        # the narrowest matching one.
        self._v4: list[tuple[int, dict[int, Ban]]] = []
        self._v6: list[tuple[int, dict[int, Ban]]] = []

    @staticmethod
    def build(bans: Iterable[Ban]) -> _NetworkIndex:
        grouped: dict[tuple[int, int], dict[int, Ban]] = {}
        for ban in bans:
            try:
                # Via the canonical form so a stored `::ffff:a.b.c.d/1xx` joins the v4 table.
                network: _Network = ipaddress.ip_network(_canonical_network(ban.value))
            except ValueError:
                continue  # a malformed stored value must not break matching of the others
            by_net = grouped.setdefault((network.version, network.prefixlen), {})
            by_net.setdefault(int(network.network_address), ban)  # first stored ban wins
        index = _NetworkIndex()
        for (version, prefixlen), by_net in sorted(grouped.items(), reverse=True):
            bits = 32 if version == 4 else 128
            mask = ((1 << prefixlen) - 1) << (bits - prefixlen)
            (index._v4 if version == 4 else index._v6).append((mask, by_net))
        return index

    @staticmethod
    def _find(table: list[tuple[int, dict[int, Ban]]], value: int) -> Ban | None:
        for mask, by_net in table:
            ban = by_net.get(value & mask)
            if ban is not None:
                return ban
        return None

    def find(self, ip: str) -> Ban | None:
        try:
            address = ipaddress.ip_address(ip.strip().removeprefix("[").removesuffix("]"))
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address):
            mapped = address.ipv4_mapped
            if mapped is not None:  # `::ffff:1.2.3.4` is the IPv4 client 1.2.3.4
                hit = self._find(self._v4, int(mapped))
                if hit is not None:
                    return hit
            return self._find(self._v6, int(address))
        return self._find(self._v4, int(address))


class BanSet:
    """All active bans, indexed for matching normalised input.

    Exact values are dict lookups (one per parent domain for domain scopes); only `contains`
    bans and IP prefix lengths are scanned. With `allow_contains=False` (configuration),
    `contains` bans are ignored entirely.
    """

    __slots__ = (
        "_address",
        "_allow_contains",
        "_bans",
        "_creation",
        "_ip",
        "_recipient_domain",
        "_sender",
        "_sender_domain",
    )

    def __init__(self, bans: Iterable[Ban] = (), allow_contains: bool = True) -> None:
        self._allow_contains = allow_contains
        self._bans: tuple[Ban, ...] = tuple(b for b in bans if b.status is BanStatus.ACTIVE)
        self._sender = _ScopeIndex()
        self._sender_domain = _ScopeIndex()
        self._recipient_domain = _ScopeIndex()
        self._address = _ScopeIndex()
        self._creation = _ScopeIndex()
        for ban in self._bans:
            scope = ban.scope
            if scope is BanScope.SENDER:
                self._sender.add(ban, allow_contains)
            elif scope is BanScope.EMAIL:
                # Legacy `email`: sender at SMTP and address for mailbox creation.
                self._sender.add(ban, allow_contains)
                self._creation.add(ban, allow_contains)
            elif scope is BanScope.ADDRESS:
                self._address.add(ban, allow_contains)
                self._creation.add(ban, allow_contains)
            elif scope is BanScope.SENDER_DOMAIN:
                self._sender_domain.add(ban, allow_contains)
            elif scope is BanScope.RECIPIENT_DOMAIN:
                self._recipient_domain.add(ban, allow_contains)
        self._ip = _NetworkIndex.build(
            ban for ban in self._bans if ban.scope is BanScope.IP and ban.match is BanMatch.EXACT
        )

    @property
    def bans(self) -> tuple[Ban, ...]:
        """The active bans this set was built from (including ignored `contains` bans)."""
        return self._bans

    @property
    def allow_contains(self) -> bool:
        return self._allow_contains

    def __len__(self) -> int:
        return len(self._bans)

    def sender_ban(self, mail_from: str) -> Ban | None:
        """The ban hitting a normalised envelope sender (sender, email, sender_domain)."""
        if not mail_from:
            return None  # null reverse-path: nothing to match
        ban = self._sender.find((mail_from,), mail_from)
        if ban is not None:
            return ban
        _local, at, domain = mail_from.rpartition("@")
        if not at:
            return None
        return self._sender_domain.find(parent_domains(domain), domain)

    def recipient_domain_ban(self, domain: str) -> Ban | None:
        """The recipient_domain ban covering a normalised domain (parents walked)."""
        if not domain:
            return None
        return self._recipient_domain.find(parent_domains(domain), domain)

    def address_ban(self, address: str) -> Ban | None:
        """The `address` ban hitting a normalised mailbox address (SMTP RCPT, readers).

        A legacy `email` ban is not one: at SMTP it means the sender (SPEC → Ban).
        """
        if not address:
            return None
        return self._address.find((address,), address)

    def creation_ban(self, address: str) -> Ban | None:
        """The ban forbidding creating the mailbox `address`: `address` or legacy `email`."""
        if not address:
            return None
        return self._creation.find((address,), address)

    def ip_ban(self, ip: str) -> Ban | None:
        """The ip ban covering a client address (IPv4, IPv6, IPv4-mapped); None if unparsable."""
        return self._ip.find(ip)
