"""IMAP ENVELOPE / BODY / BODYSTRUCTURE wire forms and BODY[section] cutting (mime/imap.py)."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ephemail.domain.imap import Section, SectionText
from ephemail.mime import parse_message, parse_summary
from ephemail.mime.imap import (
    cut_section,
    header_block,
    imap_string,
    imap_structure,
    imap_structure_of,
    parse_envelope_addresses,
)

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
CORPUS_FILES = sorted(CORPUS.glob("*.eml"))

H = SectionText.HEADER
HF = SectionText.HEADER_FIELDS
HFN = SectionText.HEADER_FIELDS_NOT
T = SectionText.TEXT
M = SectionText.MIME


# -- a small reader of IMAP data, to check syntax and look inside the wire forms -----------

_TOKEN_RE = re.compile(rb' ?(?:(\()|(\))|"((?:[^"\\\r\n]|\\["\\])*)"|\{(\d+)\}\r\n|(NIL)|(\d+))')


def read_imap(data: bytes) -> Any:
    """Parse one IMAP value: lists, quoted strings, literals, NIL and numbers."""
    stack: list[list[Any]] = [[]]
    pos = 0
    while pos < len(data):
        m = _TOKEN_RE.match(data, pos)
        assert m is not None, f"bad IMAP syntax at {pos}: {data[pos : pos + 40]!r}"
        pos = m.end()
        if m.group(1):
            stack.append([])
        elif m.group(2):
            done = stack.pop()
            stack[-1].append(done)
        elif m.group(3) is not None:
            stack[-1].append(re.sub(rb'\\(["\\])', rb"\1", m.group(3)))
        elif m.group(4) is not None:
            n = int(m.group(4))
            stack[-1].append(data[pos : pos + n])
            assert len(data[pos : pos + n]) == n
            pos += n
        elif m.group(5):
            stack[-1].append(None)
        else:
            stack[-1].append(int(m.group(6)))
    assert len(stack) == 1 and len(stack[0]) == 1, "unbalanced parentheses"
    return stack[0][0]


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


def cut(
    raw: bytes, part: tuple[int, ...] = (), text: SectionText | None = None, *fields: str
) -> bytes | None:
    structure = imap_structure_of(raw)
    return cut_section(raw, structure.sections, Section(part, text, tuple(fields)))


# -- strings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("plain", b'"plain"'),
        ("", b'""'),
        ('say "hi" \\ bye', b'"say \\"hi\\" \\\\ bye"'),
        ("caf\u00e9", b"{5}\r\ncaf\xc3\xa9"),
        ("two\r\nlines", b"{10}\r\ntwo\r\nlines"),
        ("nul\x00gone", b'"nulgone"'),
        ("x" * 2000, b"{2000}\r\n" + b"x" * 2000),
    ],
)
def test_imap_string(value: str, wire: bytes) -> None:
    assert imap_string(value) == wire


# -- ENVELOPE -------------------------------------------------------------------------------

ENVELOPE_MESSAGE = crlf(
    "Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
    "Subject: =?utf-8?q?caf=C3=A9?= menu\n"
    'From: "Doe, John" <john@example.org>\n'
    "To: Team: ann@example.com, Bob <bob@example.com>;, solo@example.net\n"
    "Cc: undisclosed-recipients:;\n"
    "Bcc: <@relay.example,@other.example:hidden@example.com>\n"
    "In-Reply-To: <parent@example.org>\n"
    "Message-ID: <id-1@example.org>\n"
    "\n"
    "body\n"
)


def test_envelope_full_with_groups_and_defaults() -> None:
    structure = imap_structure_of(ENVELOPE_MESSAGE)
    john = b'(("Doe, John" NIL "john" "example.org"))'
    assert (
        structure.envelope
        == (
            b'("Mon, 1 Jan 2024 10:00:00 +0000" "=?utf-8?q?caf=C3=A9?= menu" '
            + john
            + b" "
            + john  # Sender defaults to From (RFC 3501 7.4.2)
            + b" "
            + john  # so does Reply-To
            + b' ((NIL NIL "Team" NIL)(NIL NIL "ann" "example.com")("Bob" NIL "bob" "example.com")'
            b'(NIL NIL NIL NIL)(NIL NIL "solo" "example.net"))'
            b' ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))'
            b' ((NIL "@relay.example,@other.example" "hidden" "example.com"))'
            b' "<parent@example.org>" "<id-1@example.org>")'
        )
    )


def test_envelope_missing_everything() -> None:
    assert imap_structure_of(b"\r\nno headers\r\n").envelope == (
        b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
    )


def test_envelope_explicit_sender_and_reply_to_and_empty_values() -> None:
    raw = crlf("From: a@example.org\nSender: s@example.org\nReply-To:\nSubject:\nTo:\n\nx\n")
    env = read_imap(imap_structure_of(raw).envelope)
    assert env[1] == b""  # present but empty subject stays an empty string
    assert env[2] == [[None, None, b"a", b"example.org"]]
    assert env[3] == [[None, None, b"s", b"example.org"]]
    assert env[4] == env[2]  # empty Reply-To defaults to From
    assert env[5] is None  # empty To is NIL
    assert env[8] is None and env[9] is None


def test_envelope_8bit_headers_are_literals() -> None:
    raw = "Subject: Grüße\r\nFrom: Zoë <zoe@example.com>\r\n\r\nx".encode()
    env = imap_structure_of(raw).envelope
    assert b"{7}\r\nGr\xc3\xbc\xc3\x9fe" in env
    assert b'(({4}\r\nZo\xc3\xab NIL "zoe" "example.com"))' in env
    assert read_imap(env)[1] == "Grüße".encode()


def test_envelope_latin1_header_is_sent_as_utf8() -> None:
    raw = b"Subject: Caf\xe9\r\n\r\nx"
    assert read_imap(imap_structure_of(raw).envelope)[1] == "Café".encode()


def test_envelope_folded_header_is_unfolded() -> None:
    raw = b"Subject: a long\r\n\tsubject\r\n\r\nx"
    assert read_imap(imap_structure_of(raw).envelope)[1] == b"a long\tsubject"


@pytest.mark.parametrize(
    ("value", "addresses"),
    [
        ("a@b.c", [(None, None, "a", "b.c")]),
        ("Name <a@b.c>", [("Name", None, "a", "b.c")]),
        ('"Last, First" <a@b.c>', [("Last, First", None, "a", "b.c")]),
        ('"q\\"uote" <a@b.c>', [('q"uote', None, "a", "b.c")]),
        ("a@b.c (A (nested) comment)", [("A (nested) comment", None, "a", "b.c")]),
        ("=?utf-8?q?J=C3=B6rg?= <j@b.c>", [("=?utf-8?q?J=C3=B6rg?=", None, "j", "b.c")]),
        ('"john doe"@b.c', [(None, None, "john doe", "b.c")]),
        ("local-only", [(None, None, "local-only", "")]),
        ("a@b.c, , c@d.e", [(None, None, "a", "b.c"), (None, None, "c", "d.e")]),
        ("g:;", [(None, None, "g", None), (None, None, None, None)]),
        ("g: a@b.c", [(None, None, "g", None), (None, None, "a", "b.c"), (None,) * 4]),
        ("", []),
        ("<<>>", [(None, None, "<", "")]),
        ("<>", [(None, None, "", "")]),
    ],
)
def test_envelope_addresses(value: str, addresses: list[tuple[str | None, ...]]) -> None:
    assert parse_envelope_addresses(value) == addresses


# -- BODY and BODYSTRUCTURE -----------------------------------------------------------------

PLAIN = b"Subject: hi\r\n\r\nHello, this is the body.\r\n"


def test_text_plain_without_content_type() -> None:
    structure = imap_structure_of(PLAIN)
    assert structure.body == b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 26 1)'
    assert structure.bodystructure == (
        b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 26 1 NIL NIL NIL NIL)'
    )


def test_text_plain_with_all_fields() -> None:
    raw = crlf(
        'Content-Type: TEXT/Plain; CharSet="UTF-8"; format=flowed\n'
        "Content-ID: <c1@x>\n"
        "Content-Description: the text\n"
        "Content-Transfer-Encoding: Quoted-Printable\n"
        "Content-Disposition: inline\n"
        "Content-Language: en, de-AT\n"
        "Content-Location: http://example.com/t.txt\n"
        "\n"
        "line one\nline two=\n continued\nlast without newline"
    )
    structure = imap_structure_of(raw)
    size = len(raw) - raw.index(b"\r\n\r\n") - 4
    assert structure.bodystructure == (
        b'("text" "plain" ("charset" "UTF-8" "format" "flowed") "<c1@x>" "the text" '
        b'"quoted-printable" %d 4 NIL ("inline" NIL) ("en" "de-AT") '
        b'"http://example.com/t.txt")' % size
    )
    assert structure.body == (
        b'("text" "plain" ("charset" "UTF-8" "format" "flowed") "<c1@x>" "the text" '
        b'"quoted-printable" %d 4)' % size
    )


ALTERNATIVE = crlf(
    "From: a@example.org\n"
    'Content-Type: multipart/alternative; boundary="b1"\n'
    "\n"
    "preamble\n"
    "--b1\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "plain text\n"
    "--b1\n"
    "Content-Type: text/html; charset=utf-8\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "PHA+aHRtbDwvcD4=\n"
    "--b1--\n"
    "epilogue\n"
)


def test_multipart_alternative() -> None:
    structure = imap_structure_of(ALTERNATIVE)
    assert structure.bodystructure == (
        b'(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 10 1 NIL NIL NIL NIL)'
        b'("text" "html" ("charset" "utf-8") NIL NIL "base64" 16 1 NIL NIL NIL NIL)'
        b' "alternative" ("boundary" "b1") NIL NIL NIL)'
    )
    assert structure.body == (
        b'(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 10 1)'
        b'("text" "html" ("charset" "utf-8") NIL NIL "base64" 16 1) "alternative")'
    )


MIXED = crlf(
    "From: a@example.org\n"
    "Subject: nested\n"
    "Content-Type: multipart/mixed; boundary=outer\n"
    "\n"
    "--outer\n"
    "Content-Type: multipart/alternative; boundary=inner\n"
    "\n"
    "--inner\n"
    "Content-Type: text/plain\n"
    "\n"
    "text\n"
    "--inner\n"
    "Content-Type: text/html\n"
    "\n"
    "<b>html</b>\n"
    "--inner--\n"
    "--outer\n"
    'Content-Type: application/pdf; name="report.pdf"\n'
    "Content-Transfer-Encoding: base64\n"
    'Content-Disposition: attachment; filename="report.pdf"; size=3\n'
    "\n"
    "QUJD\n"
    "--outer\n"
    "Content-Type: message/rfc822\n"
    "Content-Disposition: attachment\n"
    "\n"
    "From: Inner <inner@example.net>\n"
    "Subject: inside\n"
    "Content-Type: multipart/mixed; boundary=deep\n"
    "\n"
    "--deep\n"
    "\n"
    "deep text\n"
    "--deep\n"
    "Content-Type: image/gif\n"
    "\n"
    "GIF89a\n"
    "--deep--\n"
    "--outer--\n"
)


def test_nested_multipart_attachment_and_message_rfc822() -> None:
    structure = imap_structure_of(MIXED)
    inner_env = (
        b'(NIL "inside" (("Inner" NIL "inner" "example.net")) (("Inner" NIL "inner" '
        b'"example.net")) (("Inner" NIL "inner" "example.net")) NIL NIL NIL NIL NIL)'
    )
    message_size = len(cut(MIXED, (3,)) or b"")
    assert structure.bodystructure == (
        b'((("text" "plain" NIL NIL NIL "7bit" 4 1 NIL NIL NIL NIL)'
        b'("text" "html" NIL NIL NIL "7bit" 11 1 NIL NIL NIL NIL)'
        b' "alternative" ("boundary" "inner") NIL NIL NIL)'
        b'("application" "pdf" ("name" "report.pdf") NIL NIL "base64" 4 NIL'
        b' ("attachment" ("filename" "report.pdf" "size" "3")) NIL NIL)'
        b'("message" "rfc822" NIL NIL NIL "7bit" %d '
        % message_size
        + inner_env
        + b' (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 9 1 NIL NIL NIL NIL)'
        b'("image" "gif" NIL NIL NIL "7bit" 6 NIL NIL NIL NIL) "mixed" ("boundary" "deep")'
        b' NIL NIL NIL) 12 NIL ("attachment" NIL) NIL NIL)'
        b' "mixed" ("boundary" "outer") NIL NIL NIL)'
    )
    body = read_imap(structure.body)
    assert body[-1] == b"mixed"
    message = body[2]
    assert message[:2] == [b"message", b"rfc822"]
    assert message[7] == read_imap(inner_env)
    assert message[8] == [
        [b"text", b"plain", [b"charset", b"us-ascii"], None, None, b"7bit", 9, 1],
        [b"image", b"gif", None, None, None, b"7bit", 6],
        b"mixed",
    ]
    assert message[9] == 12  # lines of the encapsulated message


def test_missing_boundary_is_one_text_part() -> None:
    raw = crlf("Content-Type: multipart/mixed\n\njust text\n")
    structure = imap_structure_of(raw)
    assert structure.bodystructure == (
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 1 NIL NIL NIL NIL)'
        b' "mixed" NIL NIL NIL NIL)'
    )
    assert cut(raw, (1,)) == b"just text\r\n"
    assert cut(raw, (1,), M) == b""
    assert cut(raw, (2,)) is None


def test_digest_parts_default_to_message_rfc822() -> None:
    raw = crlf(
        "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nfirst\n--d--\n"
    )
    bodystructure = read_imap(imap_structure_of(raw).bodystructure)
    part = bodystructure[0]
    assert part[:3] == [b"message", b"rfc822", None]
    assert part[7][1] == b"one"
    assert cut(raw, (1, 1)) == b"first"
    assert cut(raw, (1,), H) == b"Subject: one\r\n\r\n"


def test_encoded_message_rfc822_is_a_basic_part() -> None:
    raw = crlf(
        "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA==\n"
    )
    assert imap_structure_of(raw).bodystructure == (
        b'("message" "rfc822" NIL NIL NIL "base64" 18 NIL NIL NIL NIL)'
    )
    assert cut(raw, (1,), H) is None


def test_rfc2231_parameters_joined_and_kept_encoded() -> None:
    raw = crlf(
        "Content-Type: application/octet-stream;\n"
        ' name*0="long ";\n name*1="name.bin"\n'
        "Content-Disposition: attachment;\n"
        " filename*0*=utf-8''%E2%82%AC;\n filename*1=\" x.bin\"\n"
        "\n"
        "data"
    )
    structure = imap_structure_of(raw)
    assert structure.bodystructure == (
        b'("application" "octet-stream" ("name" "long name.bin") NIL NIL "7bit" 4 NIL'
        b' ("attachment" ("filename*" "utf-8\'\'%E2%82%AC%20x.bin")) NIL NIL)'
    )


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_corpus_wire_forms_are_valid_imap(path: Path) -> None:
    raw = path.read_bytes()
    structure = imap_structure_of(raw)
    envelope = read_imap(structure.envelope)
    assert len(envelope) == 10
    body = read_imap(structure.body)
    bodystructure = read_imap(structure.bodystructure)
    assert isinstance(body, list) and isinstance(bodystructure, list)
    # parse_summary carries the very same structure, from the tree it already split.
    assert parse_summary(raw).imap == structure
    assert imap_structure(raw, parse_message(raw)) == structure


def _leaves(structure: Any, path: tuple[int, ...] = ()) -> list[tuple[tuple[int, ...], Any]]:
    """(part number, body) of each non-multipart part, not entering message/rfc822."""
    if isinstance(structure[0], list):
        subtype_at = next(i for i, s in enumerate(structure) if not isinstance(s, list))
        children = structure[:subtype_at]
        out: list[tuple[tuple[int, ...], Any]] = []
        for i, child in enumerate(children, 1):
            out.extend(_leaves(child, (*path, i)))
        return out
    return [(path or (1,), structure)]


@pytest.mark.parametrize(
    "name",
    [
        "attachment_encodings.eml",
        "mixed_inline_image.eml",
        "multipart_alternative.eml",
        "message_rfc822.eml",
        "base64_garbage.eml",
        "qp_soft_breaks.eml",
        "rfc2231_filename.eml",
    ],
)
def test_corpus_parts_agree_with_the_email_package(name: str) -> None:
    raw = (CORPUS / name).read_bytes()
    structure = imap_structure_of(raw)
    ours = _leaves(read_imap(structure.bodystructure))
    theirs = [
        p
        for p in _walk_email(email.message_from_bytes(raw, policy=email.policy.compat32))
        if not p.is_multipart() or p.get_content_type() == "message/rfc822"
    ]
    assert [(b[0] + b"/" + b[1]).decode() for _, b in ours] == [
        p.get_content_type() for p in theirs
    ]
    for (number, body), part in zip(ours, theirs, strict=True):
        data = cut(raw, number)
        assert data is not None
        assert body[6] == len(data)
        if part.get_content_type() != "message/rfc822":
            expected = part.get_payload(decode=False)
            assert isinstance(expected, str)
            assert data.decode("utf-8", "replace").replace("\r\n", "\n") == expected.replace(
                "\r\n", "\n"
            )


def _walk_email(message: email.message.Message) -> list[email.message.Message]:
    if message.get_content_type() == "message/rfc822":
        return [message]
    if message.is_multipart():
        out: list[email.message.Message] = []
        for sub in message.get_payload():
            assert isinstance(sub, email.message.Message)
            out.extend(_walk_email(sub))
        return out
    return [message]


# -- BODY[section] --------------------------------------------------------------------------


def _slice(raw: bytes, start: bytes, end: bytes | None = None, *, after: int = 0) -> bytes:
    """The bytes from the first `start` (found after offset `after`) up to `end`."""
    i = raw.index(start, after)
    if end is None:
        return raw[i:]
    return raw[i : raw.index(end, i)]


def test_sections_of_a_single_part_message() -> None:
    raw = PLAIN
    assert cut(raw) == raw
    assert cut(raw, (), H) == b"Subject: hi\r\n\r\n"
    assert cut(raw, (), T) == b"Hello, this is the body.\r\n"
    assert cut(raw, (1,)) == b"Hello, this is the body.\r\n"
    assert cut(raw, (1,), M) == b"Subject: hi\r\n\r\n"
    assert cut(raw, (2,)) is None
    assert cut(raw, (1, 1)) is None
    assert cut(raw, (1,), H) is None  # HEADER of a part needs message/rfc822
    assert cut(raw, (), M) is None
    assert header_block(raw) == b"Subject: hi\r\n\r\n"


def test_sections_of_nested_message() -> None:
    raw = MIXED
    outer_header = raw[: raw.index(b"\r\n\r\n") + 4]
    assert cut(raw, (), H) == outer_header == header_block(raw)
    assert cut(raw, (), T) == raw[len(outer_header) :]
    # 1 is multipart/alternative: its body runs from after its header to before "--outer".
    alternative = _slice(
        raw, b"--inner\r\nContent-Type: text/plain", b"\r\n--outer\r\nContent-Type: app"
    )
    assert cut(raw, (1,)) == alternative
    assert cut(raw, (1,), M) == b"Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
    assert cut(raw, (1, 1)) == b"text"
    assert cut(raw, (1, 2)) == b"<b>html</b>"
    assert cut(raw, (1, 2), M) == b"Content-Type: text/html\r\n\r\n"
    assert cut(raw, (1, 3)) is None
    assert cut(raw, (2,)) == b"QUJD"
    assert cut(raw, (2,), M) == _slice(raw, b"Content-Type: application/pdf", b"QUJD")
    # 3 is message/rfc822: BODY[3] is the whole encapsulated message.
    inner = _slice(raw, b"From: Inner", b"\r\n--outer--")
    assert cut(raw, (3,)) == inner
    assert (
        cut(raw, (3,), M)
        == b"Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
    )
    inner_header = inner[: inner.index(b"\r\n\r\n") + 4]
    assert cut(raw, (3,), H) == inner_header
    assert cut(raw, (3,), T) == inner[len(inner_header) :]
    assert cut(raw, (3,), HF, "SUBJECT") == b"Subject: inside\r\n\r\n"
    assert cut(raw, (3,), HFN, "SUBJECT", "CONTENT-TYPE") == (
        b"From: Inner <inner@example.net>\r\n\r\n"
    )
    assert cut(raw, (3, 1)) == b"deep text"
    assert cut(raw, (3, 1), M) == b"\r\n"
    assert cut(raw, (3, 2)) == b"GIF89a"
    assert cut(raw, (3, 2), M) == b"Content-Type: image/gif\r\n\r\n"
    assert cut(raw, (3, 3)) is None
    assert cut(raw, (4,)) is None
    assert cut(raw, (2, 1)) is None
    assert cut(raw, (0,)) is None


def test_message_rfc822_with_single_part_inner_message() -> None:
    raw = crlf(
        "Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: message/rfc822\n\n"
        "Subject: in\n\ninner body\n--x--\n"
    )
    assert cut(raw, (1,)) == b"Subject: in\r\n\r\ninner body"
    assert cut(raw, (1, 1)) == b"inner body"
    assert cut(raw, (1, 1), M) == b"Subject: in\r\n\r\n"
    assert cut(raw, (1, 2)) is None
    assert cut(raw, (1, 1, 1)) is None


def test_header_fields_keep_folding_order_and_duplicates() -> None:
    raw = crlf(
        "Received: one\n"
        "Subject: folded\n\tsecond line\n"
        "X-Thing : spaced name\n"
        "received: two\n"
        "From: a@example.org\n"
        "\n"
        "body"
    )
    assert cut(raw, (), HF, "RECEIVED", "SUBJECT") == crlf(
        "Received: one\nSubject: folded\n\tsecond line\nreceived: two\n\n"
    )
    assert cut(raw, (), HF, "X-THING") == b"X-Thing : spaced name\r\n\r\n"
    assert cut(raw, (), HF, "NOPE") == b"\r\n"
    assert cut(raw, (), HFN, "RECEIVED", "SUBJECT") == crlf(
        "X-Thing : spaced name\nFrom: a@example.org\n\n"
    )


def test_header_fields_with_bare_lf_and_no_body() -> None:
    raw = b"Subject: s\nFrom: f@x\n\nbody\n"
    assert cut(raw, (), HF, "FROM") == b"From: f@x\n\n"
    headers_only = b"Subject: s\r\nFrom: f@x"
    assert cut(headers_only, (), HF, "FROM") == b"From: f@x\r\n\r\n"
    assert cut(headers_only, (), H) == headers_only
    assert cut(headers_only, (), T) == b""


def test_every_section_of_the_corpus_is_a_slice() -> None:
    for path in CORPUS_FILES:
        raw = path.read_bytes()
        structure = imap_structure_of(raw)
        assert cut_section(raw, structure.sections, Section()) == raw
        header = cut_section(raw, structure.sections, Section((), H))
        text = cut_section(raw, structure.sections, Section((), T))
        assert header is not None and text is not None
        assert header + text == raw
        assert header == header_block(raw)
        for number, _ in _leaves(read_imap(structure.bodystructure)):
            mime = cut_section(raw, structure.sections, Section(number, M))
            data = cut_section(raw, structure.sections, Section(number))
            assert mime is not None and data is not None
            assert mime + data in raw


def test_bad_sections_text_is_none() -> None:
    assert cut_section(PLAIN, "not json", Section()) is None
    assert cut_section(PLAIN, "{}", Section()) is None
    assert cut_section(PLAIN, "[0,1,2,3,1,[5]]", Section((1,))) is None


# -- properties -----------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    structure = imap_structure_of(raw)
    read_imap(structure.envelope)
    read_imap(structure.body)
    read_imap(structure.bodystructure)
    assert cut_section(raw, structure.sections, Section()) == raw
    for part in [(1,), (1, 1), (2, 3)]:
        for text in [None, H, T, M, HF]:
            cut_section(raw, structure.sections, Section(part, text, ("SUBJECT",)))


_header_text = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters=":"),
    max_size=30,
)
_body_text = st.text(alphabet=st.sampled_from(list("abc xyz-=\n")), max_size=80).filter(
    lambda s: "--" not in s
)


@settings(max_examples=80, deadline=None)
@given(
    subject=_header_text,
    bodies=st.lists(_body_text, min_size=1, max_size=5),
    eol=st.sampled_from(["\r\n", "\n"]),
)
def test_generated_multipart_sections_concatenate_back(
    subject: str, bodies: list[str], eol: str
) -> None:
    boundary = "=-bound-="
    pieces = [
        f'Subject: {subject}{eol}Content-Type: multipart/mixed; boundary="{boundary}"{eol}{eol}'
    ]
    for i, body in enumerate(bodies):
        pieces.append(f"--{boundary}{eol}Content-Type: text/plain; name=p{i}{eol}{eol}")
        pieces.append(body.replace("\n", eol))
        pieces.append(eol)
    pieces.append(f"--{boundary}--{eol}")
    raw = "".join(pieces).encode()
    structure = imap_structure_of(raw)
    header = cut_section(raw, structure.sections, Section((), H))
    assert header is not None
    rebuilt = [header]
    for i, body in enumerate(bodies, 1):
        mime = cut_section(raw, structure.sections, Section((i,), M))
        data = cut_section(raw, structure.sections, Section((i,)))
        assert data == body.replace("\n", eol).encode()
        assert mime == f"Content-Type: text/plain; name=p{i - 1}{eol}{eol}".encode()
        rebuilt += [f"--{boundary}{eol}".encode(), mime, data, eol.encode()]
    rebuilt.append(f"--{boundary}--{eol}".encode())
    assert b"".join(rebuilt) == raw
    assert cut_section(raw, structure.sections, Section((len(bodies) + 1,))) is None
    parsed = read_imap(structure.bodystructure)
    assert len(parsed) == len(bodies) + 5  # parts, subtype, params, dsp, lang, loc
    assert read_imap(structure.envelope)[1] == subject.strip(" ").encode()
