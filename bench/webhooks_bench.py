"""Webhooks benchmark: what webhook delivery costs SMTP ingest, and how fast it delivers.

Issue 6 says webhooks must never slow SMTP ingest. Two measurements, both on SQLite and
PostgreSQL in one run (one throwaway PostgreSQL server for the run):

1. **Ingest** (back to back): the Python SMTP sender of the events suite
   (`bench/live_events.py`: raw asyncio streams, MAIL/RCPT/DATA pipelined) delivers
   messages to N mailboxes as fast as the server accepts them, in three scenarios that
   alternate within each round, each on a fresh server and database:

   - ``none``: no webhooks;
   - ``fast``: one webhook per mailbox (``arrival``) to a receiver that answers ``204``;
   - ``hang``: the same webhooks to a receiver that reads each POST and never answers
     (every attempt runs into the server's attempt timeout).

   Reported: accepted messages/s and the SMTP transaction time (MAIL written to the
   ``250`` to DATA read), p50/p99, and the ratio of every scenario to ``none``.

2. **Delivery** (paced): the ``fast`` setup under a steady load (200 msg/s by default):
   the time from the SMTP ``250`` to the receiver reading the POST of that message,
   p50/p95/p99; the delivery rate while the load runs; and how long the outbox takes to
   drain after the last ``250``.

The receiver runs in its own process (``python -m bench.webhooks_bench receiver``), so
its work does not slow the sender's event loop; both stamp times with
``time.perf_counter``, which on Linux reads the system-wide ``CLOCK_MONOTONIC`` (checked
at start), so the two processes' times compare directly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tests.support.postgres import PostgresServer, free_port

from bench.common import (
    REPO,
    STORE_TITLES,
    STORES,
    ReportBase,
    ServerProcess,
    bench_workspace,
    clean_env,
    command_lines,
    ephemail_env,
    ephemail_env_text,
    failure_lines,
    fmt,
    load_average,
    machine_description,
    percentile_ms,
    postmaster_pid,
    run_lines,
    server_versions,
    snapshot_source,
    tail,
    tree_cpu,
    with_pythonpath,
)
from bench.live_events import Sent, _message, _send_one, _sender

SCENARIOS = ("none", "fast", "hang")
SCENARIO_TITLES = {
    "none": "no webhooks",
    "fast": "webhooks → 204 receiver",
    "hang": "webhooks → hanging receiver",
}
RECEIVER_MODES = ("fast", "hang")
DOMAIN = "bench.test"
HOOK_PATH = "/hook"
READY_TIMEOUT = 90.0
PROBE_TIMEOUT = 30.0
# The settings every server of the suite gets: the receiver is on loopback.
BASE_SERVER_ENV = (("EPHEMAIL_WEBHOOK_ALLOW_NETWORKS", "127.0.0.1/32"),)
# Issue 6 sets no figure; the suite's own check: webhooks (fast or hung) cost ingest at
# most ~10 % (about the noise between two loads of one run on the shared machine).
TARGET_RATIO = 0.90


@dataclass(frozen=True)
class WebhooksConfig:
    """What to run."""

    messages: int = 4_000  # per ingest load
    mailboxes: int = 20  # recipients; one webhook each in `fast` and `hang`
    connections: int = 20  # SMTP connections of the sender (spread over the mailboxes)
    size: int = 2048  # bytes per message (approximately)
    rounds: int = 3  # ingest rounds; scenarios alternate within each
    scenarios: tuple[str, ...] = SCENARIOS
    rate: float = 200.0  # paced delivery load, messages per second
    duration: float = 20.0  # seconds of the paced delivery load (0 skips it)
    warmup: float = 1.0  # paced messages due in the first second are not counted
    drain_timeout: float = 180.0  # how long to wait for the outbox to drain afterwards
    stores: tuple[str, ...] = STORES
    server_env: tuple[tuple[str, str], ...] = ()
    keep: bool = False
    snapshot: bool = True
    python: str = sys.executable

    @property
    def load_timeout(self) -> float:
        """Time limit of one back-to-back ingest load (assumes at least 25 msg/s)."""
        return 60.0 + self.messages / 25.0

    @property
    def paced_messages(self) -> int:
        """Messages of the paced delivery load."""
        return max(1, round(self.rate * self.duration))

    @property
    def env(self) -> tuple[tuple[str, str], ...]:
        """The servers' extra settings: the suite's, then the user's (which win)."""
        return BASE_SERVER_ENV + self.server_env


