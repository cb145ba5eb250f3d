"""What the benchmark suites share: the servers under test (start, readiness, stop, CPU and
memory of a process tree), the description of the machine and of the versions measured,
and the pieces of the markdown report and of docs/benchmarks.md every suite writes the same way.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Generic, TypeVar

from tests.support.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[1]
STORES = ("sqlite", "postgres")
STORE_TITLES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
START_TIMEOUT = 90.0
STOP_GRACE = 10.0
# Variables that would make ephemail read configuration from the caller's environment.
_SEED_NAMES = {
    "DATABASE_URL",
    "SMTP_PORT",
    "SMTP_RECEIVE_PORT",
    "SMTP_BIND",
    "IMAP_BIND",
    "IMAP_PORT",
    "API_PORT",
    "API_BIND",
    "DOMAIN_NAME",
    "EMAIL_RETENTION_HOURS",
    "REJECT_NON_DOMAIN_EMAILS",
    "HEARTBEAT_URL",
    "IMAP_ENABLED",
    "MCP_ENABLED",
}
DOC_HEADER = """# Benchmarks

Figures measured with `make bench` (`python -m bench.run --write`). Each section is replaced
by the benchmark that produced it; see `bench/README.md` for how to run them.
"""

ConfigT = TypeVar("ConfigT")


# --------------------------------------------------------------------------------------
# the server's environment
# --------------------------------------------------------------------------------------
def clean_env() -> dict[str, str]:
    """The caller's environment without anything ephemail would read as configuration."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith("EPHEMAIL_") and k.upper() not in _SEED_NAMES
    }


def ephemail_env(
    data_dir: Path,
    smtp_port: int,
    http_port: int,
    database_url: str | None,
    server_env: Sequence[tuple[str, str]] = (),
) -> dict[str, str]:
    """The clean environment plus the settings of one benchmarked `ephemail serve`
    (`server_env`, the user's extra settings, win)."""
    env = clean_env()
    env.update(
        {
            "EPHEMAIL_DATA_DIR": str(data_dir),
            "EPHEMAIL_SMTP_PORT": str(smtp_port),
            "EPHEMAIL_HTTP_PORT": str(http_port),
            "EPHEMAIL_LOG_LEVEL": "WARNING",
            "EPHEMAIL_RETENTION_HOURS": "0",
            # IMAP listens on a fixed port by default: off unless a suite asks for it
            # (bench/imap_bench.py), so two servers of one run never fight over it.
            "EPHEMAIL_IMAP_ENABLED": "false",
            # Every load generator is one IP: a limit far above any rate reached keeps
            # the limiter's per-request cost in the figures without answering 429.
            "EPHEMAIL_RATE_API_PER_MINUTE": "1000000000",
        }
    )
    if database_url:
        env["EPHEMAIL_DATABASE_URL"] = database_url
    env.update(dict(server_env))
    return env


def ephemail_env_text(server_env: Sequence[tuple[str, str]], first: str) -> str:
    """The settings of `ephemail_env` as the report's command line shows them; `first`
    stands for the data directory or database of the suite."""
    extra = " ".join(f"{k}={v}" for k, v in server_env)
    base = (
        f"{first} EPHEMAIL_SMTP_PORT=PORT EPHEMAIL_HTTP_PORT=PORT2 "
        "EPHEMAIL_LOG_LEVEL=WARNING EPHEMAIL_RETENTION_HOURS=0 "
        "EPHEMAIL_RATE_API_PER_MINUTE=1000000000"
    )
    return base + (f" {extra}" if extra else "")


def with_pythonpath(env: dict[str, str], *paths: Path | None) -> dict[str, str]:
    """`env` with `paths` (None ones skipped) in front of its PYTHONPATH."""
    parts = [str(p) for p in paths if p is not None]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    return {**env, "PYTHONPATH": os.pathsep.join(parts)}


