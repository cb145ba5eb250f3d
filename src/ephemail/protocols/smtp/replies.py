"""Every SMTP reply ephemail sends, with its RFC 3463 enhanced status code.

RFC 2034 (ENHANCEDSTATUSCODES): every 2xx/4xx/5xx reply except the greeting and the replies
to HELO/EHLO carries an enhanced status code. Replies are kept as wire bytes (CRLF included)
so the hot path writes them without formatting or encoding.

`aiosmtpd_replies` maps the texts aiosmtpd 1.4.6 writes on its own (syntax errors, sequence
errors, its defaults when a hook is absent) to ours, and says which of them spend the
connection's error budget. It is checked against aiosmtpd's source by
tests/smtp/test_replies.py, so an aiosmtpd upgrade that changes a text fails a test instead of
silently sending a reply without an enhanced code.
"""

from __future__ import annotations

from typing import Final, NamedTuple

__all__ = [
    "ERROR_CODES",
    "Reply",
    "aiosmtpd_replies",
    "default_enhanced_code",
]

CRLF: Final = b"\r\n"

# Reply codes that mean "the client sent a bad, unknown or out-of-sequence command": each one
# spends one unit of the connection's error budget (SPEC → SMTP: error budget).
ERROR_CODES: Final = frozenset({500, 501, 502, 503, 504, 555})

# A fitting enhanced code for a reply number when the text has none (RFC 3463 / RFC 5248).
_DEFAULT_ENHANCED: Final = {
    211: "2.0.0",
    214: "2.0.0",
    220: "2.0.0",
    221: "2.0.0",
    250: "2.0.0",
    251: "2.1.5",
    252: "2.5.0",
    421: "4.3.0",
    450: "4.2.0",
    451: "4.3.0",
    452: "4.3.1",
    454: "4.3.0",
    500: "5.5.2",
    501: "5.5.4",
    502: "5.5.1",
    503: "5.5.1",
    504: "5.5.4",
    530: "5.7.0",
    550: "5.0.0",
    552: "5.3.4",
    553: "5.1.3",
    554: "5.0.0",
    555: "5.5.4",
}


def default_enhanced_code(code: int) -> str:
    """The enhanced code used for a reply number whose text carries none."""
    found = _DEFAULT_ENHANCED.get(code)
    if found is not None:
        return found
    return f"{code // 100}.0.0"


class Reply(NamedTuple):
    """One reply as written on the wire, and whether it spends the error budget."""

    wire: bytes
    spends: bool


def _r(text: str, *, spends: bool = False) -> Reply:
    return Reply(text.encode("ascii") + CRLF, spends)


# ---------------------------------------------------------------------------------------------
# Our own replies (SPEC → SMTP (receive)). Handler hooks return these bytes directly.

MAIL_OK: Final = b"250 2.1.0 Ok" + CRLF
RCPT_OK: Final = b"250 2.1.5 Ok" + CRLF
SENDER_BANNED: Final = b"550 5.7.1 Sender banned" + CRLF
BAD_SENDER_SYNTAX: Final = b"553 5.1.7 Bad sender address syntax" + CRLF
BAD_RECIPIENT_SYNTAX: Final = b"553 5.1.3 Bad recipient address syntax" + CRLF
DOMAIN_NOT_ALLOWED: Final = b"550 5.1.2 Domain not allowed" + CRLF
DOMAIN_BANNED: Final = b"550 5.7.1 Domain banned" + CRLF
ADDRESS_BANNED: Final = b"550 5.7.1 Address banned" + CRLF
TOO_MANY_RECIPIENTS: Final = b"452 4.5.3 Too many recipients" + CRLF
# Quotas (RFC 3463 X.2.2 "mailbox full"; 452 is RFC 5321's "insufficient storage", a
# temporary answer, so the sender keeps the message and retries later).
MAILBOX_FULL: Final = b"452 4.2.2 Mailbox full" + CRLF
OVER_QUOTA: Final = b"452 4.2.2 Over quota" + CRLF
# A private domain's address that is none of its owner's mailboxes (RFC 3463 5.1.1).
NO_SUCH_MAILBOX: Final = b"550 5.1.1 No such mailbox" + CRLF
MESSAGE_TOO_LARGE: Final = b"552 5.3.4 Message too large" + CRLF
SMUGGLING: Final = b"550 5.5.2 Bare CR or LF with dot in message (possible SMTP smuggling)" + CRLF
STORAGE_UNAVAILABLE: Final = b"451 4.3.0 Storage unavailable, try again later" + CRLF
LOCAL_ERROR: Final = b"451 4.3.0 Local error in processing, try again later" + CRLF
QUEUED_PREFIX: Final = b"250 2.0.0 Ok: queued as "
CLIENT_BANNED: Final = b"554 5.7.1 Client address banned" + CRLF
NO_VALID_RECIPIENTS: Final = b"554 5.5.1 Error: no valid recipients" + CRLF
VRFY_SYNTAX: Final = _r("501 5.5.4 Syntax: VRFY <address>", spends=True)
UNKNOWN_COMMAND: Final = "500 5.5.1 Error: command not recognized"


def closing(hostname: str, code: str, text: str) -> bytes:
    """A 421 reply that ends the connection: `421 <code> <hostname> <text>`."""
    return f"421 {code} {hostname} {text}".encode("ascii", "replace") + CRLF


# ---------------------------------------------------------------------------------------------
# aiosmtpd 1.4.6's own texts (smtp.py) → ours.