def mailbox(index: int) -> str:
    """Address of the index-th benchmark mailbox."""
    return f"hook{index:03d}@{DOMAIN}"


def _sequence_of(body: bytes) -> int:
    """The message number a webhook payload is about (its subject is `live <n>`), or -2."""
    try:
        subject = str(json.loads(body)["email"]["subject"])
        return int(subject.removeprefix("live "))
    except (ValueError, KeyError, TypeError):
        return -2


# --------------------------------------------------------------------------------------
# the receiver (its own process)
# --------------------------------------------------------------------------------------
async def serve_receiver(mode: str, port: int) -> None:
    """HTTP/1.1 on 127.0.0.1:port. A POST is recorded (message number, perf_counter) as
    soon as its body is read, then answered `204` (`fast`) or never (`hang`: the request
    is held until the client gives up and closes). `GET /count` and `GET /stats` report
    what arrived (the benchmark's side channel)."""
    arrivals: list[tuple[int, float]] = []

    def answer(status: str, payload: bytes = b"") -> bytes:
        head = f"HTTP/1.1 {status}\r\nContent-Length: {len(payload)}\r\n"
        if payload:
            head += "Content-Type: application/json\r\n"
        return head.encode() + b"\r\n" + payload

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await reader.readline()
                if not request:
                    return
                method, target, _ = request.split(b" ", 2)
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                now = time.perf_counter()
                if method == b"GET":
                    if target.startswith(b"/count"):
                        data = json.dumps({"posts": len(arrivals)}).encode()
                    else:
                        data = json.dumps({"posts": len(arrivals), "arrivals": arrivals}).encode()
                    writer.write(answer("200 OK", data))
                    await writer.drain()
                    continue
                arrivals.append((_sequence_of(body), now))
                if mode == "hang":
                    await reader.read()  # until the sender times out and closes
                    return
                writer.write(answer("204 No Content"))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)
    async with server:
        await server.serve_forever()


def receiver_command(python: str, mode: str, port: int) -> list[str]:
    """The command line of one receiver."""
    return [python, "-m", "bench.webhooks_bench", "receiver", "--mode", mode, "--port", str(port)]


class Receiver:
    """A receiver process and its side channel."""

    def __init__(self, config: WebhooksConfig, mode: str, workdir: Path) -> None:
        self.mode = mode
        self.port = free_port()
        env = with_pythonpath(clean_env(), REPO)
        cmd = receiver_command(config.python, mode, self.port)
        receiver_dir = workdir / "receiver"
        receiver_dir.mkdir()
        self.process = ServerProcess(f"receiver ({mode})", cmd, env, receiver_dir)

    @property
    def url(self) -> str:
        """What the webhooks point at."""
        return f"http://127.0.0.1:{self.port}{HOOK_PATH}"

    def start(self) -> None:
        """Start the process; return once it answers."""
        import httpx

        self.process.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.exit_status() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{self.port}/count", timeout=2)
                return
            time.sleep(0.05)
        raise RuntimeError(
            f"the {self.mode} receiver did not start; output tail:\n{tail(self.process.log_path)}"
        )

    def count(self) -> int:
        """POSTs received so far."""
        import httpx

        answer = httpx.get(f"http://127.0.0.1:{self.port}/count", timeout=10)
        return int(answer.json()["posts"])

    def arrivals(self) -> list[tuple[int, float]]:
        """Every POST received: (message number, perf_counter when its body was read)."""
        import httpx

        answer = httpx.get(f"http://127.0.0.1:{self.port}/stats", timeout=30)
        return [(int(seq), float(at)) for seq, at in answer.json()["arrivals"]]

    def stop(self) -> None:
        """Stop it (a hanging receiver's held requests fail at once)."""
        self.process.stop()


# --------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------
def _smtp_times(sent: Sequence[Sent]) -> list[float]:
    """MAIL written to 250 read, per accepted message (seconds, sorted)."""
    return sorted(s.accepted - s.started for s in sent if s.accepted is not None)


@dataclass
class IngestResult:
    """One back-to-back load on a fresh server."""

    store: str
    scenario: str
    round: int
    messages: int
    sent: list[Sent] = field(default_factory=list)
    start: float = 0.0
    end: float = 0.0
    posts_during: int | None = None  # POSTs the receiver read while the load ran
    server_cpu: float | None = None
    db_cpu: float | None = None
    error: str | None = None

    @property
    def accepted(self) -> int:
        """Messages that got a 250."""
        return sum(1 for s in self.sent if s.accepted is not None)

    @property
    def rejected(self) -> int:
        """Messages that got anything else (or no reply)."""
        return len(self.sent) - self.accepted

    @property
    def rate(self) -> float | None:
        """Accepted messages per second, start to last 250."""
        if not self.accepted or self.end <= self.start:
            return None
        return self.accepted / (self.end - self.start)

    @property
    def ok(self) -> bool:
        """It ran to the end and every message was accepted."""
        return self.error is None and self.accepted == self.messages