def snapshot_source(root: Path) -> Path | None:
    """Copy src/ephemail under root, so edits to the tree during a long run change nothing."""
    package = REPO / "src" / "ephemail"
    if not package.is_dir():
        return None
    target = root / "src"
    shutil.copytree(
        package, target / "ephemail", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    return target


@contextlib.contextmanager
def bench_workspace(
    prefix: str, *, postgres: bool, keep: bool
) -> Iterator[tuple[Path, PostgresServer | None]]:
    """A temporary root directory and, when asked, one throwaway PostgreSQL server for the
    whole run; both are removed afterwards (the directory is kept with `keep`)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    pg: PostgresServer | None = None
    try:
        if postgres:
            print("starting PostgreSQL ...", flush=True)
            pg = PostgresServer()
            pg.start()
        yield root, pg
    finally:
        if pg is not None:
            pg.stop()
        if keep:
            print(f"kept temporary files under {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------------------
def tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log file."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def _proc_children(pid: int) -> list[int]:
    """Descendants of pid via /proc (used when psutil is missing)."""
    found: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                kids = [int(x) for x in (task / "children").read_text().split()]
                found += kids
                stack += kids
    return found


def tree_usage(pid: int) -> tuple[int, float]:
    """(RSS bytes, CPU seconds) of a process and all its descendants."""
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]
    except ImportError:  # psutil is a dev dependency; /proc is the fallback
        psutil = None
    if psutil is not None:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0, 0.0
        rss, cpu = 0, 0.0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                rss += proc.memory_info().rss
                times = proc.cpu_times()
                cpu += times.user + times.system
        return rss, cpu
    rss, cpu, tick = 0, 0.0, os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    for p in [pid, *_proc_children(pid)]:
        with contextlib.suppress(OSError, ValueError, IndexError):
            rss += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * page
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / tick
    return rss, cpu


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, of its live descendants and of the children it has
    reaped: PostgreSQL backends come and go with pool connections, and a backend's time
    moves to the postmaster's children times when it exits."""
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return tree_usage(pid)[1]
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        children = root.children(recursive=True)
    except psutil.Error:
        return 0.0
    for child in children:
        with contextlib.suppress(psutil.Error):
            times = child.cpu_times()
            total += times.user + times.system
    return float(total)


def postmaster_pid(pg: PostgresServer) -> int | None:
    """PID of the PostgreSQL postmaster (its backends are its children)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((pg.directory / "data" / "postmaster.pid").read_text().split()[0])
    return None


class ServerProcess:
    """A server under test: started in its own session, output to a log file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.cmd = cmd
        self.env = env
        self.workdir = workdir
        self.log_path = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """Process id of the server."""
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        """Start the process (does not wait)."""
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.cmd,
                env=self.env,
                cwd=self.workdir,  # no stray .env file is picked up
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_greeting(
        self,
        port: int,
        timeout: float = START_TIMEOUT,
        *,
        expect: bytes = b"220",
        goodbye: bytes = b"QUIT\r\n",
    ) -> None:
        """Return once `port` answers with a greeting starting with `expect` (SMTP's 220
        by default; IMAP's `* OK`), then say `goodbye`."""
        deadline = time.monotonic() + timeout
        last = "no connection"
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise RuntimeError(
                    f"{self.name} exited with status {code} before greeting; output tail:\n"
                    f"{tail(self.log_path)}"
                )
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    line = sock.makefile("rb").readline(1024)
                    if line.startswith(expect):
                        with contextlib.suppress(OSError):
                            sock.sendall(goodbye)
                        return
                    last = f"greeting {line!r}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.name} did not greet on 127.0.0.1:{port} within {timeout:.0f} s ({last}); "
            f"output tail:\n{tail(self.log_path)}"
        )

    def wait_ready(self, smtp_port: int, http_port: int, timeout: float) -> None:
        """Return once ephemail greets on SMTP and its `/readyz` answers 200."""
        import httpx

        self.wait_greeting(smtp_port, timeout=timeout)
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{http_port}/readyz"
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=5).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready on {url}")

    def exit_status(self) -> str | None:
        """None while running, else how the process ended (status or signal)."""
        if self.proc is None or self.proc.poll() is None:
            return None
        code = self.proc.returncode
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"status {code}" + (" (stopped from outside?)" if code == 0 else "")

    @property
    def stopped_from_outside(self) -> bool:
        """It ended the way a SIGTERM/SIGINT from another process ends it (we did not send one)."""
        if self.proc is None or self.proc.poll() is None:
            return False
        return self.proc.returncode in (0, -signal.SIGTERM, -signal.SIGINT)

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after 10 s."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                print(
                    f"  {self.name}: no exit {STOP_GRACE:.0f} s after SIGTERM, SIGKILL", flush=True
                )
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        else:
            # The leader is gone; make sure nothing it started is left behind.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)


