"""Our fast path for `<local@domain>` agrees with aiosmtpd's own (slow) address parser."""

from __future__ import annotations

import asyncio

from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st

from ephemail.protocols.smtp.server import _SIMPLE_PATH

_atom = st.text(alphabet="abcXYZ0189!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=8)
_label = st.text(alphabet="abcXYZ0189-", min_size=1, max_size=8)
_params = st.sampled_from(["", " SIZE=100", " SIZE=1 BODY=8BITMIME", "\tSMTPUTF8", "  SIZE=2  "])


class _Handler:
    pass


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_atom, min_size=1, max_size=3),
    st.lists(_label, min_size=1, max_size=3),
    _params,
)
def test_fast_path_matches_aiosmtpd(local: list[str], domain: list[str], params: str) -> None:
    arg = f"<{'.'.join(local)}@{'.'.join(domain)}>{params}"
    fast = _SIMPLE_PATH.match(arg)
    assert fast is not None, arg
    loop = asyncio.new_event_loop()
    try:
        slow_address, slow_rest = SMTP(_Handler(), hostname="x", loop=loop)._getaddr(arg)
    finally:
        loop.close()
    assert fast.group(1) == slow_address
    assert (fast.group(2) or "").upper().split() == (slow_rest or "").upper().split()


def test_fast_path_leaves_the_rest_to_aiosmtpd() -> None:
    for arg in (
        '<"quoted"@x.example>',
        "<a@[127.0.0.1]>",
        "<üser@x.example>",
        "a@x.example",
        "<a@x.example>SIZE=1",
        "<@route:a@x.example>",
        "<a@b",
    ):
        assert _SIMPLE_PATH.match(arg) is None, arg
