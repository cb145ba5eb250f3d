"""Shared fixtures: a real PostgreSQL server (started once per run), stores on both
back-ends, and a running ephemail Application on ephemeral ports."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ephemail.adapters.sql.engine import create_engines
from ephemail.adapters.sql.migrate import upgrade
from ephemail.adapters.sql.store import SqlStore
from ephemail.settings import load_settings
from tests.support.postgres import PostgresServer

_db_numbers = itertools.count(1)

# Argon2id at the production cost (64 MiB, 3 passes) takes ~170 ms per password; the
# suite hashes thousands. The same code runs with the smallest legal cost: servers and
# `ephemail` subprocesses started by tests read these from the environment. The
# production parameters are tested in tests/unit/test_passwords.py.
os.environ.setdefault("EPHEMAIL_PASSWORD_HASH_MEMORY_KIB", "32")
os.environ.setdefault("EPHEMAIL_PASSWORD_HASH_TIME_COST", "1")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the whole run (each test gets its own database)."""
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    name = f"t{os.getpid()}_{next(_db_numbers)}"
    url = pg_server.create_database(name)
    try:
        yield url
    finally:
        pg_server.drop_database(name)


def _backend_params() -> list[Any]:
    return ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=_backend_params())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL on each back-end in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    """A migrated store on SQLite and on PostgreSQL (the contract suite runs on both)."""
    engines = create_engines(database_url)
    await upgrade(engines)
    sql_store = SqlStore(engines)
    try:
        yield sql_store
    finally:
        await sql_store.close()


StartApp = Callable[..., Awaitable[Any]]


@pytest.fixture
async def app_factory(tmp_path: Path) -> AsyncIterator[StartApp]:
    """`await start_app(**settings)`: a running Application on ephemeral ports."""
    from ephemail.app import Application

    apps: list[Application] = []

    async def start_app(**overrides: Any) -> Application:
        settings: dict[str, Any] = {
            "data_dir": tmp_path / f"data{len(apps)}",
            "smtp_port": 0,
            "http_port": 0,
            "imap_port": 0,
            "hostname": "mx.ephemail.test",
            "retention_interval": 3600,
        }
        settings.update(overrides)
        app = Application(load_settings(**settings))
        await app.start()
        apps.append(app)
        return app

    yield start_app
    for app in reversed(apps):
        await app.stop()