@dataclass
class DeliveryResult:
    """The paced load with webhooks to the fast receiver."""

    store: str
    rate: float
    messages: int
    warmup: float
    sent: list[Sent] = field(default_factory=list)
    arrivals: dict[int, float] = field(default_factory=dict)
    duplicates: int = 0
    start: float = 0.0
    drain_waited: float = 0.0
    server_cpu: float | None = None
    db_cpu: float | None = None
    error: str | None = None

    @property
    def accepted(self) -> int:
        """Messages that got a 250."""
        return sum(1 for s in self.sent if s.accepted is not None)

    @property
    def last_accept(self) -> float | None:
        """When the last 250 was read."""
        done = [s.accepted for s in self.sent if s.accepted is not None]
        return max(done) if done else None

    @property
    def achieved_rate(self) -> float | None:
        """Accepted messages per second, first due time to last 250."""
        last = self.last_accept
        return self.accepted / (last - self.start) if last and last > self.start else None

    @property
    def undelivered(self) -> int:
        """Accepted messages whose POST had not arrived when the benchmark stopped waiting."""
        return sum(
            1 for i, s in enumerate(self.sent) if s.accepted is not None and i not in self.arrivals
        )

    def latencies(self) -> list[float]:
        """250 to POST (seconds, sorted) of the messages due after the warm-up."""
        out = []
        for i, s in enumerate(self.sent):
            if s.accepted is not None and i in self.arrivals and s.due - self.start >= self.warmup:
                out.append(self.arrivals[i] - s.accepted)
        return sorted(out)

    @property
    def delivered_during_rate(self) -> float | None:
        """POSTs per second while the load ran (first due time to last 250)."""
        last = self.last_accept
        if last is None or last <= self.start:
            return None
        during = sum(1 for at in self.arrivals.values() if at <= last)
        return during / (last - self.start)

    @property
    def backlog_at_end(self) -> int | None:
        """Accepted messages not yet delivered at the last 250."""
        last = self.last_accept
        if last is None:
            return None
        return self.accepted - sum(1 for at in self.arrivals.values() if at <= last)

    @property
    def drain(self) -> float | None:
        """Seconds from the last 250 to the last POST (None when it never drained)."""
        last = self.last_accept
        if last is None or self.undelivered or not self.arrivals:
            return None
        return max(0.0, max(self.arrivals.values()) - last)

    @property
    def overall_rate(self) -> float | None:
        """POSTs per second, first due time to the last POST."""
        if not self.arrivals:
            return None
        span = max(self.arrivals.values()) - self.start
        return len(self.arrivals) / span if span > 0 else None


@dataclass
class WebhooksReport(ReportBase[WebhooksConfig]):
    """Everything needed to print and record one run."""

    ingest: list[IngestResult] = field(default_factory=list)
    delivery: list[DeliveryResult] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        """What went wrong (empty when every load ran to the end)."""
        out = []
        for r in self.ingest:
            if r.error:
                out.append(f"ingest {r.store} {r.scenario} round {r.round}: {r.error}")
            elif r.rejected:
                out.append(
                    f"ingest {r.store} {r.scenario} round {r.round}: {r.rejected} of "
                    f"{r.messages} messages not accepted (e.g. {_first_refusal(r.sent)})"
                )
        for d in self.delivery:
            if d.error:
                out.append(f"delivery {d.store}: {d.error}")
        return out


def _first_refusal(sent: Sequence[Sent]) -> str:
    for s in sent:
        if s.accepted is None:
            return repr(s.reply or "no reply")
    return "—"


# --------------------------------------------------------------------------------------
# the load
# --------------------------------------------------------------------------------------
def plan(config: WebhooksConfig, count: int, start: float, rate: float | None) -> list[Sent]:
    """Message g goes to mailbox g mod N, due at start + g / rate (all at start when rate
    is None: back to back)."""
    return [Sent(due=start + (g / rate if rate else 0.0)) for g in range(count)]


