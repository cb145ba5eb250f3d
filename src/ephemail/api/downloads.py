"""Safe HTTP headers for content that came in by mail (downloads and the HTML body)."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_UNSAFE_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|;]+')
_MAX_NAME = 180

# Headers for anything sent back that a browser might render: never sniff, never run.
LOCKED_DOWN = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, max-age=300",
}


def safe_media_type(declared: str) -> str:
    """The declared type when it is a plain `type/subtype` token, else octet-stream."""
    value = declared.strip().lower()
    return value if _MEDIA_TYPE.match(value) else "application/octet-stream"


def safe_filename(name: str | None, fallback: str) -> str:
    """A file name with no directories, control or shell characters, or leading dots."""
    if not name:
        return fallback
    base = re.split(r"[/\\]", unicodedata.normalize("NFC", name))[-1]
    cleaned = _UNSAFE_NAME_CHARS.sub("_", base).strip().lstrip(".").strip()
    if not cleaned or set(cleaned) <= {"_", " "}:
        return fallback
    if len(cleaned) > _MAX_NAME:
        _, dot, ext = cleaned.rpartition(".")
        keep = ext if dot and len(ext) <= 16 else ""
        cleaned = cleaned[: _MAX_NAME - len(keep) - 1] + ("." + keep if keep else "")
    return cleaned


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback and the UTF-8 name (RFC 6266 section 4.3,
    RFC 8187 for `filename*`)."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    ascii_name = ascii_name.replace('"', "_").replace("\\", "_") or "download"
    if ascii_name == filename:
        return f'attachment; filename="{ascii_name}"'
    encoded = quote(filename, safe="!#$&+-.^_`|~")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"
