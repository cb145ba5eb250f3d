"""Realistic sample messages for the browser tests and the README screenshots."""

from __future__ import annotations

import smtplib
import struct
import zlib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

SAMPLES = Path(__file__).with_name("samples")


def send(smtp_port: int, message: EmailMessage, *, to: str | None = None) -> None:
    """Deliver `message` over real SMTP to the server under test."""
    recipients = [to] if to else None
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
        refused = smtp.send_message(message, to_addrs=recipients)
    assert refused == {}, refused


def _base(sender: str, to: str, subject: str, *, minutes_ago: int = 0) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC) - timedelta(minutes=minutes_ago))
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].rstrip(">"))
    return message


def plain(
    to: str, subject: str, body: str, *, sender: str = "QA Bot <qa@example.org>"
) -> EmailMessage:
    message = _base(sender, to, subject)
    message.set_content(body)
    return message


def html_mail(
    to: str, subject: str, html: str, *, text: str = "", sender: str = "QA Bot <qa@example.org>"
) -> EmailMessage:
    message = _base(sender, to, subject)
    message.set_content(text or "This message is best viewed as HTML.")
    message.add_alternative(html, subtype="html")
    return message


def with_attachment(
    to: str,
    subject: str,
    data: bytes,
    filename: str,
    content_type: str = "application/octet-stream",
    *,
    sender: str = "QA Bot <qa@example.org>",
    body: str = "See the attachment.",
) -> EmailMessage:
    message = _base(sender, to, subject)
    message.set_content(body)
    maintype, _, subtype = content_type.partition("/")
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


def tiny_png(width: int = 24, height: int = 16, rgb: tuple[int, int, int] = (91, 79, 240)) -> bytes:
    """A valid PNG of one colour (built by hand: no imaging library needed)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


VERIFY_HTML = (SAMPLES / "verify.html").read_text(encoding="utf-8")

NEWSLETTER_HTML = (SAMPLES / "newsletter.html").read_text(encoding="utf-8")


def showcase(to: str) -> list[EmailMessage]:
    """A handful of realistic messages, oldest first, for a good-looking inbox."""
    digest = _base(
        "Maya Chen <maya@studio.example>",
        to,
        "Notes from Thursday's design review",
        minutes_ago=300,
    )
    digest.set_content(
        "Hi team,\n\nThanks for a great review. Summary:\n\n"
        "  1. The onboarding flow ships next sprint.\n"
        "  2. We keep the dark theme toggle in the header.\n"
        "  3. Jonas will share the icon set by Monday.\n\n"
        "Slides: https://docs.studio.example/review-42\n\nMaya\n"
    )
    invoice = _base(
        "Northwind Store <orders@northwind.example>",
        to,
        "Your order #10482 has shipped",
        minutes_ago=95,
    )
    invoice.set_content(
        "Good news! Your order #10482 is on its way.\n\nTrack it: https://northwind.example/track/10482\n"
    )
    invoice.add_attachment(
        b"%PDF-1.4\n% sample invoice\n" + b"0" * 24_000,
        maintype="application",
        subtype="pdf",
        filename="invoice-10482.pdf",
    )
    photo = _base(
        "Jonas Weber <jonas@pixelworks.example>", to, "Icon set, first draft", minutes_ago=42
    )
    photo.set_content("Here's the first draft of the icons. Feedback welcome!\n\nJonas")
    photo.add_attachment(tiny_png(), maintype="image", subtype="png", filename="icons-draft.png")
    newsletter = _base(
        "Fieldnote <hello@fieldnote.example>",
        to,
        "This week: bakeries, maps and rainy-day soup",
        minutes_ago=18,
    )
    newsletter.set_content("This week in Fieldnote: three stories, a recipe and a map.")
    newsletter.add_alternative(NEWSLETTER_HTML, subtype="html")
    reset = _base(
        "Orbit Security <security@orbit.example>", to, "Reset your Orbit password", minutes_ago=6
    )
    reset.set_content(
        "We received a request to reset your password.\n\n"
        "Reset it here: https://orbit.example/reset?t=Zx81Lq\n\n"
        "If you didn't ask, you can ignore this message.\n"
    )
    verify = _base(
        "Nimbus Cloud <no-reply@nimbus.example>",
        to,
        "Your Nimbus verification code: 482913",
        minutes_ago=1,
    )
    verify.set_content(
        "Your Nimbus verification code is 482913. It expires in 10 minutes.\n\n"
        "Or open https://app.nimbus.example/verify?token=9f8e7d6c5b4a\n"
    )
    verify.add_alternative(VERIFY_HTML, subtype="html")
    return [digest, invoice, photo, newsletter, reset, verify]
