"""End-to-end fixtures: the real server as a subprocess, on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.server import EphemailProcess

MakeServer = Callable[..., EphemailProcess]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_server(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[MakeServer]:
    """`make_server(**env)`: an unstarted server on the current back-end (one DB per test)."""
    database_url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    servers: list[EphemailProcess] = []

    def make(**env: str) -> EphemailProcess:
        server = EphemailProcess(tmp_path / "data", database_url=database_url, **env)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.kill()
