"""The embedded backend of `JobQueue`: asyncio worker tasks in the `serve` process.

The queue and the delivery GUIDs live in memory; a restart loses them, and the start-up
reconciliation recovers from GitHub what was lost (see docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from cachetools import TTLCache

from reviewbot.app.queue.job import Job, run_created

log = logging.getLogger("reviewbot.queue")


class MemoryDeliveryLog:
    """Delivery GUIDs accepted in the last 8 days (GitHub redelivers for 3 days, 7 on
    GHES), at most `maxsize` of them."""

    def __init__(self, maxsize: int = 200_000, ttl: float = 8 * 24 * 3600, *,
                 clock: Callable[[], float] = time.monotonic):
        self._seen: TTLCache = TTLCache(maxsize, ttl, timer=clock)

    def seen(self, key: str) -> bool:
        return key in self._seen

    def mark(self, key: str) -> None:
        self._seen[key] = True

    def __len__(self) -> int:
        return len(self._seen)


Handler = Callable[[Job], Awaitable[None]]


class EmbeddedQueue:
    """In-process queue: idempotent by job key; a newer head supersedes a queued older one
    for the same PR; a rerequest for a head whose running job has created its check run
    becomes a follow-up (`follow_up`); `close()` drains within a grace period, then
    cancels. `ledger` is where the runner records the runs jobs created."""

    def __init__(self, handler: Handler, workers: int = 4, *, on_depth=None, ledger=None):
        self._handler = handler
        self._n = workers
        self._queue: asyncio.Queue[tuple] = asyncio.Queue()
        self._pending: dict[tuple, Job] = {}
        self._running: dict[tuple, Job] = {}
        self._done: dict[tuple, asyncio.Event] = {}  # set when that running job ends
        self._chains: dict[tuple, list[tuple]] = {}  # job key -> it and its follow-ups
        self._after: dict[tuple, tuple] = {}  # a follow-up -> the job it waits for
        self._ledger = ledger
        self._latest: dict[tuple[str, int], tuple] = {}
        self._tasks: list[asyncio.Task] = []
        self._closed = False
        self._on_depth = on_depth
        self.superseded = 0

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(i), name=f"reviewbot-worker-{i}")
                       for i in range(self._n)]

    async def enqueue(self, job: Job) -> bool:
        if self._closed:
            raise RuntimeError("queue is closed")
        key = job.key
        if key in self._pending or key in self._running:
            return await self._follow_up(job, key)
        if job.pr_number is not None and job.comment_id is None and not job.force:
            # A forced job (a re-run a user asked for, on whatever head) neither supersedes
            # nor is superseded: arrival order says nothing about which head is newer.
            pr_key = (job.repo, job.pr_number)
            older = self._latest.get(pr_key)
            if older is not None and older != key and older in self._pending:
                dropped = self._pending.pop(older)
                self.superseded += 1
                log.info("job superseded by a newer head", extra={
                    **dropped.log_extra(), "new_head_sha": job.head_sha})
            self._latest[pr_key] = key
        self._pending[key] = job
        self._queue.put_nowait(key)
        self._depth()
        return True

    async def _follow_up(self, job: Job, key: tuple) -> bool:
        """A rerequest (a forced job) for a head whose latest job is running and has
        created its check run: a follow-up that starts when that job ends, and creates a
        run of its own. It coalesces with a job that has not yet created its run."""
        if not job.force or job.comment_id is not None or self._ledger is None:
            return False
        chain = self._chains.setdefault(key, [key])
        last = chain[-1]
        running = self._running.get(last)
        if running is None or not await run_created(self._ledger, running):
            return False  # queued, or not yet at its run: it answers this request too
        new = (*key, len(chain))
        chain.append(new)
        self._after[new] = last
        self._pending[new] = job
        self._queue.put_nowait(new)
        self._depth()
        log.info("rerequest queued as a follow-up", extra={
            **job.log_extra(), "after_delivery": running.delivery_id})
        return True

    async def busy(self, job: Job) -> bool:
        """A job for this head is queued or running (follow-ups included)."""
        return any(k[:3] == job.key for k in (*self._pending, *self._running))

    def _depth(self) -> None:
        if self._on_depth is not None:
            self._on_depth(len(self._pending))

    async def _work(self, index: int) -> None:
        while True:
            key = await self._queue.get()
            try:
                job = self._pending.pop(key, None)
                self._depth()
                if job is None:
                    continue  # superseded while waiting
                before = self._done.get(self._after.pop(key, ()))
                if before is not None:
                    await before.wait()
                self._running[key] = job
                self._done[key] = asyncio.Event()
                try:
                    await self._handler(job)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("job failed outside the runner", extra=job.log_extra())
                finally:
                    self._running.pop(key, None)
                    self._done.pop(key).set()
                    chain = self._chains.get(job.key)
                    if chain is not None and chain[-1] == key:
                        del self._chains[job.key]
                    if job.pr_number is not None:
                        pr_key = (job.repo, job.pr_number)
                        if self._latest.get(pr_key) == key and key not in self._pending:
                            del self._latest[pr_key]
            finally:
                self._queue.task_done()

    async def join(self) -> None:
        """Wait until every queued job has finished (tests, shutdown)."""
        await self._queue.join()

    async def close(self, grace: float = 25.0) -> None:
        self._closed = True
        try:
            await asyncio.wait_for(self._queue.join(), grace)
        except TimeoutError:
            log.warning("shutdown: jobs still running after the grace period were cancelled",
                        extra={"pending": len(self._pending), "running": len(self._running)})
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
