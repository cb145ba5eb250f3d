"""parse_summary over a corpus of nasty messages, generated hostile input, and fuzzing."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ephemail.domain.messages import Attachment, ParsedSummary
from ephemail.mime import parse_message, parse_summary
from ephemail.mime.headers import MAX_VALUE
from ephemail.mime.parts import MAX_DEPTH
from ephemail.mime.summary import MAX_BODY_CHARS

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
CORPUS_FILES = sorted(CORPUS.glob("*.eml"))


def corpus(name: str) -> ParsedSummary:
    return parse_summary((CORPUS / name).read_bytes())


def test_corpus_is_populated() -> None:
    assert len(CORPUS_FILES) >= 15


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_every_corpus_file_parses(path: Path) -> None:
    summary = parse_summary(path.read_bytes())
    assert isinstance(summary, ParsedSummary)
    assert summary.subject
    for _name, value in summary.headers:
        assert not any(ord(c) < 32 and c != "\t" for c in value)
    assert all("\x00" not in s for s in (summary.text or "", summary.html or "", summary.subject))


# -- corpus files, one by one ---------------------------------------------------------------


def test_bad_charset_falls_back_to_utf8() -> None:
    s = corpus("bad_charset.eml")
    assert s.subject == "Grüße"
    assert s.text == "Grüße aus Köln\n"
    assert s.date == datetime(2024, 1, 2, 8, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert "unknown charset x-no-such-charset" in s.defects


def test_missing_boundary_parameter_is_guessed() -> None:
    s = corpus("missing_boundary_param.eml")
    assert s.text == "The body was found anyway."
    assert s.attachments == (
        Attachment(filename="data.bin", content_type="application/octet-stream", size=5),
    )
    assert "missing boundary" in s.defects


def test_boundary_never_found_keeps_body_as_text() -> None:
    s = corpus("boundary_not_found.eml")
    assert s.text == "Only this text, with no delimiter lines at all.\n"
    assert "boundary not found" in s.defects


def test_missing_close_boundary_keeps_last_part() -> None:
    s = corpus("missing_close_boundary.eml")
    # A line that only starts with the boundary is content, not a delimiter (RFC 2046 5.1.1).
    assert s.text == "first part\n--XYZNOT a delimiter line, only a prefix"
    assert [(a.filename, a.content_type, a.size) for a in s.attachments] == [
        ("report.csv", "text/csv", len(b"a,b,c\r\n1,2,3\r\n"))
    ]
    assert "missing closing boundary" in s.defects


def test_nul_bytes_removed() -> None:
    s = corpus("nul_bytes.eml")
    assert s.subject == "hasnul"
    assert s.text == "beforeafter\n"
    assert "NUL in body" in s.defects


def test_raw_utf8_headers_rfc6532() -> None:
    s = corpus("header_8bit_utf8.eml")
    assert s.subject == "Größenänderung – 日本語"
    assert s.from_ == "Jürgen Müller <juergen@example.de>"
    assert s.to == ("Zoë <zoe@example.com>",)
    assert s.text == "Hallo ☃\n"
    assert s.defects == ()


def test_raw_latin1_headers_fall_back() -> None:
    s = corpus("header_8bit_latin1.eml")
    assert s.subject == "Café crème"
    assert s.from_ == "François <francois@example.fr>"
    assert s.text == "Déjà vu\n"
    assert "8-bit header not utf-8: Subject" in s.defects


def test_bare_lf_multipart() -> None:
    s = corpus("bare_lf.eml")
    assert s.text == "plain with LF"
    assert s.html == "<p>html with LF</p>"
    assert s.from_ == "Unix <unix@example.org>"


def test_rfc2047_subject_from_to_and_filename() -> None:
    s = corpus("rfc2047_words.eml")
    # B and Q words, a UTF-8 sequence split across two words, folded over two lines.
    assert s.subject == "😂 café olé"
    assert s.from_ == '"Doe, Jürgen" <jd@example.org>'
    assert s.to == (
        "André <andre@example.com>",
        '"Smith, Bob" <bob@example.com>',
        "Carol C <carol@example.com>",
    )
    assert s.cc == ()
    assert s.attachments[0].filename == "Rechnung Übersicht.pdf"
    assert s.attachments[0].size == len(b"%PDF-1.4\n")


def test_rfc2231_continuations_and_charsets() -> None:
    s = corpus("rfc2231_filename.eml")
    assert s.text == "see attachment"
    assert [a.filename for a in s.attachments] == ["€ rate übersicht.txt", "résumé.txt"]
    # A text/plain part with disposition attachment is an attachment, not the body.
    assert s.attachments[1].content_type == "text/plain"


def test_base64_with_garbage_and_truncation() -> None:
    s = corpus("base64_garbage.eml")
    assert s.text == "Hello world"
    png = s.attachments[0]
    assert (png.filename, png.content_type, png.disposition) == ("pixel.png", "image/png", None)
    assert png.size == 16
    assert "invalid base64 characters" in s.defects
    assert "truncated base64" in s.defects


def test_quoted_printable_soft_breaks() -> None:
    s = corpus("qp_soft_breaks.eml")
    assert s.text == (
        "This line is long and soft-broken here and continues. Café = equals.\n"
        "Your code is 482913. \n"
    )


def test_multipart_alternative() -> None:
    s = corpus("multipart_alternative.eml")
    assert s.text == "Hello plain world"
    assert s.html == "<html><body><p>Hello <b>HTML</b> world</p></body></html>"
    assert s.from_ == "Newsletter <news@example.org>"
    assert s.message_id == "<alt-1@example.org>"
    assert s.date == datetime(2024, 1, 3, 10, 0, tzinfo=UTC)
    assert s.attachments == ()
    assert s.defects == ()


def test_mixed_with_inline_image_and_attachment() -> None:
    s = corpus("mixed_inline_image.eml")
    assert s.text == "See the logo."
    assert s.html == '<p>See <img src="cid:logo@example"></p>'
    assert s.attachments == (
        Attachment("logo.png", "image/png", 8, content_id="logo@example", disposition="inline"),
        Attachment("invoice.pdf", "application/pdf", 19, disposition="attachment"),
    )


def test_message_rfc822_is_an_attachment_not_the_body() -> None:
    s = corpus("message_rfc822.eml")
    assert s.text == "see forwarded message"
    (forwarded,) = s.attachments
    assert forwarded.content_type == "message/rfc822"
    assert forwarded.filename == "forwarded.eml"
    assert forwarded.size > 50
    # The splitter still exposes the encapsulated message for IMAP BODYSTRUCTURE.
    raw = (CORPUS / "message_rfc822.eml").read_bytes()
    inner = parse_message(raw).children[1].children[0]
    assert inner.header("subject") == "the forwarded one"
    assert inner.body(raw) == b"inner body text"


def test_no_body() -> None:
    s = corpus("no_body.eml")
    assert s.subject == "nothing below"
    assert s.text == ""
    assert s.attachments == ()


def test_empty_file() -> None:
    s = corpus("empty.eml")
    assert s.subject == "(no subject)"
    assert (s.from_, s.to, s.date, s.message_id, s.html) == ("", (), None, None, None)
    assert s.headers == ()
    assert "empty message" in s.defects


def test_headers_only_without_blank_line() -> None:
    s = corpus("headers_only.eml")
    assert s.subject == "only headers"
    assert s.to == ("b@example.com",)
    assert [name for name, _ in s.headers] == ["From", "To", "Subject"]


def test_hostile_filenames_reduced_to_base_names() -> None:
    s = corpus("path_filenames.eml")
    assert [a.filename for a in s.attachments] == ["passwd", "evil.exe", None]
    assert s.text is None


def test_missing_separator_starts_body_at_first_non_header_line() -> None:
    s = corpus("no_separator.eml")
    assert s.subject == "body glued to headers"
    assert s.text == "This line is not a header, so the body starts here.\nSecond line.\n"
    assert "missing header/body separator" in s.defects


def test_mbox_from_line_skipped_and_bad_date() -> None:
    s = corpus("mbox_from_line.eml")
    assert s.from_ == "Sender <sender@example.org>"
    assert s.headers[0] == ("From", "Sender <sender@example.org>")
    assert s.date is None
    assert "invalid date" in s.defects


def test_groups_comments_and_empty_subject() -> None:
    s = corpus("group_and_comments.eml")
    assert s.subject == "(no subject)"
    assert s.to == ("ann@example.com", '"O\'Brien, Pat" <pat@example.com>', "solo@example.com")
    assert s.reply_to == ("replies@example.org",)
    assert s.from_ == "comment only <c@example.org>"
    # "-0000" means "no zone information"; it is taken as UTC.
    assert s.date == datetime(2024, 1, 4, 16, 20, tzinfo=UTC)


# -- generated hostile input ----------------------------------------------------------------


def _nested(levels: int) -> bytes:
    head = b"From: deep@example.org\r\nSubject: deep\r\n"
    opening = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(levels)
    )
    closing = b"".join(b"\r\n--b%d--" % i for i in reversed(range(levels)))
    return head + opening + b"Content-Type: text/plain\r\n\r\ninnermost" + closing + b"\r\n"


def test_deep_nesting_is_capped() -> None:
    s = parse_summary(_nested(200))
    assert s.subject == "deep"
    assert "nesting too deep" in s.defects
    assert s.text is not None  # the too-deep multipart is shown as text, not lost


def test_moderate_nesting_reaches_the_text() -> None:
    s = parse_summary(_nested(MAX_DEPTH - 1))
    assert s.text == "innermost"
    assert "nesting too deep" not in s.defects


def test_huge_subject_is_capped() -> None:
    raw = b"Subject: " + b"A" * (1024 * 1024) + b"\r\nFrom: a@example.org\r\n\r\nbody\r\n"
    s = parse_summary(raw)
    assert s.subject == "A" * MAX_VALUE
    assert s.from_ == "a@example.org"
    assert s.text == "body\n"
    assert "header too long: Subject" in s.defects


def test_many_headers_are_capped() -> None:
    raw = b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"Subject: late\r\n\r\nb"
    s = parse_summary(raw)
    assert len(s.headers) == 1000
    assert "too many headers" in s.defects


def test_many_parts_are_capped() -> None:
    parts = b"".join(
        b"--p\r\nContent-Type: application/octet-stream; name=f%d\r\n\r\nx\r\n" % i
        for i in range(3000)
    )
    raw = b"Content-Type: multipart/mixed; boundary=p\r\n\r\n" + parts + b"--p--\r\n"
    s = parse_summary(raw)
    assert 900 <= len(s.attachments) < 1000
    assert "too many parts" in s.defects


def test_large_text_body_is_truncated() -> None:
    body = b"0123456789" * (MAX_BODY_CHARS // 10 + 1000)
    s = parse_summary(b"Subject: big\r\n\r\n" + body)
    assert s.text is not None
    assert len(s.text) == MAX_BODY_CHARS
    assert "body truncated" in s.defects


def test_base64_text_body_and_charset() -> None:
    body = base64.encodebytes("Привет, мир".encode("koi8-r"))
    raw = (
        b"Content-Type: text/plain; charset=koi8-r\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body
    )
    assert parse_summary(raw).text == "Привет, мир"


def test_concatenated_base64_chunks() -> None:
    raw = b"Content-Transfer-Encoding: base64\r\n\r\nSGk=\r\nIHRoZXJl\r\n"
    s = parse_summary(raw)
    assert s.text == "Hi there"


def test_header_values_are_made_safe_and_unfolded() -> None:
    raw = b"X-Test: a\x01b\x7fc\tend\r\n  continued\r\nSubject: tab\there\r\n\r\n"
    s = parse_summary(raw)
    assert s.headers[0] == ("X-Test", "abc\tend  continued")
    assert s.subject == "tab here"


def test_date_naive_and_fast_path_agree_with_stdlib() -> None:
    s = parse_summary(b"Date: 5 Feb 2024 23:59:59 +0530\r\n\r\n")
    assert s.date == datetime(
        2024, 2, 5, 23, 59, 59, tzinfo=timezone(timedelta(hours=5, minutes=30))
    )
    s = parse_summary(b"Date: Mon, 5 Feb 2024 10:00:00 GMT\r\n\r\n")
    assert s.date == datetime(2024, 2, 5, 10, 0, tzinfo=UTC)


def test_content_id_and_message_id_cleaned() -> None:
    raw = (
        b"Message-ID:   <id@x>  \r\nContent-Type: multipart/related; boundary=r\r\n\r\n"
        b"--r\r\nContent-Type: image/gif\r\nContent-ID: < img1@x >\r\n\r\nGIF\r\n--r--\r\n"
    )
    s = parse_summary(raw)
    assert s.message_id == "<id@x>"
    assert s.attachments == (Attachment(None, "image/gif", 3, content_id="img1@x"),)


def test_offsets_slice_the_raw_message() -> None:
    raw = (CORPUS / "multipart_alternative.eml").read_bytes()
    root = parse_message(raw)
    assert [c.content_type for c in root.children] == ["text/plain", "text/html"]
    plain = root.children[0]
    assert raw[plain.start : plain.header_end] == b"Content-Type: text/plain; charset=utf-8\r\n"
    assert plain.body(raw) == b"Hello plain world"


def test_non_bytes_like_input_does_not_raise() -> None:
    s = parse_summary(bytearray(b"Subject: ba\r\n\r\nx"))  # type: ignore[arg-type]
    assert s.subject == "ba"


# -- fuzzing --------------------------------------------------------------------------------

_SEEDS = [p.read_bytes() for p in CORPUS_FILES]
_INTERESTING = [
    b"\r\n",
    b"\n",
    b"\r",
    b"\x00",
    b"--",
    b":",
    b";",
    b'"',
    b"=?",
    b"?=",
    b"=?utf-8?b?",
    b"*0*=",
    b"boundary=",
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
    b"\xff\xfe",
    b"\xc3",
    b" ",
    b"(",
    b"<",
]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.integers(0, 3))
        pos = draw(st.integers(0, len(data)))
        if op == 0:
            data[pos:pos] = draw(st.sampled_from(_INTERESTING))
        elif op == 1:
            del data[pos : pos + draw(st.integers(1, 40))]
        elif op == 2:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=20))
        else:
            data = data[:pos]
    return bytes(data)


def _check(raw: bytes) -> None:
    s = parse_summary(raw)
    assert isinstance(s, ParsedSummary)
    assert s.subject
    assert not any(d.startswith("internal error") for d in s.defects), s.defects


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    _check(raw)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_mutated_corpus_never_raises(raw: bytes) -> None:
    _check(raw)
