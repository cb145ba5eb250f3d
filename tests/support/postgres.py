"""A throwaway PostgreSQL server for tests and benchmarks (stdlib only, synchronous).

Usage::

    server = PostgresServer()
    server.start()
    url = server.create_database("contract")  # postgresql+asyncpg://postgres@127.0.0.1:PORT/contract
    ...
    server.stop()  # fast shutdown, then the temporary directory is removed

PostgreSQL refuses to run as root; when we are root the server (and `initdb`) run as the
`postgres` system user, created if missing, in a temporary directory owned by that user.
The server listens on 127.0.0.1 only, on a free port, with trust authentication.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["PostgresError", "PostgresServer", "find_pg_bin", "free_port"]

PG_USER = "postgres"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
_CANDIDATE_BIN_DIRS = [
    *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True),
    Path("/usr/local/bin"),
    Path("/usr/bin"),
]
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PostgresError(RuntimeError):
    """The throwaway PostgreSQL server could not be started or used."""


def find_pg_bin(program: str = "postgres") -> Path:
    """Path of a PostgreSQL program: $PG_BIN, the newest /usr/lib/postgresql/*/bin, or PATH."""
    dirs = [Path(os.environ["PG_BIN"])] if os.environ.get("PG_BIN") else []
    for directory in [*dirs, *_CANDIDATE_BIN_DIRS]:
        candidate = directory / program
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(program)
    if found:
        return Path(found)
    raise PostgresError(f"PostgreSQL program {program!r} not found (install Debian 'postgresql')")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _is_root() -> bool:
    return os.geteuid() == 0


def _ensure_pg_user() -> None:
    """Create the `postgres` system user when we are root and it is missing."""
    try:
        import pwd

        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", PG_USER],
            check=True,
            capture_output=True,
        )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


class PostgresServer:
    """One private PostgreSQL cluster in a temporary directory, on 127.0.0.1:<free port>."""

    def __init__(self, base_dir: Path | None = None) -> None:
        self._base_dir = base_dir
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._log_file: Any = None
        # atexit holds only a weak reference, so a forgotten server is still collected.
        ref = weakref.ref(self)

        def _cleanup() -> None:
            server = ref()
            if server is not None:
                server.stop()

        self._atexit = _cleanup
        atexit.register(_cleanup)

    # -- properties -------------------------------------------------------------
    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        if self._port is None:
            raise PostgresError("PostgreSQL server is not started")
        return self._port

    @property
    def directory(self) -> Path:
        """The temporary directory holding data, socket and log."""
        if self._dir is None:
            raise PostgresError("PostgreSQL server is not started")
        return self._dir

    @property
    def dsn(self) -> str:
        """libpq/asyncpg DSN of the maintenance database `postgres`."""
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/postgres"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.directory / "server.log"

    def url_for(self, name: str) -> str:
        """SQLAlchemy URL (asyncpg driver) of database `name`."""
        return f"postgresql+asyncpg://{PG_USER}@127.0.0.1:{self.port}/{name}"

    def dsn_for(self, name: str) -> str:
        """libpq/asyncpg DSN of database `name`."""
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{name}"

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ----------------------------------------------------------------
    def _as_pg_user(self) -> dict[str, Any]:
        """subprocess keyword arguments that drop to the postgres user when we are root."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C",
            "LANG": "C",
            "HOME": str(self.directory),
        }
        kwargs: dict[str, Any] = {"env": env, "cwd": str(self.directory)}
        if _is_root():
            kwargs.update(user=PG_USER, group=PG_USER, extra_groups=[])
        return kwargs

    def start(self) -> None:
        """initdb and start the server; return once it accepts connections (60 s limit)."""
        if self.running:
            return
        if _is_root():
            _ensure_pg_user()
        parent = self._base_dir or Path(tempfile.gettempdir())
        parent.mkdir(parents=True, exist_ok=True)
        self._dir = Path(tempfile.mkdtemp(prefix="ephemail-pg-", dir=parent))
        try:
            if _is_root():
                shutil.chown(self._dir, PG_USER, PG_USER)
            self._initdb()
            # The free port can be taken between probing and binding: retry a few times.
            for attempt in range(3):
                self._port = free_port()
                if self._launch():
                    return
                if attempt == 2 or "could not bind" not in _tail(self.log_path, 200):
                    break
            raise PostgresError(
                f"PostgreSQL did not start on 127.0.0.1:{self._port}; "
                f"log tail:\n{_tail(self.log_path)}"
            )
        except BaseException:
            self.stop()
            raise

    def _initdb(self) -> None:
        data = self.directory / "data"
        (self.directory / "sock").mkdir()
        if _is_root():
            shutil.chown(self.directory / "sock", PG_USER, PG_USER)
        result = subprocess.run(
            [
                str(find_pg_bin("initdb")),
                "-D",
                str(data),
                "-U",
                PG_USER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",  # the cluster is throwaway; the server itself runs with fsync=on
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **self._as_pg_user(),
        )
        if result.returncode != 0:
            raise PostgresError(
                f"initdb failed ({result.returncode}):\n{result.stdout[-2000:]}"
                f"{result.stderr[-2000:]}"
            )

    def _launch(self) -> bool:
        """Start the postmaster and wait until it accepts connections."""
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - kept open while running
        cmd = [
            str(find_pg_bin("postgres")),
            "-D",
            str(self.directory / "data"),
            "-p",
            str(self.port),
            "-k",
            str(self.directory / "sock"),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=on",
            "-c",
            "synchronous_commit=on",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=128MB",
        ]
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal does not reach it
            **self._as_pg_user(),
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._close_log()
                self._proc = None
                return False
            if self._accepts_connections():
                return True
            time.sleep(0.1)
        raise PostgresError(
            f"PostgreSQL did not accept connections within {START_TIMEOUT:.0f} s on "
            f"127.0.0.1:{self.port}; log tail:\n{_tail(self.log_path)}"
        )

    def _accepts_connections(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                pass
        except OSError:
            return False
        try:
            isready = find_pg_bin("pg_isready")
        except PostgresError:
            return True
        result = subprocess.run(
            [str(isready), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER],
            capture_output=True,
            timeout=10,
            check=False,
        )
        return result.returncode == 0

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def stop(self) -> None:
        """Fast shutdown (SIGINT, as `pg_ctl stop -m fast`), then remove the directory.

        Idempotent; registered with atexit so an aborted run leaves nothing behind.
        """
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self._close_log()
        directory, self._dir = self._dir, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
        self._port = None

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            atexit.unregister(self._atexit)
            self.stop()

    # -- databases --------------------------------------------------------------------
    def _client(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [
                str(find_pg_bin(program)),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                PG_USER,
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
        )
        if result.returncode != 0:
            raise PostgresError(f"{program} {' '.join(args)} failed: {result.stderr.strip()}")

    def create_database(self, name: str) -> str:
        """Create database `name`; return its SQLAlchemy URL (asyncpg driver)."""
        _check_name(name)
        self._client("createdb", "-E", "UTF8", "-T", "template0", name)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop database `name` (closing its connections); no error when it does not exist."""
        _check_name(name)
        self._client("dropdb", "--if-exists", "--force", name)

    def version(self) -> str:
        """`postgres --version` of the binaries in use."""
        out = subprocess.run(
            [str(find_pg_bin("postgres")), "--version"],
            capture_output=True,
            text=True,
            check=False,
        )
        return out.stdout.strip()


def _check_name(name: str) -> None:
    if not _DB_NAME.match(name):
        raise ValueError(f"invalid database name {name!r} (letters, digits, _)")
