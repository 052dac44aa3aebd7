"""The work queue between the web front and the job runner.

Jobs carry ids only (no token crosses the queue): the worker mints its own installation
token. `JobQueue` is the interface of both backends: the embedded one here runs N asyncio
worker tasks in the server process; the distributed one (`distributed.py`, SAQ on Redis or
PostgreSQL) is shared by `reviewbot serve` and `reviewbot worker` processes.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Protocol

log = logging.getLogger("reviewbot.queue")


@dataclass(frozen=True)
class Job:
    installation_id: int
    repo: str  # owner/name
    head_sha: str
    pr_number: int | None
    base_ref: str | None
    base_sha: str | None
    event: str  # pull_request, check_run, check_suite, merge_group
    delivery_id: str
    action: str = ""
    force: bool = False  # a user asked for this run (re-run): run even if one exists
    # An earlier attempt may have left our run in progress (its worker died, the server
    # restarted): adopt and finish that run instead of treating it as a duplicate.
    resume: bool = False
    # issue_comment jobs: the comment's command-like lines, matched in the worker against
    # `recheck_command` from the base branch's config. head_sha is "" until resolved.
    command: str = ""
    # issue_comment.edited on our sticky comment (the checklist gate, issue #8): the
    # comment, who edited it, the boxes the edit changed [(item id, ticked)], and the body
    # before the edit when the edit changed the bot's text (to restore it). Such a job is
    # one per delivery: it never supersedes, nor is superseded by, another job of the PR.
    comment_id: int | None = None
    sender: str = ""
    ticks: tuple = ()
    restore: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """Idempotency key: (repo, pr_or_sha, head_sha)."""
        target = f"#{self.pr_number}" if self.pr_number is not None else self.head_sha
        if self.comment_id is not None:
            return (self.repo, target, f"edit:{self.delivery_id}")
        return (self.repo, target, self.head_sha)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Job:
        # JSON (the distributed queue) turns tuples into lists: turn them back.
        def tuples(v):
            return tuple(tuples(x) for x in v) if isinstance(v, list) else v

        known = set(cls.__dataclass_fields__)
        return cls(**{k: tuples(v) for k, v in data.items() if k in known})

    def log_extra(self) -> dict:
        return {"delivery": self.delivery_id, "installation": self.installation_id,
                "repo": self.repo, "pr": self.pr_number, "head_sha": self.head_sha,
                "event": self.event}


async def maybe_await(value):
    """The value, awaited when it is awaitable (delivery logs may be sync or async)."""
    if value is None or value is True or value is False:  # without isawaitable's ABC checks
        return value
    if inspect.isawaitable(value):
        return await value
    return value


class JobQueue(Protocol):
    async def enqueue(self, job: Job) -> bool:
        """Queue `job`; False when the same job is already queued or running."""
        ...


class DeliveryLog(Protocol):
    """Delivery GUIDs already accepted (marked only once their job is queued)."""

    def seen(self, key: str) -> bool: ...

    def mark(self, key: str) -> None: ...


class MemoryDeliveryLog:
    """Delivery GUIDs with the time they were marked, oldest first: GitHub redelivers for
    3 days (7 on GHES), so each is kept 8 days, and at most `maxsize`. An OrderedDict in
    C is the expiry queue (a re-marked GUID moves to the end); cachetools' TTLCache keeps
    the same order in Python-level links, four times slower on the webhook's path."""

    def __init__(self, maxsize: int = 200_000, ttl: float = 8 * 24 * 3600, *,
                 clock: Callable[[], float] = time.monotonic):
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._maxsize, self._ttl, self._clock = maxsize, ttl, clock

    def seen(self, key: str) -> bool:
        marked = self._seen.get(key)
        return marked is not None and self._clock() - marked < self._ttl

    def mark(self, key: str) -> None:
        seen, now = self._seen, self._clock()
        seen[key] = now
        seen.move_to_end(key)
        while len(seen) > self._maxsize or now - next(iter(seen.values())) >= self._ttl:
            seen.popitem(last=False)

    def __len__(self) -> int:
        return len(self._seen)


Handler = Callable[[Job], Awaitable[None]]


class EmbeddedQueue:
    """In-process queue: idempotent by job key; a newer head supersedes a queued older one
    for the same PR; `close()` drains within a grace period, then cancels."""

    def __init__(self, handler: Handler, workers: int = 4, *, on_depth=None):
        self._handler = handler
        self._n = workers
        self._queue: asyncio.Queue[tuple] = asyncio.Queue()
        self._pending: dict[tuple, Job] = {}
        self._running: set[tuple] = set()
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
            return False
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
                self._running.add(key)
                try:
                    await self._handler(job)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("job failed outside the runner", extra=job.log_extra())
                finally:
                    self._running.discard(key)
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
