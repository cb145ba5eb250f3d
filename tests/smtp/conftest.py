"""Fixtures of the SMTP tests: the real Application per test, a raw client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ephemail.app import Application
from tests.smtp.support import RawClient, StartApp


@pytest.fixture
async def app(app_factory: StartApp) -> Application:
    """The development default: accept every recipient."""
    return await app_factory()


@pytest.fixture
async def client(app: Application) -> AsyncIterator[RawClient]:
    c = await RawClient.connect(app.smtp_port)
    try:
        yield c
    finally:
        await c.close()
