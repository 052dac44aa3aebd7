"""Liveness, readiness and metrics for `serve` and `worker`, and connecting to the queue
backend without crash-looping.

- `/healthz` is liveness: the process answers. Orchestrators restart on it, so it does not
  depend on Redis or PostgreSQL (restarting would not bring them back).
- `/readyz` is readiness: 200 once the queue backend is connected and answers a ping
  within a second, 503 with the reason otherwise (load balancers stop sending work).
- A backend unreachable at start-up is retried with backoff (0.5 s doubling to 30 s), one
  log line per try; the process serves not-ready meanwhile and never exits for it.
- A port already in use is one line and exit code 2 (`PortInUse`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from reviewbot import __version__

log = logging.getLogger("reviewbot.health")

PING_TIMEOUT = 1.0


class PortInUse(Exception):
    """The port to listen on is taken: exit 2 with this message."""


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else starts."""
    try:
        return socket.create_server((host, port), reuse_port=False, backlog=1024,
                                    family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        raise


class Readiness:
    """Whether the process can take work now, and why not. `ping` checks the backend."""

    def __init__(self, ready: bool = False, reason: str = "starting"):
        self.ready = ready
        self.reason = reason
        self.ping: Callable[[], Awaitable[None]] | None = None
        self.started = time.time()

    def set(self, ready: bool, reason: str = "") -> None:
        self.ready, self.reason = ready, reason

    async def check(self) -> tuple[bool, str]:
        if not self.ready:
            return False, self.reason
        if self.ping is None:
            return True, ""
        try:
            await asyncio.wait_for(self.ping(), PING_TIMEOUT)
        except Exception as exc:  # any failure to answer: not ready, with why
            return False, f"queue backend unreachable: {type(exc).__name__}: {exc}"[:300]
        return True, ""


async def connect(open_backend: Callable[[], Awaitable], readiness: Readiness, *,
                  what: str = "queue backend", first: float = 0.5, cap: float = 30.0):
    """`open_backend()` until it succeeds, with backoff; each failure is one log line."""
    delay, attempt = first, 0
    while True:
        attempt += 1
        try:
            backend = await open_backend()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reason = f"{what} unreachable: {type(exc).__name__}: {exc}"[:300]
            readiness.set(False, reason)
            log.warning(f"{what} unreachable, retrying", extra={
                "attempt": attempt, "retry_in": delay, "error": reason})
            await asyncio.sleep(delay)
            delay = min(delay * 2, cap)
            continue
        if attempt > 1:
            log.info(f"{what} connected", extra={"attempt": attempt})
        return backend


def routes(readiness: Readiness, metrics=None) -> list[web.RouteDef]:
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "version": __version__,
                                  "uptime": round(time.time() - readiness.started, 1)})

    async def readyz(request: web.Request) -> web.Response:
        ok, reason = await readiness.check()
        body = {"status": "ready"} if ok else {"status": "not ready", "reason": reason}
        return web.json_response(body, status=200 if ok else 503)

    out = [web.get("/healthz", healthz), web.get("/readyz", readyz)]
    if metrics is not None:
        async def metrics_page(request: web.Request) -> web.Response:
            return web.Response(text=metrics.render(), content_type="text/plain",
                                charset="utf-8", headers={"X-Content-Type-Options": "nosniff"})
        out.append(web.get("/metrics", metrics_page))
    return out
