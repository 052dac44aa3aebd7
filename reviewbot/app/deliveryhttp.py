"""The HTTP/1.1 path of GitHub's webhook deliveries, in front of aiohttp's.

A delivery is the one request at request rate, and aiohttp's HTTP layer took a quarter to a
third of the CPU of its acknowledgement (docs/performance.md). So every connection starts on
`DeliveryProtocol`, which answers requests of the one shape GitHub sends itself: `POST
/webhook` over HTTP/1.1, one Content-Length within `webhook.MAX_BODY`,
`Content-Type: application/json`, no Transfer-Encoding, Expect or Upgrade. llhttp (through
httptools; aiohttp parses with llhttp too) reads the head, the body is taken by its length,
`webhook.accept` answers. At the first request of any other shape, or one llhttp rejects,
the connection goes to aiohttp's own protocol for good, with every byte not yet answered:
every other route, limit, error page and HTTP feature stays aiohttp's.

Answers go out in request order (pipelining); reading pauses while pipelined requests pile
up or the client does not read its answers; a connection idle for the runner's
`keepalive_timeout` is closed; a graceful stop closes idle connections and lets deliveries
being answered finish, within the runner's `shutdown_timeout`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from email.utils import formatdate
from http import HTTPStatus

import httptools
from aiohttp import web, web_server
from multidict import CIMultiDict

from reviewbot.app import webhook

log = logging.getLogger("reviewbot.deliveryhttp")

HEAD_LIMIT = 8190  # a longer head goes to aiohttp, whose limits answer it (its line limit)
MAX_HEADERS = 64  # more goes to aiohttp too (its limit is 128)
PIPELINE_LIMIT = 1 << 20  # bytes read ahead of the request being answered before reading pauses
ERROR_BODY = b'{"outcome":"error"}'

_status_lines: dict[int, bytes] = {}
_date: list = [None, b""]  # the last whole second and its Date header value


def response(status: int, body: bytes, *, close: bool = False) -> bytes:
    """A whole HTTP/1.1 response with a JSON body; `close` says the connection ends."""
    line = _status_lines.get(status)
    if line is None:
        line = _status_lines[status] = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            "Content-Type: application/json\r\nContent-Length: ").encode()
    now = int(time.time())
    if now != _date[0]:
        _date[:] = [now, formatdate(now, usegmt=True).encode()]
    return b"%s%d\r\nDate: %s\r\n%s\r\n%s" % (line, len(body), _date[1],
                                              b"Connection: close\r\n" if close else b"", body)


class _Head:
    """httptools' callbacks for one request head."""

    __slots__ = ("headers", "url")

    def __init__(self):
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))


def parse_head(head: bytes | bytearray) -> tuple[CIMultiDict, int, bool] | None:
    """The headers, Content-Length and keep-alive of a request head (ending with its blank
    line) of the plain delivery shape; None for a request of any other shape, valid or not."""
    parsed = _Head()
    parser = httptools.HttpRequestParser(parsed)
    try:
        parser.feed_data(head)
    except (httptools.HttpParserError, httptools.HttpParserUpgrade):
        return None
    if (parser.get_method() != b"POST" or parsed.url != b"/webhook"
            or parser.get_http_version() != "1.1" or len(parsed.headers) > MAX_HEADERS):
        return None
    headers: CIMultiDict = CIMultiDict()
    length = ctype = None
    for name, value in parsed.headers:
        key = name.lower()
        if key == b"content-length":
            if length is not None or not value.isdigit():
                return None
            length = int(value)
        elif key == b"content-type":
            if ctype is not None:
                return None
            ctype = value.lower()
        elif key in (b"transfer-encoding", b"expect", b"upgrade"):
            return None
        headers.add(name.decode("utf-8", "surrogateescape"),
                    value.decode("utf-8", "surrogateescape"))  # as aiohttp decodes them
    if length is None or length > webhook.MAX_BODY or ctype != b"application/json":
        return None
    return headers, length, parser.should_keep_alive()