async def send_all(config: WebhooksConfig, smtp_port: int, sent: list[Sent]) -> None:
    """Send `sent` over `config.connections` connections: connection c carries mailbox
    c mod N's messages (each mailbox's messages in order, its connections sharing them)."""
    groups = []
    for k in range(config.mailboxes):
        numbers = range(k, len(sent), config.mailboxes)
        schedule = [sent[g] for g in numbers]
        messages = [_message(g, mailbox(k), config.size) for g in numbers]
        groups.append((mailbox(k), schedule, itertools.count(), messages))
    senders = [
        asyncio.create_task(_sender(smtp_port, *groups[c % config.mailboxes]))
        for c in range(config.connections)
    ]
    outcomes = await asyncio.gather(*senders, return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    if errors:
        raise RuntimeError(f"SMTP sender failed: {type(errors[0]).__name__}: {errors[0]}")


def create_webhooks(config: WebhooksConfig, http_port: int, url: str) -> None:
    """One `arrival` webhook per mailbox, through the HTTP API (anonymous: the mailboxes
    are on an open domain)."""
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30) as client:
        for k in range(config.mailboxes):
            answer = client.post(
                f"/api/v1/mailboxes/{mailbox(k)}/webhooks", json={"url": url, "events": ["arrival"]}
            )
            if answer.status_code != 201:
                raise RuntimeError(
                    f"creating the webhook of {mailbox(k)} answered {answer.status_code}: "
                    f"{answer.text[:200]}"
                )


def probe(config: WebhooksConfig, smtp_port: int, receiver: Receiver | None) -> None:
    """One message (number -1) to the first mailbox; with webhooks, wait until the
    receiver has read its POST, so the pipeline is known to work before timing."""
    asyncio.run(_send_one(smtp_port, mailbox(0), -1, config.size))
    if receiver is None:
        return
    deadline = time.monotonic() + PROBE_TIMEOUT
    while receiver.count() < 1:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the probe's webhook POST did not arrive within {PROBE_TIMEOUT} s")
        time.sleep(0.05)


@dataclass
class Deployment:
    """A fresh ephemail server (and, with webhooks, its receiver) for one load."""

    config: WebhooksConfig
    store: str
    label: str
    root: Path
    pg: PostgresServer | None
    src: Path | None
    receiver_mode: str | None
    workdir: Path = field(init=False)
    smtp_port: int = field(init=False)
    http_port: int = field(init=False)
    server: ServerProcess = field(init=False)
    receiver: Receiver | None = field(init=False, default=None)
    db_name: str | None = field(init=False, default=None)
    db_pid: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"webhooks-{self.label}-", dir=self.root))
        self.smtp_port, self.http_port = free_port(), free_port()
        url: str | None = None
        if self.store == "postgres":
            assert self.pg is not None
            self.db_name = f"bench_webhooks_{os.getpid()}"
            url = self.pg.create_database(self.db_name)
            self.db_pid = postmaster_pid(self.pg)
        env = ephemail_env(
            self.workdir / "data", self.smtp_port, self.http_port, url, self.config.env
        )
        if self.src is not None:
            env = with_pythonpath(env, self.src, REPO)
        command = [self.config.python, "-m", "ephemail", "serve"]
        self.server = ServerProcess(f"ephemail ({self.store})", command, env, self.workdir)
        if self.receiver_mode is not None:
            self.receiver = Receiver(self.config, self.receiver_mode, self.workdir)

    def start(self) -> None:
        """Receiver, server, webhooks, probe."""
        if self.receiver is not None:
            self.receiver.start()
        self.server.start()
        try:
            self.server.wait_ready(self.smtp_port, self.http_port, timeout=READY_TIMEOUT)
        except RuntimeError as exc:
            raise RuntimeError(f"server failed to start: {exc}") from None
        if self.receiver is not None:
            create_webhooks(self.config, self.http_port, self.receiver.url)
        probe(self.config, self.smtp_port, self.receiver)

    def cpu(self) -> tuple[float, float | None]:
        """CPU seconds so far of ephemail's process tree and of PostgreSQL."""
        return tree_cpu(self.server.pid), tree_cpu(self.db_pid) if self.db_pid else None

    def check_alive(self) -> None:
        """Raise when the server stopped during the load."""
        status = self.server.exit_status()
        if status is not None:
            raise RuntimeError(
                f"server exited during the load: {status}; output tail:\n"
                f"{tail(self.server.log_path, 10)}"
            )

    def stop(self) -> None:
        """Receiver first (held requests fail at once, so the server's shutdown does not
        wait for their timeout), then the server; the database and directory go."""
        if self.receiver is not None:
            self.receiver.stop()
        self.server.stop()
        if self.pg is not None and self.db_name is not None:
            with contextlib.suppress(Exception):
                self.pg.drop_database(self.db_name)
        if not self.config.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _cpu_delta(
    before: tuple[float, float | None], after: tuple[float, float | None]
) -> tuple[float, float | None]:
    db = after[1] - before[1] if after[1] is not None and before[1] is not None else None
    return after[0] - before[0], db


