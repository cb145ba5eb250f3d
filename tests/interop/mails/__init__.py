"""The sample mail set of the interoperability tests, built byte by byte.

Each message is written out by hand (not by the `email` package) so the tests know the
exact octets sent in SMTP DATA and can compare what every IMAP client receives with
them. The set covers what trips up real servers: a plain text with dot-stuffed lines and
trailing blanks, multipart/alternative with quoted-printable and an RFC 2047 subject,
an attachment in base64 (with the decoded bytes kept for comparison), raw 8-bit UTF-8
headers and body, and a long message of several hundred kilobytes.

No body line starts with "From " so that mbox delivery (fetchmail) needs no quoting.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

CRLF = b"\r\n"
SENDER = "sender@origin.example"


@dataclass(frozen=True, slots=True)
class SampleMail:
    """One message: `raw` is exactly what goes into SMTP DATA (CRLF line ends)."""

    name: str
    subject: str  # decoded, as a client shows it
    raw: bytes
    attachment_name: str | None = None
    attachment: bytes | None = None  # the decoded attachment, for comparison


def _lines(*lines: str) -> bytes:
    return CRLF.join(line.encode("utf-8") for line in lines) + CRLF


def _headers(to: str, tag: str, name: str, subject_header: str, extra: tuple[str, ...]) -> bytes:
    return _lines(
        f"From: Interop Sender <{SENDER}>",
        f"To: {to}",
        f"Subject: {subject_header}",
        "Date: Tue, 03 Nov 2026 10:15:00 +0000",
        f"Message-ID: <{name}.{tag}@origin.example>",
        "MIME-Version: 1.0",
        *extra,
    )


def plain(to: str, tag: str) -> SampleMail:
    subject = f"Plain text {tag}"
    body = _lines(
        "Hello,",
        "",
        ".a line that starts with a dot (dot-stuffed by SMTP)",
        "..two dots",
        ".",
        "trailing blanks   ",
        "\ttab-indented line",
        "",
        "Bye.",
    )
    raw = (
        _headers(to, tag, "plain", subject, ("Content-Type: text/plain; charset=us-ascii",))
        + CRLF
        + body
    )
    return SampleMail("plain", subject, raw)


def alternative(to: str, tag: str) -> SampleMail:
    subject = f"Café menu {tag}"
    encoded_subject = "=?UTF-8?Q?Caf=C3=A9_menu?= " + tag
    boundary = f"alt-{tag}"
    raw = (
        _headers(
            to,
            tag,
            "alternative",
            encoded_subject,
            (f'Content-Type: multipart/alternative; boundary="{boundary}"',),
        )
        + CRLF
        + _lines(
            "This is a multi-part message in MIME format.",
            f"--{boundary}",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
            "",
            "Today: cr=C3=A8me br=C3=BBl=C3=A9e and a very long line that is soft-wrapped by =",
            "quoted-printable encoding so it stays under 76 columns.",
            f"--{boundary}",
            "Content-Type: text/html; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
            "",
            "<html><body><p>Today: <b>cr=C3=A8me br=C3=BBl=C3=A9e</b></p></body></html>",
            f"--{boundary}--",
            "",
        )
    )
    return SampleMail("alternative", subject, raw)


def attachment(to: str, tag: str) -> SampleMail:
    subject = f"Report attached {tag}"
    boundary = f"mixed-{tag}"
    # 3000 deterministic, non-text bytes (every byte value occurs).
    payload = b"".join(hashlib.sha256(f"{tag}-{i}".encode()).digest() for i in range(94))[:3000]
    encoded = base64.encodebytes(payload).decode("ascii").splitlines()
    filename = "report-2026.bin"
    raw = (
        _headers(
            to,
            tag,
            "attachment",
            subject,
            (f'Content-Type: multipart/mixed; boundary="{boundary}"',),
        )
        + CRLF
        + _lines(
            f"--{boundary}",
            "Content-Type: text/plain; charset=us-ascii",
            "",
            "The report is attached.",
            f"--{boundary}",
            f'Content-Type: application/octet-stream; name="{filename}"',
            "Content-Transfer-Encoding: base64",
            f'Content-Disposition: attachment; filename="{filename}"',
            "",
            *encoded,
            f"--{boundary}--",
        )
    )
    return SampleMail("attachment", subject, raw, filename, payload)


def utf8_headers(to: str, tag: str) -> SampleMail:
    """Raw 8-bit UTF-8 in the header (RFC 6532) and an 8bit body."""
    subject = f"Grüße aus Köln — 日本語 {tag}"
    raw = (
        _lines(
            "From: Zoë Ünïcødé <zoe@origin.example>",
            f"To: {to}",
            f"Subject: {subject}",
            "Date: Tue, 03 Nov 2026 10:16:00 +0000",
            f"Message-ID: <utf8.{tag}@origin.example>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        )
        + CRLF
        + _lines("Schöne Grüße,", "Zoë", "", "日本語のテキスト — ✓")
    )
    return SampleMail("utf8", subject, raw)


def long_mail(to: str, tag: str) -> SampleMail:
    """About 400 KB over 6000 lines, some of 998 octets (RFC 5322 section 2.1.1)."""
    subject = f"Long log {tag}"
    lines = []
    for i in range(6000):
        if i % 500 == 0:
            lines.append(f"{i:05d} " + "x" * 992)
        elif i % 97 == 0:
            lines.append(f".{i:05d} dot at the start")
        else:
            lines.append(f"{i:05d} the quick brown fox jumps over the lazy dog {i * 7919 % 10007}")
    raw = (
        _headers(to, tag, "long", subject, ("Content-Type: text/plain; charset=us-ascii",))
        + CRLF
        + _lines(*lines)
    )
    return SampleMail("long", subject, raw)


def note(to: str, tag: str, name: str, text: str) -> SampleMail:
    """A short plain message, e.g. one that arrives between two syncs."""
    subject = f"{text} {tag}"
    raw = (
        _headers(to, tag, name, subject, ("Content-Type: text/plain; charset=us-ascii",))
        + CRLF
        + _lines(text, "", f"({name})")
    )
    return SampleMail(name, subject, raw)


def sample_mails(to: str, tag: str) -> list[SampleMail]:
    """The whole set for one recipient; `tag` makes subjects and Message-IDs unique."""
    return [
        plain(to, tag),
        alternative(to, tag),
        attachment(to, tag),
        utf8_headers(to, tag),
        long_mail(to, tag),
    ]
