"""Run the ASGI app with uvicorn inside our own event loop (no threads, no own signals)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI


class _DenialIsNotAnError(logging.Filter):
    """uvicorn's websockets-sansio protocol logs "ASGI callable returned without
    completing handshake." at ERROR after every handshake refused through the ASGI
    denial-response extension (our 401/403/429 with a JSON body), although the client
    got the answer: it never marks the handshake done after a denial (uvicorn PR 3138,
    open). Every WebSocket route of ours either accepts or refuses, so the message
    carries no information here; drop it instead of alerting on every refused token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


_uvicorn_errors = logging.getLogger("uvicorn.error")
if not any(isinstance(f, _DenialIsNotAnError) for f in _uvicorn_errors.filters):
    _uvicorn_errors.addFilter(_DenialIsNotAnError())


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handling: ephemail's process owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class HttpServer:
    """Owns the listening socket so a port of 0 resolves to a known port."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto is
        # IPPROTO_TCP (proto 0 is inherited by accepted sockets), and without it Nagle
        # plus the client's delayed ACK adds ~40 ms to every keep-alive response.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            # WebSockets (the `websockets` sans-IO implementation): clients only listen,
            # so a small inbound message limit; no per-message deflate, whose zlib state
            # costs each of many idle live connections hundreds of KiB; protocol pings
            # find dead peers (and keep dynip clients' connections alive).
            ws="websockets-sansio",
            ws_max_size=64 * 1024,
            ws_per_message_deflate=False,
            ws_ping_interval=20.0,
            ws_ping_timeout=20.0,
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="http")
        while not self._server.started:
            if self._task.done():
                await self._task  # re-raise the start-up error
                raise RuntimeError("HTTP server stopped during start-up")
            await asyncio.sleep(0.01)
        return self.port

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = None
