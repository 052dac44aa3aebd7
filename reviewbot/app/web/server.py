"""The aiohttp application: `POST /webhook`, `GET /healthz` (liveness), `GET /readyz`
(readiness: the queue backend answers), `GET /metrics`.

One `ClientSession` (with a timeout) per app via `cleanup_ctx`. Two modes:

- embedded (no REVIEWBOT_QUEUE_URL): the in-process queue and the job runner live here, and
  the reconciler runs at start-up (it finds heads left unchecked by a crash) and then every
  `reconcile_interval` seconds;
- distributed (REVIEWBOT_QUEUE_URL set): this process only verifies, dedupes (in the shared
  store) and enqueues; `reviewbot worker` processes run the jobs and the reconciler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time

import aiohttp
from aiohttp import web

from reviewbot import __version__
from reviewbot.app import health, logs
from reviewbot.app.github.client import RetryPolicy
from reviewbot.app.job.process import Processor
from reviewbot.app.job.runner import Runner
from reviewbot.app.metrics import Metrics
from reviewbot.app.queue.distributed import DistributedQueue, open_backend
from reviewbot.app.queue.embedded import EmbeddedQueue, MemoryDeliveryLog
from reviewbot.app.queue.reconcile import Reconciler
from reviewbot.app.queue.store import MemoryStore, StoreDeliveryLog
from reviewbot.app.settings import Settings
from reviewbot.app.web import keys, webhook

log = logging.getLogger("reviewbot.server")


def create_app(settings: Settings, *, policy: RetryPolicy | None = None,
               runner_options: dict | None = None) -> web.Application:
    app = web.Application(client_max_size=webhook.MAX_BODY)
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = Metrics()
    app[keys.DELIVERIES] = MemoryDeliveryLog()
    app[keys.POLICY] = policy or RetryPolicy()
    app[keys.STARTED] = time.time()
    app[keys.READINESS] = health.Readiness()
    app.cleanup_ctx.append(_background(runner_options or {}))
    app.router.add_post("/webhook", webhook.handle)
    app.router.add_get("/", _index)
    app.router.add_routes(health.routes(app[keys.READINESS], app[keys.METRICS]))
    return app


async def _index(request: web.Request) -> web.Response:
    """The App's homepage URL (the manifest's `url` by default) leads somewhere."""
    return web.Response(text=f"reviewbot {__version__}: a GitHub App. GitHub sends its "
                             "webhooks to POST /webhook; /healthz, /readyz and /metrics "
                             "are for the platform it runs on.\n")


def _background(options: dict):
    async def ctx(app: web.Application):
        if app[keys.SETTINGS].distributed:
            async for _ in _distributed(app):
                yield
            return
        policy: RetryPolicy = app[keys.POLICY]
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=policy.timeout * 2))
        ledger = MemoryStore()  # the runs jobs created (rerequests after one: follow-ups)
        runner = Runner(app[keys.SETTINGS], session, app[keys.METRICS], policy=policy,
                        ledger=ledger, **options)
        queue = EmbeddedQueue(Processor(runner), app[keys.SETTINGS].workers, ledger=ledger,
                              on_depth=lambda n: app[keys.METRICS].set(
                                  "reviewbot_queue_depth", None, n))
        await queue.start()
        app[keys.RUNNER] = runner
        app[keys.QUEUE] = queue
        app[keys.READINESS].set(True)
        reconcile_task = None
        interval = app[keys.SETTINGS].reconcile_interval
        if interval > 0:
            # At start-up nothing of ours can still be running: an in-progress run is
            # one a crash left behind, so it is not trusted.
            reconciler = Reconciler(runner, queue.enqueue, recent=runner.job_timeout + 60,
                                    busy=queue.busy, lock_ttl=max(1.0, interval * 0.8))
            reconcile_task = asyncio.create_task(
                reconciler.loop(interval, delay=1.0, trust_at_start=False))
        log.info("server ready", extra={"api_url": app[keys.SETTINGS].api_url,
                                        "app_id": app[keys.SETTINGS].app_id,
                                        "workers": app[keys.SETTINGS].workers})
        yield
        if reconcile_task is not None:
            reconcile_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reconcile_task
        await queue.close()
        runner.close()
        await session.close()
        log.info("server stopped")
    return ctx


async def _distributed(app: web.Application):
    """Enqueue only. The backend is connected in the background, retried with backoff
    while it is unreachable: meanwhile /readyz and deliveries answer 503 (GitHub marks them
    failed; reconciliation redelivers them)."""
    settings = app[keys.SETTINGS]
    readiness: health.Readiness = app[keys.READINESS]
    readiness.set(False, "connecting to the queue backend")
    backends: list = []

    async def connect() -> None:
        backend = await health.connect(
            lambda: open_backend(settings.queue_url, settings.queue_name), readiness)
        backends.append(backend)
        app[keys.DELIVERIES] = StoreDeliveryLog(backend.store)
        app[keys.QUEUE] = DistributedQueue(backend, heartbeat=settings.heartbeat)
        readiness.ping = backend.store.ping
        readiness.set(True)
        log.info("server ready (enqueue only)", extra={
            "queue": settings.queue_name, "backend": backend.queue.__class__.__name__})

    task = asyncio.create_task(connect())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    for backend in backends:
        await backend.close()
    log.info("server stopped")


def event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (the `app` extra installs it on Linux and macOS): its
    transports are cheaper than asyncio's (docs/performance.md)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def serve(app: web.Application, host: str, port: int,
                sock: socket.socket | None = None) -> None:
    """Serve until cancelled (SIGTERM and SIGINT raise GracefulExit), then clean up: open
    connections get up to 30 s to finish, and the app's cleanup drains running jobs. Idle
    connections outlive a load balancer's, so it never sends on one being closed (aiohttp
    3.14's default, set for the older aiohttp versions pyproject allows)."""
    runner = web.AppRunner(app, handle_signals=True, access_log=None, shutdown_timeout=30,
                           keepalive_timeout=3630)
    await runner.setup()
    try:
        if sock is not None:  # bound before anything started (a port in use: exit 2)
            await web.SockSite(runner, sock).start()
        else:
            await web.TCPSite(runner, host, port).start()
        log.info("listening", extra={"host": host, "port": port})
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def run(host: str, port: int, settings: Settings) -> None:
    """Serve until stopped. Raises health.PortInUse before anything starts when the port
    is taken."""
    logs.configure()
    sock = health.bind(host, port)
    loop = event_loop()
    log.info("starting", extra={"host": host, "port": port, "version": __version__,
                                "loop": type(loop).__module__})
    app = create_app(settings, policy=RetryPolicy(write_gap=settings.write_gap))
    # The runner cancels what is left (serve's cleanup runs then) and closes the loop.
    with (asyncio.Runner(loop_factory=lambda: loop) as runner,
          contextlib.suppress(web.GracefulExit, KeyboardInterrupt)):
        runner.run(serve(app, host, port, sock))
