"""The web UI: the single-page app at `/` and `/m/...`, and its files under `/static/`.

The files live in the `ephemail.web` package (no build step). They are read once when the app
is built, so serving them never touches the disk and no request path can name a file outside
the set (no path tricks). `index.html` refers to the other files under a content-hash prefix
(`/static/v-<hash>/...`): those answers are cached for a year, everything else is revalidated
with its ETag on each use.

Every answer carries a strict Content-Security-Policy (scripts and styles from this origin
only, no inline code, frames from this origin only: the message HTML iframe), so a mail that
slipped markup into the page could still not run code in the app's origin.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import RedirectResponse

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "frame-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The legacy twin of frame-ancestors, for browsers that predate CSP level 2.
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}

# The app page is small and names the current asset version: always revalidate it.
PAGE_CACHE_CONTROL = "no-cache"
# Files under the current content-hash prefix never change.
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
# Files asked for without (or with an old) prefix: usable, but revalidated on each use.
REVALIDATE_CACHE_CONTROL = "no-cache"

_ASSET_PREFIX_MARK = "{{ASSET_PREFIX}}"
_VERSION_SEGMENT = re.compile(r"v-[0-9a-f]{12}")
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
}
_COMPRESSIBLE = (".html", ".js", ".css", ".svg", ".json", ".webmanifest", ".txt")
_MIN_GZIP_SIZE = 1024


@dataclass(frozen=True, slots=True)
class StaticAsset:
    """One file of the web UI, ready to send."""

    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str

    @classmethod
    def of(cls, name: str, body: bytes) -> StaticAsset:
        suffix = name[name.rfind(".") :].lower() if "." in name else ""
        media_type = (
            _MEDIA_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
        gzipped = None
        if suffix in _COMPRESSIBLE and len(body) >= _MIN_GZIP_SIZE:
            gzipped = gzip.compress(body, compresslevel=9, mtime=0)
        # Weak: the gzip and identity representations share one validator.
        etag = f'W/"{hashlib.sha256(body).hexdigest()[:20]}"'
        return cls(body=body, gzipped=gzipped, media_type=media_type, etag=etag)


class WebAssets:
    """The static files of the UI, loaded once and looked up by their path under `static/`."""

    def __init__(self, files: dict[str, bytes]) -> None:
        if "index.html" not in files:
            raise RuntimeError("the web UI package has no static/index.html")
        digest = hashlib.sha256()
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + files[name] + b"\0")
        self.version = f"v-{digest.hexdigest()[:12]}"
        self.prefix = f"/static/{self.version}"
        self._files = {name: StaticAsset.of(name, body) for name, body in files.items()}
        page = files["index.html"].decode("utf-8").replace(_ASSET_PREFIX_MARK, self.prefix)
        self.page = StaticAsset.of("index.html", page.encode("utf-8"))

    def lookup(self, path: str) -> tuple[StaticAsset, bool] | None:
        """The file at `path` and whether it was asked for under the current version prefix."""
        first, _, rest = path.partition("/")
        if _VERSION_SEGMENT.fullmatch(first):
            asset = self._files.get(rest)
            return None if asset is None else (asset, first == self.version)
        asset = self._files.get(path)
        return None if asset is None else (asset, False)

    @classmethod
    def from_package(cls) -> WebAssets:
        """Every file under `ephemail/web/static/` (shipped as package data)."""
        root = resources.files("ephemail.web").joinpath("static")
        files: dict[str, bytes] = {}
        _collect(root, "", files)
        return cls(files)


def _collect(folder: Traversable, prefix: str, into: dict[str, bytes]) -> None:
    for entry in folder.iterdir():
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            _collect(entry, f"{prefix}{entry.name}/", into)
        else:
            into[f"{prefix}{entry.name}"] = entry.read_bytes()


def _send(request: Request, asset: StaticAsset, cache_control: str) -> Response:
    """The asset with security and cache headers; 304 when the client's copy is current."""
    headers = {
        **SECURITY_HEADERS,
        "Cache-Control": cache_control,
        "ETag": asset.etag,
        "Vary": "Accept-Encoding",
    }
    if_none_match = request.headers.get("if-none-match", "")
    if asset.etag in (tag.strip() for tag in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    body = asset.body
    accepts = request.headers.get("accept-encoding", "")
    if asset.gzipped is not None and "gzip" in accepts.lower():
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=asset.media_type, headers=headers)


def mount_web(app: FastAPI, assets: WebAssets | None = None) -> None:
    """Serve the web UI: the app page at `/` and its client-side routes, files at `/static/`."""
    web = assets or WebAssets.from_package()

    async def page(request: Request) -> Response:
        """The single-page app; the script reads the route from the URL."""
        return _send(request, web.page, PAGE_CACHE_CONTROL)

    for route in (
        "/",
        "/m/{address}",
        "/m/{address}/{message_id}",
        # Account pages (issue 5): sign-in, registration, own mailboxes, tokens, admin.
        "/signin",
        "/register",
        "/account",
        "/account/{section}",
        "/admin",
        "/admin/{section}",
    ):
        app.add_api_route(
            route, page, methods=["GET", "HEAD"], include_in_schema=False, response_class=Response
        )

    @app.api_route(
        "/static/{file_path:path}",
        methods=["GET", "HEAD"],
        include_in_schema=False,
        response_class=Response,
    )
    async def static_file(request: Request, file_path: str) -> Response:
        """A file of the UI; only names loaded from the package exist here."""
        found = web.lookup(file_path)
        if found is None:
            raise HTTPException(status_code=404, detail="no such file")
        asset, current = found
        if file_path == "index.html" or file_path.endswith("/index.html"):
            asset = web.page
        return _send(
            request, asset, IMMUTABLE_CACHE_CONTROL if current else REVALIDATE_CACHE_CONTROL
        )

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> RedirectResponse:
        """Browsers ask for /favicon.ico on their own; the icon is an SVG."""
        return RedirectResponse(f"{web.prefix}/favicon.svg", status_code=302)
