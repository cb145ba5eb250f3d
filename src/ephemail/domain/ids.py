"""Identifiers: time-ordered, unguessable message ids.

A message id is 26 characters of Crockford base32 (a ULID layout: 48 bits of
milliseconds, then 80 random bits). Ordering by id orders by arrival, which
gives cursor pagination "newest first" for free, and the random part keeps ids
from being enumerated.
"""

from __future__ import annotations

import os
import re
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_LOOKUP = {c: i for i, c in enumerate(_ALPHABET)}
ID_LENGTH = 26
# The first character holds the top 3 bits of the 48-bit time: 0-7 (case-insensitive).
_ID_SHAPE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}", re.IGNORECASE)


def new_id(now_ms: int | None = None) -> str:
    """Return a new 26-character, time-ordered random id."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(ID_LENGTH):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_valid_id(text: str) -> bool:
    """True when `text` has the shape of an id made by `new_id` (case-insensitive)."""
    return _ID_SHAPE.fullmatch(text) is not None
