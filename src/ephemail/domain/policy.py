"""Accept policy for SMTP RCPT: which recipients this deployment takes mail for.

SPEC (Concepts → Accept policy, Ban). `all` accepts any recipient, `domains` only registered
active domains, a single domain name only that domain and its subdomains. An empty domain table
in `domains` mode rejects everything; it never silently opens the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ephemail.domain.address import AddressError, domain_of, normalize_address, normalize_domain
from ephemail.domain.bans import Ban, BanSet
from ephemail.domain.domains import DomainTable, domain_covers

__all__ = [
    "AcceptMode",
    "AcceptPolicy",
    "PolicySnapshot",
    "RecipientVerdict",
    "SenderVerdict",
    "parse_accept_policy",
]


class AcceptMode(StrEnum):
    ALL = "all"
    DOMAINS = "domains"
    SINGLE = "single"


@dataclass(frozen=True, slots=True)
class AcceptPolicy:
    """The configured accept policy; `single_domain` is set (normalised) only in SINGLE mode."""

    mode: AcceptMode
    single_domain: str | None = None

    def __post_init__(self) -> None:
        if self.mode is AcceptMode.SINGLE:
            if not self.single_domain:
                raise AddressError("accept policy 'single' needs a domain name")
            object.__setattr__(self, "single_domain", normalize_domain(self.single_domain))
        elif self.single_domain is not None:
            raise ValueError(f"accept policy {self.mode.value!r} takes no domain name")


def parse_accept_policy(value: str) -> AcceptPolicy:
    """Parse the configuration value: `all`, `domains`, or one domain name.

    Anything that is not a keyword is a domain name and must normalise (AddressError if not).
    """
    key = value.strip().lower()
    if key == AcceptMode.ALL.value:
        return AcceptPolicy(AcceptMode.ALL)
    if key == AcceptMode.DOMAINS.value:
        return AcceptPolicy(AcceptMode.DOMAINS)
    return AcceptPolicy(AcceptMode.SINGLE, normalize_domain(value))


class RecipientVerdict(StrEnum):
    ACCEPT = "accept"
    DOMAIN_NOT_ALLOWED = "domain_not_allowed"
    DOMAIN_BANNED = "domain_banned"
    ADDRESS_BANNED = "address_banned"


class SenderVerdict(StrEnum):
    ACCEPT = "accept"
    SENDER_BANNED = "sender_banned"


class PolicySnapshot:
    """Immutable view of policy, domains and bans used for one SMTP decision or more.

    Built once whenever the configuration, domain table or ban list changes, then shared by
    all sessions without locking.
    """

    __slots__ = ("_bans", "_domains", "_policy")

    def __init__(self, policy: AcceptPolicy, domains: DomainTable, bans: BanSet) -> None:
        self._policy = policy
        self._domains = domains
        self._bans = bans

    @property
    def policy(self) -> AcceptPolicy:
        return self._policy

    @property
    def domains(self) -> DomainTable:
        return self._domains

    @property
    def bans(self) -> BanSet:
        return self._bans

    @property
    def domains_empty_in_domains_mode(self) -> bool:
        """True when `domains` mode has no active domain, i.e. every recipient is rejected."""
        return self._policy.mode is AcceptMode.DOMAINS and not self._domains.has_active

    def check_ip(self, ip: str) -> bool:
        """True when the client address is banned."""
        return self._bans.ip_ban(ip) is not None

    def sender_decision(self, mail_from: str) -> tuple[SenderVerdict, Ban | None]:
        """Verdict for an envelope sender plus the ban responsible (for logs).

        The null reverse-path (`""` or `<>`) is always accepted here: bounces are only
        subject to the ip check. Input is normalised if possible, else only lowercased.
        """
        text = mail_from.strip()
        if text in ("", "<>"):
            return SenderVerdict.ACCEPT, None
        try:
            sender = normalize_address(text)
        except AddressError:
            sender = text.removeprefix("<").removesuffix(">").strip().lower()
        ban = self._bans.sender_ban(sender)
        if ban is not None:
            return SenderVerdict.SENDER_BANNED, ban
        return SenderVerdict.ACCEPT, None

    def check_sender(self, mail_from: str) -> SenderVerdict:
        """Verdict for an envelope sender (see `sender_decision`)."""
        return self.sender_decision(mail_from)[0]

    def _domain_accepted(self, domain: str) -> bool:
        mode = self._policy.mode
        if mode is AcceptMode.ALL:
            return True
        if mode is AcceptMode.DOMAINS:
            return self._domains.lookup_active(domain) is not None
        single = self._policy.single_domain
        return single is not None and domain_covers(single, domain)

    def recipient_decision(self, address: str) -> tuple[RecipientVerdict, Ban | None]:
        """Verdict for a normalised recipient plus the ban responsible (for logs).

        Order: domain allowed by the policy → recipient_domain ban → address ban.
        """
        try:
            domain = domain_of(address)
        except AddressError:
            return RecipientVerdict.DOMAIN_NOT_ALLOWED, None
        if not self._domain_accepted(domain):
            return RecipientVerdict.DOMAIN_NOT_ALLOWED, None
        ban = self._bans.recipient_domain_ban(domain)
        if ban is not None:
            return RecipientVerdict.DOMAIN_BANNED, ban
        ban = self._bans.address_ban(address)
        if ban is not None:
            return RecipientVerdict.ADDRESS_BANNED, ban
        return RecipientVerdict.ACCEPT, None

    def check_recipient(self, address: str) -> RecipientVerdict:
        """Verdict for a normalised recipient (see `recipient_decision`)."""
        return self.recipient_decision(address)[0]
