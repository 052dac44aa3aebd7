"""A small key-value store with expiry, shared by every process of one deployment.

It holds what the queue library does not: delivery GUIDs already accepted (the webhook
dedupe), the latest head SHA per pull request (supersede), GUIDs already redelivered, the
reconciler's lock and last-run time. Three implementations with one async interface:

- `MemoryStore`: the embedded mode (one process, nothing to share);
- `RedisStore`: keys `reviewbot:<queue name>:<key>` (SET NX EX for claims);
- `PostgresStore`: one table `reviewbot_kv` (INSERT ... ON CONFLICT for claims), keys
  prefixed with the queue name.

Every key carries the queue name, so several deployments (or tests) can share one server.
A backend that cannot be reached raises `StoreUnavailable`, whatever the client library:
a job that meets it is retried by the queue rather than concluded (see runner.py).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from typing import Protocol
from urllib.parse import urlparse


class StoreUnavailable(ConnectionError):
    """The store's backend (Redis or PostgreSQL) could not be reached."""


@functools.cache
def _connection_errors() -> tuple[type[BaseException], ...]:
    """The installed client libraries' "cannot reach the server" errors (found once)."""
    errors: tuple[type[BaseException], ...] = (OSError,)
    with contextlib.suppress(ImportError):
        import redis.exceptions

        errors += (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
    with contextlib.suppress(ImportError):
        import psycopg
        import psycopg_pool

        errors += (psycopg.OperationalError, psycopg_pool.PoolTimeout)
    return errors


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    """The client library's connection errors as `StoreUnavailable`."""
    try:
        yield
    except StoreUnavailable:
        raise
    except _connection_errors() as exc:
        raise StoreUnavailable(f"{exc.__class__.__name__}: {exc}") from exc


class Store(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, ttl: float | None = None) -> None: ...

    async def claim(self, key: str, ttl: float, value: str = "1") -> bool:
        """Set `key` when it is absent (or expired); True when this caller set it."""
        ...

    async def swap(self, key: str, value: str, ttl: float | None = None) -> str | None:
        """Set `key`, returning its previous value."""
        ...

    async def delete(self, key: str) -> None: ...

    async def close(self) -> None: ...


class MemoryStore:
    def __init__(self, maxsize: int = 200_000):
        self._data: dict[str, tuple[str, float | None]] = {}
        self._maxsize = maxsize

    def _live(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= time.time():
            del self._data[key]
            return None
        return value

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        if len(self._data) >= self._maxsize:
            now = time.time()
            self._data = {k: v for k, v in self._data.items() if v[1] is None or v[1] > now}
        self._data[key] = (value, time.time() + ttl if ttl else None)

    async def claim(self, key: str, ttl: float, value: str = "1") -> bool:
        if self._live(key) is not None:
            return False
        await self.set(key, value, ttl)
        return True

    async def swap(self, key: str, value: str, ttl: float | None = None) -> str | None:
        old = self._live(key)
        await self.set(key, value, ttl)
        return old

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def ping(self) -> None:
        pass

    async def close(self) -> None:
        pass


def _redis_retry(patience: float):
    """redis-py's retry policy that keeps reconnecting for about `patience` seconds
    (doubling from 0.1 s to 2 s between tries), or its default when `patience` is 0."""
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff

    backoff = ExponentialBackoff(cap=2.0, base=0.1)
    waited, tries = 0.0, 0
    while waited < patience:
        tries += 1
        waited += backoff.compute(tries)
    return Retry(backoff, tries) if tries else None


class RedisStore:
    """`patience`: how long an operation keeps reconnecting before it raises
    `StoreUnavailable`. Workers wait out a Redis restart; `serve` answers 503 at once."""

    def __init__(self, url: str, namespace: str, *, patience: float = 0.0):
        from redis import asyncio as aioredis

        retry = _redis_retry(patience)
        self.redis = aioredis.from_url(url, **({"retry": retry} if retry else {}))
        self.prefix = f"reviewbot:{namespace}:"

    def _k(self, key: str) -> str:
        return self.prefix + key

    async def ping(self) -> None:
        with _unavailable():
            await self.redis.ping()

    async def get(self, key: str) -> str | None:
        with _unavailable():
            value = await self.redis.get(self._k(key))
        return value.decode() if value is not None else None

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        with _unavailable():
            await self.redis.set(self._k(key), value, px=int(ttl * 1000) if ttl else None)

    async def claim(self, key: str, ttl: float, value: str = "1") -> bool:
        with _unavailable():
            return bool(await self.redis.set(self._k(key), value, nx=True,
                                             px=int(ttl * 1000)))

    async def swap(self, key: str, value: str, ttl: float | None = None) -> str | None:
        with _unavailable():
            old = await self.redis.set(self._k(key), value, get=True,
                                       px=int(ttl * 1000) if ttl else None)
        return old.decode() if old is not None else None

    async def delete(self, key: str) -> None:
        with _unavailable():
            await self.redis.delete(self._k(key))

    async def close(self) -> None:
        await self.redis.aclose()


_PG_TABLE = """
CREATE TABLE IF NOT EXISTS reviewbot_kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at DOUBLE PRECISION
)"""


class PostgresStore:
    def __init__(self, url: str, namespace: str):
        from psycopg_pool import AsyncConnectionPool

        self.pool = AsyncConnectionPool(url, min_size=1, max_size=8, open=False,
                                        kwargs={"autocommit": True})
        self.prefix = f"{namespace}:"

    def _k(self, key: str) -> str:
        return self.prefix + key

    @contextlib.asynccontextmanager
    async def _connection(self, **options):
        with _unavailable():
            async with self.pool.connection(**options) as conn:
                yield conn

    async def open(self) -> None:
        import psycopg

        with _unavailable():
            await self.pool.open(wait=True, timeout=10)
        async with self._connection() as conn:
            # another process may create it at the same moment
            with contextlib.suppress(psycopg.errors.UniqueViolation,
                                     psycopg.errors.DuplicateTable):
                await conn.execute(_PG_TABLE)

    async def ping(self) -> None:
        async with self._connection(timeout=2.0) as conn:
            await conn.execute("SELECT 1")

    async def get(self, key: str) -> str | None:
        async with self._connection() as conn:
            cur = await conn.execute(
                "SELECT value FROM reviewbot_kv WHERE key = %s "
                "AND (expires_at IS NULL OR expires_at > %s)", (self._k(key), time.time()))
            row = await cur.fetchone()
        return row[0] if row else None

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO reviewbot_kv (key, value, expires_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, "
                "expires_at = EXCLUDED.expires_at",
                (self._k(key), value, time.time() + ttl if ttl else None))

    async def claim(self, key: str, ttl: float, value: str = "1") -> bool:
        now = time.time()
        async with self._connection() as conn:
            cur = await conn.execute(
                "INSERT INTO reviewbot_kv (key, value, expires_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, "
                "expires_at = EXCLUDED.expires_at "
                "WHERE reviewbot_kv.expires_at IS NOT NULL AND reviewbot_kv.expires_at <= %s "
                "RETURNING 1", (self._k(key), value, now + ttl, now))
            return await cur.fetchone() is not None

    async def swap(self, key: str, value: str, ttl: float | None = None) -> str | None:
        now = time.time()
        async with self._connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT value, expires_at FROM reviewbot_kv WHERE key = %s FOR UPDATE",
                (self._k(key),))
            row = await cur.fetchone()
            await conn.execute(
                "INSERT INTO reviewbot_kv (key, value, expires_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, "
                "expires_at = EXCLUDED.expires_at",
                (self._k(key), value, now + ttl if ttl else None))
        if row is None or (row[1] is not None and row[1] <= now):
            return None
        return row[0]

    async def delete(self, key: str) -> None:
        async with self._connection() as conn:
            await conn.execute("DELETE FROM reviewbot_kv WHERE key = %s", (self._k(key),))

    async def purge(self) -> None:
        """Drop this namespace's keys (tests)."""
        async with self._connection() as conn:
            await conn.execute("DELETE FROM reviewbot_kv WHERE key LIKE %s",
                               (self.prefix.replace("_", r"\_") + "%",))

    async def close(self) -> None:
        await self.pool.close()


async def open_store(url: str, namespace: str, *, patience: float = 0.0
                     ) -> RedisStore | PostgresStore:
    """`patience`: see RedisStore (PostgreSQL's pool already waits for a connection)."""
    scheme = urlparse(url).scheme.lower()
    if scheme.startswith("redis"):
        probe = RedisStore(url, namespace)  # at start-up, fail fast: the caller retries
        try:
            await probe.ping()
        finally:
            await probe.close()
        return RedisStore(url, namespace, patience=patience)
    if scheme.startswith("postgres"):
        store = PostgresStore(url, namespace)
        await store.open()
        return store
    raise ValueError(f"unsupported queue URL scheme {scheme!r}")


class StoreDeliveryLog:
    """Delivery GUIDs accepted by any `serve` process of the deployment (8 days: GitHub
    redelivers for 3 days, 7 on GHES)."""

    TTL = 8 * 24 * 3600

    def __init__(self, store: Store):
        self.store = store

    async def seen(self, key: str) -> bool:
        return await self.store.get("delivery:" + key) is not None

    async def mark(self, key: str) -> None:
        await self.store.set("delivery:" + key, "1", self.TTL)


__all__ = ["MemoryStore", "PostgresStore", "RedisStore", "Store", "StoreDeliveryLog",
           "StoreUnavailable",
           "open_store"]
