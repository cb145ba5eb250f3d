"""SMTP ingest benchmark: Postfix's smtp-source against a discard ceiling and ephemail.

Servers, each started fresh for every load (fresh data directory, fresh PostgreSQL database):

- ``ceiling``: aiosmtpd's discard-only ``Sink`` handler, the framework ceiling;
- ``sqlite``: ``ephemail serve`` on its embedded SQLite store;
- ``postgres``: ``ephemail serve`` on a throwaway PostgreSQL server (one for the whole run).

Loads alternate between the servers (ceiling, sqlite, postgres, ceiling, ...) so that all of
them see the same machine conditions; medians over the rounds are reported. After a load on
ephemail the stored messages are counted, so the figure is *durable* messages per second.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tests.support.postgres import PostgresServer, free_port

from bench.common import (
    ReportBase,
    ServerProcess,
    bench_workspace,
    clean_env,
    command_lines,
    dist_version,
    ephemail_env,
    ephemail_env_text,
    ephemail_version,
    fmt,
    interpreter_versions,
    machine_description,
    postgres_version,
    run_lines,
    snapshot_source,
    tail,
    tree_usage,
    with_pythonpath,
)

SERVERS = ("ceiling", "sqlite", "postgres")
MODES = ("new", "reused")
SERVER_LABELS = {
    "ceiling": "aiosmtpd Sink",
    "sqlite": "ephemail (SQLite)",
    "postgres": "ephemail (PostgreSQL)",
}
MODE_TITLES = {"new": "New connection per message", "reused": "Reused connections (`-d`)"}
SENDER = "bench@example.com"
RECIPIENT = "rcpt@example.com"
TARGET_RATIO = 0.70
MiB = 1024 * 1024


# --------------------------------------------------------------------------------------
# configuration and results
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchConfig:
    """What to run."""

    messages: int = 20_000
    sessions: int = 20
    size: int = 4096
    rounds: int = 2
    servers: tuple[str, ...] = SERVERS
    modes: tuple[str, ...] = MODES
    server_env: tuple[tuple[str, str], ...] = ()
    timeout: float | None = None  # per load; None = derived from the message count
    keep: bool = False  # keep the temporary directories (debugging)
    snapshot: bool = True  # run ephemail from a copy of src/ taken at the start
    retries: int = 1  # extra attempts of a load whose server was stopped from outside
    python: str = sys.executable

    @property
    def load_timeout(self) -> float:
        """Time limit of one smtp-source run (assumes at least 50 msg/s by default)."""
        return self.timeout if self.timeout is not None else 60.0 + self.messages / 50.0


@dataclass
class RunResult:
    """One load against one server."""

    server: str
    mode: str
    round: int
    messages: int
    ok: bool = False
    wall: float | None = None
    durable: int | None = None
    durable_method: str | None = None
    peak_rss: int | None = None
    server_cpu: float | None = None
    error: str | None = None
    stopped_from_outside: bool = False
    attempts: int = 1

    @property
    def msg_per_s(self) -> float | None:
        """Messages accepted per second of wall time."""
        return self.messages / self.wall if self.ok and self.wall else None

    @property
    def durable_per_s(self) -> float | None:
        """Messages found stored afterwards per second of wall time (ceiling: accepted)."""
        if not self.ok or not self.wall:
            return None
        if self.server == "ceiling":
            return self.msg_per_s
        return self.durable / self.wall if self.durable is not None else None

    @property
    def durable_mismatch(self) -> bool:
        """ephemail stored a different number of messages than were sent."""
        return self.ok and self.server != "ceiling" and self.durable != self.messages


@dataclass
class BenchReport(ReportBase[BenchConfig]):
    """Everything needed to print and record one benchmark run."""

    results: list[RunResult] = field(default_factory=list)

    @property
    def failures(self) -> list[RunResult]:
        """Runs that failed or lost/duplicated messages."""
        return [r for r in self.results if not r.ok or r.durable_mismatch]


# --------------------------------------------------------------------------------------
# process helpers
# --------------------------------------------------------------------------------------
def smtp_source_path() -> str:
    """Path of Postfix's smtp-source, or a clear error."""
    for candidate in ("/usr/sbin/smtp-source", shutil.which("smtp-source")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit(
        "smtp-source not found: install Postfix's tools with `bash scripts/system-deps.sh bench`"
    )


def smtp_source_command(config: BenchConfig, mode: str, port: int) -> list[str]:
    """The smtp-source command line of one load."""
    cmd = [smtp_source_path()]
    if mode == "reused":
        cmd.append("-d")
    cmd += ["-s", str(config.sessions), "-m", str(config.messages), "-l", str(config.size)]
    cmd += ["-f", SENDER, "-t", RECIPIENT, f"127.0.0.1:{port}"]
    return cmd


class PeakRss:
    """Samples the RSS of a process tree every 100 ms in a thread; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="peak-rss", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_usage(self.pid)[0])
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_usage(self.pid)[0])


# --------------------------------------------------------------------------------------
# servers
# --------------------------------------------------------------------------------------
def ceiling_command(python: str, port: int) -> list[str]:
    """Discard-only aiosmtpd server."""
    return [
        python,
        "-m",
        "aiosmtpd",
        "-n",
        "-c",
        "aiosmtpd.handlers.Sink",
        "-l",
        f"127.0.0.1:{port}",
    ]


def count_sqlite(data_dir: Path) -> int:
    """Rows in the messages table of the SQLite store under data_dir."""
    path = data_dir / "ephemail.sqlite3"
    if not path.exists():
        candidates = sorted(data_dir.glob("*.sqlite3")) + sorted(data_dir.glob("*.db"))
        if not candidates:
            raise FileNotFoundError(f"no SQLite database under {data_dir}")
        path = candidates[0]
    conn = sqlite3.connect(path, timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
    finally:
        conn.close()


def count_postgres(dsn: str) -> int:
    """Rows in the messages table of a PostgreSQL database."""
    import asyncio

    import asyncpg  # type: ignore[import-untyped,unused-ignore]

    async def count() -> int:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM messages"))
        finally:
            await conn.close()

    return asyncio.run(count())


def count_http(http_port: int) -> int:
    """Total messages of the benchmark mailbox according to ephemail's HTTP API."""
    url = f"http://127.0.0.1:{http_port}/api/v1/mailboxes/{RECIPIENT}/messages?limit=1"
    with urllib.request.urlopen(url, timeout=30) as response:
        return int(json.load(response)["total"])


def count_durable(
    server: str, data_dir: Path, pg_dsn: str | None, http_port: int
) -> tuple[int, str]:
    """(stored message count, how it was counted): the database directly, else the HTTP API."""
    errors: list[str] = []
    try:
        if server == "sqlite":
            return count_sqlite(data_dir), "sqlite"
        if pg_dsn is not None:
            return count_postgres(pg_dsn), "postgres"
    except Exception as exc:
        errors.append(f"direct: {exc}")
    try:
        return count_http(http_port), "http"
    except Exception as exc:
        errors.append(f"http: {exc}")
    raise RuntimeError("cannot count stored messages (" + "; ".join(errors) + ")")


# --------------------------------------------------------------------------------------
# the benchmark
# --------------------------------------------------------------------------------------
def _fmt_rate(value: float | None) -> str:
    return fmt(value, "{:,.0f}")


def run_one(
    config: BenchConfig,
    server: str,
    mode: str,
    round_no: int,
    root: Path,
    pg: PostgresServer | None,
    src_path: Path | None = None,
) -> RunResult:
    """Start a fresh server, load it with smtp-source, count what was stored, stop it."""
    result = RunResult(server=server, mode=mode, round=round_no, messages=config.messages)
    workdir = Path(tempfile.mkdtemp(prefix=f"{server}-{mode}-{round_no}-", dir=root))
    data_dir = workdir / "data"
    data_dir.mkdir()
    smtp_port, http_port = free_port(), free_port()
    db_name: str | None = None
    pg_dsn: str | None = None
    env = clean_env()
    if server == "ceiling":
        cmd = ceiling_command(config.python, smtp_port)
    else:
        database_url = None
        if server == "postgres":
            assert pg is not None
            db_name = f"bench_{mode}_{round_no}_{os.getpid()}"
            database_url = pg.create_database(db_name)
            pg_dsn = pg.dsn_for(db_name)
        cmd = [config.python, "-m", "ephemail", "serve"]
        env = ephemail_env(data_dir, smtp_port, http_port, database_url, config.server_env)
        if src_path is not None:
            env = with_pythonpath(env, src_path)
    proc = ServerProcess(SERVER_LABELS[server], cmd, env, workdir)
    try:
        proc.start()
        try:
            proc.wait_greeting(smtp_port)
        except RuntimeError as exc:
            result.error = f"server failed to start: {exc}"
            return result
        load = smtp_source_command(config, mode, smtp_port)
        with PeakRss(proc.pid) as rss:
            cpu_before = tree_usage(proc.pid)[1]
            started = time.perf_counter()
            try:
                done = subprocess.run(
                    load,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=config.load_timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                result.error = f"smtp-source did not finish within {config.load_timeout:.0f} s"
                return result
            finally:
                result.wall = time.perf_counter() - started
                result.server_cpu = tree_usage(proc.pid)[1] - cpu_before
        result.peak_rss = rss.peak
        status = proc.exit_status()
        result.stopped_from_outside = proc.stopped_from_outside
        if done.returncode != 0:
            out = (done.stdout + done.stderr).strip().splitlines()[-10:]
            result.error = f"smtp-source exited {done.returncode}: " + " | ".join(out)
            if status is not None:
                result.error += f" (server had exited: {status})"
            return result
        if status is not None:
            result.error = f"server exited during the load: {status}"
            return result
        if server != "ceiling":
            try:
                result.durable, result.durable_method = count_durable(
                    server, data_dir, pg_dsn, http_port
                )
            except RuntimeError as exc:
                result.error = str(exc)
                return result
        result.ok = True
        return result
    finally:
        proc.stop()
        if result.error and "output tail" not in result.error:
            result.error += "\nserver output tail:\n" + tail(proc.log_path, 10)
        if pg is not None and db_name is not None:
            with contextlib.suppress(Exception):
                pg.drop_database(db_name)
        if not config.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _progress(result: RunResult, total_rounds: int) -> None:
    tag = f"[{result.mode} {result.round}/{total_rounds}] {result.server:<8}"
    if not result.ok:
        print(f"{tag} FAILED: {result.error}", flush=True)
        return
    line = (
        f"{tag} {result.messages} msgs in {result.wall:.2f} s = {_fmt_rate(result.msg_per_s)} msg/s"
    )
    if result.server != "ceiling":
        line += f", durable {result.durable} ({_fmt_rate(result.durable_per_s)}/s)"
    line += f", peak RSS {(result.peak_rss or 0) / MiB:.0f} MiB"
    if result.server_cpu is not None and result.messages:
        line += f", server CPU {1000 * result.server_cpu / result.messages:.2f} ms/msg"
    print(line, flush=True)
    if result.durable_mismatch:
        print(
            f"!!! WARNING: {result.server} stored {result.durable} messages, "
            f"{result.messages} were sent and acknowledged !!!",
            flush=True,
        )


def _command_text(argv: Sequence[str]) -> str:
    return " ".join(argv)


def _collect_commands(config: BenchConfig, pg: PostgresServer | None) -> list[str]:
    lines = [
        "# load (one per server and round; PORT is a fresh free port)",
        *(
            _command_text(smtp_source_command(config, mode, 0)).replace(":0", ":PORT")
            for mode in config.modes
        ),
    ]
    python = "python"
    if "ceiling" in config.servers:
        lines += ["# ceiling", _command_text(ceiling_command(python, 0)).replace(":0", ":PORT")]
    base = ephemail_env_text(config.server_env, "EPHEMAIL_DATA_DIR=<fresh dir>")
    if "sqlite" in config.servers:
        lines += ["# ephemail on SQLite", f"{base} {python} -m ephemail serve"]
    if "postgres" in config.servers:
        lines += [
            "# ephemail on PostgreSQL (one server for the run, a fresh database per load)",
            f"{base} EPHEMAIL_DATABASE_URL="
            f"postgresql+asyncpg://postgres@127.0.0.1:PGPORT/<fresh db> {python} -m ephemail serve",
            "postgres -D DIR -p PGPORT -c listen_addresses=127.0.0.1 -c fsync=on "
            "-c synchronous_commit=on -c max_connections=200 -c shared_buffers=128MB",
        ]
    lines += [
        "# stored messages counted afterwards with SELECT count(*) FROM messages",
    ]
    return lines


def _versions(config: BenchConfig, pg: PostgresServer | None) -> dict[str, str]:
    postfix = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "postfix"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    python, sqlite = interpreter_versions(config.python)
    versions = {
        "Python": python,
        "SQLite": sqlite,
        "aiosmtpd": dist_version("aiosmtpd"),
        "ephemail": ephemail_version(),
        "smtp-source (Postfix)": postfix or "unknown",
    }
    if pg is not None:
        versions["PostgreSQL"] = postgres_version(pg)
    return versions


def run_benchmark(config: BenchConfig) -> BenchReport:
    """Run every (mode, round, server) load, alternating servers; return the report."""
    smtp_source_path()
    report = BenchReport(config=config, started=datetime.now(UTC))
    report.machine = machine_description()
    with bench_workspace(
        "ephemail-bench-", postgres="postgres" in config.servers, keep=config.keep
    ) as (root, pg):
        src_path = snapshot_source(root) if config.snapshot else None
        report.versions = _versions(config, pg)
        if src_path is not None:
            report.versions["ephemail"] += " (source snapshot taken at start)"
        report.commands = _collect_commands(config, pg)
        for mode in config.modes:
            for round_no in range(1, config.rounds + 1):
                for server in config.servers:
                    for attempt in range(1, config.retries + 2):
                        result = run_one(config, server, mode, round_no, root, pg, src_path)
                        result.attempts = attempt
                        _progress(result, config.rounds)
                        if result.ok or not result.stopped_from_outside:
                            break
                        if attempt <= config.retries:
                            print("  the server was stopped from outside: running it again")
                    report.results.append(result)
    return report


# --------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------
def _median(values: Iterator[float | None] | list[float | None]) -> float | None:
    data = [v for v in values if v is not None]
    return statistics.median(data) if data else None


def _mib(value: float | None) -> str:
    return "—" if value is None else f"{value / MiB:.0f}"


def _one_line(error: str) -> str:
    """First line of an error, plus its last line (the exception) when it is longer."""
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    text = lines[0][:120]
    if len(lines) > 1 and lines[-1] != "(no output)":
        text += " … " + lines[-1][:120]
    return text.replace("|", "/")


def render_markdown(report: BenchReport) -> str:
    """The report as markdown (the body of the docs/benchmarks.md section)."""
    cfg = report.config
    out: list[str] = [
        "## SMTP ingest",
        "",
        *run_lines(report),
        f"- Load: {cfg.messages:,} messages of {cfg.size} bytes per run, {cfg.sessions} "
        f"concurrent sessions, {cfg.rounds} round(s); servers alternated within each round "
        f"({', '.join(cfg.servers)}); medians reported. Every server is started fresh for "
        "each run (fresh data directory / PostgreSQL database). smtp-source shares the "
        "CPUs with the server: compare figures only within one run.",
        "- Durable msg/s = messages found in the store after the load / wall time of the "
        "load. Ratio = durable msg/s / ceiling msg/s (medians of this run). Peak RSS = "
        "server process tree, sampled every 100 ms (the PostgreSQL server is not included).",
        "",
        *command_lines(report.commands),
    ]
    for mode in cfg.modes:
        runs = [r for r in report.results if r.mode == mode]
        ceiling = _median([r.msg_per_s for r in runs if r.server == "ceiling"])
        out += [
            f"### {MODE_TITLES[mode]}",
            "",
            "| server | msg/s (median) | durable msg/s (median) | ratio to ceiling "
            "| peak RSS MiB | server CPU ms/msg |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for server in cfg.servers:
            mine = [r for r in runs if r.server == server]
            rate = _median([r.msg_per_s for r in mine])
            durable = _median([r.durable_per_s for r in mine])
            ratio = "—"
            if durable is not None and ceiling:
                ratio = f"{100 * durable / ceiling:.0f} %"
                if server != "ceiling":
                    ratio += " ✓" if durable / ceiling >= TARGET_RATIO else " ✗"
            peak = max((r.peak_rss or 0 for r in mine), default=0) or None
            cpu = _median(
                [
                    1000 * r.server_cpu / r.messages if r.ok and r.server_cpu is not None else None
                    for r in mine
                ]
            )
            failed = sum(1 for r in mine if not r.ok)
            name = server + (f" ({failed} failed)" if failed else "")
            out.append(
                f"| {name} | {_fmt_rate(rate)} | {_fmt_rate(durable)} | {ratio} "
                f"| {_mib(peak)} | {'—' if cpu is None else f'{cpu:.2f}'} |"
            )
        out.append("")
    out += [
        f"Target: durable ingest ≥ {TARGET_RATIO:.0%} of the ceiling (✓ met, ✗ missed).",
        "",
        "Raw runs (in the order they ran):",
        "",
        "| mode | round | server | wall s | msg/s | stored | durable msg/s "
        "| ratio to ceiling (round) | peak RSS MiB | status |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in report.results:
        same_round = [
            x.msg_per_s
            for x in report.results
            if x.server == "ceiling" and x.mode == r.mode and x.round == r.round
        ]
        ceil = same_round[0] if same_round else None
        ratio = (
            f"{100 * r.durable_per_s / ceil:.0f} %" if r.durable_per_s is not None and ceil else "—"
        )
        if not r.ok:
            status = "FAILED: " + _one_line(r.error or "")
        elif r.durable_mismatch:
            status = f"MISMATCH: {r.durable} stored of {r.messages}"
        else:
            status = "ok" + (f" (counted via {r.durable_method})" if r.durable_method else "")
        if r.attempts > 1:
            status += f"; attempt {r.attempts} (server stopped from outside before)"
        stored = "—" if r.server == "ceiling" or r.durable is None else f"{r.durable:,}"
        out.append(
            f"| {r.mode} | {r.round} | {r.server} | "
            f"{'—' if r.wall is None else f'{r.wall:.2f}'} | {_fmt_rate(r.msg_per_s)} | "
            f"{stored} | {_fmt_rate(r.durable_per_s)} | {ratio} | {_mib(r.peak_rss)} | {status} |"
        )
    return "\n".join(out) + "\n"
