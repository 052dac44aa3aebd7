"""The store's backends when they cannot be reached: one error type, whatever the client
library (so a job can tell an outage from a bug), and a worker's store that waits out a
Redis restart."""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from reviewbot.app.queue.store import StoreUnavailable, _redis_retry, open_store
from tests.app.services import free_port, redis_server


async def _up(port: int) -> subprocess.Popen:
    proc = redis_server(port)
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return proc
    proc.kill()
    raise AssertionError("redis-server did not start")


async def test_redis_down_is_store_unavailable(redis_binary):
    port = free_port()
    redis = await _up(port)
    store = await open_store(f"redis://127.0.0.1:{port}/0", "t")
    try:
        await store.set("k", "v")
        redis.kill()
        redis.wait()
        for call in (store.get("k"), store.set("k", "w"), store.claim("c", 5),
                     store.swap("k", "x"), store.delete("k"), store.ping()):
            with pytest.raises(StoreUnavailable, match="ConnectionError"):
                await call
    finally:
        redis.kill()
        await store.close()


async def test_a_patient_store_waits_out_a_restart(redis_binary):
    port = free_port()
    redis = await _up(port)
    store = await open_store(f"redis://127.0.0.1:{port}/0", "t", patience=10)
    try:
        await store.set("k", "v")
        redis.kill()
        redis.wait()

        async def restart():
            await asyncio.sleep(1.5)
            return await _up(port)

        started = time.monotonic()
        later = asyncio.create_task(restart())
        await store.set("k", "after")  # waits for the new server instead of failing
        redis = await later
        assert time.monotonic() - started >= 1.0
        assert await store.get("k") == "after"
    finally:
        redis.kill()
        await store.close()


def test_patience_is_spread_over_doubling_waits():
    assert _redis_retry(0) is None
    retry = _redis_retry(20)
    waits = [retry._backoff.compute(n) for n in range(1, retry._retries + 1)]
    assert waits[:3] == pytest.approx([0.2, 0.4, 0.8]) and max(waits) == 2.0
    assert 20 <= sum(waits) < 22


async def test_postgres_unreachable_is_store_unavailable():
    pytest.importorskip("psycopg_pool")
    from reviewbot.app.queue.store import PostgresStore

    store = PostgresStore(f"postgresql://postgres@127.0.0.1:{free_port()}/none", "t")
    store.pool.timeout = 1.0  # how long a query waits for a connection
    await store.pool.open(wait=False)
    try:
        with pytest.raises(StoreUnavailable, match="PoolTimeout"):
            await store.get("k")
    finally:
        await store.close()
