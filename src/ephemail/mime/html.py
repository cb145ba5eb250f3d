"""Reading untrusted HTML bodies: readable text, `cid:` rewriting, remote-content detection.

Everything here runs on hostile input, so it uses one small tokenizer built on compiled regular
expressions instead of `html.parser`: it is more than twice as fast on mail-sized documents
(the text conversion runs at ingest), it reports exact offsets (so `rewrite_cid_references`
can keep the rest of the document byte for byte), and it is linear in its input. Where it
decides how markup is split up it follows the WHATWG HTML tokenizer (section 13.2.5):
comments, bogus comments, attribute values, raw-text elements, and "end of file in a tag
drops the tag".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from html import unescape
from html.entities import html5 as named_references
from urllib.parse import unquote

DEFAULT_MAX_CHARS = 1_000_000
DEFAULT_MAX_INPUT = 2 * 1024 * 1024  # the largest `ParsedSummary.html`

# -- tokenizer ------------------------------------------------------------------------------

# HTML white space (WHATWG "ASCII whitespace"), not Python's Unicode-wide \s.
_WS = "\t\n\f\r "
# The attributes of a tag, per the "before/after attribute name" and "attribute value" states:
# a name runs to white space, "/", ">" or "="; a value follows "=" and is double-quoted,
# single-quoted or unquoted. A quote left open runs to the end of the input. Possessive
# quantifiers keep the match linear on input that never closes the tag.
_ATTRS = (
    rf"(?:[{_WS}/]++|[^{_WS}/>][^{_WS}/>=]*+"
    rf"(?:[{_WS}]*+=[{_WS}]*+(?:\"[^\"]*+(?:\"|\Z)|'[^']*+(?:'|\Z)|[^{_WS}>]*+))?+)*+"
)
# One token: character data, a tag (groups 2 to 4), a comment (including the abrupt "<!-->"
# and "<!--->"), a doctype, processing instruction or bogus comment (also "</>"), or a "<"
# that starts no markup ("a < b", "<3"), which is text. `lastgroup` tells them apart: "text",
# "close" (a tag) or None (the last two; a lone "<" is one character long).
_TOKEN_RE = re.compile(
    rf"(?P<text>[^<]++)"
    rf"|<(?:(?P<tag>/?[A-Za-z][^{_WS}/>]*+)(?P<attrs>{_ATTRS})(?P<close>>|\Z)"
    r"|!--(?:-?>|.*?(?:--!?>|\Z))"
    r"|[!?/][^>]*+(?:>|\Z)"
    r"|)",
    re.DOTALL,
)
_ATTR_RE = re.compile(
    rf"[{_WS}/]*+(?P<name>[^{_WS}/>][^{_WS}/>=]*+)"
    rf"(?:[{_WS}]*+=[{_WS}]*+(?P<value>\"[^\"]*+(?:\"|\Z)|'[^']*+(?:'|\Z)|[^{_WS}>]*+))?+"
)

# Elements whose content is text up to their end tag, not markup (WHATWG 13.2.5.2 ff.).
# "noscript" is not among them: the sandboxed viewer runs no scripts, so its content is markup.
_RAW_TEXT = frozenset(
    {"script", "style", "xmp", "iframe", "noembed", "noframes", "textarea", "title"}
)

_TEXT, _START, _END, _RAW = 0, 1, 2, 3


@lru_cache(maxsize=16)
def _raw_end_re(name: str) -> re.Pattern[str]:
    return re.compile(rf"</{name}(?=[{_WS}/>]|\Z)", re.IGNORECASE)


def _raw_end(html: str, name: str, pos: int) -> int:
    """Where the content of raw-text element `name` starting at `pos` ends."""
    if name == "plaintext":  # everything after it is text (WHATWG 13.2.6.4.7)
        return len(html)
    end_tag = _raw_end_re(name).search(html, pos)
    return len(html) if end_tag is None else end_tag.start()


Token = tuple[int, str, int, int, re.Match[str] | None]


def _tokens(html: str) -> Iterator[Token]:
    """Yield ``(kind, name, start, end, match)`` over the document.

    `kind` is _TEXT (character data), _START or _END (a tag; `name` in lowercase; `match`
    holds the "attrs" group) or _RAW (the content of a raw-text element named `name`).
    Comments, doctypes and processing instructions are skipped; a tag cut off by the end of
    the input ends the stream, as browsers drop it.
    """
    pos = 0
    size = len(html)
    match = _TOKEN_RE.match
    while pos < size:
        m = match(html, pos)
        assert m is not None  # the last alternative matches any "<"
        start, pos = m.span()
        kind = m.lastgroup
        if kind == "text" or (kind is None and pos - start == 1):
            yield _TEXT, "", start, pos, None
        elif kind == "close":
            if m.start("close") == pos:
                return  # end of input inside a tag: the tag is dropped
            tag = m.group("tag")
            if tag[0] == "/":
                yield _END, tag[1:].lower(), start, pos, m
                continue
            name = tag.lower()
            yield _START, name, start, pos, m
            if name in _RAW_TEXT or name == "plaintext":
                end = _raw_end(html, name, pos)
                yield _RAW, name, pos, end, None
                pos = end


def _attributes(m: re.Match[str]) -> Iterator[tuple[str, re.Match[str]]]:
    """The attributes of a start tag as ``(lowercase name, match)``; "value" may be None."""
    start, end = m.span("attrs")
    string = m.string
    for attr in _ATTR_RE.finditer(string, start, end):
        yield attr.group("name").lower(), attr


def _raw_value(attr: re.Match[str]) -> tuple[str, int, int, str]:
    """An attribute value as ``(text, start, end, quote)``: the undecoded text between the
    quotes and its span, and the quote character ("" when unquoted or missing)."""
    value = attr.group("value")
    if value is None:
        end = attr.end()
        return "", end, end, ""
    start, end = attr.span("value")
    if value[:1] in ("'", '"'):
        quote = value[0]
        closed = len(value) > 1 and value.endswith(quote)
        return value[1 : -1 if closed else None], start + 1, end - 1 if closed else end, quote
    return value, start, end, ""


_ATTR_REF_RE = re.compile(r"&(?:(#[xX][0-9A-Fa-f]++;?|#[0-9]++;?)|([A-Za-z][A-Za-z0-9]*+)(;?))")


def _attr_reference(m: re.Match[str]) -> str:
    numeric, name, semicolon = m.groups()
    if numeric is not None:
        return unescape(m.group(0))
    if semicolon:
        return named_references.get(name + ";", m.group(0))
    # WHATWG 13.2.5.73: in an attribute, a reference without ";" followed by "=" or an
    # alphanumeric stays as written, so "?a=1&copy=2" keeps its "&copy".
    following = m.string[m.end() : m.end() + 1]
    if following == "=":
        return m.group(0)
    return named_references.get(name, m.group(0))


def unescape_attribute(value: str) -> str:
    """Decode character references in an attribute value (attribute rules, not text rules)."""
    return _ATTR_REF_RE.sub(_attr_reference, value) if "&" in value else value


# -- html_to_text ---------------------------------------------------------------------------

# What each tag does to the text. Elements whose content is never shown are hidden (raw-text
# ones among them are skipped in one jump); <head> also ends implicitly, at any start tag that
# cannot stand in it or at visible text (WHATWG 13.2.6.4.4).
_HIDE, _PARA, _LIST_, _LINE, _ITEM, _CELL, _BREAK, _PRE, _SHOWN_RAW = range(9)
_ELEMENTS: dict[str, int] = {
    **dict.fromkeys(("head", "template", "noscript", "script", "style", "title"), _HIDE),
    **dict.fromkeys(("iframe", "noembed", "noframes"), _HIDE),
    **dict.fromkeys(("p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr", "dl"), _PARA),
    **dict.fromkeys(("figure", "address"), _PARA),
    **dict.fromkeys(("ul", "ol", "menu", "dir"), _LIST_),
    **dict.fromkeys(("div", "tr", "table", "article", "aside", "center", "dd", "dt"), _LINE),
    **dict.fromkeys(("details", "dialog", "fieldset", "figcaption", "footer", "form"), _LINE),
    **dict.fromkeys(("header", "hgroup", "legend", "main", "nav", "section", "summary"), _LINE),
    **dict.fromkeys(("caption", "thead", "tbody", "tfoot", "body", "html", "option"), _LINE),
    "li": _ITEM,
    "td": _CELL,
    "th": _CELL,
    "br": _BREAK,
    "pre": _PRE,
    "listing": _PRE,
    **dict.fromkeys(("textarea", "xmp", "plaintext"), _SHOWN_RAW),
}
_HIDDEN_RAW = frozenset({"script", "style", "iframe", "noembed", "noframes", "title"})
_HEAD_CONTENT = frozenset(
    {"base", "basefont", "bgsound", "link", "meta", "title", "noscript", "noframes", "style"}
    | {"script", "template", "head"}
)
_MAX_LIST_INDENT = 6
# Invisible characters that newsletters pad their preview text with.
_INVISIBLE_RE = re.compile("[\u00ad\u034f\u180e\u200b\u200c\u200d\u2060\ufeff]")
_NEWLINES = ("", "\n", "\n\n")


def html_to_text(
    html: str, *, max_chars: int = DEFAULT_MAX_CHARS, max_input: int = DEFAULT_MAX_INPUT
) -> str:
    """Readable plain text from an HTML body, for search, previews and code extraction.

    Drops scripts, styles, the head, templates, noscript, comments and invisible padding
    characters; block elements become line breaks (paragraphs and headings a blank line),
    list items start with "- ", table cells are separated by a space, links keep their text
    (not the URL), character references are decoded and white space is collapsed outside
    <pre>. Only the first `max_input` characters are read and at most `max_chars` returned, so
    the work is linear and bounded on any input. Never raises.
    """
    try:
        return _html_to_text(html[: max(0, max_input)], max(0, max_chars))
    except Exception:  # a bug must not break ingest; an empty text is a safe answer
        return ""


def _html_to_text(html: str, max_chars: int) -> str:
    # One pass over the tokens; the state lives in locals because this runs at ingest.
    parts: list[str] = []
    written = 0  # characters in parts
    breaks = 0  # line breaks owed before the next text (2 = a blank line)
    space = False  # a space owed before the next text on the same line
    prefix = ""  # a list bullet owed before the next text
    ends_in_newline = False  # the last text written (preformatted) ended its line
    hidden: dict[str, int] = {}  # open elements whose content is not shown, by name
    in_head = False
    pre_depth = 0
    list_depth = 0
    pos = 0
    size = len(html)
    match = _TOKEN_RE.match
    elements = _ELEMENTS
    while pos < size and written < max_chars:
        m = match(html, pos)
        assert m is not None  # the last alternative matches any "<"
        start, pos = m.span()
        kind = m.lastgroup
        verbatim: str | None = None
        if kind == "close":  # a tag
            if pos == size and m.start("close") == pos:
                break  # end of input inside a tag: the tag is dropped
            name = m.group(2)  # the "tag" group
            is_end = name[0] == "/"
            if is_end:
                name = name[1:]
            action = elements.get(name)
            if action is None:
                name = name.lower()
                action = elements.get(name)
                if action is None:  # no effect on the text, but it may end <head>
                    if in_head and not is_end and name not in _HEAD_CONTENT:
                        in_head = False
                        hidden.pop("head", None)
                    continue
            if is_end:
                count = hidden.get(name)
                if count is not None:
                    if count > 1:
                        hidden[name] = count - 1
                    else:
                        del hidden[name]
                        in_head = in_head and name != "head"
                    continue
                if action in (_PRE, _SHOWN_RAW):
                    pre_depth = max(0, pre_depth - 1)
                elif action == _LIST_:
                    list_depth = max(0, list_depth - 1)
                if hidden:
                    continue
                if action == _BREAK:  # "</br>" is a <br> (WHATWG 13.2.6.4.7)
                    if parts:
                        breaks = min(breaks + 1, 2)
                    space = False
                elif action == _CELL:
                    space = True
                elif action != _HIDE:
                    # Paragraphs and top-level lists end with a blank line.
                    if action in (_PARA, _PRE) or (action == _LIST_ and not list_depth):
                        breaks = 2
                    elif breaks == 0:
                        breaks = 1
                    space = False
                continue
            if in_head and name not in _HEAD_CONTENT:
                in_head = False
                hidden.pop("head", None)
            if action == _HIDE:
                hidden[name] = hidden.get(name, 0) + 1
                in_head = in_head or name == "head"
                if name in _HIDDEN_RAW:
                    pos = _raw_end(html, name, pos)
                continue
            if action == _SHOWN_RAW:
                end = _raw_end(html, name, pos)
                if not hidden:
                    verbatim = html[pos:end]
                    if name == "textarea" and "&" in verbatim:
                        verbatim = unescape(verbatim)
                    breaks = max(breaks, 1)
                pos = end
                if name != "plaintext":
                    pre_depth += 1
            elif action == _PRE:
                pre_depth += 1
            elif action == _LIST_:
                list_depth += 1
            if hidden:
                continue
            if action == _CELL:
                space = True
                continue
            if action == _BREAK:
                if parts:
                    breaks = min(breaks + 1, 2)
                space = False
                continue
            if verbatim is None:
                if action in (_PARA, _PRE) or (action == _LIST_ and list_depth == 1):
                    breaks = 2
                elif breaks == 0:
                    breaks = 1
                space = False
                if action == _ITEM:
                    indent = "  " * (min(max(list_depth, 1), _MAX_LIST_INDENT) - 1)
                    prefix = indent + "- "
                continue
        elif kind is None and pos - start > 1:
            continue  # comment, doctype, processing instruction
        else:  # character data (or a "<" that starts no markup)
            chunk = m.group()
            if in_head and not chunk.isspace():
                in_head = False  # text cannot stand in <head>: the body has begun
                hidden.pop("head", None)
            if hidden:
                continue
            if "&" in chunk:
                chunk = unescape(chunk)
            if not chunk.isascii() and _INVISIBLE_RE.search(chunk):
                chunk = _INVISIBLE_RE.sub("", chunk)
            if pre_depth:
                verbatim = chunk
            else:
                words = chunk.split()
                if not words:
                    if chunk:
                        space = True
                    continue
                if chunk[0].isspace():
                    space = True
                text = " ".join(words)
                ends_with_space = chunk[-1].isspace()
        # Write `text` (flowing) or `verbatim` (preformatted), after what is owed.
        if verbatim is not None:
            verbatim = verbatim.replace("\r\n", "\n").replace("\r", "\n")
            if not verbatim:
                continue
            if not verbatim.isascii() and _INVISIBLE_RE.search(verbatim):
                verbatim = _INVISIBLE_RE.sub("", verbatim)
            text = verbatim
            ends_with_space = False
        if parts:
            owed = breaks - ends_in_newline
            if owed > 0:
                parts.append(_NEWLINES[owed])
                written += owed
            elif space and not breaks:
                parts.append(" ")
                written += 1
        breaks = 0
        if prefix:
            parts.append(prefix)
            written += len(prefix)
            prefix = ""
        parts.append(text)
        written += len(text)
        space = ends_with_space
        ends_in_newline = verbatim is not None and text.endswith("\n")
    # Text never starts with white space; preformatted text may, and keeps it.
    return "".join(parts)[:max_chars].strip("\n").rstrip()


# -- links ------------------------------------------------------------------------------------

_MAX_ANCHOR_TEXT = 200


def iter_links(
    html: str, *, max_input: int = DEFAULT_MAX_INPUT
) -> Iterator[tuple[str, str | None]]:
    """Yield ``(href, text)`` for each <a>/<area> with an href, in document order.

    The href is decoded (attribute rules, so "&amp;" becomes "&" but "&copy=" stays) and
    stripped; the text is the anchor's collapsed text, else the alt text of an image inside
    it, else None. Reads at most `max_input` characters.
    """
    html = html[: max(0, max_input)]
    href: str | None = None
    words: list[str] = []
    alt: str | None = None
    for kind, name, start, end, m in _tokens(html):
        if kind == _TEXT:
            if href is not None and sum(map(len, words)) < _MAX_ANCHOR_TEXT:
                chunk = html[start:end]
                words += _INVISIBLE_RE.sub("", unescape(chunk) if "&" in chunk else chunk).split()
            continue
        if kind == _RAW or (name != "a" and name != "area" and not (name == "img" and href)):
            continue
        if kind == _START and m is not None and name == "img":
            if alt is None:
                for attr_name, attr in _attributes(m):
                    if attr_name == "alt":
                        alt = " ".join(unescape_attribute(_raw_value(attr)[0]).split()) or None
                        break
            continue
        if href is not None and name == "a":  # </a>, or an <a> that implicitly closes one
            yield href, (" ".join(words)[:_MAX_ANCHOR_TEXT] or alt or None)
            href = None
        if kind != _START or m is None:
            continue
        for attr_name, attr in _attributes(m):
            if attr_name == "href":
                value = unescape_attribute(_raw_value(attr)[0]).strip(_WS)
                if name == "area":
                    yield value, None
                else:
                    href, words, alt = value, [], None
                break
    if href is not None:
        yield href, (" ".join(words)[:_MAX_ANCHOR_TEXT] or alt or None)


# -- cid: rewriting (RFC 2392) ----------------------------------------------------------------

_CID_ATTRIBUTES = frozenset({"src", "background", "poster"})
_CSS_CID_RE = re.compile(r"""(url\([\t\n\f\r ]*+["']?)[\t\n\f\r ]*+(cid:[^"')\t\n\f\r ]+)""", re.I)
_UNQUOTED_SAFE_RE = re.compile(r"[^\t\n\f\r \"'=<>`]+")


def content_id_of(url: str) -> str | None:
    """The Content-ID a `cid:` URL names (RFC 2392: URL-decoded, without angle brackets)."""
    url = url.strip(_WS)
    if url[:4].lower() != "cid:":
        return None
    content_id = unquote(url[4:]).strip().strip("<>").strip()
    return content_id or None


def _srcset_urls(value: str) -> Iterator[tuple[int, int]]:
    """Spans of the URLs in a srcset value (WHATWG "parse a srcset attribute")."""
    pos = 0
    size = len(value)
    while pos < size:
        while pos < size and (value[pos] in _WS or value[pos] == ","):
            pos += 1
        start = pos
        while pos < size and value[pos] not in _WS:
            pos += 1
        end = pos
        if end > start and value[end - 1] == ",":
            while end > start and value[end - 1] == ",":
                end -= 1
            yield start, end
            continue
        if end > start:
            yield start, end
        depth = 0  # skip the descriptors, up to a comma outside parentheses
        while pos < size and (value[pos] != "," or depth):
            if value[pos] == "(":
                depth += 1
            elif value[pos] == ")" and depth:
                depth -= 1
            pos += 1


def _escape_value(value: str, quote: str) -> str:
    value = value.replace("&", "&amp;")
    if quote == '"':
        return value.replace('"', "&quot;")
    if quote == "'":
        return value.replace("'", "&#39;")
    return value


def _rewrite_value(name: str, value: str, url_for: Callable[[str], str | None]) -> str | None:
    """The attribute value with its cid: URLs replaced, or None when nothing changed."""
    if name in _CID_ATTRIBUTES:
        content_id = content_id_of(value)
        return url_for(content_id) if content_id is not None else None
    if name == "srcset":
        pieces: list[str] = []
        last = 0
        for start, end in _srcset_urls(value):
            content_id = content_id_of(value[start:end])
            replacement = url_for(content_id) if content_id is not None else None
            if replacement is not None:
                pieces += (value[last:start], replacement)
                last = end
        return "".join(pieces) + value[last:] if pieces else None
    # name == "style": CSS url(cid:...) references
    changed = False

    def replace(m: re.Match[str]) -> str:
        nonlocal changed
        content_id = content_id_of(m.group(2))
        replacement = url_for(content_id) if content_id is not None else None
        if replacement is None:
            return m.group(0)
        changed = True
        return m.group(1) + replacement

    rewritten = _CSS_CID_RE.sub(replace, value)
    return rewritten if changed else None


def rewrite_cid_references(html: str, url_for: Callable[[str], str | None]) -> str:
    """Point `cid:` references (RFC 2392) at real URLs, changing nothing else.

    Looks at src, background, poster and srcset attributes and at `url(cid:...)` in style
    attributes. `url_for` gets the Content-ID (URL-decoded, without angle brackets) and returns
    the URL to use, or None to leave that reference as it is. Bytes outside rewritten attribute
    values are kept exactly; a rewritten value is re-escaped for its quoting (an unquoted value
    gains double quotes when the new URL needs them).
    """
    if "cid" not in html.lower():
        return html
    pieces: list[str] = []
    last = 0
    for kind, _name, _start, _end, m in _tokens(html):
        if kind != _START or m is None or "cid" not in m.group("attrs").lower():
            continue
        for attr_name, attr in _attributes(m):
            if attr_name not in _CID_ATTRIBUTES and attr_name not in ("srcset", "style"):
                continue
            raw, start, end, quote = _raw_value(attr)
            if "cid" not in raw.lower() and "&" not in raw:
                continue
            rewritten = _rewrite_value(attr_name, unescape_attribute(raw), url_for)
            if rewritten is None:
                continue
            if not quote and not _UNQUOTED_SAFE_RE.fullmatch(rewritten):
                replacement = '"' + _escape_value(rewritten, '"') + '"'
            else:
                replacement = _escape_value(rewritten, quote)
            pieces += (html[last:start], replacement)
            last = end
    if not pieces:
        return html
    pieces.append(html[last:])
    return "".join(pieces)


# -- remote content -----------------------------------------------------------------------------

# Attributes that make the browser fetch a resource (`src` on <input> only for type=image).
_LOADING_ATTRIBUTES = frozenset({"src", "background", "poster", "lowsrc", "dynsrc"})
# Link types that do not fetch anything when the document is shown.
_INERT_LINK_TYPES = frozenset(
    {"alternate", "author", "bookmark", "canonical", "external", "help", "license", "me"}
    | {"next", "nofollow", "noopener", "noreferrer", "prev", "search", "shortlink", "tag"}
)
# Elements whose href is fetched, not followed: SVG images and <use>, and <base>, which
# makes every relative URL remote.
_MAX_SRCSET = 64 * 1024  # srcset is parsed character by character
_HREF_LOADS = frozenset({"image", "use", "feimage", "base"})
_CSS_COMMENT_RE = re.compile(r"/\*.*?(?:\*/|\Z)", re.DOTALL)
_CSS_ESCAPE_RE = re.compile(r"\\([0-9A-Fa-f]{1,6}[\t\n\f\r ]?|[\s\S])")
_CSS_REMOTE_RE = re.compile(
    r"""(?:url\(|image-set\(|@import)[\t\n\f\r ]*+["']?[\t\n\f\r ]*+(?:https?:|//)""",
    re.IGNORECASE,
)
_REFRESH_RE = re.compile(
    r"[\t\n\f\r 0-9.]*[;,]?[\t\n\f\r ]*(?:url[\t\n\f\r ]*=[\t\n\f\r ]*)?['\"]?(.*)",
    re.IGNORECASE | re.DOTALL,
)
_URL_LEADING = "".join(map(chr, range(0x21)))  # C0 controls and space (WHATWG URL 4.4)
_URL_NOISE = dict.fromkeys(map(ord, "\t\n\r"))


def is_remote_url(url: str) -> bool:
    """True for an absolute http(s) or protocol-relative URL.

    Follows the WHATWG URL parser's leniency: leading C0 controls and spaces are ignored, tab
    and newline are removed anywhere, and "\\" counts as "/".
    """
    head = url.lstrip(_URL_LEADING)[:16].translate(_URL_NOISE).replace("\\", "/").lower()
    return head.startswith(("http:", "https:", "//"))


def _css_escape(m: re.Match[str]) -> str:
    escaped = m.group(1)
    if escaped[0] in "0123456789abcdefABCDEF":
        code = int(escaped.rstrip(_WS), 16)
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
    return escaped


def _css_is_remote(css: str) -> bool:
    """True when the CSS fetches from a remote URL (url(), image-set(), @import)."""
    if "/*" in css:
        css = _CSS_COMMENT_RE.sub("", css)
    if "\\" in css:  # CSS escapes (CSS Syntax 4.3.7), then "\" as "/" in URLs
        css = _CSS_ESCAPE_RE.sub(_css_escape, css).replace("\\", "/")
    return _CSS_REMOTE_RE.search(css) is not None


def has_remote_content(html: str) -> bool:
    """True when showing the HTML would fetch something from another host.

    Counts src/srcset/background/poster attributes, <object data>, <input type=image>, link
    elements that load (stylesheets, icons, preloads), SVG image/use references, a remote
    <base>, a refresh to a remote URL, and CSS url()/image-set()/@import in style attributes
    and style elements. Links followed only when clicked (<a href>) do not count. Used for
    the "remote images blocked" banner; the viewer's CSP does the actual blocking.
    """
    if "<" not in html:
        return False
    for kind, name, start, end, m in _tokens(html):
        if kind == _RAW:
            if name == "style" and _css_is_remote(html[start:end]):
                return True
            continue
        if kind != _START or m is None:
            continue
        values: dict[str, str] = {}
        for attr_name, attr in _attributes(m):
            if attr_name not in values:  # the first of duplicate attributes wins
                values[attr_name] = unescape_attribute(_raw_value(attr)[0])
        if values and _element_loads_remote(name, values):
            return True
    return False


def _element_loads_remote(name: str, values: dict[str, str]) -> bool:
    for attr_name, value in values.items():
        if attr_name in _LOADING_ATTRIBUTES:
            if name == "input" and values.get("type", "").strip(_WS).lower() != "image":
                continue
            if is_remote_url(value):
                return True
        elif attr_name == "data":
            if name == "object" and is_remote_url(value):
                return True
        elif attr_name in ("srcset", "imagesrcset"):
            value = value[:_MAX_SRCSET]
            if any(is_remote_url(value[s:e]) for s, e in _srcset_urls(value)):
                return True
        elif attr_name == "style":
            if _css_is_remote(value):
                return True
        elif attr_name in ("href", "xlink:href"):
            if name == "link":
                rel = set(values.get("rel", "").lower().split())
                if (not rel or not rel <= _INERT_LINK_TYPES) and is_remote_url(value):
                    return True
            elif name in _HREF_LOADS and is_remote_url(value):
                return True
    if name == "meta" and values.get("http-equiv", "").strip(_WS).lower() == "refresh":
        target = _REFRESH_RE.match(values.get("content", ""))
        if target is not None and is_remote_url(target.group(1)):
            return True
    return False