# --------------------------------------------------------------------------------------
# machine and versions
# --------------------------------------------------------------------------------------
def machine_description() -> dict[str, str]:
    """CPUs this process may use, CPU model, memory and OS."""
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpus": str(ncpu),
        "cpu": cpu,
        "memory": mem,
        "os": platform.platform(),
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as the reports print them."""
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def git_revision(repo: Path) -> str:
    """Short HEAD of `repo`, marked when tracked files have uncommitted changes."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + (" (with uncommitted changes)" if dirty else "")


def dist_version(name: str) -> str:
    """Installed version of a distribution, or "not installed"."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def interpreter_versions(python: str) -> tuple[str, str]:
    """(Python, SQLite library) versions of the interpreter that runs the servers."""
    probe = subprocess.run(
        [
            python,
            "-c",
            "import sys, sqlite3; print(sys.version.split()[0], sqlite3.sqlite_version)",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return (
        probe[0] if probe else platform.python_version(),
        probe[1] if len(probe) > 1 else sqlite3.sqlite_version,
    )


def ephemail_version() -> str:
    """Installed ephemail version and the revision of this checkout."""
    return f"{dist_version('ephemail')} @ {git_revision(REPO)}"


def postgres_version(pg: PostgresServer) -> str:
    """Version of the throwaway PostgreSQL server."""
    return pg.version().replace("postgres (PostgreSQL) ", "")


def server_versions(
    python: str, pg: PostgresServer | None, libraries: Sequence[str]
) -> dict[str, str]:
    """Python, SQLite, ephemail, PostgreSQL (when running) and the installed `libraries`."""
    py, sqlite = interpreter_versions(python)
    versions = {"Python": py, "SQLite": sqlite, "ephemail": ephemail_version()}
    if pg is not None:
        versions["PostgreSQL"] = postgres_version(pg)
    for name in libraries:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


# --------------------------------------------------------------------------------------
# reports
# --------------------------------------------------------------------------------------
@dataclass
class ReportBase(Generic[ConfigT]):
    """What every suite's report records besides its results."""

    config: ConfigT
    started: datetime
    machine: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)


def percentile_ms(data: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted seconds, in milliseconds."""
    if not data:
        return None
    rank = min(len(data), max(1, math.ceil(q * len(data))))
    return 1000 * data[rank - 1]


def fmt(value: float | None, pattern: str = "{:.1f}") -> str:
    """A figure of a table, "—" when there is none."""
    return "—" if value is None else pattern.format(value)


def run_lines(report: ReportBase[ConfigT]) -> list[str]:
    """The list items every report starts with: date, machine, load average (when it was
    recorded) and versions."""
    m = report.machine
    out = [
        f"- Date: {report.started:%Y-%m-%d %H:%M} UTC",
        f"- Machine: {m.get('cpus')} CPUs ({m.get('cpu')}), {m.get('memory')} RAM, {m.get('os')}",
    ]
    if "load_start" in m:
        out.append(
            f"- Load average (1, 5, 15 min) at start: {m.get('load_start')}; at end: "
            f"{m.get('load_end')} (the machine is shared with other work)"
        )
    out.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in report.versions.items()))
    return out


def command_lines(commands: Sequence[str]) -> list[str]:
    """The commands of a run as a fenced block."""
    return ["Commands:", "", "```", *commands, "```", ""]


def failure_lines(failures: Sequence[str]) -> list[str]:
    """The failures of a run as a list (nothing when there are none)."""
    return ["", "Failures:", "", *(f"- {f}" for f in failures)] if failures else []


def write_marked_section(path: Path, name: str, body: str) -> None:
    """Replace the text between `<!-- bench:NAME:start -->` and its end mark in `path`
    (append the section when it is missing); nothing else in the file changes."""
    start_mark, end_mark = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    section = f"{start_mark}\n{body.rstrip()}\n{end_mark}"
    text = path.read_text() if path.exists() else DOC_HEADER
    start, end = text.find(start_mark), text.find(end_mark)
    if start != -1 and end > start:
        text = text[:start] + section + text[end + len(end_mark) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def section_writer(name: str) -> Callable[[Path, str], None]:
    """A writer of the `name` section, for `bench.run --write`."""
    return lambda path, body: write_marked_section(path, name, body)