def run_ingest(
    config: WebhooksConfig,
    store: str,
    scenario: str,
    round_no: int,
    root: Path,
    pg: PostgresServer | None,
    src: Path | None,
) -> IngestResult:
    """One back-to-back load of `config.messages` on a fresh server in `scenario`."""
    result = IngestResult(store=store, scenario=scenario, round=round_no, messages=config.messages)
    mode = None if scenario == "none" else scenario
    deployment = Deployment(config, store, f"{store}-{scenario}-{round_no}", root, pg, src, mode)
    try:
        deployment.start()
        before = deployment.cpu()
        posts_before = deployment.receiver.count() if deployment.receiver else 0
        result.start = time.perf_counter()
        result.sent = plan(config, config.messages, result.start, None)

        async def load() -> None:
            await asyncio.wait_for(
                send_all(config, deployment.smtp_port, result.sent), config.load_timeout
            )

        try:
            asyncio.run(load())
        finally:
            done = [s.accepted for s in result.sent if s.accepted is not None]
            result.end = max(done) if done else time.perf_counter()
            result.server_cpu, result.db_cpu = _cpu_delta(before, deployment.cpu())
        if deployment.receiver is not None:
            arrivals = deployment.receiver.arrivals()
            result.posts_during = sum(
                1 for seq, at in arrivals[posts_before:] if seq >= 0 and at <= result.end
            )
        deployment.check_alive()
    except TimeoutError:
        result.error = f"the load did not finish within {config.load_timeout:.0f} s"
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        deployment.stop()
    return result


def run_delivery(
    config: WebhooksConfig, store: str, root: Path, pg: PostgresServer | None, src: Path | None
) -> DeliveryResult:
    """The paced load with webhooks to the fast receiver, then the drain."""
    result = DeliveryResult(
        store=store, rate=config.rate, messages=config.paced_messages, warmup=config.warmup
    )
    deployment = Deployment(config, store, f"{store}-delivery", root, pg, src, "fast")
    receiver = deployment.receiver
    assert receiver is not None
    try:
        deployment.start()
        before = deployment.cpu()
        result.start = time.perf_counter() + 0.2
        result.sent = plan(config, result.messages, result.start, config.rate)
        asyncio.run(send_all(config, deployment.smtp_port, result.sent))
        waited_from = time.perf_counter()
        while receiver.count() < 1 + result.accepted:  # + the probe
            if time.perf_counter() - waited_from > config.drain_timeout:
                break
            deployment.check_alive()
            time.sleep(0.1)
        result.drain_waited = time.perf_counter() - waited_from
        result.server_cpu, result.db_cpu = _cpu_delta(before, deployment.cpu())
        for seq, at in receiver.arrivals():
            if seq < 0:
                continue
            if seq in result.arrivals:
                result.duplicates += 1
            else:
                result.arrivals[seq] = at
        deployment.check_alive()
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        deployment.stop()
    return result


# --------------------------------------------------------------------------------------
# the benchmark
# --------------------------------------------------------------------------------------
def _check_clock() -> None:
    """The sender and the receiver compare perf_counter readings across processes."""
    implementation = time.get_clock_info("perf_counter").implementation
    if "CLOCK_MONOTONIC" not in implementation or "RAW" in implementation:
        raise SystemExit(
            f"time.perf_counter uses {implementation}: the webhooks benchmark needs the "
            "system-wide CLOCK_MONOTONIC to compare times across processes"
        )


def _ingest_progress(r: IngestResult) -> None:
    smtp = _smtp_times(r.sent)
    line = (
        f"  [{r.store:<8} {r.scenario:<4} round {r.round}] {r.accepted:,}/{r.messages:,} "
        f"accepted at {fmt(r.rate, '{:,.0f}')} msg/s; SMTP p50 {fmt(percentile_ms(smtp, 0.5))} "
        f"p99 {fmt(percentile_ms(smtp, 0.99))} ms"
    )
    if r.posts_during is not None:
        line += f"; {r.posts_during:,} POSTs during the load"
    if r.server_cpu is not None and r.accepted:
        line += f"; ephemail CPU {1000 * r.server_cpu / r.accepted:.2f} ms/msg"
    if r.error:
        line += f"; ERROR {r.error.splitlines()[0]}"
    print(line, flush=True)


