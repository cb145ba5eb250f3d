"""Entry point: `python -m bench.run [--quick] [--only SERVER] [--write]` (see bench/README.md)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from bench.smtp_ingest import (
    MODES,
    SERVERS,
    BenchConfig,
    render_markdown,
    run_benchmark,
    write_section,
)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="SMTP ingest benchmark: smtp-source against a discard-only aiosmtpd "
        "ceiling and ephemail on SQLite and PostgreSQL, alternated, medians reported.",
    )
    parser.add_argument("--messages", type=int, default=20_000, help="messages per run (20000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 messages per run")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per mode (2)")
    parser.add_argument("--sessions", type=int, default=20, help="concurrent sessions (20)")
    parser.add_argument("--size", type=int, default=4096, help="message size in bytes (4096)")
    parser.add_argument(
        "--only",
        action="append",
        choices=SERVERS,
        help="run only this server (repeatable); default: all three",
    )
    parser.add_argument(
        "--mode",
        action="append",
        choices=MODES,
        help="new: a connection per message; reused: smtp-source -d (repeatable); default: both",
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
        "--timeout", type=float, default=None, help="time limit of one load in seconds"
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help=f"replace the SMTP ingest section of {DOCS.relative_to(DOCS.parents[1])}",
    )
    parser.add_argument("--output", type=Path, default=DOCS, help="file written by --write")
    parser.add_argument(
        "--retries",
        type=int,
        default=1,
        help="run a load again when its server was stopped from outside (default 1)",
    )
    parser.add_argument("--keep", action="store_true", help="keep temporary directories")
    parser.add_argument(
        "--no-snapshot",
        dest="snapshot",
        action="store_false",
        help="run ephemail from the working tree, not from a copy of src/ taken at the start",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.messages = 2_000
    if args.messages < 1 or args.rounds < 1 or args.sessions < 1 or args.size < 1:
        parser.error("--messages, --rounds, --sessions and --size must be positive")
    return args


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 when a run failed or stored a different count."""
    args = parse_args(argv)
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so servers and temp dirs are cleaned up.
    signal.signal(signal.SIGTERM, _terminate)
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
    body = render_markdown(report)
    print()
    print(body)
    failures = report.failures
    if failures:
        print(f"{len(failures)} run(s) failed or stored a different number of messages:")
        for r in failures:
            print(f"  {r.mode} round {r.round} {r.server}: {r.error or 'stored count mismatch'}")
    if args.write:
        if failures:
            print(f"not writing {args.output}: fix the failed runs first", file=sys.stderr)
        else:
            write_section(args.output, body)
            print(f"wrote {args.output}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