class DeliveryServer:
    """The runner's server (the sites' protocol factory): each connection starts on a
    `DeliveryProtocol`; `aiohttp` is the app's own `web_server.Server`, which takes over
    connections handed to it and is shut down after the deliveries."""

    def __init__(self, aiohttp: web_server.Server, app: web.Application, idle_timeout: float):
        self.aiohttp = aiohttp
        self.app = app
        self.idle_timeout = idle_timeout
        self.open: set[DeliveryProtocol] = set()

    def __call__(self) -> DeliveryProtocol:
        return DeliveryProtocol(self)

    def pre_shutdown(self) -> None:
        for conn in list(self.open):
            conn.close()
        self.aiohttp.pre_shutdown()

    async def shutdown(self, timeout: float | None = None) -> None:
        answering = [conn.answering for conn in self.open if conn.answering is not None]
        if answering:
            await asyncio.wait(answering, timeout=timeout)
        for conn in list(self.open):
            conn.abort()
        await self.aiohttp.shutdown(timeout)


class DeliveryProtocol(asyncio.Protocol):
    """One connection, until it is handed to aiohttp."""

    def __init__(self, server: DeliveryServer):
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        # a head read whose body is not whole yet: headers, body start and end, keep-alive
        self.pending: tuple[CIMultiDict, int, int, bool] | None = None
        self.answering: asyncio.Task | None = None
        self.closing = False
        self.reading_paused = self.writing_paused = False
        self.last_active = 0.0
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.open.add(self)
        self.last_active = self.loop.time()
        if self.server.idle_timeout > 0:
            self.timer = self.loop.call_at(self.last_active + self.server.idle_timeout,
                                           self._idle)

    def connection_lost(self, exc: Exception | None) -> None:
        # A delivery being answered still finishes (it is queued either way); its answer
        # has nowhere to go.
        self._release()
        self.buffer.clear()

    def _release(self) -> None:
        """This protocol no longer owns the connection (lost, or handed to aiohttp)."""
        self.server.open.discard(self)
        self.transport = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.answering is None:
            self._next()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.last_active = self.loop.time()
        if self.answering is None and not self.writing_paused:
            self._next()
        if (self.transport is not None and not self.reading_paused
                and (self.answering is not None or self.writing_paused)
                and len(self.buffer) > PIPELINE_LIMIT):
            self.reading_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        # The client sends no more: answer the delivery being answered, then close.
        self.closing = True
        return True if self.answering is not None else None

    def close(self) -> None:
        """Close once the delivery being answered, if any, is answered."""
        self.closing = True
        if self.answering is None and self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _idle(self) -> None:
        self.timer = None
        if self.transport is None:
            return
        due = self.last_active + self.server.idle_timeout
        if self.answering is None and self.loop.time() >= due:
            self.transport.close()
            return
        self.timer = self.loop.call_at(max(due, self.loop.time() + 1.0), self._idle)

    def _next(self) -> None:
        """Start answering the next whole request in the buffer, or hand the connection to
        aiohttp at a request of another shape."""
        if self.closing or self.transport is None:
            return
        buffer = self.buffer
        if self.pending is None:
            end = buffer.find(b"\r\n\r\n", 0, HEAD_LIMIT + 4)
            if end < 0:
                if len(buffer) >= HEAD_LIMIT or b"\n\n" in buffer:  # too long, or bare LFs
                    self._hand_off()
                return
            parsed = parse_head(buffer[:end + 4])
            if parsed is None:
                self._hand_off()
                return
            self.pending = (parsed[0], end + 4, end + 4 + parsed[1], parsed[2])
        headers, start, stop, keep_alive = self.pending
        if len(buffer) < stop:
            return
        with memoryview(buffer) as view:
            body = bytes(view[start:stop])
        del buffer[:stop]
        self.pending = None
        if not keep_alive:
            self.closing = True
        self.answering = self.loop.create_task(self._answer(headers, body))

    async def _answer(self, headers: CIMultiDict, body: bytes) -> None:
        try:
            status, reply = await webhook.accept(self.server.app, headers, body)
        except Exception:
            log.exception("webhook: the delivery's handler failed",
                          extra={"delivery": headers.get("X-GitHub-Delivery")})
            status, reply = 500, ERROR_BODY
        self.answering = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(response(status, reply, close=self.closing))
        self.last_active = self.loop.time()
        if self.closing:
            transport.close()
            return
        if self.reading_paused:
            self.reading_paused = False
            transport.resume_reading()
        if not self.writing_paused:
            self._next()

    def _hand_off(self) -> None:
        transport = self.transport
        assert transport is not None
        self._release()
        handler = self.server.aiohttp()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if self.reading_paused:
            transport.resume_reading()
        data = bytes(self.buffer)
        self.buffer.clear()
        if data:
            handler.data_received(data)
