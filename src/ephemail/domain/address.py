"""Normalisation of mail addresses and domain names.

A mailbox is keyed by the envelope recipient: trimmed, lowercased, the domain in IDNA
(punycode) form (SPEC, Concepts → Address / mailbox). Everything that compares addresses or
domains (mailbox lookup, accept policy, bans) must go through these functions first so that
two spellings of the same address always produce the same key.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

__all__ = [
    "MAX_ADDRESS_OCTETS",
    "MAX_DOMAIN_OCTETS",
    "MAX_LABEL_OCTETS",
    "MAX_LOCAL_PART_OCTETS",
    "AddressError",
    "domain_of",
    "local_part_of",
    "normalize_address",
    "normalize_domain",
]

# RFC 5321 4.5.3.1.1: local part at most 64 octets.
MAX_LOCAL_PART_OCTETS = 64
# RFC 5321 4.5.3.1.3 limits a path to 256 octets including the angle brackets → 254.
MAX_ADDRESS_OCTETS = 254
# RFC 1035 2.3.4: labels at most 63 octets, names at most 255 octets on the wire, which is
# 253 characters in dotted text form without the trailing dot.
MAX_LABEL_OCTETS = 63
MAX_DOMAIN_OCTETS = 253

# RFC 3490 3.1: U+002E, U+3002, U+FF0E and U+FF61 all separate labels.
_DOT_RE = re.compile("[.\u3002\uff0e\uff61]")
# RFC 5321 4.1.2: sub-domain = Let-dig [Ldh-str]  (letters, digits, inner hyphens).
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\Z")
# RFC 5321 4.1.3: General-address-literal = Standardized-tag ":" 1*dcontent.
_GENERAL_LITERAL_RE = re.compile(r"[a-z0-9-]*[a-z0-9]:[\x21-\x5a\x5e-\x7e]+\Z")
# RFC 5321 4.1.2 A-d-l: `@one.example,@two.example:` before the mailbox.
_SOURCE_ROUTE_RE = re.compile(r"@[^,:@]+(?:,@[^,:@]+)*:")
# RFC 5322 3.2.3 dot-atom: used to decide whether a quoted local part can lose its quotes.
_DOT_ATOM_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z"
)


class AddressError(ValueError):
    """An address or domain that cannot be normalised (and therefore cannot be a mailbox key)."""

    def __init__(self, message: str, value: str | None = None) -> None:
        self.value = value
        super().__init__(f"{message}: {value!r}" if value is not None else message)


def _octets(text: str) -> int:
    """Length in UTF-8 octets (limits in RFC 5321 are in octets, not characters)."""
    return len(text.encode("utf-8"))


def _check_characters(text: str, what: str, original: str) -> None:
    """Reject NUL, control, format-breaking whitespace and lone surrogates."""
    for ch in text:
        if ch.isspace():
            raise AddressError(f"{what} contains whitespace", original)
        category = unicodedata.category(ch)
        if category == "Cc":  # includes NUL, CR, LF, DEL
            raise AddressError(f"{what} contains a control character", original)
        if category == "Cs":  # lone surrogates cannot be encoded as UTF-8
            raise AddressError(f"{what} contains an invalid character", original)


def _normalize_literal(text: str, original: str) -> str:
    """Validate an address literal `[1.2.3.4]` / `[IPv6:...]` and return it lowercased."""
    inner = text[1:-1]
    try:
        if inner.startswith("ipv6:"):
            ipaddress.IPv6Address(inner[5:])  # RFC 5321 4.1.3 IPv6-address-literal
        elif ":" in inner:
            if not _GENERAL_LITERAL_RE.match(inner):
                raise AddressError("invalid address literal", original)
        else:
            ipaddress.IPv4Address(inner)  # RFC 5321 4.1.3 IPv4-address-literal
    except ValueError as exc:
        if isinstance(exc, AddressError):
            raise
        raise AddressError("invalid address literal", original) from exc
    return text


def normalize_domain(raw: str) -> str:
    """Return the canonical form of a domain: lowercase IDNA ASCII, no `*.`, no trailing dot.

    `*.example.com` and `example.com` normalise to the same value because a registered domain
    always covers its subdomains. Address literals are kept verbatim (lowercased).
    """
    text = raw.strip()
    if not text:
        raise AddressError("empty domain", raw)
    _check_characters(text, "domain", raw)
    text = text.lower()
    if text.startswith("[") and text.endswith("]") and len(text) > 2:
        return _normalize_literal(text, raw)
    if text.startswith("*."):
        text = text[2:]
    labels = _DOT_RE.split(text)
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()  # one trailing dot: the absolute form of the same name
    out: list[str] = []
    for label in labels:
        if not label:
            raise AddressError("domain has an empty label", raw)
        if label.isascii():
            ascii_label = label
        else:
            try:
                # RFC 3490 4.1 ToASCII (IDNA 2003, stdlib codec), one label at a time.
                ascii_label = label.encode("idna").decode("ascii").lower()
            except UnicodeError as exc:
                raise AddressError("domain label is not valid IDNA", raw) from exc
        if len(ascii_label) > MAX_LABEL_OCTETS:
            raise AddressError("domain label longer than 63 octets", raw)
        if not _LABEL_RE.match(ascii_label):
            raise AddressError("domain label has characters not allowed in a host name", raw)
        out.append(ascii_label)
    domain = ".".join(out)
    if len(domain) > MAX_DOMAIN_OCTETS:
        raise AddressError("domain longer than 253 octets", raw)
    return domain


def _normalize_local_part(local: str, original: str) -> str:
    """Lowercase a local part (UTF-8 allowed, RFC 6531) and drop needless quotes."""
    if not local:
        raise AddressError("empty local part", original)
    _check_characters(local, "local part", original)
    # RFC 5321 4.1.2: `"john"` and `john` are the same mailbox; keep quotes only when needed.
    if len(local) >= 2 and local[0] == '"' and local[-1] == '"' and _DOT_ATOM_RE.match(local[1:-1]):
        local = local[1:-1]
    local = local.lower()
    if _octets(local) > MAX_LOCAL_PART_OCTETS:
        raise AddressError("local part longer than 64 octets", original)
    return local


def normalize_address(raw: str, default_domain: str | None = None) -> str:
    """Return the mailbox key for an address: `local@domain`, lowercased, domain in IDNA.

    Without `@` the `default_domain` is appended (API / IMAP login convenience); the null
    reverse-path `<>` is not an address and raises (callers handle it before calling).
    """
    text = raw.strip()
    if len(text) >= 2 and text[0] == "<" and text[-1] == ">":
        text = text[1:-1].strip()
        if not text:
            raise AddressError("the null reverse-path <> is not an address", raw)
    if not text:
        raise AddressError("empty address", raw)
    # RFC 5321 4.1.2 / Appendix C: a source route `@a,@b:user@x` must be accepted and ignored.
    route = _SOURCE_ROUTE_RE.match(text)
    if route:
        text = text[route.end() :]
    local, at, domain = text.rpartition("@")
    if local.startswith("@"):
        raise AddressError("local part starts with @", raw)
    if not at:
        if default_domain is None:
            raise AddressError("address has no @ and there is no default domain", raw)
        local, domain = text, default_domain
    local = _normalize_local_part(local, raw)
    domain = normalize_domain(domain)
    address = f"{local}@{domain}"
    if _octets(address) > MAX_ADDRESS_OCTETS:
        raise AddressError("address longer than 254 octets", raw)
    return address


def domain_of(address: str) -> str:
    """The domain of a normalised address (the part after the last `@`)."""
    _local, at, domain = address.rpartition("@")
    if not at:
        raise AddressError("not an address (no @)", address)
    return domain


def local_part_of(address: str) -> str:
    """The local part of a normalised address (everything before the last `@`)."""
    local, at, _domain = address.rpartition("@")
    if not at:
        raise AddressError("not an address (no @)", address)
    return local


def mask_address(address: str) -> str:
    """`alice@example.com` → `a***@example.com`: how logs at INFO show an address.

    The null reverse-path shows as `<>`; anything without `@` as `***`.
    """
    if not address:
        return "<>"
    local, at, domain = address.rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"
