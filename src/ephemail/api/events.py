"""Live events over HTTP: the v1 WebSocket and Server-Sent Events streams, the
long-poll `wait`, and the dynip-email WebSocket `/api/ws/{address}`.

Every stream is opened through LiveService (the one access check, subscribe
before replay). Sending never blocks ingest: the bus drops a client that falls
`events_queue_size` events behind, and a WebSocket frame the client does not
take within two heartbeat intervals ends the connection.
"""

# No `from __future__ import annotations`: FastAPI must evaluate the route
# signatures, and `Depends(open_sse_feed)` names a function local to the builder.
import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Header, Query, Request, Response, WebSocket
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel
from starlette.websockets import WebSocketDisconnect

from ephemail.api.auth import principal_of, refuse_websocket
from ephemail.api.compat import dynip_email
from ephemail.api.errors import error_for, error_response
from ephemail.api.schemas import MessageOut
from ephemail.domain.address import AddressError
from ephemail.domain.events import Event, EventType
from ephemail.ports import StoreError
from ephemail.services.access import AccessDenied
from ephemail.services.live import (
    MAX_WAIT_SECONDS,
    EventFeed,
    FeedDropped,
    Heartbeat,
    LiveClosed,
    LiveService,
    WaitQuery,
    delivered_to_inbox,
)
from ephemail.services.mailboxes import MailboxService, MessageNotFound

log = logging.getLogger(__name__)

# RFC 6455 section 7.4: 4000-4999 are for applications; 4008 mirrors HTTP 408.
CLOSE_TOO_SLOW: Final = 4008
# RFC 6455 section 7.4.1: the server is going down.
CLOSE_GOING_AWAY: Final = 1001
# RFC 6455 section 7.4.1: the server met a condition that kept it from going on.
CLOSE_INTERNAL_ERROR: Final = 1011
_STORE_TROUBLE = "storage unavailable, reconnect later with after=<last id>"
_ULID_PATTERN = r"^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"
_HEARTBEAT_FRAME = json.dumps({"type": "heartbeat"})
# A close reason must fit in a control frame (RFC 6455 section 5.5: 125 bytes payload).
_MAX_REASON = 123


class EventOut(BaseModel):
    """One event as streamed (WebSocket text frame, SSE `data:`)."""

    id: int
    type: str
    mailbox: str
    message_id: str | None
    created_at: datetime
    data: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> "EventOut":
        return cls(
            id=event.id,
            type=event.type.value,
            mailbox=event.mailbox,
            message_id=event.message_id,
            created_at=event.created_at,
            data=event.data,
        )


