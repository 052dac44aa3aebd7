"""The embedded job queue: idempotent keys, superseding, clean shutdown."""

from __future__ import annotations

import asyncio

from reviewbot.app.queue.embedded import EmbeddedQueue, MemoryDeliveryLog
from reviewbot.app.queue.job import Job


def job(head: str, pr: int | None = 7, **kw) -> Job:
    return Job(installation_id=1, repo="o/r", head_sha=head, pr_number=pr, base_ref="main",
               base_sha="b" * 40, event="pull_request", delivery_id="d", **kw)


async def gated_queue() -> tuple[EmbeddedQueue, asyncio.Event, list[str]]:
    """One worker that finishes nothing until the gate opens, and the heads it ran."""
    gate = asyncio.Event()
    done: list[str] = []

    async def handler(j: Job):
        await gate.wait()
        done.append(j.head_sha)

    q = EmbeddedQueue(handler, workers=1)
    await q.start()
    return q, gate, done


async def test_same_key_is_queued_once_and_newer_head_supersedes():
    q, gate, done = await gated_queue()
    assert await q.enqueue(job("a"))  # taken by the worker, waits on the gate
    await asyncio.sleep(0)
    assert not await q.enqueue(job("a"))  # running: same key
    assert await q.enqueue(job("b"))
    assert not await q.enqueue(job("b"))  # queued: same key
    assert await q.enqueue(job("c"))  # supersedes queued "b" for PR 7
    assert await q.enqueue(job("x", pr=None))  # no PR: keyed by SHA
    gate.set()
    await q.join()
    assert done == ["a", "c", "x"] and q.superseded == 1
    assert await q.enqueue(job("a"))  # finished jobs can run again (re-runs)
    await q.close(grace=1)


async def test_close_drains_then_cancels():
    started = asyncio.Event()

    async def slow(j: Job):
        started.set()
        await asyncio.sleep(30)

    q = EmbeddedQueue(slow, workers=1)
    await q.start()
    await q.enqueue(job("a"))
    await started.wait()
    await asyncio.wait_for(q.close(grace=0.1), 2)
    try:
        await q.enqueue(job("b"))
    except RuntimeError:
        pass
    else:
        raise AssertionError("a closed queue accepted a job")


async def test_forced_jobs_neither_supersede_nor_are_superseded():
    """A re-run on an older head arriving after a push must not drop the push's job, and
    the push must not drop the re-run: arrival order is not head order."""
    q, gate, done = await gated_queue()
    assert await q.enqueue(job("a"))  # running
    await asyncio.sleep(0)
    assert await q.enqueue(job("c"))  # the push, queued
    assert await q.enqueue(job("b", force=True))  # a re-run of an older head
    assert await q.enqueue(job("old", force=True))
    assert await q.enqueue(job("d"))  # a newer push supersedes "c" only
    gate.set()
    await q.join()
    assert done == ["a", "b", "old", "d"] and q.superseded == 1
    await q.close(grace=1)


def test_delivery_log():
    log = MemoryDeliveryLog(ttl=60)
    assert not log.seen("h:1")
    log.mark("h:1")
    assert log.seen("h:1") and not log.seen("h:2")


def test_delivery_log_expires_oldest_first_and_stays_bounded():
    now = [0.0]
    log = MemoryDeliveryLog(maxsize=3, ttl=10, clock=lambda: now[0])
    for i in range(3):
        log.mark(f"h:{i}")
        now[0] += 1
    log.mark("h:0")  # re-marked: now the newest
    log.mark("h:3")  # over maxsize: the oldest (h:1) goes
    assert [log.seen(f"h:{i}") for i in range(4)] == [True, False, True, True]
    assert len(log) == 3
    now[0] = 12.5  # h:2 (marked at 2) is past its 10 s; h:0 and h:3 (at 3) are not
    assert [log.seen(f"h:{i}") for i in (0, 2, 3)] == [True, False, True]
    log.mark("h:4")  # marking drops what has expired
    assert len(log) == 3 and not log.seen("h:2")
    now[0] = 14
    log.mark("h:5")
    assert len(log) == 2 and [log.seen(k) for k in ("h:0", "h:4", "h:5")] == [False, True, True]
