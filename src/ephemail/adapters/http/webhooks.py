"""Outbound webhook POSTs over httpx, behind an SSRF guard.

A webhook URL is chosen by a user, so calling it must not become a way into the
server's own network: the guard refuses a target whose host is, or resolves to, a
loopback, private, link-local, metadata or otherwise non-public address, unless the
operator allows that network (`EPHEMAIL_WEBHOOK_ALLOW_NETWORKS`). Every address the
name resolves to is checked, and the request then goes to a checked address itself
(the original name travels in the `Host` header and, for https, as the TLS server
name), so a DNS answer that changes between the check and the connection (DNS
rebinding) cannot redirect the request.

Errors and logs name the target as scheme://host:port at most: a webhook URL's
query string, or even its path, often carries a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from ephemail.ports import WebhookResponse

__all__ = [
    "ALLOW_NETWORKS_SETTING",
    "AddressPolicy",
    "HttpxWebhookSender",
    "Resolver",
    "forbidden_class",
]

log = logging.getLogger(__name__)

ALLOW_NETWORKS_SETTING = "EPHEMAIL_WEBHOOK_ALLOW_NETWORKS"
MAX_RESPONSE_BYTES = 64 * 1024  # read at most this much of an answer, then drop it
CHECK_TIMEOUT = 10.0  # seconds `check_target` waits for DNS before letting it pass
MAX_ERROR_LENGTH = 300

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses it resolves to, as text; raises OSError when it does not.
Resolver = Callable[[str, int], Awaitable[list[str]]]


def _net(text: str) -> IPNetwork:
    return ipaddress.ip_network(text)


# Addresses a webhook may not reach, most specific first (the first match names the
# class in the refusal). Sources: RFC 6890 special-purpose registries, RFC 1918,
# RFC 4193, RFC 4291, RFC 6598, RFC 3927, RFC 5737, RFC 3849, RFC 2544, RFC 6666.
FORBIDDEN_NETWORKS: tuple[tuple[IPNetwork, str], ...] = (
    # Cloud metadata services (AWS/GCP/Azure/OpenStack, AWS over IPv6, Alibaba).
    (_net("169.254.169.254/32"), "a cloud metadata address"),
    (_net("fd00:ec2::254/128"), "a cloud metadata address"),
    (_net("100.100.100.200/32"), "a cloud metadata address"),
    (_net("0.0.0.0/32"), "the unspecified address"),
    (_net("0.0.0.0/8"), "a 'this network' address (0.0.0.0/8)"),
    (_net("127.0.0.0/8"), "a loopback address"),
    (_net("10.0.0.0/8"), "a private address"),
    (_net("172.16.0.0/12"), "a private address"),
    (_net("192.168.0.0/16"), "a private address"),
    (_net("100.64.0.0/10"), "a shared address (carrier-grade NAT, 100.64.0.0/10)"),
    (_net("169.254.0.0/16"), "a link-local address"),
    (_net("192.0.0.0/24"), "a reserved address (IETF protocol assignments)"),
    (_net("192.0.2.0/24"), "a reserved address (documentation)"),
    (_net("198.51.100.0/24"), "a reserved address (documentation)"),
    (_net("203.0.113.0/24"), "a reserved address (documentation)"),
    (_net("198.18.0.0/15"), "a reserved address (benchmarking)"),
    (_net("224.0.0.0/4"), "a multicast address"),
    (_net("255.255.255.255/32"), "the broadcast address"),
    (_net("240.0.0.0/4"), "a reserved address"),
    (_net("::/128"), "the unspecified address"),
    (_net("::1/128"), "a loopback address"),
    (_net("::/96"), "a reserved address (IPv4-compatible IPv6)"),
    (_net("fc00::/7"), "a private address (unique local)"),
    (_net("fe80::/10"), "a link-local address"),
    (_net("fec0::/10"), "a site-local address"),
    (_net("ff00::/8"), "a multicast address"),
    (_net("100::/64"), "a reserved address (discard-only)"),
    (_net("64:ff9b:1::/48"), "a reserved address (local-use NAT64)"),
    (_net("2001:db8::/32"), "a reserved address (documentation)"),
    (_net("2001::/23"), "a reserved address (IETF protocol assignments)"),
)

# IPv6 forms that carry an IPv4 address which the packet may end up reaching: the
# embedded address is checked like a plain IPv4 one.
_MAPPED = _net("::ffff:0:0/96")  # RFC 4291 2.5.5.2, IPv4-mapped
_TRANSLATED = _net("::ffff:0:0:0/96")  # RFC 2765, IPv4-translated (SIIT)
_NAT64 = _net("64:ff9b::/96")  # RFC 6052 well-known prefix
_SIX_TO_FOUR = _net("2002::/16")  # RFC 3056


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 one carries and the name of the form, if any."""
    if address in _MAPPED:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "an IPv4-mapped address"
    if address in _TRANSLATED:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "an IPv4-translated address"
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "a NAT64 address"
    if address in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF), "a 6to4 address"
    return None


