"""Pure webhook rules: URL, events and secret checks, signature, backoff, endpoint key."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ephemail.domain.events import EventType
from ephemail.domain.webhooks import (
    DEFAULT_EVENTS,
    EVENT_NAMES,
    MAX_SECRET_LENGTH,
    MAX_URL_LENGTH,
    Webhook,
    WebhookError,
    WebhookScope,
    backoff_delay,
    encode_payload,
    endpoint_key,
    normalize_events,
    normalize_secret,
    normalize_url,
    signature,
)

# -- normalize_url ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://example.com/hook", "http://example.com/hook"),
        ("https://example.com", "https://example.com"),
        ("  https://example.com/x?token=1  ", "https://example.com/x?token=1"),
        ("HTTPS://Example.com:8443/a", "HTTPS://Example.com:8443/a"),
        ("http://[2001:db8::1]:8080/", "http://[2001:db8::1]:8080/"),
        ("http://127.0.0.1:65535/", "http://127.0.0.1:65535/"),
    ],
)
def test_normalize_url_accepts(raw: str, expected: str) -> None:
    assert normalize_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com/hook", "http://example.com/hook"),
        ("hooks.example:8080/in", "http://hooks.example:8080/in"),
        ("https://example.com/", "https://example.com/"),  # a scheme is kept
    ],
)
def test_normalize_url_adds_a_scheme_for_dynip_routes(raw: str, expected: str) -> None:
    assert normalize_url(raw, add_scheme=True) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "url is empty"),
        ("   ", "url is empty"),
        ("http://example.com/" + "a" * MAX_URL_LENGTH, "longer than 2048"),
        ("http://exa mple.com/", "spaces or control characters"),
        ("http://example.com/\x7f", "spaces or control characters"),
        ("http://exa\nmple.com/", "spaces or control characters"),
        ("ftp://example.com/", "must start with http:// or https://"),
        ("javascript:alert(1)", "must start with http:// or https://"),
        ("example.com/hook", "must start with http:// or https://"),  # no add_scheme
        ("http:///path", "url has no host"),
        ("http://user:pw@example.com/", "user name or password"),
        ("http://user@example.com/", "user name or password"),
        ("http://example.com:0/", "port must be 1-65535"),
        ("http://example.com:99999/", "url is not valid"),
        ("http://example.com:port/", "url is not valid"),
        ("http://[::1/", "url is not valid"),
    ],
)
def test_normalize_url_rejects(raw: str, message: str) -> None:
    with pytest.raises(WebhookError) as raised:
        normalize_url(raw)
    assert message in str(raised.value)


def test_normalize_url_at_the_length_limit() -> None:
    base = "http://example.com/"
    url = base + "a" * (MAX_URL_LENGTH - len(base))
    assert normalize_url(url) == url
    with pytest.raises(WebhookError):
        normalize_url(url + "a")


# -- normalize_events --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (None, DEFAULT_EVENTS),
        (["arrival"], ("arrival",)),
        (["ARRIVAL", " read "], ("arrival", "read")),
        (["read", "arrival", "read"], ("read", "arrival")),  # order kept, duplicates gone
        (["message.flags", "mailbox.created"], ("message.flags", "mailbox.created")),
        (("deletion",), ("deletion",)),
        (list(EVENT_NAMES), EVENT_NAMES),
    ],
)
def test_normalize_events_accepts(names: list[str] | None, expected: tuple[str, ...]) -> None:
    assert normalize_events(names) == expected


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ([], "events is empty"),
        (["arrival", "explode"], "unknown event 'explode'"),
        (["message.*"], "unknown event"),
        ("arrival", "must be a list"),
        ([1], "must be a list"),
    ],
)
def test_normalize_events_rejects(names: object, message: str) -> None:
    with pytest.raises(WebhookError) as raised:
        normalize_events(names)  # type: ignore[arg-type]
    assert message in str(raised.value)


def test_unknown_event_message_lists_the_known_names() -> None:
    with pytest.raises(WebhookError) as raised:
        normalize_events(["nope"])
    for name in EVENT_NAMES:
        assert name in str(raised.value)


# -- normalize_secret -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("s3cret", "s3cret"),
        (" spaced secret ", " spaced secret "),  # kept as given: it is signed as is
        ("ü" * MAX_SECRET_LENGTH, "ü" * MAX_SECRET_LENGTH),
    ],
)
def test_normalize_secret_accepts(raw: str | None, expected: str | None) -> None:
    assert normalize_secret(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("x" * (MAX_SECRET_LENGTH + 1), "longer than 256"),
        ("line\nbreak", "control characters"),
        ("tab\there", "control characters"),
        ("nul\x00", "control characters"),
    ],
)
def test_normalize_secret_rejects(raw: str, message: str) -> None:
    with pytest.raises(WebhookError) as raised:
        normalize_secret(raw)
    assert message in str(raised.value)


# -- signature ---------------------------------------------------------------------------


def test_signature_known_value() -> None:
    # From `printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec`.
    expected = "7d44587dddbaf4c7f70fef20f48cd594834ffea1641e3ac227b84408298738af"
    assert signature("whsec", 1_700_000_000, b"{}") == f"sha256={expected}"


@given(
    secret=st.text(min_size=1, max_size=64),
    timestamp=st.integers(0, 2**40),
    body=st.binary(max_size=512),
)
def test_signature_matches_an_independent_hmac(secret: str, timestamp: int, body: bytes) -> None:
    # What a receiver does, following the README: sign "<timestamp>.<raw body>".
    message = str(timestamp).encode("ascii") + b"." + body
    mac = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    header = signature(secret, timestamp, body)
    assert header.startswith("sha256=")
    assert hmac.compare_digest(header.removeprefix("sha256="), mac)


@given(
    secret=st.text(min_size=1, max_size=32),
    timestamp=st.integers(0, 2**40),
    body=st.binary(min_size=1, max_size=128),
)
def test_signature_depends_on_timestamp_and_body(secret: str, timestamp: int, body: bytes) -> None:
    original = signature(secret, timestamp, body)
    assert signature(secret, timestamp + 1, body) != original
    assert signature(secret, timestamp, body + b" ") != original
    assert signature(secret + "x", timestamp, body) != original


# -- backoff_delay -----------------------------------------------------------------------


@given(
    attempts=st.integers(0, 60),
    base=st.floats(0.1, 120.0),
    cap=st.floats(1.0, 24 * 3600.0),
    seed=st.integers(0, 2**32),
)
def test_backoff_is_jittered_exponential_and_capped(
    attempts: int, base: float, cap: float, seed: int
) -> None:
    delay = backoff_delay(attempts, base=base, cap=cap, rng=random.Random(seed))
    exponential = min(cap, base * 2.0 ** max(0, attempts - 1))
    assert exponential / 2 <= delay <= exponential
    assert delay <= cap


def test_backoff_grows_by_doubling_until_the_cap() -> None:
    class TopOfRange(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b  # the top of the jitter range: the full exponential delay

    rng = TopOfRange()
    delays = [backoff_delay(n, base=10.0, cap=300.0, rng=rng) for n in range(1, 8)]
    assert delays == [10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]
    assert backoff_delay(0, base=10.0, cap=300.0, rng=rng) == 10.0


def test_backoff_jitter_spreads_retries() -> None:
    rng = random.Random(7)
    delays = {round(backoff_delay(5, base=10.0, cap=3600.0, rng=rng), 6) for _ in range(50)}
    assert len(delays) > 40  # not in lock-step


# -- endpoint_key ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("http://Example.COM/hook?a=1", "http://example.com:80"),
        ("https://example.com/x", "https://example.com:443"),
        ("HTTPS://example.com:8443/x", "https://example.com:8443"),
        ("http://example.com:80/a", "http://example.com:80"),
    ],
)
def test_endpoint_key(url: str, key: str) -> None:
    assert endpoint_key(url) == key


hosts = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){0,3}", fullmatch=True)


@given(
    scheme=st.sampled_from(["http", "https"]),
    host=hosts,
    port=st.none() | st.integers(1, 65535),
    path=st.from_regex(r"(/[a-zA-Z0-9._~-]{0,10}){0,4}", fullmatch=True),
    query=st.from_regex(r"[a-z0-9=&]{0,20}", fullmatch=True),
)
def test_endpoint_key_ignores_path_and_query(
    scheme: str, host: str, port: int | None, path: str, query: str
) -> None:
    netloc = host if port is None else f"{host}:{port}"
    url = f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")
    expected_port = port if port is not None else (443 if scheme == "https" else 80)
    key = endpoint_key(url)
    assert key == f"{scheme}://{host}:{expected_port}"
    assert key == endpoint_key(f"{scheme}://{netloc}/other")
    assert key == endpoint_key(f"{scheme.upper()}://{netloc.upper()}")


# -- the rest: payload encoding and what a subscription wants -----------------------------


def test_encode_payload_is_compact_utf8_in_order() -> None:
    body = encode_payload({"event": "arrival", "subject": "Grüße", "n": 1})
    assert body == '{"event":"arrival","subject":"Grüße","n":1}'.encode()
    assert json.loads(body) == {"event": "arrival", "subject": "Grüße", "n": 1}


def webhook(events: tuple[str, ...], scope: WebhookScope = WebhookScope.MAILBOX) -> Webhook:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    return Webhook(
        id="wh_1",
        scope=scope,
        target="7" if scope is WebhookScope.ACCOUNT else "a@example.com",
        url="https://example.com/hook",
        events=events,
        enabled=True,
        created_at=now,
        updated_at=now,
    )


def test_wants_prefers_the_alias_and_arrival_needs_inbox() -> None:
    both = webhook(("arrival", "message.received"))
    assert both.wants(EventType.MESSAGE_RECEIVED, to_inbox=True) == "arrival"
    assert both.wants(EventType.MESSAGE_RECEIVED, to_inbox=False) == "message.received"
    only_arrival = webhook(("arrival",))
    assert only_arrival.wants(EventType.MESSAGE_RECEIVED, to_inbox=False) is None
    assert only_arrival.wants(EventType.MESSAGE_DELETED, to_inbox=True) is None
    assert webhook(("deletion",)).wants(EventType.MESSAGE_DELETED, to_inbox=False) == "deletion"
    assert webhook(("read",)).wants(EventType.MESSAGE_READ, to_inbox=True) == "read"
    assert webhook(("mailbox.created",)).wants(EventType.MAILBOX_CREATED, to_inbox=False) == (
        "mailbox.created"
    )


def test_secret_is_hidden_and_account_id_only_for_account_scope() -> None:
    hooked = webhook(("arrival",))
    assert not hooked.has_secret
    assert hooked.account_id is None
    secret = replace(hooked, secret="s3cret")
    assert secret.has_secret
    assert "s3cret" not in repr(secret)
    assert webhook(("arrival",), WebhookScope.ACCOUNT).account_id == 7
