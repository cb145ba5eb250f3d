"""Graceful stop: idle sessions get a 421, a transaction in DATA finishes (within the grace)."""

from __future__ import annotations

import asyncio

import pytest

from tests.smtp.support import RawClient, StartApp

SHUTTING_DOWN = "421 4.3.2 mx.ephemail.test Service shutting down"


async def test_stop_lets_data_finish_and_closes_idle_sessions(app_factory: StartApp) -> None:
    app = await app_factory(shutdown_grace=10)
    port = app.smtp_port
    idle = await RawClient.connect(port)
    busy = await RawClient.connect(port)
    try:
        await idle.greet()
        await busy.greet()
        await busy.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<late@example.com>\r\nDATA\r\n")
        assert [(await busy.reply()).code for _ in range(3)] == [250, 250, 354]
        await busy.send(b"Subject: in flight\r\n\r\nfirst half\r\n")

        stopping = asyncio.create_task(app.stop())
        assert (await idle.reply()).last == SHUTTING_DOWN
        assert await idle.closed()
        # No new connections while stopping.
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)

        await asyncio.sleep(0.2)
        assert not stopping.done()
        await busy.send(b"second half\r\n.\r\n")
        final = await busy.reply()
        assert final.last.startswith("250 2.0.0 Ok: queued as "), final  # committed
        assert (await busy.reply()).last == SHUTTING_DOWN
        assert await busy.closed()
        await asyncio.wait_for(stopping, 10)
    finally:
        await idle.close()
        await busy.close()


async def test_stop_cuts_a_stalled_transaction_after_the_grace(app_factory: StartApp) -> None:
    app = await app_factory(shutdown_grace=0.5)
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        await c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<stalled@example.com>\r\nDATA\r\n")
        assert [(await c.reply()).code for _ in range(3)] == [250, 250, 354]
        await c.send(b"Subject: never finished\r\n")
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(app.stop(), 5)
        assert loop.time() - started < 3
        assert (await c.reply()).last == SHUTTING_DOWN
        assert await c.closed()
    finally:
        await c.close()
