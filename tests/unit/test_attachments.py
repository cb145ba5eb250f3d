"""Attachment bytes (`ephemail.mime.attachments`) agree with the ingest summary's list."""

from __future__ import annotations

import base64
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ephemail.mime.attachments import (
    AttachmentPayload,
    attachment_payload,
    attachment_payloads,
)
from ephemail.mime.summary import parse_summary

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
CORPUS_FILES = sorted(CORPUS.glob("*.eml"))
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def assert_agrees_with_summary(raw: bytes) -> list[AttachmentPayload]:
    """The payloads are the summary's attachments, in order, with the sizes it reports."""
    payloads = attachment_payloads(raw)
    listed = parse_summary(raw).attachments
    assert [(p.filename, p.content_type, p.content_id) for p in payloads] == [
        (a.filename, a.content_type, a.content_id) for a in listed
    ]
    assert [len(p.data) for p in payloads] == [a.size for a in listed]
    for index, payload in enumerate(payloads):
        assert attachment_payload(raw, index) == payload
    assert attachment_payload(raw, len(payloads)) is None
    assert attachment_payload(raw, -1) is None
    return payloads


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_corpus_payloads_match_summary(path: Path) -> None:
    assert_agrees_with_summary(path.read_bytes())


def _generated() -> list[tuple[str, bytes]]:
    messages: list[tuple[str, bytes]] = []

    plain = EmailMessage()
    plain["Subject"] = "plain"
    plain.set_content("just text\n")
    messages.append(("plain", plain.as_bytes(policy=SMTP)))

    mixed = EmailMessage()
    mixed["Subject"] = "mixed"
    mixed.set_content("body text\n")
    mixed.add_alternative("<p>body <img src='cid:pix@x'></p>", subtype="html")
    html_part = mixed.get_body(preferencelist=("html",))
    assert html_part is not None
    html_part.add_related(PNG, "image", "png", cid="<pix@x>")
    mixed.add_attachment(b"%PDF-1.4\n" + bytes(range(256)) * 40, "application", "pdf",
                         filename="report.pdf")  # fmt: skip
    mixed.add_attachment("Grüße, 日本語\n", filename="notes.txt", cte="quoted-printable")
    mixed.add_attachment("tabs\tand\nlines\n", subtype="csv", filename="t.csv", cte="base64")
    mixed.add_attachment(b"\x00\x01binary", "application", "octet-stream", cte="base64")
    forwarded = EmailMessage()
    forwarded["Subject"] = "inner"
    forwarded.set_content("inner body\n")
    mixed.add_attachment(forwarded, filename="fwd.eml")
    messages.append(("mixed", mixed.as_bytes(policy=SMTP)))

    inline_text = EmailMessage()
    inline_text.set_content("first text\n")
    inline_text.add_attachment("second text shown inline\n", disposition="inline")
    inline_text.add_attachment("named text\n", disposition="inline", filename="named.txt")
    messages.append(("inline text parts", inline_text.as_bytes(policy=SMTP)))

    many = EmailMessage()
    many.set_content("many files\n")
    for i in range(30):
        many.add_attachment(bytes([i]) * (i * 37), "application", "octet-stream",
                            filename=f"f{i}.bin")  # fmt: skip
    messages.append(("many", many.as_bytes(policy=SMTP)))
    return messages


GENERATED = _generated()


@pytest.mark.parametrize("raw", [raw for _, raw in GENERATED], ids=[n for n, _ in GENERATED])
def test_generated_payloads_match_summary(raw: bytes) -> None:
    assert_agrees_with_summary(raw)


def test_generated_payload_bytes_are_decoded() -> None:
    raw = dict(GENERATED)["mixed"]
    listed = assert_agrees_with_summary(raw)
    payloads = {p.filename: p for p in listed}
    assert payloads["report.pdf"].data == b"%PDF-1.4\n" + bytes(range(256)) * 40
    # Text in canonical form: quoted-printable keeps the CRLF line ends (RFC 2045 6.7).
    assert payloads["notes.txt"].data.decode("utf-8") == "Grüße, 日本語\r\n"
    assert payloads["t.csv"].data == b"tabs\tand\nlines\n"
    assert payloads["fwd.eml"].content_type == "message/rfc822"
    assert b"Subject: inner" in payloads["fwd.eml"].data
    image = next(p for p in listed if p.content_type == "image/png")
    assert (image.filename, image.data, image.content_id) == (None, PNG, "pix@x")
    unnamed = next(p for p in listed if p.content_type == "application/octet-stream")
    assert (unnamed.filename, unnamed.data) == (None, b"\x00\x01binary")


def test_inline_text_parts_numbering() -> None:
    raw = dict(GENERATED)["inline text parts"]
    # A second unnamed inline text/plain part is neither body nor attachment in the summary
    # (the first text part wins); the named inline one is an attachment. Both agree.
    assert [p.filename for p in assert_agrees_with_summary(raw)] == ["named.txt"]


def test_every_transfer_encoding() -> None:
    raw = (CORPUS / "attachment_encodings.eml").read_bytes()
    payloads = assert_agrees_with_summary(raw)
    by_name = {p.filename: p for p in payloads}
    logo = payloads[0]
    assert (logo.filename, logo.content_type, logo.content_id) == (
        None,
        "image/png",
        "logo@files.example",
    )
    assert logo.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert by_name["table.csv"].data.decode("utf-8") == (
        "name,city\r\nJürgen,Köln\r\n"
        "a very long line that was soft broken by the encoder and continues here"
    )
    assert by_name["notes.txt"].data == b"plain seven bit notes"
    expected_binary = bytes(range(256)).replace(b"\n", b"").replace(b"\r", b"")
    assert by_name["raw.bin"].data == expected_binary
    assert by_name["umlaut.txt"].data == "Grüße".encode()
    # An unknown transfer encoding passes the bytes through unchanged.
    assert by_name["odd.dat"].data == b"begin 644 odd.dat"


def test_garbage_base64_is_decoded_leniently() -> None:
    raw = (CORPUS / "base64_garbage.eml").read_bytes()
    (png,) = assert_agrees_with_summary(raw)
    assert png.filename == "pixel.png"
    assert len(png.data) == 16
    broken = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"!!!###\r\nQUJD=RE\xff\xfe=\r\nx\r\n--b--\r\n"
    )
    (payload,) = assert_agrees_with_summary(broken)
    assert isinstance(payload.data, bytes)


def test_message_without_attachments() -> None:
    raw = b"Subject: hi\r\n\r\nno attachments here\r\n"
    assert attachment_payloads(raw) == []
    assert attachment_payload(raw, 0) is None
    assert attachment_payloads(b"") == []


def test_bytes_like_input() -> None:
    raw = dict(GENERATED)["mixed"]
    assert attachment_payloads(bytearray(raw)) == attachment_payloads(raw)  # type: ignore[arg-type]
    assert attachment_payload(memoryview(raw), 0) == attachment_payload(raw, 0)  # type: ignore[arg-type]


# -- fuzzing: the two walks never disagree -------------------------------------------------

_SEEDS = [p.read_bytes() for p in CORPUS_FILES] + [raw for _, raw in GENERATED]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.integers(0, 2))
        if op == 0:
            data[pos:pos] = draw(
                st.sampled_from(
                    [b"\r\n", b"--", b"Content-Disposition: attachment\r\n", b"=", b"\x00", b";"]
                )
            )
        elif op == 1:
            del data[pos : pos + draw(st.integers(1, 60))]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_mutated_messages_agree(raw: bytes) -> None:
    assert_agrees_with_summary(raw)
