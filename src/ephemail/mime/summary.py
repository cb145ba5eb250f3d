"""The ingest summary of one raw message: `parse_summary(raw) -> ParsedSummary`.

Runs on the SMTP hot path for every accepted message, so it uses the small splitter in
`ephemail.mime.parts` instead of the (much slower) stdlib `email` package, and it never
raises: a hostile or broken message yields a best-effort summary plus `defects`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache

from ephemail.domain.messages import Attachment, ParsedSummary
from ephemail.mime.attachments import decode_part, leaves
from ephemail.mime.charsets import decode_bytes
from ephemail.mime.defects import DefectLog
from ephemail.mime.headers import Header, cap, decode_words, make_safe, parse_addresses
from ephemail.mime.html import html_to_text
from ephemail.mime.imap import imap_structure, imap_structure_of
from ephemail.mime.parts import MimePart, decode_transfer, parse_message

NO_SUBJECT = "(no subject)"
MAX_BODY_CHARS = 2 * 1024 * 1024
# Encoded input examined for one text body: enough for MAX_BODY_CHARS after any decoding.
_MAX_BODY_INPUT = 3 * MAX_BODY_CHARS
_MAX_MESSAGE_ID = 998  # RFC 5322 section 2.1.1 line length limit
# `body_text` from an HTML-only message: the HTML read and the text kept are capped so the
# conversion stays within a few milliseconds on the SMTP hot path.
MAX_HTML_TEXT_INPUT = 128 * 1024
MAX_BODY_TEXT_CHARS = 128 * 1024


class _Collector:
    """What the walk over the MIME tree gathers."""

    __slots__ = ("attachments", "defects", "html", "raw", "text")

    def __init__(self, raw: bytes, defects: DefectLog) -> None:
        self.raw = raw
        self.defects = defects
        self.text: str | None = None
        self.html: str | None = None
        self.attachments: list[Attachment] = []


def parse_summary(raw: bytes) -> ParsedSummary:
    """Derive subject, addresses, date, bodies, attachments, headers and defects from `raw`.

    Never raises, whatever the bytes; work and output size are bounded (see module limits).
    """
    try:
        return _parse_summary(raw if type(raw) is bytes else bytes(raw))
    except Exception as exc:  # last resort: a bug here must not lose a message at ingest
        return ParsedSummary(
            subject=NO_SUBJECT,
            from_="",
            to=(),
            cc=(),
            reply_to=(),
            date=None,
            message_id=None,
            text=None,
            html=None,
            attachments=(),
            headers=(),
            defects=(f"internal error: {type(exc).__name__}",),
            imap=imap_structure_of(raw if type(raw) is bytes else bytes(raw)),
        )


def _parse_summary(raw: bytes) -> ParsedSummary:
    defects = DefectLog()
    if not raw:
        defects.add("empty message")
    root = parse_message(raw, defects)

    first = root.first_headers()
    decoded_headers: list[Header] = []
    subject: str | None = None
    for name, value in root.headers:
        decoded = cap(make_safe(decode_words(value, defects) if "=?" in value else value))
        if subject is None and len(name) == 7 and name.lower() == "subject":
            subject = decoded.replace("\t", " ").strip()
        decoded_headers.append((name, decoded))
    from_value = first.get("from")
    from_ = ", ".join(parse_addresses(from_value, defects)) if from_value else ""
    if not from_ and from_value:
        from_ = cap(make_safe(decode_words(from_value, defects), keep_tab=False))

    collector = _Collector(raw, defects)
    _walk(root, collector)
    body_text = collector.text
    if body_text is None and collector.html is not None:
        body_text = html_to_text(
            collector.html, max_chars=MAX_BODY_TEXT_CHARS, max_input=MAX_HTML_TEXT_INPUT
        )

    return ParsedSummary(
        subject=subject or NO_SUBJECT,
        from_=cap(from_),
        to=_addresses(first.get("to"), defects),
        cc=_addresses(first.get("cc"), defects),
        reply_to=_addresses(first.get("reply-to"), defects),
        date=_date(first.get("date"), defects),
        message_id=_message_id(first.get("message-id")),
        text=collector.text,
        html=collector.html,
        attachments=tuple(collector.attachments),
        headers=tuple(decoded_headers),
        defects=defects.items,
        body_text=body_text,
        imap=imap_structure(raw, root),
    )


def _addresses(value: str | None, defects: DefectLog) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(parse_addresses(value, defects))


# The common RFC 5322 section 3.3 form, parsed without the generic (slower) stdlib parser.
_DATE_RE = re.compile(
    r"(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+"
    r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s+([+-])(\d{2})(\d{2})(?:\s*\(.*\))?\s*"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


@lru_cache(maxsize=64)
def _zone(sign: str, hours: str, minutes: str) -> timezone:
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return timezone(-delta if sign == "-" else delta)


def _date(value: str | None, defects: DefectLog) -> datetime | None:
    """RFC 5322 section 3.3 date; naive ("-0000", unknown zone) is taken as UTC."""
    if not value:
        return None
    m = _DATE_RE.fullmatch(value)
    if m is not None:
        month = _MONTHS.get(m.group(2).lower())
        if month is not None and not (m.group(7) == "-" and m.group(8) == m.group(9) == "00"):
            try:
                return datetime(
                    int(m.group(3)),
                    month,
                    int(m.group(1)),
                    int(m.group(4)),
                    int(m.group(5)),
                    int(m.group(6) or 0),
                    tzinfo=_zone(m.group(7), m.group(8), m.group(9)),
                )
            except ValueError:
                pass  # e.g. 31 Feb or offset out of range: let the stdlib decide
    try:
        parsed = parsedate_to_datetime(value[:256])
    except Exception:  # ValueError, TypeError, OverflowError... from junk dates
        defects.add("invalid date")
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _message_id(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = make_safe(value, keep_tab=False).strip()
    return cleaned[:_MAX_MESSAGE_ID] or None


def _walk(root: MimePart, out: _Collector) -> None:
    """Gather attachments and the first text and HTML bodies, in document order.

    What counts as an attachment is decided by `ephemail.mime.attachments.leaves`, which the
    attachment download uses too, so the two always agree on numbering.
    """
    raw = out.raw
    defects = out.defects
    for part, info in leaves(root, defects):
        if info is not None:
            out.attachments.append(
                Attachment(
                    filename=info.filename,
                    content_type=info.content_type,
                    size=len(decode_part(raw, part, defects)),
                    content_id=info.content_id,
                    disposition=info.disposition,
                )
            )
        elif part.subtype == "html":
            if out.html is None:
                out.html = _body_text(part, out)
        elif out.text is None:
            out.text = _body_text(part, out)


def _body_text(part: MimePart, out: _Collector) -> str:
    """Decode a text body: transfer encoding, then charset; capped at MAX_BODY_CHARS."""
    defects = out.defects
    encoded = out.raw[part.body_start : min(part.end, part.body_start + _MAX_BODY_INPUT)]
    truncated = part.end - part.body_start > _MAX_BODY_INPUT
    data = decode_transfer(encoded, part.transfer_encoding, defects)
    if len(data) > MAX_BODY_CHARS * 4:
        data = data[: MAX_BODY_CHARS * 4]
    charset = part.params.get("charset")
    wide = charset is not None and ("16" in charset or "32" in charset)  # UTF-16/32
    if not wide and b"\r" in data:
        # Lines end in LF in the result; a bare CR is not a line ending (RFC 5322 2.3).
        data = data.replace(b"\r", b"")
    text = decode_bytes(data, charset, defects)
    if wide and "\r" in text:
        text = text.replace("\r\n", "\n")
    if len(text) > MAX_BODY_CHARS:
        text = text[:MAX_BODY_CHARS]
        truncated = True
    if truncated:
        defects.add("body truncated")
    if "\x00" in text:
        defects.add("NUL in body")
        text = text.replace("\x00", "")
    return text
