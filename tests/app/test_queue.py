"""The embedded job queue: idempotent keys, superseding, clean shutdown."""

from __future__ import annotations

import asyncio

from reviewbot.app.queue import EmbeddedQueue, Job, MemoryDeliveryLog


def job(head: str, pr: int | None = 7, **kw) -> Job:
    return Job(installation_id=1, repo="o/r", head_sha=head, pr_number=pr, base_ref="main",
               base_sha="b" * 40, event="pull_request", delivery_id="d", **kw)


async def test_same_key_is_queued_once_and_newer_head_supersedes():
    gate = asyncio.Event()
    done: list[str] = []

    async def handler(j: Job):
        await gate.wait()
        done.append(j.head_sha)

    q = EmbeddedQueue(handler, workers=1)
    await q.start()
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


def test_delivery_log():
    log = MemoryDeliveryLog(ttl=60)
    assert not log.seen("h:1")
    log.mark("h:1")
    assert log.seen("h:1") and not log.seen("h:2")
