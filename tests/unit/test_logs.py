"""Logging set-up: libraries that would log URLs or request details at INFO stay quiet."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from ephemail.logs import configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    names = ("httpx", "mcp", "mail.log", "uvicorn.error", "alembic")
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


@pytest.mark.usefixtures("restore_logging")
def test_httpx_never_logs_webhook_urls_at_info() -> None:
    """httpx logs each request's full URL at INFO; a webhook URL may carry a token."""
    configure_logging("INFO", "text")
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert not logging.getLogger("mcp.server").isEnabledFor(logging.INFO)
    assert logging.getLogger("ephemail.services.webhooks").isEnabledFor(logging.INFO)
