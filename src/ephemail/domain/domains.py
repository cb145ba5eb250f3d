"""Registered domains and how they cover subdomains.

SPEC (Concepts → Domain): a domain entry covers the domain itself and every subdomain;
`*.example.com` and `example.com` match the same set.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ephemail.domain.address import AddressError, normalize_domain
from ephemail.domain.messages import DomainRecord

__all__ = ["DomainTable", "domain_covers", "parent_domains"]


def parent_domains(domain: str) -> list[str]:
    """The domain and each of its parents, most specific first.

    `a.b.x.com` → `["a.b.x.com", "b.x.com", "x.com", "com"]`. Input must be normalised; an
    address literal (`[1.2.3.4]`) has no parents.
    """
    if not domain:
        return []
    if domain.startswith("["):
        return [domain]
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def _pattern_key(pattern: str) -> str:
    """Normalise a domain pattern; fall back to a light cleanup for non-domain junk."""
    try:
        return normalize_domain(pattern)
    except AddressError:
        text = pattern.strip().lower()
        text = text.removeprefix("*.")
        return text[:-1] if text.endswith(".") else text


def domain_covers(pattern: str, domain: str) -> bool:
    """True when a registered `pattern` covers `domain` (itself or any subdomain).

    Compares whole labels, so `x.com` covers `a.x.com` but never `notx.com`.
    """
    p = _pattern_key(pattern)
    d = _pattern_key(domain)
    if not p or not d:
        return False
    if d == p:
        return True
    return not p.startswith("[") and d.endswith("." + p)


class DomainTable:
    """Registered domains indexed by normalised name; lookups are O(number of labels)."""

    __slots__ = ("_by_name",)

    def __init__(self, records: Iterable[DomainRecord] = ()) -> None:
        # Names are normalised by the store; a stray `*.` or case difference is tolerated.
        # With duplicate names the last record wins.
        self._by_name: dict[str, DomainRecord] = {}
        for record in records:
            self._by_name[record.name.strip().lower().removeprefix("*.")] = record

    def __len__(self) -> int:
        return len(self._by_name)

    def __iter__(self) -> Iterator[DomainRecord]:
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._by_name

    @property
    def has_active(self) -> bool:
        """True when at least one entry is active (otherwise `domains` mode rejects all)."""
        return any(record.active for record in self._by_name.values())

    def lookup(self, domain: str) -> DomainRecord | None:
        """The most specific entry covering `domain` (active or not), or None."""
        for candidate in parent_domains(domain):
            record = self._by_name.get(candidate)
            if record is not None:
                return record
        return None

    def lookup_active(self, domain: str) -> DomainRecord | None:
        """Like `lookup`, but None when the most specific entry is inactive.

        An inactive subdomain entry therefore disables its whole subtree even when a parent
        entry is active.
        """
        record = self.lookup(domain)
        if record is None or not record.active:
            return None
        return record
