"""The benchmark harness works end to end on a tiny data set (it times nothing here):
`make bench` should not be the first place a broken harness shows up."""

from __future__ import annotations

from pathlib import Path

from bench.common import write_marked_section
from bench.http_read import HttpConfig, render_http_markdown, run_http_benchmark
from bench.imap_bench import ImapConfig, dovecot_binary, render_imap_markdown, run_imap_benchmark
from bench.live_events import EventsConfig, render_events_markdown, run_events_benchmark


def test_http_read_suite_seeds_serves_and_reports() -> None:
    config = HttpConfig(
        messages=300,
        clients=2,
        # Long enough for one request of the slowest operation (a global phrase search)
        # to complete in each phase while the other test worker runs chromium: 0.2 s
        # phases once finished with none (the assertions below need at least one).
        duration=1.0,
        single_duration=0.6,
        paced_duration=0.6,
        warmup=0.1,
        stores=("sqlite",),
        operations=("list-big", "list-deep", "search-mailbox-common", "search-all-phrase"),
        snapshot=False,
    )
    report = run_http_benchmark(config)

    assert report.failures == []
    manifest = report.stores["sqlite"].manifest
    assert manifest["messages"] == 300
    assert manifest["deep_cursors"]
    assert [r.op.key for r in report.results] == list(config.operations or ())
    for result in report.results:
        assert result.unavailable is None, result.unavailable
        assert result.concurrent is not None and result.concurrent.requests > 0
        assert result.single is not None and result.single.requests > 0
        assert result.paced is not None and result.paced.requests > 0
    listing = report.results[0]
    assert listing.matched == manifest["big"]["count"]
    text = render_http_markdown(report)
    assert "## HTTP reads: listing and search" in text
    assert "list, big mailbox, first page" in text


def test_events_suite_matches_every_frame() -> None:
    config = EventsConfig(
        rates=(50.0,), duration=1.0, connections=2, warmup=0.2, stores=("sqlite",), snapshot=False
    )
    report = run_events_benchmark(config)

    assert report.failures == []
    (result,) = report.results
    assert result.accepted == 50
    assert result.lost == 0
    assert len(result.latencies()) > 0
    assert "## Live events" in render_events_markdown(report)


def test_sections_replace_only_their_own_text(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nhand-written notes\n")
    write_marked_section(doc, "http-read", "## first\n")
    write_marked_section(doc, "live-events", "## events\n")
    write_marked_section(doc, "http-read", "## second\n")

    text = doc.read_text()
    assert "hand-written notes" in text
    assert "## first" not in text
    assert text.index("## second") < text.index("## events")
    assert text.count("<!-- bench:http-read:start -->") == 1


def test_imap_suite_measures_every_phase_on_both_servers() -> None:
    servers = ("ephemail", "dovecot") if dovecot_binary() else ("ephemail",)
    config = ImapConfig(
        messages=60,
        clients=2,
        select_rounds=2,
        flags_rounds=1,
        search_rounds=1,
        fetch_duration=0.3,
        fetch_chunk=20,
        idle_rate=20.0,
        idle_duration=0.5,
        idle_grace=5.0,
        seed_connections=2,
        stores=("sqlite",),
        servers=servers,
        snapshot=False,
    )
    report = run_imap_benchmark(config)

    assert report.failures == []
    assert [r.key for r in report.results] == ["sqlite", *servers[1:]]
    planted = {"text": report.corpus["text_matches"], "body": report.corpus["body_matches"]}
    assert planted["text"] >= 2 and planted["body"] >= 1
    for result in report.results:
        assert result.stored == 60
        assert len(result.select) == 4 and len(result.flags) == 2
        assert result.fetch_messages > 0 and result.fetch_bytes > 0
        assert result.matches == planted
        assert result.idle_lost == 0 and len(result.idle) == 10 * 2
    text = render_imap_markdown(report)
    assert "## IMAP: ephemail next to Dovecot" in text
    if len(servers) == 2:
        assert "(SQLite) ÷ Dovecot" in text
