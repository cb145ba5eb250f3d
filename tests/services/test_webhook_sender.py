"""The webhook HTTP adapter against a real HTTP receiver on loopback.

The receiver is a small HTTP/1.1 server written here (asyncio streams), so the
tests see exactly what went over the wire: method, path, headers, body.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ephemail.adapters.http.webhooks import HttpxWebhookSender

LOOPBACK = ["127.0.0.1/32"]
USER_AGENT = "ephemail-webhooks/test"


@dataclass(frozen=True)
class Received:
    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]  # lower-case names
    body: bytes


class Receiver:
    """An HTTP/1.1 endpoint on 127.0.0.1 whose answer depends on the path:
    /ok 200, /fail 500, /gone 410, /redirect 302, /slow (answers only when the test
    ends), /big (1 MiB body), /cookie (sets a cookie), /hangup... (closes, no answer)."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self._ssl = ssl_context
        self._closing = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._ssl)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._closing.set()
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        await asyncio.sleep(0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while not reader.at_eof():
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(Received(method, target, headers, body))
                if target.startswith("/hangup"):
                    return  # close without answering
                status, extra, payload = await self._answer(target.split("?", 1)[0])
                response = (
                    f"HTTP/1.1 {status} X\r\nContent-Length: {len(payload)}\r\n{extra}\r\n"
                ).encode() + payload
                writer.write(response)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(self, path: str) -> tuple[int, str, bytes]:
        if path == "/ok":
            return 200, "", b"thanks"
        if path == "/fail":
            return 500, "", b"boom"
        if path == "/gone":
            return 410, "", b""
        if path == "/redirect":
            return 302, f"Location: http://127.0.0.1:{self.port}/ok\r\n", b""
        if path == "/slow":
            await self._closing.wait()
            return 200, "", b"late"
        if path == "/big":
            return 200, "", b"x" * (1024 * 1024)
        if path == "/cookie":
            return 200, "Set-Cookie: session=abc; Path=/\r\n", b""
        return 404, "", b""


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


SenderFactory = Callable[..., HttpxWebhookSender]


@pytest.fixture
async def make_sender() -> AsyncIterator[SenderFactory]:
    senders: list[HttpxWebhookSender] = []

    def make(**kwargs: object) -> HttpxWebhookSender:
        kwargs.setdefault("user_agent", USER_AGENT)
        sender = HttpxWebhookSender(**kwargs)  # type: ignore[arg-type]
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        await sender.close()


def fixed_resolver(
    table: dict[str, list[str]], calls: list[str] | None = None
) -> Callable[[str, int], Awaitable[list[str]]]:
    """A resolver answering from `table` (no DNS); unknown names do not resolve."""

    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


BODY = b'{"event":"test"}'
HEADERS = {"Content-Type": "application/json", "X-Ephemail-Event": "test"}


async def test_2xx_is_delivered_with_body_and_headers(
    receiver: Receiver, make_sender: SenderFactory
) -> None:
    sender = make_sender(allow_networks=LOOPBACK)
    url = f"http://127.0.0.1:{receiver.port}/ok?token=abc"
    response = await sender.post(url, BODY, HEADERS, timeout=5.0)
    assert response.ok
    assert (response.status_code, response.error) == (200, None)
    assert response.latency_ms > 0
    [request] = receiver.requests
    assert request.method == "POST"
    assert request.target == "/ok?token=abc"
    assert request.body == BODY
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-ephemail-event"] == "test"
    assert request.headers["user-agent"] == USER_AGENT
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"


async def test_user_agent_header_given_by_caller_wins(
    receiver: Receiver, make_sender: SenderFactory
) -> None:
    sender = make_sender(allow_networks=LOOPBACK)
    headers = {**HEADERS, "User-Agent": "ephemail-webhooks/9.9"}
    await sender.post(f"http://127.0.0.1:{receiver.port}/ok", BODY, headers, timeout=5.0)
    assert receiver.requests[0].headers["user-agent"] == "ephemail-webhooks/9.9"


@pytest.mark.parametrize(("path", "status"), [("/fail", 500), ("/gone", 410), ("/nope", 404)])
async def test_non_2xx_is_a_status_not_an_error(
    receiver: Receiver, make_sender: SenderFactory, path: str, status: int
) -> None:
    sender = make_sender(allow_networks=LOOPBACK)
    response = await sender.post(f"http://127.0.0.1:{receiver.port}{path}", BODY, {}, timeout=5.0)
    assert not response.ok
    assert (response.status_code, response.error) == (status, None)


async def test_redirect_is_not_followed(receiver: Receiver, make_sender: SenderFactory) -> None:
    sender = make_sender(allow_networks=LOOPBACK)
    url = f"http://127.0.0.1:{receiver.port}/redirect"
    response = await sender.post(url, BODY, {}, timeout=5.0)
    assert (response.status_code, response.ok, response.error) == (302, False, None)
    assert [r.target for r in receiver.requests] == ["/redirect"]


async def test_slow_endpoint_times_out_within_the_timeout(
    receiver: Receiver, make_sender: SenderFactory
) -> None:
    sender = make_sender(allow_networks=LOOPBACK)
    started = time.monotonic()
    response = await sender.post(
        f"http://127.0.0.1:{receiver.port}/slow?token=SECRET", BODY, {}, timeout=0.5
    )
    elapsed = time.monotonic() - started
    assert response.status_code is None
    assert response.error == "timed out after 0.5 s"
    assert 0.45 <= elapsed < 1.5
    assert 450 <= response.latency_ms < 1500
    assert len(receiver.requests) == 1  # it was sent; the answer never came in time


async def test_closed_port_is_connection_refused(make_sender: SenderFactory) -> None:
    sender = make_sender(allow_networks=LOOPBACK)
    port = closed_port()
    response = await sender.post(f"http://127.0.0.1:{port}/x?token=SECRET", BODY, {}, timeout=5.0)
    assert response.status_code is None
    assert response.error is not None
    assert response.error.startswith("connection refused"), response.error
    assert "SECRET" not in response.error


async def test_hang_up_is_an_error_without_path_or_query(
    receiver: Receiver, make_sender: SenderFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sender = make_sender(allow_networks=LOOPBACK)
    url = f"http://127.0.0.1:{receiver.port}/hangup/SECRET?token=SECRET"
    response = await sender.post(url, BODY, {}, timeout=5.0)
    assert response.status_code is None
    assert response.error is not None
    assert response.error.startswith("protocol error: "), response.error
    assert "SECRET" not in response.error
    assert f"127.0.0.1:{receiver.port}" in caplog.text
    assert "SECRET" not in caplog.text


async def test_loopback_is_refused_unless_allowed(
    receiver: Receiver, make_sender: SenderFactory, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{receiver.port}/ok?token=SECRET"
    guarded = make_sender()
    caplog.set_level(logging.DEBUG)
    response = await guarded.post(url, BODY, HEADERS, timeout=5.0)
    assert response.status_code is None
    assert response.error is not None
    assert response.error.startswith("refused: 127.0.0.1 is a loopback address")
    assert "EPHEMAIL_WEBHOOK_ALLOW_NETWORKS" in response.error
    assert await guarded.check_target(url) == response.error
    assert receiver.requests == []  # never connected
    assert "SECRET" not in caplog.text

    allowed = make_sender(allow_networks=LOOPBACK)
    assert await allowed.check_target(url) is None
    assert (await allowed.post(url, BODY, HEADERS, timeout=5.0)).ok
    assert len(receiver.requests) == 1


async def test_allow_list_is_exact(receiver: Receiver, make_sender: SenderFactory) -> None:
    sender = make_sender(allow_networks=["127.0.0.2/32", "10.0.0.0/8"])
    response = await sender.post(f"http://127.0.0.1:{receiver.port}/ok", BODY, {}, timeout=5.0)
    assert response.error is not None
    assert response.error.startswith("refused: 127.0.0.1 is a loopback address")
    assert receiver.requests == []


async def test_host_header_is_the_name_while_the_checked_address_is_dialled(
    receiver: Receiver, make_sender: SenderFactory
) -> None:
    calls: list[str] = []
    sender = make_sender(
        allow_networks=LOOPBACK,
        resolver=fixed_resolver({"hooks.example": ["127.0.0.1"]}, calls),
    )
    url = f"http://hooks.example:{receiver.port}/ok?x=1#fragment"
    response = await sender.post(url, BODY, HEADERS, timeout=5.0)
    assert response.ok, response.error
    [request] = receiver.requests
    assert request.headers["host"] == f"hooks.example:{receiver.port}"
    assert request.target == "/ok?x=1"
    assert calls == ["hooks.example"]  # resolved once: the connection used that answer


async def test_a_name_with_any_forbidden_address_is_refused(
    receiver: Receiver, make_sender: SenderFactory
) -> None:
    sender = make_sender(
        resolver=fixed_resolver({"mixed.example": ["93.184.215.14", "127.0.0.1"]}),
    )
    url = f"http://mixed.example:{receiver.port}/ok"
    response = await sender.post(url, BODY, {}, timeout=5.0)
    assert response.error == await sender.check_target(url)
    assert response.error is not None
    assert response.error.startswith(
        "refused: mixed.example resolves to 127.0.0.1, a loopback address"
    )
    assert receiver.requests == []


async def test_next_address_is_tried_when_one_refuses(
    receiver: Receiver, make_sender: SenderFactory
) -> None:
    # 127.0.0.2 is on the loopback interface but nothing listens there.
    sender = make_sender(
        allow_networks=["127.0.0.0/8"],
        resolver=fixed_resolver({"two.example": ["127.0.0.2", "127.0.0.1"]}),
    )
    response = await sender.post(f"http://two.example:{receiver.port}/ok", BODY, {}, timeout=5.0)
    assert response.ok, response.error
    assert len(receiver.requests) == 1


async def test_localhost_is_resolved_and_checked(
    receiver: Receiver, make_sender: SenderFactory
) -> None:
    url = f"http://localhost:{receiver.port}/ok"
    guarded = make_sender()
    refusal = await guarded.check_target(url)
    assert refusal is not None
    assert refusal.startswith("refused: localhost resolves to ")
    assert "a loopback address" in refusal
    assert (await guarded.post(url, BODY, {}, timeout=5.0)).error == refusal

    allowed = make_sender(allow_networks=["127.0.0.0/8", "::1/128"])
    assert await allowed.check_target(url) is None
    response = await allowed.post(url, BODY, {}, timeout=5.0)
    assert response.ok, response.error
    assert receiver.requests[0].headers["host"] == f"localhost:{receiver.port}"


async def test_dns_failure_is_an_error_for_post_and_none_for_check(
    make_sender: SenderFactory,
) -> None:
    sender = make_sender(resolver=fixed_resolver({}))
    url = "https://nowhere.example/hook?token=SECRET"
    response = await sender.post(url, BODY, {}, timeout=5.0)
    assert (response.status_code, response.error) == (None, "DNS: name does not resolve")
    assert await sender.check_target(url) is None


async def test_large_answer_is_not_read_in_full(
    receiver: Receiver, make_sender: SenderFactory
) -> None:
    sender = make_sender(allow_networks=LOOPBACK)
    response = await sender.post(f"http://127.0.0.1:{receiver.port}/big", BODY, {}, timeout=5.0)
    assert (response.status_code, response.error) == (200, None)


async def test_cookies_are_never_sent_back(receiver: Receiver, make_sender: SenderFactory) -> None:
    sender = make_sender(allow_networks=LOOPBACK)
    base = f"http://127.0.0.1:{receiver.port}"
    assert (await sender.post(f"{base}/cookie", BODY, {}, timeout=5.0)).ok
    assert (await sender.post(f"{base}/ok", BODY, {}, timeout=5.0)).ok
    assert "cookie" not in receiver.requests[1].headers


async def test_url_with_credentials_is_refused(make_sender: SenderFactory) -> None:
    sender = make_sender(allow_networks=LOOPBACK)
    response = await sender.post("http://user:pw@127.0.0.1:9/x", BODY, {}, timeout=5.0)
    assert response.error == "refused: the URL carries a user name or password"
    assert "pw" not in response.error


def test_invalid_allow_network_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="EPHEMAIL_WEBHOOK_ALLOW_NETWORKS: 'not-a-net'"):
        HttpxWebhookSender(allow_networks=["not-a-net"], user_agent=USER_AGENT)
    with pytest.raises(ValueError, match=r"did you mean 10\.0\.0\.0/8"):
        HttpxWebhookSender(allow_networks=["10.1.2.3/8"], user_agent=USER_AGENT)


# -- https: the checked address is dialled, TLS verifies the URL's name --------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA and a server certificate for `hooks.test`, made with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("pki")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
            "-subj", "/CN=ephemail test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")  # fmt: skip
    openssl("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=hooks.test")
    (folder / "ext").write_text(
        "subjectAltName=DNS:hooks.test\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "leaf.pem", "-days", "1", "-extfile", "ext")  # fmt: skip
    return Pki(folder / "ca.pem", folder / "leaf.pem", folder / "leaf.key")


@pytest.fixture
async def tls_receiver(pki: Pki) -> AsyncIterator[Receiver]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert, pki.key)
    server = Receiver(context)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_https_verifies_the_name_of_the_url(
    tls_receiver: Receiver, make_sender: SenderFactory, pki: Pki
) -> None:
    trust = ssl.create_default_context(cafile=str(pki.ca))
    sender = make_sender(
        allow_networks=LOOPBACK,
        tls_context=trust,
        resolver=fixed_resolver({"hooks.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]}),
    )
    good = await sender.post(f"https://hooks.test:{tls_receiver.port}/ok", BODY, {}, timeout=5.0)
    assert good.ok, good.error
    assert tls_receiver.requests[0].headers["host"] == f"hooks.test:{tls_receiver.port}"

    # Same address, another name: the certificate does not match it.
    bad = await sender.post(f"https://other.test:{tls_receiver.port}/ok", BODY, {}, timeout=5.0)
    assert bad.status_code is None
    assert bad.error is not None
    assert bad.error.startswith("TLS: certificate verify failed"), bad.error
    assert "other.test" in bad.error
    assert len(tls_receiver.requests) == 1

    # And back: the connection verified for one name never serves the other.
    again = await sender.post(f"https://hooks.test:{tls_receiver.port}/ok", BODY, {}, timeout=5.0)
    assert again.ok, again.error


async def test_https_with_an_untrusted_certificate_fails(
    tls_receiver: Receiver, make_sender: SenderFactory
) -> None:
    sender = make_sender(
        allow_networks=LOOPBACK, resolver=fixed_resolver({"hooks.test": ["127.0.0.1"]})
    )
    response = await sender.post(
        f"https://hooks.test:{tls_receiver.port}/ok", BODY, {}, timeout=5.0
    )
    assert response.status_code is None
    assert response.error is not None
    assert response.error.startswith("TLS: certificate verify failed"), response.error