def forbidden_class(address: IPAddress) -> str | None:
    """Why a webhook may not reach `address` ("a loopback address", ...), or None for a
    public unicast address. An IPv6 address embedding an IPv4 one (mapped, NAT64,
    6to4) is judged by the address it embeds."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(address.compressed.split("%", 1)[0])
    for network, name in FORBIDDEN_NETWORKS:
        if address.version == network.version and address in network:
            return name
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner, form = embedded
            inner_class = forbidden_class(inner)
            return None if inner_class is None else f"{form} of {inner}, {inner_class}"
    if address.is_multicast:
        return "a multicast address"
    if not address.is_global:
        return "a reserved address (not globally routable)"
    return None


def _parse_allow_network(text: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        hint = ""
        with contextlib.suppress(ValueError):
            hint = f"; did you mean {ipaddress.ip_network(text, strict=False)}?"
        raise ValueError(
            f"{ALLOW_NETWORKS_SETTING}: {text!r} is not a network in CIDR form "
            f"(e.g. 127.0.0.1/32 or fd00::/8): {exc}{hint}"
        ) from exc


class AddressPolicy:
    """Which resolved addresses a webhook may reach: public unicast ones, plus the
    networks the operator allows."""

    def __init__(self, allow_networks: Iterable[str] = ()) -> None:
        self.allow_networks: tuple[IPNetwork, ...] = tuple(
            _parse_allow_network(text.strip()) for text in allow_networks if text.strip()
        )

    def allowed_by_configuration(self, address: IPAddress) -> bool:
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address):
            embedded = _embedded_ipv4(address)
            if embedded is not None:
                candidates.append(embedded[0])
        return any(
            candidate.version == network.version and candidate in network
            for candidate in candidates
            for network in self.allow_networks
        )

    def refusal(self, address: IPAddress, *, host: str | None = None) -> str | None:
        """None when `address` may be called; else the one-line refusal, naming the
        address, its class and the setting that would allow it. `host` is the name
        it was resolved from (None when the URL held the address itself)."""
        reason = forbidden_class(address)
        if reason is None or self.allowed_by_configuration(address):
            return None
        shown = str(address)
        subject = f"{shown} is" if host is None or host == shown else f"{host} resolves to {shown},"
        example = f"{shown.split('%', 1)[0]}/{address.max_prefixlen}"
        return (
            f"refused: {subject} {reason}; webhooks may reach it only if "
            f"{ALLOW_NETWORKS_SETTING} includes it (e.g. {example})"
        )

    def check(self, host: str, addresses: Sequence[IPAddress]) -> str | None:
        """The first refusal among `addresses` (all of them must be allowed), or None."""
        try:
            ipaddress.ip_address(host)
            shown_host = None  # the URL holds the address itself
        except ValueError:
            shown_host = host  # a name, or a legacy spelling such as 0x7f.1
        for address in addresses:
            refusal = self.refusal(address, host=shown_host)
            if refusal is not None:
                return refusal
        return None


# Legacy IPv4 spellings that inet_aton(3) accepts and some resolvers honour:
# `2130706433`, `0x7f.1`, `017700000001`, `127.1`.
_LEGACY_IPV4 = re.compile(
    r"[0-9]+|0[xX][0-9a-fA-F]+|(?:(?:0[xX][0-9a-fA-F]*|[0-9]+)\.){1,3}"
    r"(?:0[xX][0-9a-fA-F]*|[0-9]+)"
)


def _literal_address(host: str) -> IPAddress | None:
    """The address `host` spells, in any form a resolver would read as one."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, through the system resolver (getaddrinfo)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class _DnsError(Exception):
    """The host did not resolve; the message is the one-line delivery error."""


