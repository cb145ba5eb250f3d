"""HTML bodies (`ephemail.mime.html`) and the `body_text` the ingest summary derives from them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ephemail.mime.html import (
    has_remote_content,
    html_to_text,
    iter_links,
    rewrite_cid_references,
)
from ephemail.mime.summary import MAX_BODY_TEXT_CHARS, MAX_HTML_TEXT_INPUT, parse_summary

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

# -- html_to_text ---------------------------------------------------------------------------

TEXT_CASES = [
    ("paragraphs", "<p>Hello <b>world</b></p><p>Second</p>", "Hello world\n\nSecond"),
    (
        "head, title, style, script dropped",
        "<html><head><title>T</title><style>p{color:red}</style><script>var a = 1 < 2;"
        "</script></head><body><p>Shown</p><script>alert('<p>no</p>')</script></body></html>",
        "Shown",
    ),
    (
        "template and noscript dropped",
        "a<template><p>t</p></template>b<noscript>n</noscript>c",
        "abc",
    ),
    ("comments dropped", "a<!-- <p>hidden</p> -->b<!---->c<!-->d", "abcd"),
    ("doctype and processing instructions", "<!DOCTYPE html><?xml version='1.0'?>x", "x"),
    ("br is a line break", "one<br>two<br/>three<BR><br>four", "one\ntwo\nthree\n\nfour"),
    ("divs are lines", "<div>a</div><div>b</div>c", "a\nb\nc"),
    ("headings are paragraphs", "<h1>Title</h1>Body<h2>Sub</h2>", "Title\n\nBody\n\nSub"),
    (
        "lists with nested lists",
        "<ul><li>one</li><li>two<ol><li>inner</li></ol></li></ul><p>after</p>",
        "- one\n- two\n  - inner\n\nafter",
    ),
    ("list items without end tags", "<ul><li>a<li>b</ul>", "- a\n- b"),
    (
        "table rows and cells",
        "<table><tr><td>A</td><td>B</td></tr><tr><th>C</th></tr></table>",
        "A B\nC",
    ),
    (
        "entities",
        "Fish &amp; chips &lt;3 &copy 2024 &#x263A; &#9731; &nbsp;x&notanentity;",
        "Fish & chips <3 © 2024 ☺ ☃ x¬anentity;",
    ),
    ("whitespace collapsed", "  lots \n\n of\t\tspace   here  ", "lots of space here"),
    (
        "links keep their text",
        '<a href="https://example.com/x">Click here</a> now',
        "Click here now",
    ),
    ("pre keeps white space", "<pre>  a\n    b</pre>after", "  a\n    b\n\nafter"),
    (
        "invisible preheader padding removed",
        "Preview&#847;&zwnj; &#8203;&shy;text&nbsp;&#847;",
        "Preview text",
    ),
    ("stray less-than is text", "1 < 2 and 3 <4", "1 < 2 and 3 <4"),
    ("tag cut off at the end is dropped", "kept <a href='x", "kept"),
    ("unclosed tags", "<div><p>one<div>two<span>three<p>four", "one\ntwothree\n\nfour"),
    ("quoted > inside attributes", "<a title=\"a>b\">text</a><img alt='x>y'>", "text"),
    ("head closed by body content", "<head><meta charset=utf-8><p>para", "para"),
    ("uppercase markup", "<P>Up</P><DIV>Case</DIV><SCRIPT>x</SCRIPT>", "Up\n\nCase"),
    ("textarea content is text", "<textarea>a &amp; <b>b</b></textarea>", "a & <b>b</b>"),
    ("empty", "", ""),
    ("only markup", "<html><body><div></div></body></html>", ""),
]


@pytest.mark.parametrize(
    ("html", "expected"), [c[1:] for c in TEXT_CASES], ids=[c[0] for c in TEXT_CASES]
)
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_html_to_text_output_is_bounded() -> None:
    html = "<p>" + "word " * 100_000 + "</p>"
    text = html_to_text(html, max_chars=1000)
    assert len(text) <= 1000
    assert text.startswith("word word")


def test_html_to_text_reads_at_most_max_input() -> None:
    html = "<p>start</p>" + "<div>x</div>" * 10_000 + "<p>END</p>"
    assert "END" in html_to_text(html)
    assert "END" not in html_to_text(html, max_input=1000)


HOSTILE = [
    ("deep nesting", "<div>" * 200_000 + "deep" + "</div>" * 200_000),
    ("10 MB of tags", "<b>" * (10 * 1024 * 1024 // 3)),
    ("unclosed comment", "a<!--" + "<p>x</p>" * 200_000),
    ("unclosed quote", 'a<img alt="' + "<p>x</p>" * 200_000),
    ("unclosed scripts", "<script>" * 300_000),
    ("many stray less-thans", "< " * 500_000),
    ("tags that never close", "<a " * 500_000),
    ("bogus comments", "</ " * 300_000 + "<!x" * 300_000),
    ("entities", "&amp;&#x41;&bogus;" * 200_000),
    ("huge attribute", "<img src='" + "A" * 5_000_000 + "'>after"),
    ("nested lists", "<ul><li>" * 100_000),
]


@pytest.mark.parametrize("html", [h for _, h in HOSTILE], ids=[n for n, _ in HOSTILE])
def test_hostile_html_is_bounded(html: str) -> None:
    started = time.process_time()
    text = html_to_text(html, max_chars=10_000)
    assert len(text) <= 10_000
    started_hot = time.process_time()
    html_to_text(html, max_chars=MAX_BODY_TEXT_CHARS, max_input=MAX_HTML_TEXT_INPUT)
    done = time.process_time()
    # Generous bounds for a shared machine; quadratic behaviour would take minutes.
    assert started_hot - started < 10
    assert done - started_hot < 2


def test_nested_list_indent_is_capped() -> None:
    text = html_to_text("<ul><li>" * 50 + "deep")
    assert text.endswith("- deep")
    assert len(text.splitlines()[-1]) < 20


HTML_FRAGMENTS = [
    *("<p>", "</p>", "<div>", "<br>", "<li>", "<ul>", "</ul>", "<pre>", "</pre>", "<td>"),
    *("<script>", "</script>", "<style>", "<head>", "</head>", "<!--", "-->", "<a href='"),
    *("'>", '"', "&amp;", "&", "<", ">", "text", " ", "\n", "\u200b", "<textarea>"),
    *("</textarea>", "<plaintext>", "<title>", "<TEMPLATE>", "</template>", "<!x>"),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(HTML_FRAGMENTS) | st.text(max_size=5), max_size=60).map("".join),
    st.integers(0, 200),
)
def test_html_to_text_never_raises(html: str, limit: int) -> None:
    text = html_to_text(html, max_chars=limit)
    assert len(text) <= limit
    assert "\x00" not in text or "\x00" in html


# -- rewrite_cid_references ------------------------------------------------------------------

URLS = {"logo@x": "/att/0", "b@x": "/att/1?a=1&b=2", "sp ace@x": "/att/2"}


def url_for(content_id: str) -> str | None:
    return URLS.get(content_id)


REWRITES = [
    ('<img src="cid:logo@x">', '<img src="/att/0">'),
    ("<img src='cid:logo@x' alt=cid:logo@x>", "<img src='/att/0' alt=cid:logo@x>"),
    ("<IMG SRC=cid:logo@x width=1>", "<IMG SRC=/att/0 width=1>"),
    ('<img src="CID:%3Clogo%40x%3E">', '<img src="/att/0">'),
    ('<img src="cid:b@x">', '<img src="/att/1?a=1&amp;b=2">'),
    ("<img src=cid:b@x>", '<img src="/att/1?a=1&amp;b=2">'),
    ('<img src="cid:sp%20ace@x">', '<img src="/att/2">'),
    ('<img src=" cid:logo@x ">', '<img src="/att/0">'),
    ('<img src="cid&#58;logo&#64;x">', '<img src="/att/0">'),
    ('<td background="cid:logo@x">', '<td background="/att/0">'),
    (
        '<img srcset="cid:logo@x 1x, https://e.example/a.png 2x,cid:b@x 3x">',
        '<img srcset="/att/0 1x, https://e.example/a.png 2x,/att/1?a=1&amp;b=2 3x">',
    ),
    (
        "<div style=\"background:url('cid:logo@x') no-repeat\">",
        "<div style=\"background:url('/att/0') no-repeat\">",
    ),
    ('<img src="cid:unknown@x">', '<img src="cid:unknown@x">'),
    ('<a href="cid:logo@x">link</a>', '<a href="cid:logo@x">link</a>'),
    ("<p>cid:logo@x in text</p>", "<p>cid:logo@x in text</p>"),
    ("<!-- <img src=cid:logo@x> -->", "<!-- <img src=cid:logo@x> -->"),
    ("<script>'<img src=cid:logo@x>'</script>", "<script>'<img src=cid:logo@x>'</script>"),
    ('<img src="cid:logo@x" src="cid:b@x">', '<img src="/att/0" src="/att/1?a=1&amp;b=2">'),
]


@pytest.mark.parametrize(("html", "expected"), REWRITES)
def test_rewrite_cid_references(html: str, expected: str) -> None:
    assert rewrite_cid_references(html, url_for) == expected


def test_rewrite_keeps_everything_else_byte_for_byte() -> None:
    raw = (CORPUS / "attachment_encodings.eml").read_bytes()
    html = parse_summary(raw).html
    assert html is not None
    document = (
        "<!DOCTYPE html>\n<html><head><style>td { color: red }</style></head>\r\n"
        "<body class=x   data-a='1'>\t<p>Caf\u00e9 &amp; <b>bold</b></p>"
        + html
        + "<img\n  SRC = 'cid:logo@x'\n  alt=\"a > b\"/>  <!-- end -->\n</body></html>"
    )
    rewritten = rewrite_cid_references(
        document, lambda cid: {"logo@files.example": "/L", "logo@x": "/X"}.get(cid)
    )
    assert rewritten == (
        document.replace("cid:logo%40files.example", "/L").replace("'cid:logo@x'", "'/X'")
    )
    assert rewrite_cid_references(document, lambda cid: None) is document


def test_rewrite_quoting_of_new_urls() -> None:
    assert rewrite_cid_references("<img src='cid:a'>", lambda c: "/x?q='1'") == (
        "<img src='/x?q=&#39;1&#39;'>"
    )
    assert rewrite_cid_references('<img src="cid:a">', lambda c: '/x?q="1"') == (
        '<img src="/x?q=&quot;1&quot;">'
    )
    assert rewrite_cid_references("<img src=cid:a>", lambda c: "/x y") == '<img src="/x y">'


def test_rewrite_passes_the_decoded_content_id() -> None:
    seen: list[str] = []

    def record(content_id: str) -> None:
        seen.append(content_id)

    rewrite_cid_references(
        '<img src="cid:%3Cpart1.abc%40example.com%3E"><img src="cid:plain@x">', record
    )
    assert seen == ["part1.abc@example.com", "plain@x"]


CID_FRAGMENTS = [
    *("<img src=", "'cid:a'", '"cid:b"', "cid:a", " ", ">", "<", "srcset=", "style="),
    *("'url(cid:a)'", "<!--", "-->", "<script>", "</script>", "&amp;", '"', "'", "x"),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(CID_FRAGMENTS) | st.text(max_size=4), max_size=40).map("".join))
def test_rewrite_never_raises_and_only_touches_cid_values(html: str) -> None:
    assert rewrite_cid_references(html, lambda c: None) == html
    rewritten = rewrite_cid_references(html, lambda c: "/u")
    if "cid:" not in html.lower():
        assert rewritten == html
    # Rewriting is idempotent: no known cid reference survives in a rewritten attribute.
    assert rewrite_cid_references(rewritten, lambda c: "/u") == rewritten


# -- has_remote_content ------------------------------------------------------------------------

REMOTE = [
    ('<img src="https://t.example/p.gif">', True),
    ("<img src=http://t.example/p.gif>", True),
    ('<img src="//t.example/p.gif">', True),
    ('<img src="\\\\t.example/p.gif">', True),
    ('<img src=" \n HTTPS://t.example/p.gif">', True),
    ('<img src="&#104;ttps://t.example/p.gif">', True),
    ('<img src="cid:logo@x">', False),
    ('<img src="data:image/png;base64,AAAA">', False),
    ('<img src="/local/p.gif">', False),
    ('<img srcset="a.png 1x, https://t.example/b.png 2x">', True),
    ('<picture><source srcset="https://t.example/b.webp"></picture>', True),
    ('<video poster="https://t.example/p.jpg"></video>', True),
    ('<audio src="https://t.example/a.mp3"></audio>', True),
    ('<table background="https://t.example/bg.png">', True),
    ('<input type="image" src="https://t.example/b.png">', True),
    ('<input type="text" src="https://t.example/b.png">', False),
    ('<link rel="stylesheet" href="https://t.example/s.css">', True),
    ('<link rel="canonical" href="https://t.example/page">', False),
    ('<a href="https://t.example/page">a link is not a load</a>', False),
    ("<div style=\"background-image: url('https://t.example/bg.png')\">", True),
    ('<div style="background: URL( //t.example/bg.png )">', True),
    ('<div style="background: u\\72l(https://t.example/bg.png)">', True),
    ('<div style="background:url(cid:bg)">', False),
    ("<style>@import 'https://t.example/s.css';</style>", True),
    ("<style>.a { background: url(https://t.example/x.png) }</style>", True),
    ("<style>.a { color: red } /* url(https://t.example/x.png) */</style>", False),
    ('<svg><image href="https://t.example/i.png"/></svg>', True),
    ('<object data="https://t.example/o.swf"></object>', True),
    ('<base href="https://t.example/">', True),
    ('<meta http-equiv="refresh" content="0; url=https://t.example/">', True),
    ('<iframe src="https://t.example/frame"></iframe>', True),
    ("<p>see https://t.example/ in text</p>", False),
    ('<!-- <img src="https://t.example/p.gif"> -->', False),
    ("<script>document.write('<img src=https://t.example/p.gif>')</script>", False),
    ("", False),
]


@pytest.mark.parametrize(("html", "expected"), REMOTE)
def test_has_remote_content(html: str, expected: bool) -> None:
    assert has_remote_content(html) is expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_has_remote_content_never_raises(html: str) -> None:
    assert has_remote_content(html) in (True, False)


# -- iter_links --------------------------------------------------------------------------------


def test_iter_links_decodes_hrefs_with_attribute_rules() -> None:
    html = (
        "<a href='https://x.example/?a=1&amp;b=2&copy=3&lang;&not'>T&amp;C</a>"
        "<area href=https://x.example/area><a>no href</a>"
    )
    assert list(iter_links(html)) == [
        ("https://x.example/?a=1&b=2&copy=3\u27e8\u00ac", "T&C"),
        ("https://x.example/area", None),
    ]


# -- body_text in the ingest summary -----------------------------------------------------------


def test_body_text_is_the_text_part_when_present() -> None:
    s = parse_summary((CORPUS / "multipart_alternative.eml").read_bytes())
    assert s.body_text == s.text == "Hello plain world"


def test_body_text_from_html_only_message() -> None:
    s = parse_summary((CORPUS / "html_only_verification.eml").read_bytes())
    assert s.text is None
    assert s.body_text is not None
    assert "Enter this verification code to finish signing in:\n\n604 211" in s.body_text
    assert "secure your account" in s.body_text
    assert "alert" not in s.body_text and "letter-spacing" not in s.body_text
    assert "Verification" not in s.body_text  # the <title>


def test_body_text_none_without_a_body() -> None:
    s = parse_summary((CORPUS / "path_filenames.eml").read_bytes())
    assert (s.text, s.html, s.body_text) == (None, None, None)
    assert parse_summary(b"").body_text == ""


def test_body_text_from_html_is_capped() -> None:
    html = "<p>" + "word " * (MAX_HTML_TEXT_INPUT // 5 + 10_000) + "</p>"
    raw = b"Content-Type: text/html\r\n\r\n" + html.encode()
    s = parse_summary(raw)
    assert s.html is not None and len(s.html) > MAX_HTML_TEXT_INPUT
    assert s.body_text is not None
    assert 0 < len(s.body_text) <= min(MAX_BODY_TEXT_CHARS, MAX_HTML_TEXT_INPUT)
