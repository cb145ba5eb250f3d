"""Prometheus metrics: the only module that imports prometheus_client.

Each `PrometheusMetrics` has its own registry (not the library's global one), so
several Applications can run in one process (the tests do) without their series
colliding; `/metrics` renders that registry.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# Outcomes of one webhook attempt (ports.WebhookMetrics.attempt).
ATTEMPT_OUTCOMES = ("delivered", "retry", "failed")
# Seconds; the default attempt timeout is 10 s.
ATTEMPT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class PrometheusMetrics:
    """`WebhookMetrics` plus a few live gauges the Application registers, rendered
    in the Prometheus text format."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._attempts = Counter(
            "ephemail_webhook_attempts",
            "Webhook delivery attempts by outcome: delivered (2xx), retry (failed, will "
            "retry), failed (failed, given up or subscription disabled).",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ATTEMPT_OUTCOMES:
            self._attempts.labels(outcome)  # every series exists from the start, at 0
        self._deliveries = Counter(
            "ephemail_webhook_deliveries",
            "Webhook deliveries that succeeded (a 2xx answer).",
            registry=self.registry,
        )
        self._failures = Counter(
            "ephemail_webhook_failures",
            "Webhook attempts that failed (retried later or given up).",
            registry=self.registry,
        )
        self._retries = Counter(
            "ephemail_webhook_retries",
            "Failed webhook attempts that will be retried.",
            registry=self.registry,
        )
        self._attempt_seconds = Histogram(
            "ephemail_webhook_attempt_seconds",
            "Duration of one webhook attempt (resolve, connect, send, answer).",
            buckets=ATTEMPT_BUCKETS,
            registry=self.registry,
        )
        self._pending = Gauge(
            "ephemail_webhook_queue_pending",
            "Webhook deliveries in the outbox, due or waiting for a retry.",
            registry=self.registry,
        )
        self._oldest_age = Gauge(
            "ephemail_webhook_queue_oldest_age_seconds",
            "Age of the oldest webhook delivery still in the outbox (0 when empty).",
            registry=self.registry,
        )

    def attempt(self, outcome: str, latency_seconds: float) -> None:
        if outcome not in ATTEMPT_OUTCOMES:
            raise ValueError(f"unknown webhook attempt outcome {outcome!r}")
        self._attempts.labels(outcome).inc()
        self._attempt_seconds.observe(max(0.0, latency_seconds))
        if outcome == "delivered":
            self._deliveries.inc()
        else:
            self._failures.inc()
            if outcome == "retry":
                self._retries.inc()

    def queue(self, pending: int, oldest_age_seconds: float) -> None:
        self._pending.set(pending)
        self._oldest_age.set(max(0.0, oldest_age_seconds))

    def gauge_callback(self, name: str, doc: str, fn: Callable[[], float]) -> None:
        """A gauge read from `fn` at each scrape (e.g. open IMAP connections). A name
        registered twice raises ValueError."""
        Gauge(name, doc, registry=self.registry).set_function(fn)

    def render(self) -> tuple[bytes, str]:
        """The registry in the Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