class _Refused(Exception):
    """The URL may not be called; the message is the one-line delivery error."""


@dataclass(frozen=True, slots=True)
class _Target:
    url: httpx.URL
    host: str  # ASCII (IDNA) host name or address, without brackets
    port: int
    https: bool

    @property
    def redacted(self) -> str:
        """scheme://host:port: what logs and errors show (a query or a path, as in
        chat webhooks, may carry a token)."""
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.url.scheme}://{shown}:{self.port}"

    @property
    def host_header(self) -> str:
        return self.url.netloc.decode("ascii")


def _parse_target(url: str) -> _Target:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        # httpx's messages name the offending part (port, host), never the query.
        raise _Refused(_one_line(f"invalid URL: {exc}")) from exc
    scheme = parsed.scheme.lower()
    if scheme not in ("http", "https"):
        raise _Refused("invalid URL: the scheme must be http or https")
    if parsed.userinfo:
        raise _Refused("refused: the URL carries a user name or password")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise _Refused("invalid URL: no host")
    https = scheme == "https"
    return _Target(parsed, host, parsed.port or (443 if https else 80), https)


def _dns_message(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror) and exc.errno in (
        socket.EAI_NONAME,
        getattr(socket, "EAI_NODATA", socket.EAI_NONAME),
    ):
        return "DNS: name does not resolve"
    if isinstance(exc, socket.gaierror) and exc.errno == socket.EAI_AGAIN:
        return "DNS: temporary failure in name resolution"
    return _one_line(f"DNS: {exc.strerror or exc}")


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_ERROR_LENGTH else flat[: MAX_ERROR_LENGTH - 1] + "…"


