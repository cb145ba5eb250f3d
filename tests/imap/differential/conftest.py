"""The two servers of the differential test: pymap (reference, dict back-end, in a
subprocess) and `ephemail serve` (subprocess, SQLite), both on 127.0.0.1 and free ports,
started once for the module."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.imap.differential.harness import user_for, wait_for_greeting
from tests.imap.differential.scripts import SCRIPTS
from tests.support.postgres import free_port
from tests.support.server import EphemailProcess

PYMAP_LAUNCHER = Path(__file__).with_name("pymap_server.py")


@pytest.fixture(scope="module")
def pymap_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """pymap 0.36.7 with the in-memory dict back-end and one user per script."""
    port = free_port()
    log = tmp_path_factory.mktemp("pymap") / "pymap.log"
    users = [user_for(script) for script in SCRIPTS]
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(PYMAP_LAUNCHER), str(port), *users],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        try:
            wait_for_greeting(port)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{log.read_text()[-3000:]}") from exc
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def ephemail_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`ephemail serve` on SQLite in the open development mode (any password logs in to
    a public mailbox), with IMAP on a free port."""
    data_dir = tmp_path_factory.mktemp("ephemail") / "data"
    server = EphemailProcess(
        data_dir, EPHEMAIL_IMAP_ENABLED="true", EPHEMAIL_IMAP_LOGIN_FAILURE_DELAY="0"
    )
    server.start(wait_imap=True)
    try:
        yield server.imap_port
    finally:
        server.kill()
