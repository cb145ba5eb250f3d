"""One-time codes and links found in a message body, for `GET /messages/{id}/extract`.

Codes: a candidate is a run of 4 to 8 digits or capital letters with at least one digit
(digits may be grouped as "123 456" or "123-456"; the value drops the separators). It counts
only next to a word that announces a code (code, OTP, PIN, passcode, one-time, token, TAN,
"Ihr Code", "código", "mot de passe", ...), in one of these positions:

- right after the word ("code: 482913", "Ihr Code lautet 482913");
- a few words after or before it on the same line ("Your code for Acme is 482913",
  "482913 is your verification code");
- alone on its line, with the word on one of the lines just above (or the line just below).

Numbers that are something else are refused: years in dates, phone numbers, prices, times,
decimals, postal codes in addresses, order and invoice numbers, promo or zip "codes", hex
colours, and anything inside a URL or an e-mail address. The text part is searched first;
the HTML part (as text) when there is no text part or it holds no code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ephemail.mime.html import html_to_text, iter_links

MAX_SCAN_CHARS = 100_000
MAX_HTML_INPUT = 2 * 1024 * 1024
MAX_CODES = 20
MAX_CONTEXT = 80
MAX_LINKS = 200
MAX_URL = 4096


@dataclass(frozen=True, slots=True)
class FoundCode:
    """A likely one-time code and the phrase it was found in (at most ~80 characters)."""

    value: str
    context: str


@dataclass(frozen=True, slots=True)
class FoundLink:
    """An http(s) link; `text` is the anchor text for links from the HTML part."""

    url: str
    text: str | None


# -- codes ----------------------------------------------------------------------------------

# Words that announce a code. German and Dutch write compounds ("Bestätigungscode"), so the
# prefixes that make an OTP compound are listed; "Rabattcode" or "Postcode" are not codes.
_CODE_WORD = (
    r"(?:bestätigungs|sicherheits|verifizierungs|verifikations|einmal|anmelde|login|zugangs"
    r"|freischalt|aktivierungs|authentifizierungs|verificatie|beveiligings|toegangs"
    r"|bevestigings|inlog|aanmeld|sms|otp|pin)?-?codes?"
)
_STRONG = (
    rf"{_CODE_WORD}|c[oó]digos?|codice|kod|kodu|код|otp|pins?|passcodes?|passwor[dt]s?"
    r"|kennwort|mot de passe|contrase[ñn]a|clave|senha|hasło|пароль|(?-i:(?:m|sms|push)?TANs?)"
    r"|one[- ]time|single[- ]use|einmal\w*|tokens?|2fa|mfa|2-step|two[- ]factor"
    r"|zwei[- ]faktor\w*"
)
_WEAK = (
    r"verification|verify|verif\w*|vérif\w*|bestätig\w*|confirm\w*|bevestig\w*|authenticat\w*"
    r"|authentifi\w*|autenticaci\w*|sign[- ]?in|log[- ]?in|anmeld\w*|security|sicherheit\w*"
    r"|sécurité|seguridad|segurança|sicurezza|access"
)
_KEYWORD_RE = re.compile(rf"(?<!\w)(?:(?P<strong>{_STRONG})|{_WEAK})(?!\w)", re.IGNORECASE)
# Words next to a keyword that make it about something else ("promo code", "code postal").
_QUALIFIERS = frozenset(
    {
        "promo", "promotional", "promotion", "discount", "coupon", "voucher", "gift", "referral",
        "zip", "postal", "post", "area", "country", "colour", "color", "dress", "source", "qr",
        "bar", "html", "error", "status", "response", "exit", "tax", "product", "item", "sort",
        "swift", "bank", "branch", "routing", "tracking", "rabatt", "gutschein",
        "aktions", "postleitzahl", "descuento", "promocional", "postale", "réduction", "reduction",
        "cupón", "cupon", "sconto", "fehler", "erreur", "qr-code", "reference", "ref",
        "booking", "order", "invoice", "customer", "member", "client", "kunden", "buchungs",
    }
)  # fmt: skip
# A noun right before the candidate that names some other number: "order 123456",
# "Kundennummer: 123456", "phone 5551234" ("account: 482913" after "code for your" is fine).
_OTHER_NUMBER_RE = re.compile(
    r"(?<!\w)(?:orders?|invoices?|accounts?|customers?|members?|membership|ref|reference"
    r"|tickets?|case|booking|reservation|tracking|transaction|phone|tel|telephone|mobile|fax"
    r"|call|whatsapp|zip|postal|postcode|plz|bestell\w*|rechnung\w*|\w*nummer|konto|auftrag"
    r"|pedido|factura|commande|facture|room|flight|seat|gate|page|step|version|id|iban|bic)"
    r"(?:\s*(?:number|nummer|nr|no|num|n°|nº|número|numéro|id)\.?\s*[:#]?|\s*#)?\s*$",
    re.IGNORECASE,
)
# A run of 4 to 8 letters and digits, or digits in groups of 2, 3 or 4, or two groups of
# 3 or 4 capitals and digits joined by a hyphen (the Slack style "3KX-9QF").
_CANDIDATE_RE = re.compile(
    r"(?<![\w\x1a])(?:\d{3}[ -]\d{3}|\d{4}[ -]\d{4}|\d{2}([ -])\d{2}\1\d{2}(?:\1\d{2})?"
    r"|[A-Z0-9]{3,4}-[A-Z0-9]{3,4}|[A-Za-z0-9]{4,8})(?![\w\x1a])"
)
# Single characters separated by spaces, as when each digit sits in its own table cell.
_SPACED_RE = re.compile(r"(?:[A-Z0-9] ){3,7}[A-Z0-9]")
# Masked before looking for candidates (replaced by \x1a, which no candidate may touch).
_MASK_RE = re.compile(
    r"(?:https?://|www\.)\S+"  # URLs
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses
    r"|#[\w-]+"  # hex colours, order and ticket numbers
    r"|[$€£¥₹]\s?\d[\d.,']*|\d[\d.,']*\s?(?:€|\$|£|%|eur\b|usd\b|gbp\b|chf\b|euros?\b|dollars?\b)"
    r"|\+\d[\d ()./-]{5,}\d"  # international phone numbers
    r"|\(\d{2,5}\)\s?\d[\d /.-]{3,}\d"  # "(555) 123-4567"
    r"|\d{1,4}[./-]\d{1,2}[./-]\d{1,4}"  # dates
    r"|\d{1,2}:\d{2}(?::\d{2})?"  # times
    r"|\d+(?:[.,]\d+)+"  # decimals, thousands, versions
    r"|\d+(?:[ ./-]\d+){4,}",  # long digit sequences in groups (phone numbers, IBANs)
    re.IGNORECASE,
)
# What may stand between a keyword and its code: "code: ", "code is ", "Code lautet: ".
_DIRECT_GAP_RE = re.compile(
    r"[\s:：=>*\"'“”„«»(\[–—-]*(?:(?:is|ist|lautet|es|est|é|è|er|was|to|je|jest|:)"
    r"[\s:：=>*\"'“”„«»(\[–—-]*)?",
    re.IGNORECASE,
)
_SENTENCE_END_RE = re.compile(r"[.!?](?:\s|$)")
# A keyword a few words away must be linked to the code: "code for Acme is 482913",
# "Ihre TAN für ... lautet: 83920147", "482913 is your Instagram code".
_LINK_BEFORE_RE = re.compile(
    r"(?:(?<!\w)(?:is|ist|lautet|es|est|é|è|er|was|to|je|jest|are|sind|son|sont)|[:：=])"
    r"[\s:：=>*\"'“”„«»(\[–—-]*$",
    re.IGNORECASE,
)
_LINK_AFTER_RE = re.compile(
    r"[\s\"'“”„«»)*\]]*(?:(?:is|ist|es|est|é|è|as|als|como|comme|jest|to)(?!\w)|[:：–—-])",
    re.IGNORECASE,
)
_UNIT_RE = re.compile(r"\d+(?:AM|PM|MB|GB|KB|TB|KG|KM|MM|CM|MIN|H|HRS?|SEC|X|P|K|ST|ND|RD|TH|D)")
_MONTH_RE = re.compile(
    r"(?<!\w)(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|januar|februar|märz|mai|juni"
    r"|juli|okt|dez|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre"
    r"|noviembre|diciembre|janvier|février|mars|avril|juin|juillet|août|septembre|octobre"
    r"|novembre|décembre)\w*",
    re.IGNORECASE,
)
_ADDRESS_RE = re.compile(
    r"(?<!\w)(?:street|str\.|\w*stra(?:ß|ss)e|road|avenue|ave\.|blvd|boulevard|parkway|pkwy"
    r"|suite|lane|\w+platz|\w+gasse|\w+allee|calle|avenida|rue|plaza|p\.?o\.? box|postfach"
    r"|(?-i:[A-Z]{2}) \d{5})(?!\w)",
    re.IGNORECASE,
)
# Lines about a sale: their "code" is a coupon ("Use code SAVE20 for 20% off").
_SALES_RE = re.compile(
    r"\d ?%|(?<!\w)(?:sale|discount|rabatt|descuento|r[ée]duction|checkout|coupon|redeem"
    r"|gutschein\w*|einlösen|promo\w*)(?!\w)",
    re.IGNORECASE,
)
_CODE_CHARACTER_RE = re.compile(r"[0-9A-Z]")
_COPYRIGHT_RE = re.compile(r"(?:©|\(c\)|copyright)\s*$", re.IGNORECASE)
_WRAPPERS = " \t*_\"'“”„«»()[]:.,;!-–—>|`"
_MAX_GAP = 60
_MAX_GAP_WORDS = 8
_MAX_AFTER_GAP = 40
_MAX_AFTER_WORDS = 6
_LINES_ABOVE = 3
_LOOKBACK_LINES = 6
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u034f\u180e\u200b\u200c\u200d\u2060\ufeff"))


@dataclass(frozen=True, slots=True)
class _Keyword:
    """A code-announcing word in a line; `strong` ones (code, PIN, OTP...) may stand a few
    words from the code, weak ones (verify, sign in...) only on a line above a lone code."""

    start: int
    end: int
    strong: bool


def extract_codes(text: str | None, html: str | None) -> list[FoundCode]:
    """Likely one-time codes in the body, de-duplicated, in order of appearance."""
    found = _find_codes(text) if text and not text.isspace() else []
    if not found and html:
        found = _find_codes(html_to_text(html, max_chars=MAX_SCAN_CHARS, max_input=MAX_HTML_INPUT))
    return found


def _find_codes(text: str) -> list[FoundCode]:
    lines = [
        " ".join(line.translate(_INVISIBLE).split()) for line in text[:MAX_SCAN_CHARS].splitlines()
    ]
    keywords = [_keywords(line) for line in lines]
    found: list[FoundCode] = []
    seen: set[str] = set()
    for index in range(len(lines)):
        for value, context in _codes_in_line(lines, keywords, index):
            if value not in seen:
                seen.add(value)
                found.append(FoundCode(value, context))
                if len(found) >= MAX_CODES:
                    return found
    return found


def _keywords(line: str) -> list[_Keyword]:
    """The code-announcing words of a line, minus those qualified away ("promo code")."""
    result: list[_Keyword] = []
    if not line:
        return result
    for m in _KEYWORD_RE.finditer(line):
        before = line[max(0, m.start() - 20) : m.start()].split()
        after = line[m.end() : m.end() + 30].split()
        neighbours = [w.strip(_WRAPPERS).lower() for w in before[-1:] + after[:2]]
        if any(n in _QUALIFIERS for n in neighbours):
            continue
        result.append(_Keyword(m.start(), m.end(), m.group("strong") is not None))
    return result


def _codes_in_line(
    lines: list[str], keywords: list[list[_Keyword]], index: int
) -> Iterator[tuple[str, str]]:
    line = lines[index]
    if not _CODE_CHARACTER_RE.search(line):
        return
    stripped = line.strip(_WRAPPERS)
    if _SPACED_RE.fullmatch(stripped) and any(c.isdigit() for c in stripped):
        nearby = _keyword_nearby(lines, keywords, index, strong_only=False)
        if nearby is not None:
            yield stripped.replace(" ", ""), _context_of(*nearby)
        return
    if _SALES_RE.search(line):
        return  # a promotion: its "code" is a coupon
    masked = _MASK_RE.sub(_mask, line) if _needs_mask(line) else line
    here = keywords[index]
    address = _ADDRESS_RE.search(line) is not None
    for m in _CANDIDATE_RE.finditer(masked):
        raw = m.group(0)
        value = raw.replace(" ", "").replace("-", "")
        start, end = m.span()
        if not 4 <= len(value) <= 8 or not _plausible(value, raw):
            continue
        if _looks_like_other_number(masked, line, start, end):
            continue
        year_like = len(value) == 4 and value.isdigit() and 1900 <= int(value) <= 2099
        if year_like and _near_month(line, start, end):
            continue
        letters_only = not any(c.isdigit() for c in value)
        direct = None
        if not letters_only:
            direct = next(
                (
                    kw
                    for kw in here
                    if kw.strong
                    and kw.end <= start
                    and _DIRECT_GAP_RE.fullmatch(line, kw.end, start)
                ),
                None,
            )
        if direct is not None:  # right after a keyword: "code: 482913"
            yield value, _window(line, direct.start, end)
            continue
        if address and value.isdigit():
            continue
        if stripped == raw:  # alone on its line: look at the lines around
            nearby = _keyword_nearby(lines, keywords, index, strong_only=year_like)
            if nearby is not None:
                yield value, _context_of(*nearby)
            continue
        if letters_only or year_like:
            continue
        hit = _keyword_same_line(masked, here, start, end)
        if hit is not None:
            yield value, _window(line, min(hit.start, start), max(hit.end, end))


def _mask(m: re.Match[str]) -> str:
    return "\x1a" * len(m.group(0))


def _needs_mask(line: str) -> bool:
    return any(c in line for c in "/@#$€£¥₹%+:.,(")


def _plausible(value: str, raw: str) -> bool:
    """The shape of a code: digits, or capitals with a digit (or hyphen-grouped capitals)."""
    if value.isdigit():
        return True
    if not value.isascii() or not value.isalnum() or value.upper() != value:
        return False  # lower case letters: an ordinary word, hex or an identifier
    if not any(c.isdigit() for c in value):
        return "-" in raw  # "ABC-DEF"; a single capitalised word ("PLEASE") is not a code
    return _UNIT_RE.fullmatch(value) is None


_DIGIT_BEFORE_RE = re.compile(r"\d[ ()\x1a]{0,2}$")
_DIGIT_AFTER_RE = re.compile(r"[ ()\x1a]{0,2}\d")
_REFUSED_BEFORE = frozenset("/.,+=&?\\_$€£¥#@\x1a")
_REFUSED_AFTER = frozenset("/@%=+€$£°\\_&\x1a")


def _looks_like_other_number(masked: str, line: str, start: int, end: int) -> bool:
    """Phone numbers, prices, postal codes, ids and other numbers around the candidate."""
    prev = masked[start - 1] if start else ""
    nxt = masked[end : end + 1]
    if prev == "-":
        # Only a one-letter prefix such as Google's "G-482913" may touch a code.
        if not (start >= 2 and masked[start - 2].isupper()):
            return True
        if start >= 3 and (masked[start - 3].isalnum() or masked[start - 3] == "-"):
            return True
    elif prev in _REFUSED_BEFORE or (prev == ":" and start >= 2 and masked[start - 2].isdigit()):
        return True
    if nxt in _REFUSED_AFTER:
        return True
    if nxt in (".", ",", "-", ":") and masked[end + 1 : end + 2].isalnum():
        return True
    # Another number separated only by spaces or brackets: part of a longer number.
    if _DIGIT_BEFORE_RE.search(masked, max(0, start - 3), start):
        return True
    if _DIGIT_AFTER_RE.match(masked, end, end + 3):
        return True
    before = line[max(0, start - 40) : start]
    return bool(_OTHER_NUMBER_RE.search(before) or _COPYRIGHT_RE.search(before))


def _near_month(line: str, start: int, end: int) -> bool:
    return _MONTH_RE.search(line[max(0, start - 15) : end + 15]) is not None


def _keyword_same_line(
    line: str, keywords: list[_Keyword], start: int, end: int
) -> _Keyword | None:
    """A strong keyword a few words before or after the candidate, in the same sentence."""
    for kw in keywords:
        if not kw.strong:
            continue
        if kw.end <= start:
            gap = line[kw.end : start]
            limit, words = _MAX_GAP, _MAX_GAP_WORDS
            if _LINK_BEFORE_RE.search(gap) is None:
                continue
        elif kw.start >= end:
            gap = line[end : kw.start]
            limit, words = _MAX_AFTER_GAP, _MAX_AFTER_WORDS
            if _LINK_AFTER_RE.match(gap) is None:
                continue
        else:
            continue
        if (
            len(gap) <= limit
            and len(gap.split()) <= words
            and not any(c.isdigit() for c in gap)
            and _SENTENCE_END_RE.search(gap) is None
            and _OTHER_NUMBER_RE.search(gap) is None
        ):
            return kw
    return None


def _keyword_nearby(
    lines: list[str], keywords: list[list[_Keyword]], index: int, *, strong_only: bool
) -> tuple[str, _Keyword] | None:
    """For a code alone on its line: a keyword on the few non-empty lines above, else on the
    next non-empty line (when that line is short)."""
    seen = 0
    for above in range(index - 1, max(-1, index - 1 - _LOOKBACK_LINES), -1):
        if not lines[above]:
            continue
        for kw in keywords[above]:
            if kw.strong or not strong_only:
                return lines[above], kw
        seen += 1
        if seen >= _LINES_ABOVE:
            break
    for below in range(index + 1, min(len(lines), index + 3)):
        if lines[below]:
            if len(lines[below]) <= 2 * MAX_CONTEXT:
                for kw in keywords[below]:
                    if kw.strong or not strong_only:
                        return lines[below], kw
            break
    return None


def _context_of(line: str, kw: _Keyword) -> str:
    return _window(line, kw.start, kw.end)


def _window(line: str, start: int, end: int) -> str:
    """At most MAX_CONTEXT characters of `line` around ``line[start:end]``, on word bounds."""
    if len(line) <= MAX_CONTEXT:
        return line
    spare = max(0, MAX_CONTEXT - (end - start))
    left = max(0, start - spare // 2)
    right = min(len(line), left + MAX_CONTEXT)
    left = max(0, right - MAX_CONTEXT)
    piece = line[left:right]
    if left > 0 and " " in piece[:20]:
        piece = piece[piece.index(" ") + 1 :]
    if right < len(line) and " " in piece[-20:]:
        piece = piece[: piece.rindex(" ")]
    return piece.strip()


# -- links ----------------------------------------------------------------------------------

_TEXT_URL_RE = re.compile(r"https?://[^\s<>\"'`\x00-\x1f\x7f]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\"*_>"
_CLOSERS = {")": "(", "]": "[", "}": "{"}
_URL_NOISE = dict.fromkeys(map(ord, "\t\n\r"))


def extract_links(text: str | None, html: str | None) -> list[FoundLink]:
    """http(s) links: <a href> targets of the HTML part (with their text), then URLs written
    in the text part (or in the HTML's text when there is no text part). mailto:,
    javascript:, data:, cid:, anchors and relative links are skipped. De-duplicated (first
    occurrence kept), at most MAX_LINKS."""
    links: list[FoundLink] = []
    seen: set[str] = set()

    def add(url: str, label: str | None) -> None:
        url = url.translate(_URL_NOISE).strip()
        scheme, separator, rest = url.partition("://")
        if (
            separator
            and rest
            and scheme.lower() in ("http", "https")
            and len(url) <= MAX_URL
            and url not in seen
        ):
            seen.add(url)
            links.append(FoundLink(url, label))

    if html:
        for href, label in iter_links(html, max_input=MAX_HTML_INPUT):
            add(href, label)
            if len(links) >= MAX_LINKS:
                return links
    if text is None and html:
        text = html_to_text(html, max_chars=MAX_SCAN_CHARS, max_input=MAX_HTML_INPUT)
    for m in _TEXT_URL_RE.finditer(text or "", 0, 4 * MAX_SCAN_CHARS):
        if len(m.group(0)) <= 2 * MAX_URL:
            add(_trim_url(m.group(0)), None)
            if len(links) >= MAX_LINKS:
                break
    return links


def _trim_url(url: str) -> str:
    """Drop punctuation that ends the sentence rather than the URL, and unbalanced closers
    ("(see https://x.example/a)." keeps no ")" but ".../Foo_(bar)" keeps its own)."""
    open_count = {closer: url.count(opener) for closer, opener in _CLOSERS.items()}
    close_count = {closer: url.count(closer) for closer in _CLOSERS}
    end = len(url)
    while end:
        last = url[end - 1]
        if last in _TRAILING:
            end -= 1
        elif last in _CLOSERS and close_count[last] > open_count[last]:
            close_count[last] -= 1
            end -= 1
        else:
            break
    return url[:end]
