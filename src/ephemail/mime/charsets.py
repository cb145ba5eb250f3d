"""Turning bytes in a declared MIME charset into text, without ever raising.

Charset labels in mail are often wrong or invented. The rules (RFC 2045 section 5.1 for the
`charset` parameter, RFC 2046 section 4.1.2 for its default, RFC 6532 for raw UTF-8):

- a known text codec decodes with ``errors="replace"``;
- ``us-ascii`` (the default) and unknown labels try UTF-8 first, because that is what
  undeclared 8-bit mail nearly always is, then fall back to Latin-1, which cannot fail;
- codecs that are not character sets (``idna``, ``unicode_escape``, ...) count as unknown.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache

from ephemail.mime.defects import DefectLog

# Labels we accept for a lookup: a codec name is short and made of these characters. Refusing
# anything else (notably ".") keeps `codecs.lookup` from trying odd module imports.
_LABEL_RE = re.compile(r"[a-z0-9_\-:+]{1,40}")

# Python codecs that decode bytes to str but are not character sets a mail could use.
_REFUSED = frozenset(
    {"idna", "punycode", "unicode_escape", "raw_unicode_escape", "undefined", "unicode_internal"}
)

# Labels seen in real mail that Python does not know, mapped to what they mean.
_ALIASES = {
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "x-unicode20utf8": "utf-8",
    "ansi_x3.4-1968": "ascii",
    "x-sjis": "shift_jis",
    "x-euc-jp": "euc_jp",
    "ks_c_5601": "cp949",
    "x-gbk": "gbk",
    "gb2312-80": "gb2312",
    "iso-8859-8-i": "iso8859_8",
    "windows-874": "cp874",
}

_ASCII = "ascii"


@lru_cache(maxsize=256)
def lookup_charset(label: str) -> str | None:
    """Return the Python codec name for a MIME charset label, or None when unknown."""
    name = label.strip().strip("\"'").lower()
    if "*" in name:  # RFC 2231 section 5: charset*language
        name = name.split("*", 1)[0]
    name = _ALIASES.get(name, name)
    if not _LABEL_RE.fullmatch(name):
        return None
    try:
        info = codecs.lookup(name)
        b"".decode(info.name)  # raises LookupError for bytes-to-bytes codecs (base64, zlib...)
    except (LookupError, ValueError, TypeError):
        return None
    canonical = info.name.replace("-", "_")
    if canonical in _REFUSED:
        return None
    if canonical in ("ascii", "us_ascii", "646"):
        return _ASCII
    return info.name


def decode_fallback(data: bytes) -> str:
    """Decode undeclared bytes: UTF-8 when valid (RFC 6532), else Latin-1."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def decode_bytes(data: bytes, charset: str | None, defects: DefectLog) -> str:
    """Decode `data` declared as `charset` (None meaning us-ascii); never raises."""
    if not charset:
        return decode_fallback(data)
    codec = lookup_charset(charset[:64])
    if codec is None:
        defects.add(f"unknown charset {charset.strip()[:40]}")
        return decode_fallback(data)
    if codec == _ASCII:
        return decode_fallback(data)
    try:
        return data.decode(codec, "replace")
    except Exception:  # a misbehaving codec must not break the parse
        defects.add(f"charset decode failed {charset.strip()[:40]}")
        return decode_fallback(data)
