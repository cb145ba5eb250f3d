"""Sans-IO IMAP protocol core: typed commands (`commands`), the command parser (`parser`,
`grammar`), modified UTF-7 (`utf7`), response serialisers (`responses`) and the command
serialiser (`serialise`). It imports only `ephemail.domain` and the standard library.
"""

from ephemail.protocols.imap.proto.parser import (
    ContinuationRequest,
    Event,
    HttpRequestError,
    IdleDone,
    ImapParser,
    NeedData,
    ParseError,
    ParserLimits,
    RawLine,
)
from ephemail.protocols.imap.proto.serialise import serialise_command

__all__ = [
    "ContinuationRequest",
    "Event",
    "HttpRequestError",
    "IdleDone",
    "ImapParser",
    "NeedData",
    "ParseError",
    "ParserLimits",
    "RawLine",
    "serialise_command",
]
