"""Health that tells the truth, with real processes: `serve` and `worker` started while
their Redis is down retry with backoff (a JSON line per try) and answer /readyz 503 and
deliveries 503 meanwhile, become ready when it comes up, and not-ready again when it goes
away, without exiting. A port already in use is one line and exit 2."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys

import aiohttp
import pytest

from tests.app.conftest import APP_ID
from tests.app.services import (
    ROOT,
    Procs,
    base_env,
    free_port,
    redis_server,
    require_saq,
    wait_for,
)
from tests.standin import payloads


async def _status(session: aiohttp.ClientSession, url: str) -> int | None:
    try:
        async with session.get(url) as r:
            return r.status
    except (aiohttp.ClientError, OSError):
        return None


async def test_serve_and_worker_ride_out_a_redis_outage(standin, keypair, tmp_path,
                                                         redis_binary):
    port = free_port()
    env = base_env(api_url=standin.base_url, app_id=APP_ID, private_key=keypair[0],
                   secret=b"s3cret", tmp=tmp_path, queue_url=f"redis://127.0.0.1:{port}/0",
                   name="health")
    procs = Procs(tmp_path, env)
    serve, worker = procs.start("serve"), procs.start("worker")
    redis = None
    body = json.dumps(payloads.pull_request("opened", {
        "number": 1, "head": {"ref": "f", "sha": "a" * 40, "repo": {"url": "u"}},
        "base": {"ref": "main", "sha": "b" * 40, "repo": {"url": "u"}}},
        {"full_name": "o/r"}, 1)).encode()
    from reviewbot.app.web.webhook import signature

    headers = {"Content-Type": "application/json", "X-GitHub-Event": "pull_request",
               "X-Hub-Signature-256": signature(b"s3cret", body)}
    try:
        async with aiohttp.ClientSession() as session:
            for proc in (serve, worker):
                await wait_for(lambda p=proc: '"retry_in"' in p.text(), 20, "a retry line")
            for proc in (serve, worker):
                assert await _status(session, proc.url + "/healthz") == 200  # alive
                assert await _status(session, proc.url + "/readyz") == 503
            async with session.post(serve.url + "/webhook", data=body, headers={
                    **headers, "X-GitHub-Delivery": "d-1"}) as r:
                assert r.status == 503
            redis = redis_server(port)
            for proc in (serve, worker):
                async def ready(p=proc):
                    return await _status(session, p.url + "/readyz") == 200
                for _ in range(200):
                    if await ready():
                        break
                    await asyncio.sleep(0.1)
                assert await ready(), proc.text()[-2000:]
            async with session.post(serve.url + "/webhook", data=body, headers={
                    **headers, "X-GitHub-Delivery": "d-2"}) as r:
                assert r.status == 202
            redis.kill()
            redis.wait()
            for _ in range(50):
                if await _status(session, serve.url + "/readyz") == 503:
                    break
                await asyncio.sleep(0.1)
            assert await _status(session, serve.url + "/readyz") == 503
            async with session.post(serve.url + "/webhook", data=body, headers={
                    **headers, "X-GitHub-Delivery": "d-3"}) as r:
                assert r.status == 503
            assert serve.alive() and worker.alive()
        for proc in (serve, worker):  # every line one JSON object
            for line in proc.text().splitlines():
                json.loads(line)
    finally:
        await procs.stop_all()
        if redis is not None and redis.poll() is None:
            redis.kill()


@pytest.mark.parametrize("kind", ["serve", "worker"])
def test_a_port_in_use_is_one_line_and_exit_2(keypair, tmp_path, kind):
    if kind == "worker":
        require_saq()
    taken = socket.create_server(("0.0.0.0", 0))
    port = taken.getsockname()[1]
    env = base_env(api_url="http://127.0.0.1:9", app_id=APP_ID, private_key=keypair[0],
                   secret=b"s", tmp=tmp_path, queue_url="redis://127.0.0.1:9/0",
                   REVIEWBOT_WORKER_PORT=port)
    args = [sys.executable, "-m", "reviewbot", kind]
    if kind == "serve":
        args += ["--host", "0.0.0.0", "--port", str(port)]
    try:
        done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=30)
    finally:
        taken.close()
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("reviewbot: ")]
    assert errors == [errors[0]] and f":{port}" in errors[0] and "in use" in errors[0]
    assert "Traceback" not in done.stderr
    assert "server ready" not in done.stderr and "worker ready" not in done.stderr
