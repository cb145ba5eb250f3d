"""`GET /metrics`: Prometheus scrape endpoint.

The API layer does not know the metrics library: it serves whatever `render`
returns (adapters/metrics.py renders its registry), and stays out of the OpenAPI
schema since it is for operators' scrapers, not API clients.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Response


def build_metrics_router(render: Callable[[], tuple[bytes, str]]) -> APIRouter:
    """A router serving `render()` (body, content type) at `GET /metrics`."""
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        # On the event loop, not in a worker thread: rendering runs the gauge
        # callbacks, which read state the loop owns (connection sets, queues).
        body, content_type = render()
        return Response(
            content=body,
            media_type=content_type,
            headers={"Cache-Control": "no-store"},
        )

    return router