def _causes(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _transport_message(exc: Exception, *, timeout: float, where: str) -> str:
    """One line for a failed attempt, without the URL (it may hold a token)."""
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return f"timed out after {timeout:.1f} s"
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return _one_line(f"TLS: certificate verify failed: {cause.verify_message}")
        if isinstance(cause, ssl.SSLError):
            return _one_line(f"TLS: {cause.reason or cause}")
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused ({where})"
        if isinstance(cause, ConnectionResetError):
            return f"connection reset ({where})"
        if isinstance(cause, OSError) and cause.errno == errno.ENETUNREACH:
            return f"network unreachable ({where})"
        if isinstance(cause, OSError) and cause.errno == errno.EHOSTUNREACH:
            return f"host unreachable ({where})"
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return _one_line(f"connect failed ({where}): {detail}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return _one_line(f"protocol error: {detail}")
    if isinstance(exc, httpx.NetworkError):
        return _one_line(f"connection lost: {detail}")
    return _one_line(f"{type(exc).__name__}: {detail}")


def _no_cookies() -> CookieJar:
    """A cookie jar that keeps nothing: one endpoint's cookies must never reach another
    (requests go to addresses, so a shared jar would mix tenants on one address)."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


class HttpxWebhookSender:
    """`WebhookSender` over one shared httpx client, with the SSRF guard.

    `allow_networks` (CIDR strings, `EPHEMAIL_WEBHOOK_ALLOW_NETWORKS`) are reachable
    although non-public; an invalid one raises ValueError here. `resolver` maps
    (host, port) to addresses (default: getaddrinfo); tests inject one to feed
    addresses without DNS. `tls_context` replaces the default certificate checks
    (tests trust their own CA with it).
    """

    def __init__(
        self,
        *,
        allow_networks: Sequence[str] = (),
        user_agent: str,
        resolver: Resolver | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = AddressPolicy(allow_networks)
        self._resolver: Resolver = resolver or system_resolver
        # trust_env off: no proxy from the environment (the guard checks the address
        # we connect to) and no netrc credentials sent to user-chosen URLs.
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            verify=tls_context if tls_context is not None else True,
            cookies=_no_cookies(),
            headers={"User-Agent": user_agent},
        )

    async def check_target(self, url: str) -> str | None:
        try:
            target = _parse_target(url)
            async with asyncio.timeout(CHECK_TIMEOUT):
                addresses = await self._resolve(target)
        except _Refused as exc:
            return str(exc)
        except (_DnsError, TimeoutError):
            return None  # unknown now; delivery resolves again and checks then
        return self.policy.check(target.host, addresses)

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, timeout: float
    ) -> WebhookResponse:
        started = time.monotonic()
        status_code: list[int] = []  # set once an answer's status line has arrived

        def response(status: int | None, error: str | None = None) -> WebhookResponse:
            return WebhookResponse(status, (time.monotonic() - started) * 1000.0, error)

        try:
            target = _parse_target(url)
        except _Refused as exc:
            return response(None, str(exc))
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._resolve(target)
                refusal = self.policy.check(target.host, addresses)
                if refusal is not None:
                    log.debug("webhook to %s %s", target.redacted, refusal)
                    return response(None, refusal)
                error = "DNS: no address"
                for address in addresses:
                    try:
                        await self._send(target, address, body, headers, timeout, status_code)
                    except httpx.ConnectError as exc:  # try the next address
                        error = _transport_message(
                            exc, timeout=timeout, where=_where(address, target.port)
                        )
                        continue
                    return response(status_code[0])
                return response(None, error)
        except _DnsError as exc:
            return response(None, str(exc))
        except (TimeoutError, httpx.TimeoutException):
            if status_code:  # the answer came; only draining its body ran out of time
                return response(status_code[0])
            return response(None, f"timed out after {timeout:.1f} s")
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            if status_code:
                return response(status_code[0])
            message = _transport_message(exc, timeout=timeout, where=target.redacted)
            log.debug("webhook to %s failed: %s", target.redacted, message)
            return response(None, message)

    async def close(self) -> None:
        await self._client.aclose()

    async def _resolve(self, target: _Target) -> list[IPAddress]:
        literal = _literal_address(target.host)
        if literal is not None:
            return [literal]
        try:
            texts = await self._resolver(target.host, target.port)
        except OSError as exc:
            raise _DnsError(_dns_message(exc)) from exc
        addresses: list[IPAddress] = []
        for text in texts:
            try:
                address = ipaddress.ip_address(text)
            except ValueError as exc:
                raise _DnsError(f"DNS: not an address: {text!r}") from exc
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise _DnsError("DNS: name does not resolve")
        return addresses

    async def _send(
        self,
        target: _Target,
        address: IPAddress,
        body: bytes,
        headers: Mapping[str, str],
        timeout: float,
        status_code: list[int],
    ) -> None:
        """One POST to `address`, standing in for the URL's host; appends the status."""
        request_headers = {k: v for k, v in headers.items() if k.lower() != "host"}
        request_headers["Host"] = target.host_header
        extensions: dict[str, str] = {}
        if target.https:
            extensions["sni_hostname"] = target.host
            # The connection pool is keyed by address: a TLS connection verified for
            # one name must not carry the next request for another name there.
            request_headers["Connection"] = "close"
        request = self._client.build_request(
            "POST",
            target.url.copy_with(host=str(address), fragment=None),
            content=body,
            headers=request_headers,
            timeout=timeout,
            extensions=extensions,
        )
        answer = await self._client.send(request, stream=True)
        try:
            status_code.append(answer.status_code)
            read = 0
            async for chunk in answer.aiter_raw():
                read += len(chunk)
                if read >= MAX_RESPONSE_BYTES:
                    break
        finally:
            await answer.aclose()


def _where(address: IPAddress, port: int) -> str:
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
