"""The distributed backend of `JobQueue`: SAQ on Redis or PostgreSQL.

`reviewbot serve` only enqueues here; `reviewbot worker` processes (see `worker.py`) run the
jobs. Semantics, on top of SAQ:

- idempotent: the SAQ job key is `<repo>#<pr>@<head sha>` (`<repo>@<sha>` without a PR),
  and SAQ refuses a key that is queued or running, so one head is checked once at a time;
- supersede: the latest head enqueued per PR is kept in the store; enqueuing a newer head
  aborts a still-queued job for the older one. A forced job (a re-run a user asked for)
  neither supersedes nor is superseded. The runner also drops any unforced job whose SHA
  is no longer the PR's head on GitHub (the authority: webhooks are not ordered);
- retries with backoff: an exception that escapes a job is retried by SAQ (`retries`,
  exponential backoff with jitter from `retry_delay` up to `retry_backoff` seconds);
- dead workers: a running job sends a heartbeat; a job without one for `heartbeat`
  seconds is swept by any live worker and queued again (its next attempt resumes the check
  run left in progress).

Finished jobs are deleted at once (`ttl=-1`) so the same key can be queued again later
(on PostgreSQL a finished row would otherwise block its key until it expires).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from urllib.parse import urlparse

from reviewbot.app.queue.job import Job, run_created
from reviewbot.app.queue.store import Store, open_store

log = logging.getLogger("reviewbot.distributed")

FUNCTION = "run_job"
MAX_FOLLOW_UPS = 20  # follow-ups chained on one head at a time (each waits for the last)
LATEST_TTL = 14 * 24 * 3600


def job_key(job: Job) -> str:
    if getattr(job, "comment_id", None) is not None:  # a checklist edit: one per delivery
        return f"{job.repo}#{job.pr_number}@edit:{job.delivery_id}"
    if job.pr_number is None:
        return f"{job.repo}@{job.head_sha}"
    return f"{job.repo}#{job.pr_number}@{job.head_sha or 'recheck'}"


def backend_name(url: str) -> str:
    scheme = urlparse(url).scheme.lower()
    return "postgres" if scheme.startswith("postgres") else "redis"


def saq_queue(url: str, name: str):
    """An unconnected SAQ queue for `url`."""
    from saq.queue import Queue

    if backend_name(url) == "postgres":
        from saq.queue.postgres import PostgresQueue

        return PostgresQueue.from_url(url, name=name)
    return Queue.from_url(url, name=name)


@dataclass
class Backend:
    queue: object  # saq.queue.Queue
    store: Store
    name: str

    async def close(self) -> None:
        await self.queue.disconnect()
        await self.store.close()


async def open_backend(url: str, name: str, *, patience: float = 0.0) -> Backend:
    """`patience`: how long the store's operations wait out an outage (see store.py)."""
    store = await open_store(url, name, patience=patience)
    queue = saq_queue(url, name)
    try:
        await queue.connect()
    except BaseException:
        await store.close()
        raise
    return Backend(queue, store, name)


class DistributedQueue:
    """`JobQueue` over SAQ."""

    def __init__(self, backend: Backend, *, job_timeout: float = 660, heartbeat: int = 30,
                 retries: int = 4, retry_delay: float = 2.0, max_retry_delay: float = 120.0):
        self.backend = backend
        self.queue = backend.queue
        self.store = backend.store
        self.job_timeout = int(job_timeout)
        self.heartbeat = int(heartbeat)
        self.retries = retries
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.superseded = 0

    def key(self, job: Job) -> str:
        # The queue name is part of the key: SAQ's PostgreSQL table has one key space for
        # every queue.
        return f"{self.backend.name}:{job_key(job)}"

    async def enqueue(self, job: Job) -> bool:
        from saq.job import Status

        if job.pr_number is not None and job.head_sha and not job.force:
            # As in the embedded queue, a forced job neither supersedes nor is superseded.
            older = await self.store.swap(f"latest:{job.repo}#{job.pr_number}", job.head_sha,
                                          LATEST_TTL)
            if older and older != job.head_sha:
                await self._supersede(Job.from_dict({**job.to_dict(), "head_sha": older}),
                                      job, Status)
        if await self.queue.enqueue(self._saq_job(job, self.key(job))) is not None:
            return True
        return await self._follow_up(job, Status)

    def _saq_job(self, job: Job, key: str):
        from saq.job import Job as SaqJob

        return SaqJob(FUNCTION, kwargs={"job": job.to_dict()}, key=key,
                      timeout=self.job_timeout, heartbeat=self.heartbeat,
                      retries=self.retries, retry_delay=self.retry_delay,
                      retry_backoff=self.max_retry_delay, ttl=-1)

    async def _follow_up(self, job: Job, Status) -> bool:
        """A rerequest (a forced job) for a head whose latest job is running and has
        created its check run: a follow-up under `<key>~<n>` that waits for that job
        (`Job.after`) and creates a run of its own. It coalesces with a job that has not
        yet created its run, and with a follow-up still queued."""
        if not job.force or job.comment_id is not None:
            return False
        base = self.key(job)
        last, n = base, 0
        for i in range(1, MAX_FOLLOW_UPS + 1):
            if await self.queue.job(f"{base}~{i}") is None:
                break
            last, n = f"{base}~{i}", i
        current = await self.queue.job(last)
        if current is None or current.status != Status.ACTIVE or n >= MAX_FOLLOW_UPS:
            return False
        running = Job.from_dict((current.kwargs or {}).get("job") or {})
        if not await run_created(self.store, running):
            return False
        follow = replace(job, after=last)
        if await self.queue.enqueue(self._saq_job(follow, f"{base}~{n + 1}")) is None:
            return False
        log.info("rerequest queued as a follow-up", extra={
            **job.log_extra(), "after_delivery": running.delivery_id})
        return True

    async def _supersede(self, older: Job, newer: Job, Status) -> None:
        queued = await self.queue.job(self.key(older))
        if queued is None or queued.status != Status.QUEUED:
            return  # running (the runner drops it if the head moved) or gone
        if (queued.kwargs or {}).get("job", {}).get("force"):
            return
        await self.queue.abort(queued, "superseded by a newer head")
        self.superseded += 1
        log.info("job superseded by a newer head", extra={
            **older.log_extra(), "new_head_sha": newer.head_sha})

    async def busy(self, job: Job) -> bool:
        """A job for this head is queued or running (a follow-up included)."""
        from saq.job import Status

        base = self.key(job)
        for key in (base, f"{base}~1"):
            found = await self.queue.job(key)
            if found is not None and found.status in (Status.QUEUED, Status.ACTIVE):
                return True
        return False

    async def latest_head(self, repo: str, pr: int) -> str | None:
        return await self.store.get(f"latest:{repo}#{pr}")

    async def close(self) -> None:
        await self.backend.close()