# -- Origin check (RFC 6454) ---------------------------------------------------
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _host_port(netloc: str, scheme: str) -> tuple[str, int | None] | None:
    """(lowercase host, port or None when it is the scheme's default); None if malformed."""
    try:
        parts = urlsplit(f"//{netloc}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    if port == _DEFAULT_PORTS.get(scheme):
        port = None
    return host, port


def origin_allowed(origin: str | None, host: str | None, allowed_origins: Sequence[str]) -> bool:
    """A WebSocket handshake is allowed without an Origin (not a browser), from the
    server's own host:port (the Host header), or from a configured origin.

    Browsers cannot forge Origin, so this stops other sites' pages from reading
    streams with the visitor's cookies (cross-site WebSocket hijacking).
    """
    if origin is None:
        return True
    origin = origin.strip()
    if "*" in allowed_origins:
        return True
    scheme, _, rest = origin.partition("://")
    scheme = scheme.lower()
    if not rest or scheme not in ("http", "https"):
        return origin in allowed_origins  # e.g. the opaque origin "null", only if listed
    theirs = _host_port(rest, scheme)
    if theirs is None:
        return False
    if host is not None and _host_port(host, scheme) == theirs:
        return True
    for entry in allowed_origins:
        entry_scheme, sep, entry_rest = entry.strip().partition("://")
        if not sep:  # "host:port" without a scheme
            if _host_port(entry_scheme, scheme) == theirs:
                return True
        elif entry_scheme.lower() == scheme and _host_port(entry_rest, scheme) == theirs:
            return True
    return False


async def _deny(websocket: WebSocket, status: int, code: str, message: str) -> None:
    """Refuse a WebSocket handshake (see `api.auth.refuse_websocket`)."""
    await refuse_websocket(websocket, error_response(status, code, message))


async def _admit(websocket: WebSocket, allowed_origins: Sequence[str]) -> bool:
    if origin_allowed(
        websocket.headers.get("origin"), websocket.headers.get("host"), allowed_origins
    ):
        return True
    await _deny(websocket, 403, "origin_not_allowed", "this Origin may not open WebSockets here")
    return False


async def _open_or_deny(websocket: WebSocket, opening: Awaitable[EventFeed]) -> EventFeed | None:
    """The feed, or None once the handshake was refused with the error the same
    failure gets on an HTTP route (401 without credentials, 403, 400 bad address...)."""
    try:
        return await opening
    except (AccessDenied, AddressError, StoreError) as exc:
        response = error_for(exc)
        assert response is not None
        await refuse_websocket(websocket, response)
    return None


# -- WebSocket pump ------------------------------------------------------------
Render = Callable[[Event], Awaitable[str | None]]


def _resume_hint(dropped: FeedDropped) -> str:
    return f"too slow: reconnect with after={dropped.resume_after}"


async def _until_disconnected(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it goes away."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def _pump(
    websocket: WebSocket,
    feed: EventFeed,
    render: Render,
    *,
    heartbeat: str | None,
    send_timeout: float,
) -> None:
    """Send the feed's events; on a drop, close with 4008 and where to resume."""
    try:
        async for item in feed:
            text = heartbeat if isinstance(item, Heartbeat) else await render(item)
            if text is not None:
                await asyncio.wait_for(websocket.send_text(text), send_timeout)
        # The feed ends only when the server shuts down.
        await asyncio.wait_for(
            websocket.close(CLOSE_GOING_AWAY, "server shutting down"), send_timeout
        )
    except FeedDropped as dropped:
        with contextlib.suppress(TimeoutError, WebSocketDisconnect, RuntimeError):
            await asyncio.wait_for(
                websocket.close(CLOSE_TOO_SLOW, _resume_hint(dropped)[:_MAX_REASON]),
                send_timeout,
            )
    except TimeoutError:
        # The client has not taken a frame for two heartbeat intervals: it is gone or
        # stuck. Give up; the server closes the connection when this handler returns.
        log.info("WebSocket client did not read for %.1f s; closing", send_timeout)
    except StoreError as exc:
        log.error("live event stream stopped: %s", exc)
        with contextlib.suppress(TimeoutError, WebSocketDisconnect, RuntimeError):
            await asyncio.wait_for(
                websocket.close(CLOSE_INTERNAL_ERROR, _STORE_TROUBLE), send_timeout
            )
    except (WebSocketDisconnect, OSError):
        pass  # the client went away while we were sending
    finally:
        feed.close()


async def _serve(
    websocket: WebSocket,
    feed: EventFeed,
    render: Render,
    *,
    heartbeat: str | None,
    send_timeout: float,
) -> None:
    """Run the pump until it ends or the client disconnects, whichever comes first."""
    pump = asyncio.create_task(
        _pump(websocket, feed, render, heartbeat=heartbeat, send_timeout=send_timeout)
    )
    listen = asyncio.create_task(_until_disconnected(websocket))
    try:
        await asyncio.wait({pump, listen}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pump, listen):
            task.cancel()
        results = await asyncio.gather(pump, listen, return_exceptions=True)
        feed.close()
        for result in results:
            if isinstance(result, Exception) and not isinstance(
                result, WebSocketDisconnect | OSError | RuntimeError
            ):
                log.error("live event stream failed", exc_info=result)


# -- routes --------------------------------------------------------------------
def _sse_item(item: Event | Heartbeat) -> ServerSentEvent:
    if isinstance(item, Heartbeat):
        return ServerSentEvent(comment="heartbeat")
    return ServerSentEvent(
        raw_data=EventOut.of(item).model_dump_json(),
        event=item.type.value,
        id=str(item.id),
    )


async def _client_gone(request: Request) -> None:
    """Return when the HTTP client disconnects (ASGI `http.disconnect`)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def build_events_router(
    live: LiveService,
    mailboxes: MailboxService,
    *,
    allowed_origins: Sequence[str] = (),
) -> APIRouter:
    """Routes of docs/api.md "Live events", `wait`, and dynip's `WS /api/ws/{address}`."""
    router = APIRouter()
    origins = tuple(allowed_origins)
    send_timeout = max(2 * live.heartbeat_interval, 1.0)

    async def v1_frame(event: Event) -> str:
        return EventOut.of(event).model_dump_json()

    @router.websocket("/api/v1/events")
    async def events_websocket(
        websocket: WebSocket,
        mailbox: Annotated[list[str], Query(max_length=100)] = [],  # noqa: B006
        after: Annotated[int | None, Query(ge=0)] = None,
    ) -> None:
        """Events of the given mailboxes (all: open dev mode or admins), from `after`."""
        if not await _admit(websocket, origins):
            return
        feed = await _open_or_deny(
            websocket, live.open_feed(principal_of(websocket), mailbox, after=after)
        )
        if feed is None:
            return
        await websocket.accept()
        await _serve(
            websocket, feed, v1_frame, heartbeat=_HEARTBEAT_FRAME, send_timeout=send_timeout
        )

    async def open_sse_feed(
        request: Request,
        mailbox: Annotated[list[str], Query(max_length=100)] = [],  # noqa: B006
        after: Annotated[int | None, Query(ge=0)] = None,
        last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0)] = None,
    ) -> EventFeed:
        """Open before the response starts, so refusals are ordinary JSON errors.

        A reconnecting EventSource repeats the original URL and adds Last-Event-ID,
        so the header wins over `after`.
        """
        resume = last_event_id if last_event_id is not None else after
        return await live.open_feed(principal_of(request), mailbox, after=resume)

    @router.get(
        "/api/v1/events",
        response_class=EventSourceResponse,
        tags=["events"],
        responses={200: {"description": "text/event-stream of events"}},
    )
    async def events_sse(
        feed: Annotated[EventFeed, Depends(open_sse_feed)],
    ) -> AsyncIterable[ServerSentEvent]:
        """Server-Sent Events: `id:` the event id, `event:` its type, `data:` the event."""
        try:
            async for item in feed:
                yield _sse_item(item)
        except FeedDropped as dropped:
            yield ServerSentEvent(
                event="dropped",
                raw_data=json.dumps(
                    {"reason": _resume_hint(dropped), "after": dropped.resume_after}
                ),
            )
        except StoreError as exc:
            log.error("live event stream stopped: %s", exc)
            yield ServerSentEvent(event="error", raw_data=json.dumps({"reason": _STORE_TROUBLE}))
        finally:
            feed.close()

    @router.get(
        "/api/v1/mailboxes/{address}/wait",
        response_model=MessageOut,
        tags=["messages"],
        responses={408: {"description": "no matching message arrived in time"}},
    )
    async def wait_for_message(
        request: Request,
        address: str,
        from_: Annotated[str | None, Query(alias="from", max_length=998)] = None,
        subject: Annotated[str | None, Query(max_length=998)] = None,
        after: Annotated[str | None, Query(pattern=_ULID_PATTERN)] = None,
        since: datetime | None = None,
        timeout: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = 30.0,
    ) -> MessageOut | Response:
        """Long-poll for the earliest message matching every given matcher.

        A message stored already counts; otherwise the answer comes as soon as one
        arrives, or 408 after `timeout` seconds.
        """
        query = WaitQuery(from_=from_, subject=subject, after=after, since=since)
        waiting = asyncio.create_task(
            live.wait_for_message(principal_of(request), address, query, timeout=timeout)
        )
        gone = asyncio.create_task(_client_gone(request))
        try:
            await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not waiting.done():
                waiting.cancel()
            await asyncio.gather(gone, return_exceptions=True)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({waiting})
        if waiting.cancelled():
            return Response(status_code=499)  # nobody is listening any more
        try:
            detail = waiting.result()  # re-raises AccessDenied, AddressError, StoreError
        except LiveClosed:
            return error_response(503, "unavailable", "server shutting down, try again")
        if detail is None:
            return error_response(
                408, "timeout", f"no matching message arrived within {timeout:g} s"
            )
        return MessageOut.of_detail(detail)

    @router.websocket("/api/ws/{address}")
    async def dynip_websocket(websocket: WebSocket, address: str) -> None:
        """dynip-email: `Connected`, then `Email` and `EmailDeleted` frames for one address."""
        if not await _admit(websocket, origins):
            return
        principal = principal_of(websocket)
        feed = await _open_or_deny(websocket, live.open_feed(principal, [address], after=None))
        if feed is None:
            return
        normalised = live.address(address)

        async def dynip_frame(event: Event) -> str | None:
            if event.type is EventType.MESSAGE_DELETED:
                return json.dumps(
                    {"type": "EmailDeleted", "id": event.message_id, "address": normalised}
                )
            if (
                event.type is not EventType.MESSAGE_RECEIVED
                or event.message_id is None
                or not delivered_to_inbox(event)
            ):
                return None  # dynip knows no folders: only mail that arrived
            try:
                detail, attachments = await mailboxes.get_with_attachments(
                    principal, event.message_id
                )
            except (MessageNotFound, AccessDenied):
                return None  # deleted meanwhile, or hidden
            email = dynip_email(detail, attachments).model_dump(mode="json", by_alias=True)
            return json.dumps({"type": "Email", **email})

        await websocket.accept()
        try:
            await asyncio.wait_for(
                websocket.send_text(json.dumps({"type": "Connected", "address": normalised})),
                send_timeout,
            )
        except (TimeoutError, WebSocketDisconnect, OSError):
            feed.close()
            return
        # dynip clients know three frame types; WebSocket pings keep the line alive.
        await _serve(websocket, feed, dynip_frame, heartbeat=None, send_timeout=send_timeout)

    return router
