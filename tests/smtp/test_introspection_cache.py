"""The per-class introspection cache gives aiosmtpd exactly what `inspect` would."""

from __future__ import annotations

import inspect

import aiosmtpd.smtp
from aiosmtpd.handlers import Sink
from aiosmtpd.smtp import SMTP

import ephemail.protocols.smtp.server  # noqa: F401  (installs the cache)


def test_getmembers_keeps_every_auth_member_and_nothing_it_would_use_is_lost() -> None:
    cache = aiosmtpd.smtp.inspect
    assert cache is not inspect  # installed by ephemail.protocols.smtp.server
    for obj in (SMTP(Sink(), hostname="x"), Sink()):
        real = [(n, m) for n, m in inspect.getmembers(obj) if n.startswith("auth_")]
        cached = cache.getmembers(obj)
        assert [n for n, _ in cached] == [n for n, _ in real]
        assert all(a == b for (_, a), (_, b) in zip(cached, real, strict=True))
    assert {n for n, _ in cache.getmembers(SMTP(Sink(), hostname="x"))} >= {
        "auth_LOGIN",
        "auth_PLAIN",
    }


def test_signature_is_the_real_one_and_other_names_pass_through() -> None:
    cache = aiosmtpd.smtp.inspect

    async def hook(server: object, session: object, envelope: object, hostname: str) -> None: ...

    assert cache.signature(hook) == inspect.signature(hook)
    assert cache.signature(hook) is cache.signature(hook)
    assert cache.iscoroutinefunction is inspect.iscoroutinefunction
