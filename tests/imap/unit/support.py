"""Helpers for the protocol-core tests: feed bytes, collect events."""

from __future__ import annotations

from ephemail.protocols.imap.proto.parser import (
    Event,
    ImapParser,
    NeedData,
    ParserLimits,
)


def events(data: bytes, limits: ParserLimits | None = None, *, chunk: int = 0) -> list[Event]:
    """Every event the parser produces for `data` (fed at once, or `chunk` bytes at a
    time), without the NeedData markers."""
    parser = ImapParser(limits)
    return feed(parser, data, chunk=chunk)


def feed(parser: ImapParser, data: bytes, *, chunk: int = 0) -> list[Event]:
    """Feed `data` to an existing parser and collect its events."""
    out: list[Event] = []
    pieces = [data] if chunk <= 0 else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces or [b""]:
        parser.receive_data(piece)
        while True:
            event = parser.next_event()
            if isinstance(event, NeedData):
                break
            out.append(event)
    return out
