"""The reply table against aiosmtpd's source, and the slow path for unknown texts."""

from __future__ import annotations

import ast
import inspect
import re

import aiosmtpd.smtp
import pytest

from ephemail.protocols.smtp import replies
from tests.smtp.support import ENHANCED


def _aiosmtpd_texts() -> tuple[set[str], list[re.Pattern[str]]]:
    """Every string literal (adjacent literals joined) and f-string pattern in aiosmtpd.smtp."""
    tree = ast.parse(inspect.getsource(aiosmtpd.smtp))
    literals: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            literals.add(node.value)
        elif isinstance(node, ast.JoinedStr):
            parts = [
                re.escape(str(v.value)) if isinstance(v, ast.Constant) else ".+"
                for v in node.values
            ]
            patterns.append(re.compile("".join(parts) + r"\Z"))
    return literals, patterns


def test_aiosmtpd_texts_still_exist() -> None:
    """An aiosmtpd upgrade that rewords a reply must fail here, not go out without a code."""
    literals, patterns = _aiosmtpd_texts()
    table = replies.aiosmtpd_replies("220 host ESMTP x")
    ours = {replies.UNKNOWN_COMMAND, "220 host ESMTP x"}
    extended = " [SP <mail-parameters>]"  # aiosmtpd appends this to the syntax texts after EHLO
    checked = [t for t in table if t not in ours]
    checked += [replies.MALFORMED_ADDRESS, replies.NEED_RCPT, replies.VRFY_FAILED_PREFIX]
    for text in checked:
        base = text.removesuffix(extended)
        found = base in literals or any(p.match(base) for p in patterns)
        assert found, text


def test_every_rewritten_reply_has_an_enhanced_code() -> None:
    for text, reply in replies.aiosmtpd_replies("220 host ESMTP x").items():
        wire = reply.wire.decode()
        assert wire.endswith("\r\n")
        if text.startswith(("220 ", "354 ")):
            continue
        assert ENHANCED.match(wire[:-2]), wire
        assert reply.spends == (int(wire[:3]) in replies.ERROR_CODES) or wire.startswith(
            "500 5.5.6"
        ), wire


@pytest.mark.parametrize(
    ("status", "wire", "spends"),
    [
        ("250 Fine", b"250 2.0.0 Fine\r\n", False),
        ("451 4.3.0 Already coded", b"451 4.3.0 Already coded\r\n", False),
        ("504 Unknown thing", b"504 5.5.4 Unknown thing\r\n", True),
        ("553 Bad", b"553 5.1.3 Bad\r\n", False),
        ("554 x\r\ny", b"554 5.0.0 x??y\r\n", False),
        ("nonsense", replies.LOCAL_ERROR, False),
        ("999 out of range", replies.LOCAL_ERROR, False),
        ("250 \udcff", b"250 2.0.0 \xff\r\n", False),
    ],
)
def test_slow_path(status: str, wire: bytes, spends: bool) -> None:
    assert replies.with_enhanced_code(status) == replies.Reply(wire, spends)
