"""`reviewbot worker`: runs jobs from the shared queue (REVIEWBOT_QUEUE_URL).

Each worker mints its own installation tokens (no token crosses the queue), runs up to
REVIEWBOT_WORKERS jobs at a time, sends a heartbeat for each running job, sweeps jobs whose
worker died (no heartbeat for REVIEWBOT_HEARTBEAT seconds) back into the queue, and runs
the reconciler (one worker at a time). SIGTERM/SIGINT: stop taking jobs, let running ones
finish for up to 25 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from dataclasses import replace

import aiohttp
from aiohttp import web

from reviewbot import __version__
from reviewbot.app import health, logs
from reviewbot.app.github.client import RetryPolicy
from reviewbot.app.job.process import Processor
from reviewbot.app.job.runner import Runner
from reviewbot.app.metrics import Metrics
from reviewbot.app.queue.distributed import FUNCTION, DistributedQueue, open_backend
from reviewbot.app.queue.job import Job
from reviewbot.app.queue.reconcile import Reconciler
from reviewbot.app.settings import Settings

log = logging.getLogger("reviewbot.worker")

JOB_TIMEOUT = 600.0
SHUTDOWN_GRACE = 25


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def _heartbeat(saq_job, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await saq_job.update()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store is briefly unreachable: try again
            log.warning("heartbeat failed", extra={"job": saq_job.key, "error": repr(exc)})


async def _wait_for(queue, key: str, every: float = 0.5) -> None:
    """Until the job under `key` has ended (bounded by the job timeout)."""
    from saq.job import Status

    deadline = asyncio.get_running_loop().time() + JOB_TIMEOUT
    while asyncio.get_running_loop().time() < deadline:
        job = await queue.job(key)
        if job is None or job.status not in (Status.QUEUED, Status.ACTIVE):
            return
        await asyncio.sleep(every)


# A job's store operations wait this long for the store (a Redis restart) before the job
# gives up and is retried by the queue; serve's do not wait (GitHub gets a 503 at once).
STORE_PATIENCE = 20.0


def make_job_function(processor: Processor, heartbeat: int):
    async def run_job(ctx, *, job: dict) -> str:
        saq_job = ctx["job"]
        work = Job.from_dict(job)
        if saq_job.attempts > 1:
            # An earlier attempt died (worker killed, swept) or raised: finish its run.
            work = replace(work, resume=True)
            log.info("job attempt resumed", extra={**work.log_extra(),
                                                   "attempt": saq_job.attempts})

        def why_cancelled() -> str | None:
            # A live worker whose heartbeat came too late (its event loop stalled): a
            # sweep took the job for a dead worker's and aborted this attempt. SAQ marks
            # the attempt before cancelling it, and queues no other (the aborted job is
            # deleted), so the run is completed here, with the reason.
            worker = ctx.get("worker")
            task = getattr(worker, "job_task_contexts", {}).get(saq_job) or {}
            swept = getattr(getattr(worker, "queue", None), "swept_error_message", None)
            if swept is not None and task.get("aborted") == swept:
                return (f"the worker's heartbeat came more than REVIEWBOT_HEARTBEAT "
                        f"({heartbeat} s) late, so the job was taken for a dead worker's "
                        f"and stopped")
            return None

        beat = asyncio.create_task(_heartbeat(saq_job, max(0.5, heartbeat / 3)))
        try:
            if work.after:  # a follow-up rerequest: its run comes after that job's
                await _wait_for(saq_job.queue, work.after)
            return await processor(work, why_cancelled=why_cancelled)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    run_job.__qualname__ = FUNCTION
    return run_job


async def run_worker(settings: Settings, *, policy: RetryPolicy | None = None,
                     runner_options: dict | None = None, stop: asyncio.Event | None = None,
                     health_sock: socket.socket | None = None):
    """Run jobs until stopped. `health_sock` (bound by `run`) serves /healthz, /readyz and
    /metrics from the start; the backend is connected with retries meanwhile."""
    if not settings.queue_url:
        raise ValueError("REVIEWBOT_QUEUE_URL is not set")
    policy = policy or RetryPolicy(write_gap=settings.write_gap)
    metrics = Metrics()
    readiness = health.Readiness(False, "connecting to the queue backend")
    site = await _health_site(health_sock, readiness, metrics)
    try:
        backend = await health.connect(
            lambda: open_backend(settings.queue_url, settings.queue_name,
                                 patience=STORE_PATIENCE), readiness)
    except asyncio.CancelledError:
        if site is not None:
            await site.cleanup()
        raise
    readiness.ping = backend.store.ping
    readiness.set(True)
    try:
        await _run(settings, policy, runner_options, stop, backend, metrics)
    finally:
        if site is not None:
            await site.cleanup()


async def _health_site(sock: socket.socket | None, readiness: health.Readiness, metrics):
    if sock is None:
        return None
    app = web.Application()
    app.router.add_routes(health.routes(readiness, metrics))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    log.info("worker health endpoints listening", extra={"port": sock.getsockname()[1]})
    return runner


async def _run(settings: Settings, policy: RetryPolicy, runner_options: dict | None,
               stop: asyncio.Event | None, backend, metrics: Metrics) -> None:
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=policy.timeout * 2))
    runner = Runner(settings, session, metrics, policy=policy, job_timeout=JOB_TIMEOUT,
                    ledger=backend.store, **(runner_options or {}))
    queue = DistributedQueue(backend, job_timeout=JOB_TIMEOUT + 60,
                             heartbeat=settings.heartbeat)
    processor = Processor(runner)
    worker = _Worker(backend.queue, functions=[(FUNCTION, make_job_function(
        processor, settings.heartbeat))], id=worker_id(), concurrency=settings.workers,
        timers={"sweep": settings.sweep_interval, "abort": 1, "schedule": 1,
                "worker_info": 10},
        # Idle slots wake every second, so a stop waits only for running jobs.
        dequeue_timeout=1.0, shutdown_grace_period_s=SHUTDOWN_GRACE)
    reconcile_task = None
    if settings.reconcile_interval > 0:
        reconciler = Reconciler(runner, queue.enqueue, backend.store,
                                recent=JOB_TIMEOUT + 60, busy=queue.busy,
                                lock_ttl=max(1.0, settings.reconcile_interval * 0.8))
        reconcile_task = asyncio.create_task(
            reconciler.loop(settings.reconcile_interval, delay=1.0))
    stopper = None
    if stop is not None:
        stopper = asyncio.create_task(_stop_when(stop, worker))
    log.info("worker ready", extra={"worker": worker.id, "queue": settings.queue_name,
                                    "backend": backend.queue.__class__.__name__,
                                    "concurrency": settings.workers,
                                    "heartbeat": settings.heartbeat,
                                    "version": __version__})
    try:
        await worker.start()
    finally:
        for task in (reconcile_task, stopper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        runner.close()
        await session.close()
        await backend.close()
        log.info("worker stopped", extra={"worker": worker.id})


def _worker_class():
    from saq import Worker

    class StoppingWorker(Worker):
        """SAQ's upkeep loops sleep up to `worker_info` seconds before they notice a stop;
        cancel them at once so a stop waits only for running jobs."""

        async def upkeep(self):
            tasks = await super().upkeep()

            async def cancel_on_stop():
                await self.event.wait()
                for task in tasks:
                    task.cancel()

            return [*tasks, asyncio.create_task(cancel_on_stop())]

    return StoppingWorker


def _Worker(*args, **kwargs):
    return _worker_class()(*args, **kwargs)


async def _stop_when(event: asyncio.Event, worker) -> None:
    await event.wait()
    worker.event.set()


def run(settings: Settings) -> None:
    """Raises health.PortInUse before anything starts when the health port is taken."""
    logs.configure()
    sock = health.bind("0.0.0.0", settings.worker_port) if settings.worker_port else None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_worker(settings, health_sock=sock))
