"""Outbound HTTP over httpx: the only module that imports it."""

from __future__ import annotations

import httpx


class HttpxProbe:
    """GET requests for pings. No redirects followed; no body kept."""

    def __init__(self, user_agent: str = "ephemail") -> None:
        self._client = httpx.AsyncClient(follow_redirects=False, headers={"User-Agent": user_agent})

    async def get(self, url: str, *, timeout: float) -> int:
        try:
            response = await self._client.get(url, timeout=timeout)
        except httpx.HTTPError as exc:
            raise OSError(f"{type(exc).__name__}: {exc}") from exc
        return response.status_code

    async def close(self) -> None:
        await self._client.aclose()