def _delivery_progress(d: DeliveryResult) -> None:
    lat = d.latencies()
    line = (
        f"  [{d.store:<8} paced {d.rate:g}/s] {d.accepted:,}/{d.messages:,} accepted at "
        f"{fmt(d.achieved_rate, '{:,.0f}')}/s; 250→POST p50 {fmt(percentile_ms(lat, 0.5))} "
        f"p95 {fmt(percentile_ms(lat, 0.95))} p99 {fmt(percentile_ms(lat, 0.99))} ms; "
        f"delivered {fmt(d.delivered_during_rate, '{:,.0f}')}/s during the load; "
        f"drain {fmt(d.drain, '{:.2f}')} s; undelivered {d.undelivered}"
    )
    if d.error:
        line += f"; ERROR {d.error.splitlines()[0]}"
    print(line, flush=True)


def run_webhooks_benchmark(config: WebhooksConfig) -> WebhooksReport:
    """Ingest rounds (stores and scenarios alternating), then the paced delivery load
    per store; return the report."""
    _check_clock()
    report = WebhooksReport(config=config, started=datetime.now(UTC))
    report.machine = machine_description()
    report.machine["load_start"] = load_average()
    with bench_workspace(
        "ephemail-bench-webhooks-", postgres="postgres" in config.stores, keep=config.keep
    ) as (root, pg):
        try:
            src = snapshot_source(root) if config.snapshot else None
            report.versions = server_versions(config.python, pg, ("uvicorn", "httpx"))
            if src is not None:
                report.versions["ephemail"] += " (source snapshot taken at start)"
            report.commands = _commands(config)
            for round_no in range(1, config.rounds + 1):
                for store in config.stores:
                    for scenario in config.scenarios:
                        result = run_ingest(config, store, scenario, round_no, root, pg, src)
                        _ingest_progress(result)
                        report.ingest.append(result)
            if config.duration > 0:
                for store in config.stores:
                    delivery = run_delivery(config, store, root, pg, src)
                    _delivery_progress(delivery)
                    report.delivery.append(delivery)
        finally:
            report.machine["load_end"] = load_average()
    return report


def suite_command(config: WebhooksConfig) -> str:
    """The `bench.run` command line of this run, every option spelled out."""
    parts = ["python -m bench.run --suite webhooks"]
    if config.stores != STORES:
        parts += [f"--only {s}" for s in config.stores]
    if config.scenarios != SCENARIOS:
        parts += [f"--webhooks-scenario {s}" for s in config.scenarios]
    parts += [
        f"--webhooks-messages {config.messages}",
        f"--webhooks-mailboxes {config.mailboxes}",
        f"--webhooks-connections {config.connections}",
        f"--webhooks-rounds {config.rounds}",
        f"--webhooks-rate {config.rate:g}",
        f"--webhooks-duration {config.duration:g}",
        f"--webhooks-drain-timeout {config.drain_timeout:g}",
    ]
    parts += [f"--server-env {k}={v}" for k, v in config.server_env]
    if not config.snapshot:
        parts.append("--no-snapshot")
    return " ".join(parts)


def _commands(config: WebhooksConfig) -> list[str]:
    base = ephemail_env_text(config.env, "EPHEMAIL_DATA_DIR=<fresh dir>")
    return [
        "# this run (`--quick` and the defaults expand to these options)",
        suite_command(config),
        "# server, fresh per load (PostgreSQL adds "
        "EPHEMAIL_DATABASE_URL=postgresql://…/<fresh db>)",
        f"{base} python -m ephemail serve",
        "# receivers (own process; GET /count and /stats report what arrived)",
        *(
            " ".join(receiver_command("python", mode, 0)).replace("--port 0", "--port PORT3")
            for mode in RECEIVER_MODES
            if mode in config.scenarios or (mode == "fast" and config.duration > 0)
        ),
        f"# webhooks: for each of the {config.mailboxes} mailboxes hook000@{DOMAIN} …",
        "curl -X POST http://127.0.0.1:PORT2/api/v1/mailboxes/ADDRESS/webhooks "
        "-H 'Content-Type: application/json' "
        f"""-d '{{"url": "http://127.0.0.1:PORT3{HOOK_PATH}", "events": ["arrival"]}}'""",
        f"# sender: {config.connections} SMTP connections (EHLO once, then MAIL/RCPT/DATA "
        f"pipelined per message), message g of ~{config.size} bytes to mailbox g mod "
        f"{config.mailboxes}; ingest: {config.messages:,} back to back; delivery: "
        f"{config.rate:g} msg/s for {config.duration:g} s (message g due at start + g / "
        f"{config.rate:g} s)",
    ]


