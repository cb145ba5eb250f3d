"""Run the real `ephemail serve` in a subprocess for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.postgres import free_port


class EphemailProcess:
    """`python -m ephemail serve` on free ports, with its own data directory."""

    def __init__(self, data_dir: Path, *, database_url: str | None = None, **env: str) -> None:
        self.data_dir = data_dir
        self.smtp_port = free_port()
        self.http_port = free_port()
        # Its own port even when nobody speaks IMAP: parallel servers must not share 1143.
        self.imap_port = free_port()
        self.env = {
            **os.environ,
            "EPHEMAIL_DATA_DIR": str(data_dir),
            "EPHEMAIL_SMTP_PORT": str(self.smtp_port),
            "EPHEMAIL_HTTP_PORT": str(self.http_port),
            "EPHEMAIL_IMAP_PORT": str(self.imap_port),
            "EPHEMAIL_HOSTNAME": "mx.ephemail.test",
            "EPHEMAIL_LOG_LEVEL": "WARNING",
            **env,
        }
        if database_url:
            self.env["EPHEMAIL_DATABASE_URL"] = database_url
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"{data_dir.name}-server.log"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 30, *, wait_imap: bool = False) -> None:
        """Start and wait for HTTP and SMTP (and the IMAP greeting when `wait_imap`)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ephemail", "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ephemail exited early:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.api}/readyz", timeout=1).status_code == 200:
                    with socket.create_connection(("127.0.0.1", self.smtp_port), timeout=2) as s:
                        if s.recv(512).startswith(b"220 ") and (
                            not wait_imap or self._imap_greets()
                        ):
                            return
            except (OSError, httpx.HTTPError):
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"ephemail did not become ready:\n{self.log.read_text()[-3000:]}")

    def _imap_greets(self) -> bool:
        """RFC 3501 section 7.1: the server speaks first with an untagged OK."""
        with socket.create_connection(("127.0.0.1", self.imap_port), timeout=2) as s:
            return s.recv(512).startswith(b"* OK")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self) -> int | None:
        """SIGTERM and wait: a graceful shutdown."""
        self.kill(signal.SIGTERM)
        return None if self.proc is None else self.proc.returncode

    def __enter__(self) -> EphemailProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
