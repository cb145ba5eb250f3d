"""Prometheus metrics of the webhook dispatcher and the `/metrics` route."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from ephemail.adapters.metrics import PrometheusMetrics
from ephemail.api.metrics import build_metrics_router


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by name and sorted labels."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_fresh_metrics_show_every_series_at_zero() -> None:
    body, content_type = PrometheusMetrics().render()
    assert content_type.startswith("text/plain")
    values = samples(body)
    for outcome in ("delivered", "retry", "failed"):
        assert values[("ephemail_webhook_attempts_total", (("outcome", outcome),))] == 0
    for name in (
        "ephemail_webhook_deliveries_total",
        "ephemail_webhook_failures_total",
        "ephemail_webhook_retries_total",
        "ephemail_webhook_attempt_seconds_count",
        "ephemail_webhook_queue_pending",
        "ephemail_webhook_queue_oldest_age_seconds",
    ):
        assert values[(name, ())] == 0, name


def test_attempts_count_deliveries_failures_and_retries() -> None:
    metrics = PrometheusMetrics()
    metrics.attempt("delivered", 0.02)
    metrics.attempt("delivered", 0.03)
    metrics.attempt("retry", 10.0)
    metrics.attempt("retry", 0.5)
    metrics.attempt("failed", 1.0)
    metrics.queue(pending=12, oldest_age_seconds=95.5)
    values = samples(metrics.render()[0])
    attempts = "ephemail_webhook_attempts_total"
    assert values[(attempts, (("outcome", "delivered"),))] == 2
    assert values[(attempts, (("outcome", "retry"),))] == 2
    assert values[(attempts, (("outcome", "failed"),))] == 1
    assert values[("ephemail_webhook_deliveries_total", ())] == 2
    assert values[("ephemail_webhook_failures_total", ())] == 3  # retry + failed
    assert values[("ephemail_webhook_retries_total", ())] == 2
    assert values[("ephemail_webhook_attempt_seconds_count", ())] == 5
    assert values[("ephemail_webhook_attempt_seconds_sum", ())] == pytest.approx(11.55)
    assert values[("ephemail_webhook_attempt_seconds_bucket", (("le", "0.025"),))] == 1
    assert values[("ephemail_webhook_attempt_seconds_bucket", (("le", "+Inf"),))] == 5
    assert values[("ephemail_webhook_queue_pending", ())] == 12
    assert values[("ephemail_webhook_queue_oldest_age_seconds", ())] == 95.5

    metrics.queue(pending=0, oldest_age_seconds=0.0)
    values = samples(metrics.render()[0])
    assert values[("ephemail_webhook_queue_pending", ())] == 0


def test_unknown_outcome_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown webhook attempt outcome"):
        PrometheusMetrics().attempt("maybe", 1.0)


def test_registries_are_independent() -> None:
    first, second = PrometheusMetrics(), PrometheusMetrics()
    first.attempt("delivered", 0.1)
    first.gauge_callback("ephemail_imap_connections", "Open IMAP connections.", lambda: 1.0)
    second.gauge_callback("ephemail_imap_connections", "Open IMAP connections.", lambda: 2.0)
    assert samples(second.render()[0])[("ephemail_webhook_deliveries_total", ())] == 0
    assert samples(first.render()[0])[("ephemail_imap_connections", ())] == 1.0
    assert samples(second.render()[0])[("ephemail_imap_connections", ())] == 2.0


def test_gauge_callback_is_read_at_each_scrape() -> None:
    metrics = PrometheusMetrics()
    open_connections = [3]
    metrics.gauge_callback(
        "ephemail_smtp_connections", "Open SMTP connections.", lambda: float(open_connections[0])
    )
    assert samples(metrics.render()[0])[("ephemail_smtp_connections", ())] == 3
    open_connections[0] = 5
    body = metrics.render()[0]
    assert samples(body)[("ephemail_smtp_connections", ())] == 5
    assert b"# HELP ephemail_smtp_connections Open SMTP connections." in body
    with pytest.raises(ValueError, match="Duplicated"):
        metrics.gauge_callback("ephemail_smtp_connections", "again", lambda: 0.0)


async def test_metrics_route_serves_the_scrape_outside_the_schema() -> None:
    metrics = PrometheusMetrics()
    metrics.attempt("retry", 0.2)
    app = FastAPI()
    app.include_router(build_metrics_router(metrics.render))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/metrics")
        schema = (await client.get("/openapi.json")).json()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert response.headers["cache-control"] == "no-store"
    values = samples(response.content)
    assert values[("ephemail_webhook_retries_total", ())] == 1
    assert values[("ephemail_webhook_attempts_total", (("outcome", "retry"),))] == 1
    assert "/metrics" not in schema["paths"]
