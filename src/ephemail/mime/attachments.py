"""Which MIME parts are attachments, and their decoded bytes.

`leaves` is the one walk over the MIME tree that both the ingest summary
(`ParsedSummary.attachments`) and the attachment download (`attachment_payload`) use, so
attachment number `index` is the same part in the list a client sees and in the bytes it
downloads. The rules, in document order over the leaves (multiparts are descended,
message/rfc822 parts are not: a forwarded message is one attachment):

- text/plain and text/html parts (and a multipart whose boundary never appeared, shown as
  text) are body candidates, unless marked ``Content-Disposition: attachment`` or given a
  file name together with a Content-Disposition;
- every other leaf is an attachment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ephemail.mime.defects import DefectLog
from ephemail.mime.headers import clean_filename, make_safe, parse_disposition
from ephemail.mime.parts import MimePart, decode_transfer, parse_message

MAX_CONTENT_ID = 998  # RFC 5322 section 2.1.1 line length limit

_BODY_TYPES = frozenset({"plain", "html"})


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """What the headers of an attachment part say (its bytes are decoded separately)."""

    filename: str | None
    content_type: str
    content_id: str | None
    disposition: str | None


@dataclass(frozen=True, slots=True)
class AttachmentPayload:
    """One attachment with its decoded bytes."""

    filename: str | None
    content_type: str
    content_id: str | None
    data: bytes


def leaves(root: MimePart, defects: DefectLog) -> Iterator[tuple[MimePart, AttachmentInfo | None]]:
    """Yield each leaf part in document order with its AttachmentInfo, or None for a body part.

    Iterative (the tree is at most MAX_DEPTH deep, but a stack costs nothing here).
    """
    stack = [root]
    while stack:
        part = stack.pop()
        if part.maintype == "multipart" and part.children:
            stack.extend(reversed(part.children))
            continue
        yield part, _classify(part, defects)


def _classify(part: MimePart, defects: DefectLog) -> AttachmentInfo | None:
    disposition = ""
    filename: str | None = None
    disposition_header = part.header("content-disposition")
    if disposition_header is not None:
        disposition, dparams = parse_disposition(disposition_header, defects)
        raw_name = dparams.get("filename")
        if raw_name:
            filename = clean_filename(raw_name, defects)
    if filename is None:
        raw_name = part.params.get("name")
        if raw_name:
            filename = clean_filename(raw_name, defects)
    # A multipart whose boundary never appeared is shown as text rather than lost.
    body_like = part.maintype == "multipart" or (
        part.maintype == "text" and part.subtype in _BODY_TYPES
    )
    if (
        body_like
        and disposition != "attachment"
        and (filename is None or disposition_header is None)
    ):
        return None
    content_id = part.header("content-id")
    if content_id is not None:
        content_id = make_safe(content_id, keep_tab=False).strip().strip("<>").strip()
    return AttachmentInfo(
        filename=filename,
        content_type=part.content_type,
        content_id=content_id[:MAX_CONTENT_ID] if content_id else None,
        disposition=disposition or None,
    )


def decode_part(raw: bytes, part: MimePart, defects: DefectLog) -> bytes:
    """The bytes of a part with its Content-Transfer-Encoding undone (leniently, never raising).

    ``len(decode_part(...))`` is what `Attachment.size` reports.
    """
    return decode_transfer(part.body(raw), part.transfer_encoding, defects)


def attachment_payloads(raw: bytes) -> list[AttachmentPayload]:
    """Every attachment of the message with its bytes, in `ParsedSummary.attachments` order."""
    raw = raw if type(raw) is bytes else bytes(raw)
    defects = DefectLog()
    return [
        _payload(raw, part, info, defects)
        for part, info in leaves(parse_message(raw, defects), defects)
        if info is not None
    ]


def attachment_payload(raw: bytes, index: int) -> AttachmentPayload | None:
    """Attachment number `index` (0-based, as in `ParsedSummary.attachments`), or None.

    Only that attachment is decoded.
    """
    if index < 0:
        return None
    raw = raw if type(raw) is bytes else bytes(raw)
    defects = DefectLog()
    position = 0
    for part, info in leaves(parse_message(raw, defects), defects):
        if info is None:
            continue
        if position == index:
            return _payload(raw, part, info, defects)
        position += 1
    return None


def _payload(
    raw: bytes, part: MimePart, info: AttachmentInfo, defects: DefectLog
) -> AttachmentPayload:
    return AttachmentPayload(
        filename=info.filename,
        content_type=info.content_type,
        content_id=info.content_id,
        data=decode_part(raw, part, defects),
    )
