"""How the server hands out the web UI: routes, security and cache headers, no path tricks."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import httpx
import pytest

from ephemail.api.web import CONTENT_SECURITY_POLICY, WebAssets
from tests.support.server import EphemailProcess

STATIC = Path(__file__).resolve().parents[2] / "src" / "ephemail" / "web" / "static"
EXPECTED_CSP = {
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
}


def _assert_locked_down(response: httpx.Response) -> None:
    directives = {d.strip() for d in response.headers["content-security-policy"].split(";")}
    assert directives == EXPECTED_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    "path", ["/", "/m/someone@example.com", "/m/someone/01JABCDEFGHJKMNPQRSTVWXYZ0"]
)
def test_app_pages_are_the_single_page_app_with_strict_headers(
    server: EphemailProcess, path: str
) -> None:
    response = httpx.get(server.api + path, timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    _assert_locked_down(response)
    assert '<script type="module" src="/static/v-' in response.text
    assert "{{ASSET_PREFIX}}" not in response.text


def test_versioned_assets_are_immutable_and_others_revalidate(server: EphemailProcess) -> None:
    page = httpx.get(server.api + "/", timeout=5).text
    match = re.search(r'src="(/static/v-[0-9a-f]{12})/app\.js"', page)
    assert match, page
    prefix = match.group(1)

    versioned = httpx.get(f"{server.api}{prefix}/app.js", timeout=5)
    assert versioned.status_code == 200
    assert versioned.headers["content-type"] == "text/javascript; charset=utf-8"
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    _assert_locked_down(versioned)
    assert versioned.content == (STATIC / "app.js").read_bytes()

    # A module imported by path from the versioned one is versioned too.
    nested = httpx.get(f"{server.api}{prefix}/views/reader.js", timeout=5)
    assert nested.headers["cache-control"] == "public, max-age=31536000, immutable"

    plain = httpx.get(f"{server.api}/static/app.css", timeout=5)
    assert plain.headers["cache-control"] == "no-cache"
    assert plain.headers["content-type"] == "text/css; charset=utf-8"
    stale = httpx.get(f"{server.api}/static/v-000000000000/app.css", timeout=5)
    assert stale.status_code == 200
    assert stale.headers["cache-control"] == "no-cache"

    again = httpx.get(
        f"{server.api}/static/app.css",
        headers={"If-None-Match": plain.headers["etag"]},
        timeout=5,
    )
    assert again.status_code == 304
    assert again.content == b""


def test_text_assets_are_compressed_for_clients_that_accept_gzip(server: EphemailProcess) -> None:
    with httpx.Client(timeout=5) as client:
        raw = client.get(
            f"{server.api}/static/app.css", headers={"Accept-Encoding": "identity"}
        ).content
        response = client.build_request(
            "GET", f"{server.api}/static/app.css", headers={"Accept-Encoding": "gzip"}
        )
        streamed = client.send(response, stream=True)
        body = b"".join(streamed.iter_raw())
        streamed.close()
    assert streamed.headers["content-encoding"] == "gzip"
    assert streamed.headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(body) == raw == (STATIC / "app.css").read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/static/../pyproject.toml",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
        "/static/..%2f..%2fapi%2fweb.py",
        "/static/lib/../../__init__.py",
        "/static/nothing-here.js",
        "/static/",
    ],
)
def test_only_packaged_files_are_served(server: EphemailProcess, path: str) -> None:
    response = httpx.get(server.api + path, timeout=5)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_favicon_points_at_the_svg_logo(server: EphemailProcess) -> None:
    response = httpx.get(server.api + "/favicon.ico", timeout=5, follow_redirects=True)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg")


def test_the_csp_constant_is_what_the_pages_send() -> None:
    assert {d.strip() for d in CONTENT_SECURITY_POLICY.split(";")} == EXPECTED_CSP


def test_assets_need_an_index_page() -> None:
    with pytest.raises(RuntimeError, match=r"index\.html"):
        WebAssets({"app.js": b""})


def test_the_app_never_parses_html_from_strings() -> None:
    """Message data reaches the DOM as text only: no innerHTML and friends anywhere."""
    forbidden = re.compile(
        r"\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|DOMParser|"
        r"createContextualFragment|\beval\(|new Function\("
    )
    sources = sorted(STATIC.rglob("*.js"))
    assert len(sources) >= 5
    for source in sources:
        hits = forbidden.findall(source.read_text(encoding="utf-8"))
        assert hits == [], f"{source.name}: {hits}"