_AIOSMTPD: Final[dict[str, Reply]] = {
    # Defaults when a hook returns nothing (NOOP, RSET) and QUIT / VRFY.
    "250 OK": _r("250 2.0.0 Ok"),
    "221 Bye": _r("221 2.0.0 Bye"),
    "252 Cannot VRFY user, but will accept message and attempt delivery": _r(
        "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery"
    ),
    "354 End data with <CR><LF>.<CR><LF>": _r("354 End data with <CR><LF>.<CR><LF>"),
    # Line-level problems before a command is dispatched.
    "500 Error: bad syntax": _r("500 5.5.2 Error: bad syntax", spends=True),
    "500 Command line too long": _r("500 5.5.2 Error: command line too long", spends=True),
    "500 Error: strict ASCII mode": _r("500 5.6.7 Error: non-ASCII input", spends=True),
    # Out of sequence.
    "503 Error: send HELO first": _r("503 5.5.1 Error: send HELO first", spends=True),
    "503 Error: send EHLO first": _r("503 5.5.1 Error: send EHLO first", spends=True),
    "503 Error: nested MAIL command": _r("503 5.5.1 Error: nested MAIL command", spends=True),
    "503 Error: need MAIL command": _r("503 5.5.1 Error: need MAIL command", spends=True),
    # Syntax errors in arguments.
    "501 Syntax: HELO hostname": _r("501 5.5.4 Syntax: HELO hostname", spends=True),
    "501 Syntax: EHLO hostname": _r("501 5.5.4 Syntax: EHLO hostname", spends=True),
    "501 Syntax: QUIT": _r("501 5.5.4 Syntax: QUIT", spends=True),
    "501 Syntax: RSET": _r("501 5.5.4 Syntax: RSET", spends=True),
    "501 Syntax: DATA": _r("501 5.5.4 Syntax: DATA", spends=True),
    "501 Syntax: VRFY <address>": VRFY_SYNTAX,
    "501 Syntax: MAIL FROM: <address>": _r("501 5.5.4 Syntax: MAIL FROM:<address>", spends=True),
    "501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]": _r(
        "501 5.5.4 Syntax: MAIL FROM:<address> [SP <mail-parameters>]", spends=True
    ),
    "501 Syntax: RCPT TO: <address>": _r("501 5.5.4 Syntax: RCPT TO:<address>", spends=True),
    "501 Syntax: RCPT TO: <address> [SP <mail-parameters>]": _r(
        "501 5.5.4 Syntax: RCPT TO:<address> [SP <mail-parameters>]", spends=True
    ),
    "501 Error: BODY can only be one of 7BIT, 8BITMIME": _r(
        "501 5.5.4 Error: BODY can only be one of 7BIT, 8BITMIME", spends=True
    ),
    "501 Error: SMTPUTF8 takes no arguments": _r(
        "501 5.5.4 Error: SMTPUTF8 takes no arguments", spends=True
    ),
    "555 MAIL FROM parameters not recognized or not implemented": _r(
        "555 5.5.4 MAIL FROM parameters not recognized or not implemented", spends=True
    ),
    "555 RCPT TO parameters not recognized or not implemented": _r(
        "555 5.5.4 RCPT TO parameters not recognized or not implemented", spends=True
    ),
    "502 EXPN not implemented": _r("502 5.5.1 EXPN not implemented", spends=True),
    # Size: the SIZE= parameter at MAIL, and DATA over the limit (after the final dot).
    "552 Error: message size exceeds fixed maximum message size": Reply(MESSAGE_TOO_LARGE, False),
    "552 Error: Too much mail data": Reply(MESSAGE_TOO_LARGE, False),
    # A DATA line longer than RFC 5321 4.5.3.1.6 allows (reported after the final dot). A
    # content problem, not a bad command: it does not spend the error budget.
    "500 Line too long (see RFC5321 4.5.3.1.6)": _r("500 5.5.6 Line too long"),
    # Our unknown-command reply (see server.py: _CommandTable).
    UNKNOWN_COMMAND: _r(UNKNOWN_COMMAND, spends=True),
}

# Texts whose meaning depends on the command being answered; server.py maps these itself.
MALFORMED_ADDRESS: Final = "553 5.1.3 Error: malformed address"
NEED_RCPT: Final = "503 Error: need RCPT command"
NEED_RCPT_REPLY: Final = _r("503 5.5.1 Error: need RCPT command", spends=True)
HELP_PREFIXES: Final = ("250 Supported commands: ", "250 Syntax: ")
HELP_UNKNOWN_PREFIX: Final = "501 Supported commands: "
VRFY_FAILED_PREFIX: Final = "502 Could not VRFY "


def aiosmtpd_replies(greeting: str) -> dict[str, Reply]:
    """The rewrite table for one server: aiosmtpd's texts plus the greeting (sent verbatim)."""
    table = dict(_AIOSMTPD)
    table[greeting] = Reply(greeting.encode("utf-8") + CRLF, False)
    return table


def with_enhanced_code(status: str) -> Reply:
    """Slow path for a text not in the table: make sure it carries an enhanced code.

    Control characters are replaced (a reply must never carry a bare CR or LF, whatever the
    client sent), non-UTF-8 surrogates are written back as the original bytes.
    """
    text = "".join(c if c >= " " or c == "\t" else "?" for c in status)
    head, _, rest = text.partition(" ")
    try:
        code = int(head)
    except ValueError:
        return Reply(LOCAL_ERROR, False)
    if not (200 <= code <= 599):
        return Reply(LOCAL_ERROR, False)
    first, _, _ = rest.partition(" ")
    parts = first.split(".")
    has_enhanced = len(parts) == 3 and all(p.isdigit() for p in parts)
    if not has_enhanced and code != 354:
        text = f"{code} {default_enhanced_code(code)} {rest}".rstrip()
    return Reply(text.encode("utf-8", "surrogateescape") + CRLF, code in ERROR_CODES)
