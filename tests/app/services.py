"""Helpers for tests that need the real Redis/PostgreSQL on this machine and real
`reviewbot serve` / `reviewbot worker` subprocesses.

Where a service is not reachable the test is skipped with the reason, or fails when
REVIEWBOT_REQUIRE_SERVICES=1 (as `.ci/run` sets). Every test uses its own queue name, and
cleans up only its own keys and rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

REDIS_URL = os.environ.get("REVIEWBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("REVIEWBOT_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parents[2]


def unavailable(message: str):
    if os.environ.get("REVIEWBOT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} (REVIEWBOT_REQUIRE_SERVICES=1: services are required)")
    pytest.skip(message)


def require_saq() -> None:
    try:
        import saq  # noqa: F401
    except ImportError as exc:
        unavailable(f"the distributed queue needs saq[redis,postgres] ({exc})")


def require_redis() -> str:
    require_saq()
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except Exception as exc:
        unavailable(f"Redis not reachable at {REDIS_URL}: {exc!r}")
    return REDIS_URL


def require_postgres() -> str:
    require_saq()
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        unavailable(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc!r}")
    return POSTGRES_URL


def queue_name() -> str:
    return f"rbtest-{uuid.uuid4().hex[:12]}"


def cleanup(url: str, name: str) -> None:
    """Delete this test's keys (never FLUSHALL) or rows."""
    if url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(url)
        try:
            for pattern in (f"saq:*{name}*", f"reviewbot:{name}:*"):
                keys = list(client.scan_iter(match=pattern, count=1000))
                if keys:
                    client.delete(*keys)
        finally:
            client.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        with contextlib.suppress(psycopg.errors.UndefinedTable):
            conn.execute("DELETE FROM saq_jobs WHERE queue = %s", (name,))
        with contextlib.suppress(psycopg.errors.UndefinedTable):
            conn.execute("DELETE FROM reviewbot_kv WHERE key LIKE %s", (name + ":%",))


def redis_server(port: int, data: Path | None = None) -> subprocess.Popen:
    """A private redis-server on `port`: in memory, or with an append-only file in `data`
    (which survives a restart, as a queue's Redis should run)."""
    persist = ["--appendonly", "yes", "--dir", str(data)] if data else ["--appendonly", "no"]
    if data:
        data.mkdir(exist_ok=True)
    return subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", *persist],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Proc:
    kind: str
    popen: subprocess.Popen
    log: Path
    url: str | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


@dataclass
class Procs:
    """Subprocesses of one test; `stop()` ends only these, by pid."""

    tmp: Path
    env: dict
    started: list[Proc] = field(default_factory=list)

    def start(self, kind: str, *, port: int | None = None, env: dict | None = None,
              cwd: Path = ROOT) -> Proc:
        n = len(self.started)
        log = self.tmp / f"{kind}-{n}.log"
        args = [sys.executable, "-m", "reviewbot", kind]
        url = None
        if kind == "serve":
            port = port or free_port()
            args += ["--host", "127.0.0.1", "--port", str(port)]
            url = f"http://127.0.0.1:{port}"
        full_env = {**self.env, **(env or {})}
        if kind == "worker":  # its health endpoints, on a port of its own
            port = port or free_port()
            full_env.setdefault("REVIEWBOT_WORKER_PORT", str(port))
            url = f"http://127.0.0.1:{full_env['REVIEWBOT_WORKER_PORT']}"
        handle = open(log, "wb")  # noqa: SIM115 - the child writes to it
        popen = subprocess.Popen(args, env=full_env, cwd=cwd, stdout=handle,
                                 stderr=subprocess.STDOUT)
        handle.close()
        proc = Proc(kind, popen, log, url)
        self.started.append(proc)
        return proc

    async def ready(self, proc: Proc, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if not proc.alive():
                    raise AssertionError(f"{proc.kind} exited early:\n{proc.text()[-3000:]}")
                if proc.kind == "serve":  # ready: its queue backend is connected
                    with contextlib.suppress(aiohttp.ClientError, OSError):
                        async with session.get(proc.url + "/readyz") as r:
                            if r.status == 200:
                                return
                elif '"worker ready"' in proc.text():
                    return
                await asyncio.sleep(0.1)
        raise AssertionError(f"{proc.kind} not ready after {timeout} s:\n{proc.text()[-3000:]}")

    async def stop(self, proc: Proc, *, sig: int = signal.SIGTERM, timeout: float = 10.0):
        if proc.alive():
            proc.popen.send_signal(sig)
        deadline = time.monotonic() + timeout
        while proc.alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if proc.alive():
            proc.popen.kill()
            while proc.alive():
                await asyncio.sleep(0.05)

    async def stop_all(self) -> None:
        for proc in self.started:
            await self.stop(proc)


def base_env(*, api_url: str, app_id: int, private_key: str, secret: bytes, tmp: Path,
             queue_url: str | None = None, name: str | None = None, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "REVIEWBOT_"))}
    env.update({
        "GITHUB_APP_ID": str(app_id), "GITHUB_PRIVATE_KEY": private_key,
        "GITHUB_WEBHOOK_SECRET": secret.decode(), "GITHUB_API_URL": api_url,
        "REVIEWBOT_CACHE_DIR": str(tmp / "cache"), "REVIEWBOT_WRITE_GAP": "0",
        "REVIEWBOT_HEARTBEAT": "2", "REVIEWBOT_SWEEP_INTERVAL": "1",
        "REVIEWBOT_RECONCILE_INTERVAL": "0", "REVIEWBOT_WORKERS": "4",
        "PYTHONUNBUFFERED": "1",
    })
    if queue_url:
        env["REVIEWBOT_QUEUE_URL"] = queue_url
    if name:
        env["REVIEWBOT_QUEUE_NAME"] = name
    env.update({k: str(v) for k, v in extra.items()})
    return env


async def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