# --------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------
def _median(values: Sequence[float | None]) -> float | None:
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    middle = len(data) // 2
    return data[middle] if len(data) % 2 else (data[middle - 1] + data[middle]) / 2


def _round_ratio(report: WebhooksReport, result: IngestResult) -> float | None:
    """`result`'s msg/s over the no-webhooks load of the same store and round."""
    same = (result.store, result.round, "none")
    for other in report.ingest:
        if (other.store, other.round, other.scenario) != same or not other.ok:
            continue
        if other.rate and result.rate is not None:
            return result.rate / other.rate
    return None


def _per_msg(cpu: float | None, count: int) -> float | None:
    return 1000 * cpu / count if cpu is not None and count else None


def _server_timeout(config: WebhooksConfig) -> str:
    for key, value in config.server_env:
        if key.upper() == "EPHEMAIL_WEBHOOK_TIMEOUT":
            return f"{value} s"
    return "10 s, the default"


def _ingest_lines(report: WebhooksReport) -> list[str]:
    cfg = report.config
    out = [
        "### Ingest with and without webhooks",
        "",
        "| store | scenario | msg/s (median) | ratio to no webhooks (median of the rounds) "
        "| SMTP p50 ms | SMTP p99 ms "
        "| POSTs during the load | ephemail CPU ms/msg | PostgreSQL CPU ms/msg |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for store in cfg.stores:
        mine = [r for r in report.ingest if r.store == store]
        for scenario in cfg.scenarios:
            runs = [r for r in mine if r.scenario == scenario and r.ok]
            rate = _median([r.rate for r in runs])
            smtp = sorted(t for r in runs for t in _smtp_times(r.sent))
            posts = _median([float(r.posts_during) for r in runs if r.posts_during is not None])
            # Each load next to the no-webhooks load of its own round: the machine drifts
            # between rounds more than between neighbouring loads.
            share = _median([_round_ratio(report, r) for r in runs])
            ratio = fmt(share, "{:.2f}") if scenario != "none" else "1.00"
            if scenario != "none" and share is not None:
                ratio += " ✓" if share >= TARGET_RATIO else " ✗"
            out.append(
                f"| {STORE_TITLES[store]} | {SCENARIO_TITLES[scenario]} "
                f"| {fmt(rate, '{:,.0f}')} | {ratio} | {fmt(percentile_ms(smtp, 0.5))} "
                f"| {fmt(percentile_ms(smtp, 0.99))} | {fmt(posts, '{:,.0f}')} "
                f"| {fmt(_median([_per_msg(r.server_cpu, r.accepted) for r in runs]), '{:.2f}')} "
                f"| {fmt(_median([_per_msg(r.db_cpu, r.accepted) for r in runs]), '{:.2f}')} |"
            )
    out += [
        "",
        "Target: issue 6 says webhooks never slow SMTP ingest and sets no figure; this "
        f"suite checks that throughput with webhooks is ≥ {TARGET_RATIO:.0%} of the same "
        "store without webhooks in this run (✓ met, ✗ missed). SMTP p50/p99 pool the "
        "transactions of every round.",
        "",
        "Raw loads (in the order they ran):",
        "",
        "| round | store | scenario | accepted | wall s | msg/s | ratio to no webhooks "
        "(round) | SMTP p50 ms | SMTP p99 ms | POSTs during the load | status |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in report.ingest:
        smtp = _smtp_times(r.sent)
        status = "ok" if r.ok else f"FAILED: {(r.error or 'refusals').splitlines()[0][:120]}"
        out.append(
            f"| {r.round} | {STORE_TITLES[r.store]} | {r.scenario} | {r.accepted:,} "
            f"| {fmt(r.end - r.start if r.sent else None, '{:.2f}')} | {fmt(r.rate, '{:,.0f}')} "
            f"| {fmt(_round_ratio(report, r), '{:.2f}')} | {fmt(percentile_ms(smtp, 0.5))} "
            f"| {fmt(percentile_ms(smtp, 0.99))} "
            f"| {'—' if r.posts_during is None else f'{r.posts_during:,}'} "
            f"| {status.replace('|', '/')} |"
        )
    return [*out, ""]


def _delivery_lines(report: WebhooksReport) -> list[str]:
    cfg = report.config
    out = [
        f"### Delivery latency at {cfg.rate:g} msg/s",
        "",
        "| store | sent | accepted | achieved msg/s | SMTP p50 ms | SMTP p99 ms "
        "| 250→POST p50 ms | p95 ms | p99 ms | max ms | delivered/s during the load "
        "| backlog at the last 250 | drain after the last 250 s | delivered/s overall "
        "| undelivered | duplicates | ephemail CPU ms/msg | PostgreSQL CPU ms/msg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for d in report.delivery:
        lat = d.latencies()
        smtp = _smtp_times(d.sent)
        drain = fmt(d.drain, "{:.2f}")
        if d.undelivered:
            drain = f"not drained after {d.drain_waited:.0f} s"
        backlog = d.backlog_at_end
        out.append(
            f"| {STORE_TITLES[d.store]} | {len(d.sent):,} | {d.accepted:,} "
            f"| {fmt(d.achieved_rate, '{:,.0f}')} | {fmt(percentile_ms(smtp, 0.5))} "
            f"| {fmt(percentile_ms(smtp, 0.99))} | {fmt(percentile_ms(lat, 0.5))} "
            f"| {fmt(percentile_ms(lat, 0.95))} | {fmt(percentile_ms(lat, 0.99))} "
            f"| {fmt(percentile_ms(lat, 1.0))} | {fmt(d.delivered_during_rate, '{:,.0f}')} "
            f"| {'—' if backlog is None else f'{backlog:,}'} | {drain} "
            f"| {fmt(d.overall_rate, '{:,.0f}')} | {d.undelivered:,} | {d.duplicates:,} "
            f"| {fmt(_per_msg(d.server_cpu, d.accepted), '{:.2f}')} "
            f"| {fmt(_per_msg(d.db_cpu, d.accepted), '{:.2f}')} |"
        )
    out += [
        "",
        f"250→POST = the receiver reading the POST's body − the sender reading the `250` "
        f"(messages due in the first {cfg.warmup:g} s not counted). Delivered/s during the "
        "load = POSTs read between the first due time and the last `250`, per second; "
        "backlog = accepted messages not yet delivered at the last `250`; drain = last "
        "`250` to last POST; overall = all POSTs ÷ (first due time → last POST). CPU "
        "counts from the start of the load to the end of the drain.",
        "",
    ]
    return out


def render_webhooks_markdown(report: WebhooksReport) -> str:
    """The report as markdown (the body of the docs/benchmarks.md section)."""
    cfg = report.config
    out = [
        "## Webhooks: cost to SMTP ingest and delivery latency",
        "",
        *run_lines(report),
        f"- Ingest: {cfg.messages:,} messages of ~{cfg.size} bytes per load, back to back "
        f"over {cfg.connections} reused SMTP connections (PIPELINING), spread over "
        f"{cfg.mailboxes} mailboxes; {cfg.rounds} round(s), and in each round every store "
        f"runs the scenarios in turn ({', '.join(cfg.scenarios)}), each on a fresh server "
        "and database; medians reported. Scenarios: no webhooks; one `arrival` webhook "
        "per mailbox to a receiver answering `204`; the same webhooks to a receiver that "
        "reads each POST and never answers (the server's attempt timeout: "
        f"{_server_timeout(cfg)}). All webhooks point at one endpoint (127.0.0.1:port), so "
        "the per-endpoint concurrency bound applies to all of them. msg/s = accepted "
        "messages ÷ (start → last `250`); SMTP = MAIL written → `250` to DATA read.",
        f"- Delivery: the 204 receiver, {cfg.rate:g} msg/s paced for {cfg.duration:g} s "
        f"over the same connections and mailboxes, then up to {cfg.drain_timeout:g} s for "
        "the outbox to drain.",
        "- The receiver is a separate Python process (asyncio, HTTP/1.1 keep-alive); sender, "
        "receiver, ephemail (and PostgreSQL) share the CPUs. Compare figures only within "
        "this run.",
        "",
        *command_lines(report.commands),
    ]
    if report.ingest:
        out += _ingest_lines(report)
    if report.delivery:
        out += _delivery_lines(report)
    out += failure_lines(report.failures)
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------------------
# the receiver's entry point
# --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """`python -m bench.webhooks_bench receiver --mode fast|hang --port N`."""
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks_bench")
    commands = parser.add_subparsers(dest="command", required=True)
    receiver = commands.add_parser("receiver", help="the benchmark's webhook receiver")
    receiver.add_argument("--mode", choices=RECEIVER_MODES, required=True)
    receiver.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_receiver(args.mode, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
