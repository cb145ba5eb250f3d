"""Entry point: `python -m bench.run [--suite NAME|all] [--quick] [--write]`.

Suites (see bench/README.md):

- ``smtp``: SMTP ingest throughput (`bench/smtp_ingest.py`);
- ``http``: listing and search latency over 100,000 stored messages (`bench/http_read.py`);
- ``events``: SMTP-accept-to-WebSocket-delivery latency at 500 msg/s (`bench/live_events.py`);
- ``imap``: ephemail's IMAP server next to Dovecot over a 10,000-message mailbox
  (`bench/imap_bench.py`);
- ``webhooks``: SMTP ingest with and without webhooks (fast and hanging receivers) and
  SMTP-250-to-webhook-POST latency at 200 msg/s (`bench/webhooks_bench.py`).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from bench.common import REPO, STORES, section_writer
from bench.http_read import OPERATION_KEYS, HttpConfig, render_http_markdown, run_http_benchmark
from bench.imap_bench import IMAP_SERVERS, ImapConfig, render_imap_markdown, run_imap_benchmark
from bench.live_events import EventsConfig, render_events_markdown, run_events_benchmark
from bench.smtp_ingest import MODES, SERVERS, BenchConfig, render_markdown, run_benchmark
from bench.webhooks_bench import (
    SCENARIOS,
    WebhooksConfig,
    render_webhooks_markdown,
    run_webhooks_benchmark,
)

DOCS = REPO / "docs" / "benchmarks.md"
SUITES = ("smtp", "http", "events", "imap", "webhooks")
# Defaults of the full run and of --quick, for options left unset.
FULL = {
    "messages": 20_000,
    "http_messages": 100_000,
    "http_duration": 10.0,
    "http_single_duration": 3.0,
    "http_paced_duration": 5.0,
    "events_duration": 20.0,
    "imap_messages": 10_000,
    "imap_rounds": 5,
    "imap_duration": 10.0,
    "imap_idle_duration": 10.0,
    "webhooks_messages": 4_000,
    "webhooks_rounds": 3,
    "webhooks_duration": 20.0,
}
QUICK = {
    "messages": 2_000,
    "http_messages": 2_000,
    "http_duration": 2.0,
    "http_single_duration": 1.0,
    "http_paced_duration": 1.0,
    "events_duration": 3.0,
    "imap_messages": 500,
    "imap_rounds": 1,
    "imap_duration": 2.0,
    "imap_idle_duration": 2.0,
    "webhooks_messages": 500,
    "webhooks_rounds": 1,
    "webhooks_duration": 2.0,
}


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="ephemail benchmarks: SMTP ingest throughput (smtp), HTTP listing and "
        "search latency over 100,000 messages (http), SMTP-to-WebSocket event latency "
        "(events), IMAP next to Dovecot (imap), SMTP ingest with webhooks and webhook "
        "delivery latency (webhooks); on SQLite and PostgreSQL.",
    )
    parser.add_argument(
        "--suite",
        action="append",
        choices=(*SUITES, "all"),
        help="which benchmark to run (repeatable; default: all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2,000 SMTP messages; 2,000 stored messages and 2 s per HTTP "
        "operation; 3 s of events; 500 IMAP messages, 2 s per timed IMAP phase; 500 "
        "messages per webhooks ingest load, 1 round, 2 s paced (options given explicitly "
        "still apply)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=SERVERS,
        help="run only this server / store (repeatable); the http, events and imap suites "
        "use sqlite and postgres (imap: ephemail's stores); default: all",
    )
    smtp = parser.add_argument_group("smtp suite")
    smtp.add_argument("--messages", type=int, help="messages per run (20000)")
    smtp.add_argument("--rounds", type=int, default=2, help="rounds per mode (2)")
    smtp.add_argument("--sessions", type=int, default=20, help="concurrent sessions (20)")
    smtp.add_argument("--size", type=int, default=4096, help="message size in bytes (4096)")
    smtp.add_argument(
        "--mode",
        action="append",
        choices=MODES,
        help="new: a connection per message; reused: smtp-source -d (repeatable); default: both",
    )
    smtp.add_argument(
        "--timeout", type=float, default=None, help="time limit of one load in seconds"
    )
    smtp.add_argument(
        "--retries",
        type=int,
        default=1,
        help="run a load again when its server was stopped from outside (default 1)",
    )
    http = parser.add_argument_group("http suite")
    http.add_argument("--http-messages", type=int, help="messages seeded per store (100000)")
    http.add_argument("--http-clients", type=int, default=20, help="concurrent clients (20)")
    http.add_argument(
        "--http-duration", type=float, help="seconds per operation and store, all clients (10)"
    )
    http.add_argument(
        "--http-single-duration", type=float, help="seconds per operation and store, 1 client (3)"
    )
    http.add_argument(
        "--http-paced-duration",
        type=float,
        help="seconds per operation and store, all clients paced at half the throughput "
        "(5; 0 = skip)",
    )
    http.add_argument(
        "--http-profile",
        type=Path,
        metavar="DIR",
        help="after timing each operation, run it 5 s more with py-spy (--gil, raw) "
        "attached to the server; profiles go to DIR/<store>-<operation>.txt",
    )
    http.add_argument(
        "--http-op",
        action="append",
        choices=OPERATION_KEYS,
        help="run only this operation (repeatable); default: all",
    )
    events = parser.add_argument_group("events suite")
    events.add_argument(
        "--events-rate",
        action="append",
        type=float,
        help="messages per second (repeatable: one load per rate; default 500)",
    )
    events.add_argument("--events-duration", type=float, help="seconds of sending per load (20)")
    events.add_argument(
        "--events-connections", type=int, default=20, help="SMTP connections of the sender (20)"
    )
    imap = parser.add_argument_group("imap suite")
    imap.add_argument("--imap-messages", type=int, help="messages in the mailbox (10000)")
    imap.add_argument("--imap-clients", type=int, default=10, help="connections per server (10)")
    imap.add_argument(
        "--imap-rounds",
        type=int,
        help="per connection: 4N SELECTs, N FLAGS fetches of the mailbox, N/2 (at least 1) "
        "of each SEARCH (5)",
    )
    imap.add_argument(
        "--imap-duration", type=float, help="seconds of BODY.PEEK[] fetching per server (10)"
    )
    imap.add_argument(
        "--imap-idle-duration", type=float, help="seconds of deliveries while idling (10)"
    )
    imap.add_argument(
        "--imap-idle-rate", type=float, default=20.0, help="deliveries per second in IDLE (20)"
    )
    imap.add_argument(
        "--imap-server",
        action="append",
        choices=IMAP_SERVERS,
        help="measure only this server (repeatable; default both; ephemail runs on the "
        "stores of --only)",
    )
    webhooks = parser.add_argument_group("webhooks suite")
    webhooks.add_argument(
        "--webhooks-messages", type=int, help="messages per back-to-back ingest load (4000)"
    )
    webhooks.add_argument(
        "--webhooks-mailboxes", type=int, default=20, help="mailboxes, one webhook each (20)"
    )
    webhooks.add_argument(
        "--webhooks-connections", type=int, default=20, help="SMTP connections of the sender (20)"
    )
    webhooks.add_argument("--webhooks-rounds", type=int, help="ingest rounds (3)")
    webhooks.add_argument(
        "--webhooks-scenario",
        action="append",
        choices=SCENARIOS,
        help="ingest scenario: none (no webhooks), fast (receiver answers 204), hang "
        "(receiver never answers); repeatable; default: all",
    )
    webhooks.add_argument(
        "--webhooks-rate", type=float, default=200.0, help="paced delivery load, msg/s (200)"
    )
    webhooks.add_argument(
        "--webhooks-duration", type=float, help="seconds of the paced delivery load (20; 0 = skip)"
    )
    webhooks.add_argument(
        "--webhooks-drain-timeout",
        type=float,
        default=180.0,
        help="seconds to wait for the outbox to drain after the paced load (180)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        type=_env_pair,
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the ephemail servers (repeatable)",
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help=f"replace the sections of {DOCS.relative_to(DOCS.parents[1])} of the suites "
        "that ran without failures",
    )
    parser.add_argument("--output", type=Path, default=DOCS, help="file written by --write")
    parser.add_argument("--keep", action="store_true", help="keep temporary directories")
    parser.add_argument(
        "--no-snapshot",
        dest="snapshot",
        action="store_false",
        help="run ephemail from the working tree, not from a copy of src/ taken at the start",
    )
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.messages < 1 or args.rounds < 1 or args.sessions < 1 or args.size < 1:
        parser.error("--messages, --rounds, --sessions and --size must be positive")
    if args.http_messages < 100 or args.http_clients < 1:
        parser.error("--http-messages must be at least 100, --http-clients positive")
    if args.http_duration <= 0 or args.http_single_duration <= 0 or args.events_duration <= 0:
        parser.error("durations must be positive")
    if args.http_paced_duration < 0:
        parser.error("--http-paced-duration must not be negative")
    if any(r <= 0 for r in args.events_rate or ()) or args.events_connections < 1:
        parser.error("--events-rate and --events-connections must be positive")
    if args.imap_messages < 10 or args.imap_clients < 1 or args.imap_rounds < 1:
        parser.error(
            "--imap-messages must be at least 10, --imap-clients and --imap-rounds positive"
        )
    if args.imap_duration <= 0 or args.imap_idle_duration <= 0 or args.imap_idle_rate <= 0:
        parser.error("IMAP durations and --imap-idle-rate must be positive")
    if min(args.webhooks_messages, args.webhooks_mailboxes, args.webhooks_rounds) < 1:
        parser.error(
            "--webhooks-messages, --webhooks-mailboxes and --webhooks-rounds must be positive"
        )
    if not args.webhooks_mailboxes <= args.webhooks_connections:
        parser.error("--webhooks-connections must be at least --webhooks-mailboxes")
    if args.webhooks_rate <= 0 or args.webhooks_duration < 0 or args.webhooks_drain_timeout <= 0:
        parser.error("--webhooks-rate and --webhooks-drain-timeout must be positive")
    return args


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_smtp(args: argparse.Namespace) -> tuple[str, list[str], Callable[[Path, str], None]]:
    """The SMTP ingest suite: (markdown, failures, section writer)."""
    servers = tuple(s for s in SERVERS if s in (args.only or SERVERS))
    modes = tuple(m for m in MODES if m in (args.mode or MODES))
    config = BenchConfig(
        messages=args.messages,
        sessions=args.sessions,
        size=args.size,
        rounds=args.rounds,
        servers=servers,
        modes=modes,
        server_env=tuple(args.server_env),
        timeout=args.timeout,
        keep=args.keep,
        snapshot=args.snapshot,
        retries=max(0, args.retries),
    )
    report = run_benchmark(config)
    failures = [
        f"{r.mode} round {r.round} {r.server}: {r.error or 'stored count mismatch'}"
        for r in report.failures
    ]
    return render_markdown(report), failures, section_writer("smtp-ingest")


def _stores(args: argparse.Namespace) -> tuple[str, ...]:
    return tuple(s for s in STORES if s in (args.only or STORES))


def run_http(args: argparse.Namespace) -> tuple[str, list[str], Callable[[Path, str], None]]:
    """The HTTP read suite: (markdown, failures, section writer)."""
    config = HttpConfig(
        messages=args.http_messages,
        clients=args.http_clients,
        duration=args.http_duration,
        single_duration=args.http_single_duration,
        paced_duration=args.http_paced_duration,
        profile_dir=args.http_profile,
        stores=_stores(args),
        operations=tuple(args.http_op) if args.http_op else None,
        server_env=tuple(args.server_env),
        keep=args.keep,
        snapshot=args.snapshot,
    )
    report = run_http_benchmark(config)
    return render_http_markdown(report), report.failures, section_writer("http-read")


def run_events(args: argparse.Namespace) -> tuple[str, list[str], Callable[[Path, str], None]]:
    """The live events suite: (markdown, failures, section writer)."""
    config = EventsConfig(
        rates=tuple(args.events_rate or (500.0,)),
        duration=args.events_duration,
        connections=args.events_connections,
        stores=_stores(args),
        server_env=tuple(args.server_env),
        keep=args.keep,
        snapshot=args.snapshot,
    )
    report = run_events_benchmark(config)
    return render_events_markdown(report), report.failures, section_writer("live-events")


def run_imap(args: argparse.Namespace) -> tuple[str, list[str], Callable[[Path, str], None]]:
    """The IMAP suite (ephemail next to Dovecot): (markdown, failures, section writer)."""
    rounds = args.imap_rounds
    config = ImapConfig(
        messages=args.imap_messages,
        clients=args.imap_clients,
        select_rounds=4 * rounds,
        flags_rounds=rounds,
        search_rounds=max(1, rounds // 2),
        fetch_duration=args.imap_duration,
        idle_rate=args.imap_idle_rate,
        idle_duration=args.imap_idle_duration,
        stores=_stores(args),
        servers=tuple(s for s in IMAP_SERVERS if s in (args.imap_server or IMAP_SERVERS)),
        server_env=tuple(args.server_env),
        keep=args.keep,
        snapshot=args.snapshot,
    )
    report = run_imap_benchmark(config)
    return render_imap_markdown(report), report.failures, section_writer("imap")


def run_webhooks(args: argparse.Namespace) -> tuple[str, list[str], Callable[[Path, str], None]]:
    """The webhooks suite (ingest cost and delivery latency): (markdown, failures, writer)."""
    config = WebhooksConfig(
        messages=args.webhooks_messages,
        mailboxes=args.webhooks_mailboxes,
        connections=args.webhooks_connections,
        rounds=args.webhooks_rounds,
        scenarios=tuple(s for s in SCENARIOS if s in (args.webhooks_scenario or SCENARIOS)),
        rate=args.webhooks_rate,
        duration=args.webhooks_duration,
        drain_timeout=args.webhooks_drain_timeout,
        stores=_stores(args),
        server_env=tuple(args.server_env),
        keep=args.keep,
        snapshot=args.snapshot,
    )
    report = run_webhooks_benchmark(config)
    return render_webhooks_markdown(report), report.failures, section_writer("webhooks")


RUNNERS = {
    "smtp": run_smtp,
    "http": run_http,
    "events": run_events,
    "imap": run_imap,
    "webhooks": run_webhooks,
}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen suites; exit 1 when any of them failed."""
    args = parse_args(argv)
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so servers and temp dirs are cleaned up.
    signal.signal(signal.SIGTERM, _terminate)
    chosen = args.suite or ["all"]
    suites = [s for s in SUITES if s in chosen or "all" in chosen]
    any_failed = False
    for suite in suites:
        print(f"=== {suite} ===", flush=True)
        body, failures, write = RUNNERS[suite](args)
        print()
        print(body)
        if failures:
            any_failed = True
            print(f"{suite}: {len(failures)} failure(s):")
            for failure in failures:
                print(f"  {failure.splitlines()[0] if failure else failure}")
        if args.write:
            if failures:
                print(f"not writing the {suite} section: fix the failures first", file=sys.stderr)
            else:
                write(args.output, body)
                print(f"wrote the {suite} section of {args.output}")
    return 1 if any_failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
