"""Modified UTF-7 for mailbox names (RFC 3501 section 5.1.3).

Printable US-ASCII other than "&" stands for itself, "&" is written "&-", and every run of
other characters is "&" + base64 of their UTF-16BE form (with "," for "/", no padding) + "-".
`decode` is strict: it refuses what a conforming encoder would never produce, so a name has
exactly one wire form and two spellings cannot name the same folder.
"""

from __future__ import annotations

import binascii
from base64 import b64decode, b64encode

__all__ = ["Utf7Error", "decode", "encode"]


class Utf7Error(ValueError):
    """A mailbox name that is not valid modified UTF-7; the message says why."""


def _is_direct(char: str) -> bool:
    """Characters written as themselves (RFC 3501 section 5.1.3: 0x20-0x7e)."""
    return " " <= char <= "~"


def _encode_run(run: str) -> str:
    utf16 = run.encode("utf-16-be", "surrogatepass")
    return "&" + b64encode(utf16).decode("ascii").rstrip("=").replace("/", ",") + "-"


def encode(name: str) -> str:
    """A str mailbox name in modified UTF-7."""
    out: list[str] = []
    run: list[str] = []
    for char in name:
        if _is_direct(char):
            if run:
                out.append(_encode_run("".join(run)))
                run.clear()
            out.append("&-" if char == "&" else char)
        else:
            run.append(char)
    if run:
        out.append(_encode_run("".join(run)))
    return "".join(out)


_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")


def _decode_run(encoded: str) -> str:
    if not encoded:
        raise Utf7Error("empty encoded sequence '&-' is only allowed as '&-'")
    if any(char not in _BASE64_CHARS for char in encoded):
        raise Utf7Error("invalid character in modified base64")
    if len(encoded) % 4 == 1:
        raise Utf7Error("truncated modified base64")
    padded = encoded.replace(",", "/") + "=" * (-len(encoded) % 4)
    try:
        raw = b64decode(padded, validate=True)
    except binascii.Error as error:  # pragma: no cover - guarded by the checks above
        raise Utf7Error("invalid modified base64") from error
    if len(raw) % 2:
        raise Utf7Error("modified base64 does not hold whole UTF-16 units")
    # Unused low bits of the last base64 character must be zero (one wire form only).
    if b64encode(raw).decode("ascii").rstrip("=") != padded.rstrip("="):
        raise Utf7Error("non-zero padding bits in modified base64")
    try:
        text = raw.decode("utf-16-be")
    except UnicodeDecodeError as error:
        raise Utf7Error("unpaired UTF-16 surrogate in modified base64") from error
    if any(_is_direct(char) for char in text):
        raise Utf7Error("printable ASCII must not be base64-encoded")
    return text


def decode(wire: str) -> str:
    """Decode a modified UTF-7 mailbox name, raising Utf7Error when it is not valid."""
    out: list[str] = []
    index = 0
    length = len(wire)
    previous_was_encoded = False
    while index < length:
        char = wire[index]
        if not _is_direct(char):
            raise Utf7Error("mailbox names must be 7-bit printable (modified UTF-7)")
        if char != "&":
            out.append(char)
            index += 1
            previous_was_encoded = False
            continue
        end = wire.find("-", index + 1)
        if end < 0:
            raise Utf7Error("unterminated '&' sequence")
        encoded = wire[index + 1 : end]
        if not encoded:
            out.append("&")
            previous_was_encoded = False
        else:
            if previous_was_encoded:
                raise Utf7Error("adjacent encoded sequences must be merged")
            out.append(_decode_run(encoded))
            previous_was_encoded = True
        index = end + 1
    return "".join(out)
