"""The aiohttp application: `POST /webhook`, `GET /healthz`, `GET /metrics`.

One `ClientSession` (with a timeout) per app via `cleanup_ctx`; the embedded queue and the
job runner live in the same process until a distributed queue replaces them.
"""

from __future__ import annotations

import logging
import time

import aiohttp
from aiohttp import web

from reviewbot import __version__
from reviewbot.app import keys, logs, webhook
from reviewbot.app.github import RetryPolicy
from reviewbot.app.jobs import Runner
from reviewbot.app.metrics import Metrics
from reviewbot.app.queue import EmbeddedQueue, MemoryDeliveryLog
from reviewbot.app.settings import Settings

log = logging.getLogger("reviewbot.server")


def create_app(settings: Settings, *, policy: RetryPolicy | None = None,
               runner_options: dict | None = None) -> web.Application:
    app = web.Application(client_max_size=webhook.MAX_BODY + 1024)
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = Metrics()
    app[keys.DELIVERIES] = MemoryDeliveryLog()
    app[keys.POLICY] = policy or RetryPolicy()
    app[keys.STARTED] = time.time()
    app.cleanup_ctx.append(_background(runner_options or {}))
    app.router.add_post("/webhook", webhook.handle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


def _background(options: dict):
    async def ctx(app: web.Application):
        policy: RetryPolicy = app[keys.POLICY]
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=policy.timeout * 2))
        runner = Runner(app[keys.SETTINGS], session, app[keys.METRICS], policy=policy, **options)
        queue = EmbeddedQueue(runner.run, app[keys.SETTINGS].workers, on_depth=lambda n: app[keys.METRICS].set("reviewbot_queue_depth", None, n))
        await queue.start()
        app[keys.RUNNER] = runner
        app[keys.QUEUE] = queue
        log.info("server ready", extra={"api_url": app[keys.SETTINGS].api_url,
                                        "app_id": app[keys.SETTINGS].app_id,
                                        "workers": app[keys.SETTINGS].workers})
        yield
        await queue.close()
        runner.close()
        await session.close()
        log.info("server stopped")
    return ctx


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": __version__,
                              "uptime": round(time.time() - request.app[keys.STARTED], 1)})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(text=request.app[keys.METRICS].render(),
                        content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


def run(host: str, port: int, settings: Settings) -> None:
    logs.configure()
    log.info("starting", extra={"host": host, "port": port, "version": __version__})
    web.run_app(create_app(settings), host=host, port=port, print=None,
                access_log=None, shutdown_timeout=30)
