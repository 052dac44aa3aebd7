"""The distributed queue against the real Redis (and PostgreSQL) on this machine: the store,
the queue's idempotency and supersede rules, and real `reviewbot serve` / `reviewbot worker`
processes (two of each on one Redis; a worker killed with SIGKILL mid-job)."""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import signal
import uuid
from dataclasses import replace

import aiohttp
import pytest
import pytest_asyncio

from reviewbot.app.queue.job import Job
from reviewbot.demo import incident_files
from tests.app.conftest import APP_ID, INSTALLATION, check_suite_event, pr_event
from tests.app.services import (
    Procs,
    base_env,
    cleanup,
    queue_name,
    require_postgres,
    require_redis,
    wait_for,
)
from tests.standin import GitHubStandIn, payloads


@pytest.fixture(params=["redis", "postgres"])
def backend_url(request):
    return require_redis() if request.param == "redis" else require_postgres()


@pytest.fixture
def redis_url():
    return require_redis()


@pytest.fixture
def postgres_url():
    return require_postgres()


@pytest.fixture
def qname(request):
    names = []

    def make(url: str) -> str:
        name = queue_name()
        names.append((url, name))
        return name

    yield make
    for url, name in names:
        cleanup(url, name)


@pytest_asyncio.fixture
async def procs(tmp_path, qname):
    # depends on `qname`, so the processes stop before their keys are cleaned up
    registry = Procs(tmp_path, {})
    yield registry
    await registry.stop_all()


def seed_pulls(gh: GitHubStandIn, repos: int, per_repo: int, *,
               prefix: str = "acme/svc") -> list[tuple[str, int, str]]:
    """`repos` repositories with the incident's base and `per_repo` open PRs each, every
    PR on its own head commit. Returns (repo, number, head sha)."""
    out = []
    for i in range(repos):
        full = f"{prefix}-{i}"
        gh.create_repo(full)
        base = gh.commit(full, incident_files("base"), branch="main", message="base")
        for n in range(1, per_repo + 1):
            head = gh.commit(full, incident_files("pr"), parents=[base], message=f"pr {n}")
            gh.open_pull(full, n, head, head_ref=f"change-{n}")
            out.append((full, n, head))
        gh.install(INSTALLATION, [full])
    return out


def job(repo="acme/x", pr=1, sha="a" * 40, **kw) -> Job:
    return Job(installation_id=1, repo=repo, head_sha=sha, pr_number=pr, base_ref="main",
               base_sha="b" * 40, event="pull_request", delivery_id=str(uuid.uuid4()),
               action="synchronize", **kw)


# -- the store and the queue, in process --------------------------------------------------------

async def test_store_claim_swap_and_delivery_log(backend_url, qname):
    from reviewbot.app.queue.store import StoreDeliveryLog, open_store

    store = await open_store(backend_url, qname(backend_url))
    try:
        assert await store.get("k") is None
        assert await store.claim("lock", 30) is True
        assert await store.claim("lock", 30) is False
        assert await store.swap("latest", "one", 60) is None
        assert await store.swap("latest", "two", 60) == "one"
        assert await store.get("latest") == "two"
        await store.set("short", "x", 0.2)
        await asyncio.sleep(0.4)
        assert await store.get("short") is None
        assert await store.claim("short", 30) is True  # expired keys can be claimed again
        log = StoreDeliveryLog(store)
        assert await log.seen("hook:guid-1") is False
        await log.mark("hook:guid-1")
        assert await log.seen("hook:guid-1") is True
    finally:
        await store.close()
    # another namespace on the same server sees none of it
    other = await open_store(backend_url, qname(backend_url))
    try:
        assert await other.get("latest") is None
    finally:
        await other.close()


async def test_queue_is_idempotent_and_a_newer_head_supersedes(backend_url, qname):
    from saq.job import Status

    from reviewbot.app.queue.distributed import DistributedQueue, open_backend

    backend = await open_backend(backend_url, qname(backend_url))
    queue = DistributedQueue(backend, heartbeat=5)
    try:
        first = job(sha="1" * 40)
        assert await queue.enqueue(first) is True
        assert await queue.enqueue(job(sha="1" * 40)) is False  # same repo, PR and head
        other_pr = job(pr=2, sha="1" * 40)
        assert await queue.enqueue(other_pr) is True
        newer = job(sha="2" * 40)
        assert await queue.enqueue(newer) is True
        assert queue.superseded == 1
        old = await backend.queue.job(queue.key(first))
        assert old is None or old.status == Status.ABORTED
        queued = await backend.queue.job(queue.key(newer))
        assert queued.status == Status.QUEUED
        assert Job.from_dict(queued.kwargs["job"]) == newer
        assert queued.retries > 1 and queued.heartbeat == 5 and queued.ttl == -1
        assert await queue.latest_head("acme/x", 1) == "2" * 40
        # the superseded head can be queued again later (its key is free)
        assert await queue.enqueue(job(sha="1" * 40)) is True
    finally:
        await backend.close()


async def test_forced_jobs_neither_supersede_nor_are_superseded(backend_url, qname):
    """A re-run a user asked for on an older head, around a push: both heads run."""
    from saq.job import Status

    from reviewbot.app.queue.distributed import DistributedQueue, open_backend

    backend = await open_backend(backend_url, qname(backend_url))
    queue = DistributedQueue(backend, heartbeat=5)
    try:
        pushed = job(sha="2" * 40)
        assert await queue.enqueue(pushed) is True
        rerun = job(sha="1" * 40, force=True)  # arrives after the newer head
        assert await queue.enqueue(rerun) is True
        newest = job(sha="3" * 40)
        assert await queue.enqueue(newest) is True  # supersedes the push, not the re-run
        assert queue.superseded == 1
        states = [(await backend.queue.job(queue.key(j))) for j in (pushed, rerun, newest)]
        assert states[0] is None or states[0].status == Status.ABORTED
        assert [s.status for s in states[1:]] == [Status.QUEUED, Status.QUEUED]
        assert await queue.latest_head("acme/x", 1) == "3" * 40
    finally:
        await backend.close()


async def test_a_rerequest_after_the_run_is_created_is_a_follow_up(backend_url, qname):
    """A Re-run is never lost: while a head's job runs, a rerequest coalesces with it
    until it has created its check run; after that, it is a follow-up (one at a time) that
    starts only when that job has ended."""
    from saq import Worker

    from reviewbot.app.queue import worker as worker_mod
    from reviewbot.app.queue.distributed import FUNCTION, DistributedQueue, open_backend
    from reviewbot.app.queue.job import record_run

    backend = await open_backend(backend_url, qname(backend_url))
    queue = DistributedQueue(backend, heartbeat=5)
    events: list[tuple[str, str]] = []
    created, release = asyncio.Event(), asyncio.Event()
    first_job = job(sha="1" * 40)

    class Held:
        async def __call__(self, work: Job, **options) -> str:
            events.append(("start", work.delivery_id))
            if work.delivery_id == first_job.delivery_id:
                await asyncio.sleep(0.3)
                assert await queue.enqueue(replace(work, force=True,
                                                   delivery_id="early")) is False
                await record_run(backend.store, work, 1)  # its check run exists now
                created.set()
                await release.wait()
            events.append(("end", work.delivery_id))
            return "success"

    fn = worker_mod.make_job_function(Held(), heartbeat=1)
    w = Worker(backend.queue, functions=[(FUNCTION, fn)], concurrency=3,
               timers={"sweep": 1, "abort": 1, "schedule": 1, "worker_info": 10},
               dequeue_timeout=0.2)
    task = asyncio.create_task(w.start())
    try:
        assert await queue.enqueue(first_job) is True
        await asyncio.wait_for(created.wait(), 15)
        rerun = job(sha="1" * 40, force=True)
        assert await queue.enqueue(rerun) is True  # a follow-up
        assert await queue.enqueue(job(sha="1" * 40, force=True)) is False  # it waits
        assert await queue.enqueue(job(sha="1" * 40)) is False  # not forced: a duplicate
        await asyncio.sleep(1.0)
        assert ("start", rerun.delivery_id) not in events  # not before the first ends
        release.set()
        await wait_for(lambda: ("end", rerun.delivery_id) in events, 15, "the follow-up")
        assert events.index(("end", first_job.delivery_id)) < events.index(
            ("start", rerun.delivery_id))
        assert [e for e in events if e[0] == "start"] == [
            ("start", first_job.delivery_id), ("start", rerun.delivery_id)]
    finally:
        w.event.set()
        await asyncio.wait_for(task, 10)
        await backend.close()


async def test_worker_runs_jobs_and_retries_failures_with_backoff(redis_url, qname,
                                                                  monkeypatch):
    """An exception that escapes a job is retried by SAQ; the retry resumes the run."""
    from saq import Worker

    from reviewbot.app.queue import worker as worker_mod
    from reviewbot.app.queue.distributed import FUNCTION, DistributedQueue, open_backend

    backend = await open_backend(redis_url, qname(redis_url))
    queue = DistributedQueue(backend, heartbeat=5, retry_delay=0.05, max_retry_delay=0.2)
    seen: list[Job] = []

    class Flaky:
        async def __call__(self, work: Job, **options) -> str:
            seen.append(work)
            if len(seen) == 1:
                raise RuntimeError("GitHub fell over")
            return "success"

    fn = worker_mod.make_job_function(Flaky(), heartbeat=1)
    w = Worker(backend.queue, functions=[(FUNCTION, fn)], concurrency=2,
               timers={"sweep": 1, "abort": 1, "schedule": 1, "worker_info": 10})
    task = asyncio.create_task(w.start())
    try:
        assert await queue.enqueue(job()) is True
        await wait_for(lambda: len(seen) >= 2, 15, "the retry")
        assert [j.resume for j in seen] == [False, True]
    finally:
        w.event.set()
        await asyncio.wait_for(task, 10)
        await backend.close()


async def test_a_live_worker_swept_for_a_late_heartbeat_says_so_on_the_run(
        standin, keypair, redis_url, qname, monkeypatch):
    """A heartbeat that comes too late (the worker's event loop stalled) looks like a dead
    worker's: a sweep aborts the running attempt, and SAQ queues no other (the aborted job
    is deleted). The run is completed as failure with that reason and a Re-run button,
    not left in progress, and not blamed on a shutdown."""
    from reviewbot.app.queue import worker as worker_mod
    from reviewbot.app.queue.distributed import DistributedQueue, open_backend
    from reviewbot.app.settings import Settings
    from tests.app.conftest import FAST

    [(repo, number, head)] = seed_pulls(standin, 1, 1)
    standin.latency = 0.3  # a job takes several seconds: longer than the heartbeat
    beat = worker_mod._heartbeat

    async def late_on_the_first_attempt(saq_job, every):
        if saq_job.attempts == 1:
            await asyncio.Event().wait()  # never beats: as if its event loop were stalled
        await beat(saq_job, every)

    monkeypatch.setattr(worker_mod, "_heartbeat", late_on_the_first_attempt)
    name = qname(redis_url)
    settings = Settings(app_id=str(APP_ID), private_key=keypair[0], webhook_secret=b"x",
                        api_url=standin.base_url, queue_url=redis_url, queue_name=name,
                        heartbeat=1, sweep_interval=1, write_gap=0.0, workers=2)
    stop = asyncio.Event()
    task = asyncio.create_task(worker_mod.run_worker(
        settings, policy=FAST, runner_options={"disk_cache": False}, stop=stop))
    backend = await open_backend(redis_url, name)
    try:
        await DistributedQueue(backend, heartbeat=1).enqueue(Job(
            installation_id=INSTALLATION, repo=repo, head_sha=head, pr_number=number,
            base_ref="main", base_sha=None, event="pull_request",
            delivery_id=str(uuid.uuid4()), action="opened"))
        await wait_for(lambda: [r["status"] for r in standin.runs(repo, head)] == ["completed"],
                       40, "the run to be completed")
        [run] = standin.runs(repo, head)
        assert run["conclusion"] == "failure"
        assert run["output"]["title"] == "reviewbot could not finish the import check"
        summary = run["output"]["summary"]
        assert "heartbeat came more than REVIEWBOT_HEARTBEAT (1 s) late" in summary, summary
        assert "shut down" not in summary
        assert [a["identifier"] for a in run["actions"]] == ["rerun"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 40)
        await backend.close()


# -- real processes -------------------------------------------------------------------------------

def _env(standin, keypair, tmp_path, url, name, secret, **extra):
    return base_env(api_url=standin.base_url, app_id=APP_ID, private_key=keypair[0],
                    secret=secret, tmp=tmp_path, queue_url=url, name=name, **extra)


async def _send_all(servers, items, secret, concurrency=16):
    sem = asyncio.Semaphore(concurrency)
    results = []

    async with aiohttp.ClientSession() as session:
        async def one(i, item):
            event, payload, guid = item
            async with sem:
                status, data = await payloads.send(
                    session, servers[i % len(servers)].url + "/webhook", event, payload,
                    secret, delivery=guid)
                results.append((status, data.get("outcome")))

        await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))
    return results


def _webhooks(gh, pulls) -> list[tuple[str, dict, str]]:
    """Four deliveries per PR: opened, the same opened again (a redelivery: same GUID),
    check_suite.requested and a synchronize to the same head."""
    items = []
    for repo, number, head in pulls:
        pull = gh.repos[repo].pulls[number]
        opened = str(uuid.uuid4())
        items += [
            ("pull_request", pr_event(gh, "opened", repo=repo, number=number), opened),
            ("pull_request", pr_event(gh, "opened", repo=repo, number=number), opened),
            ("check_suite", check_suite_event(gh, "requested", head, repo=repo,
                                              pulls=[pull]), str(uuid.uuid4())),
            ("pull_request", pr_event(gh, "synchronize", repo=repo, number=number,
                                      before="0" * 40), str(uuid.uuid4())),
        ]
    random.Random(7).shuffle(items)
    return items


def _all_complete(gh, pulls) -> bool:
    return all(any(r["status"] == "completed" for r in gh.runs(repo, head))
               for repo, _, head in pulls)


async def _idle(url: str, name: str) -> bool:
    from reviewbot.app.queue.distributed import saq_queue

    q = saq_queue(url, name)
    await q.connect()
    try:
        return await q.count("incomplete") == 0 and await q.count("active") == 0
    finally:
        await q.disconnect()


async def _many_processes(standin, keypair, tmp_path, procs, url, name, *, repos, per_repo,
                          servers=2, workers=2, timeout=45):
    pulls = seed_pulls(standin, repos, per_repo)
    secret = secrets.token_hex(16).encode()
    procs.env = _env(standin, keypair, tmp_path, url, name, secret)
    serves = [procs.start("serve") for _ in range(servers)]
    workers_ = [procs.start("worker") for _ in range(workers)]
    await asyncio.gather(*(procs.ready(p) for p in [*serves, *workers_]))

    items = _webhooks(standin, pulls)
    results = await _send_all(serves, items, secret)
    assert {status for status, _ in results} == {202}, results
    outcomes = [o for _, o in results]
    assert outcomes.count("duplicate") + outcomes.count("already_queued") >= 1

    await wait_for(lambda: _all_complete(standin, pulls), timeout,
                   "a completed run on every PR head")
    await wait_for(lambda: _idle(url, name), 20, "an empty queue", interval=0.3)
    await asyncio.sleep(0.5)
    problems = []
    for repo, number, head in pulls:
        runs = standin.runs(repo, head)
        if [r["status"] for r in runs] != ["completed"]:
            problems.append(f"{repo}#{number}: runs {[(r['status'], r['conclusion']) for r in runs]}")
        comments = standin.comments(repo, number)
        if len(comments) != 1:
            problems.append(f"{repo}#{number}: {len(comments)} comments")
    assert problems == [], problems
    for p in [*serves, *workers_]:
        assert p.alive(), p.text()[-2000:]
    # the work was shared: both workers ran jobs; the servers only enqueued
    started = [p.text().count('"job started"') for p in workers_]
    assert all(n > 0 for n in started), started
    assert all('"job started"' not in p.text() for p in serves)
    return pulls


async def test_two_servers_two_workers_one_redis(standin, keypair, tmp_path, procs,
                                                 redis_url, qname):
    """200 webhooks for 50 PRs: exactly one completed run per PR head, one comment each."""
    await _many_processes(standin, keypair, tmp_path, procs, redis_url, qname(redis_url),
                          repos=5, per_repo=10)


async def test_server_and_workers_on_postgres(standin, keypair, tmp_path, procs,
                                              postgres_url, qname):
    """The same on PostgreSQL, smaller: 60 webhooks for 15 PRs."""
    await _many_processes(standin, keypair, tmp_path, procs, postgres_url,
                          qname(postgres_url), repos=3, per_repo=5, servers=1)


async def test_worker_killed_mid_job_is_taken_up_by_the_other(standin, keypair, tmp_path,
                                                              procs, redis_url, qname):
    name = qname(redis_url)
    [(repo, number, head)] = seed_pulls(standin, 1, 1)
    secret = secrets.token_hex(16).encode()
    # A heartbeat of 5 s (beats every 1.7 s): a busy machine can stall a live worker's
    # event loop for more than the 1.3 s a 2 s heartbeat allows, and the survivor would
    # then take its own attempt for a dead worker's (see
    # test_a_live_worker_swept_for_a_late_heartbeat_says_so_on_the_run).
    procs.env = _env(standin, keypair, tmp_path, redis_url, name, secret,
                     REVIEWBOT_HEARTBEAT=5)
    serve = procs.start("serve")
    workers = [procs.start("worker"), procs.start("worker")]
    await asyncio.gather(*(procs.ready(p) for p in [serve, *workers]))
    standin.latency = 0.3  # a job now takes several seconds

    results = await _send_all([serve], [("pull_request", pr_event(
        standin, "opened", repo=repo, number=number), str(uuid.uuid4()))], secret)
    assert results == [(202, "queued")]

    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url)
    try:
        async def holder():
            raw = await client.get(f"saq:job:{name}:{name}:{repo}#{number}@{head}")
            data = json.loads(raw) if raw else {}
            return data.get("worker_id") if data.get("status") == "active" else None

        wid = await wait_for(holder, 20, "a worker to take the job")
    finally:
        await client.aclose()
    victim = next(p for p in workers if wid.endswith(f"-{p.pid}"))
    survivor = next(p for p in workers if p is not victim)
    await wait_for(lambda: standin.runs(repo, head), 20, "the check run to be created",
                   interval=0.05)
    assert standin.runs(repo, head)[0]["status"] != "completed"
    await procs.stop(victim, sig=signal.SIGKILL)

    await wait_for(lambda: [r["status"] for r in standin.runs(repo, head)] == ["completed"],
                   40, "the other worker to complete the run")
    run = standin.runs(repo, head)[0]
    log_tail = survivor.text()[-4000:]
    assert run["conclusion"] == "failure"  # the incident's broken import, really checked
    assert run["output"]["title"] != "reviewbot could not finish the import check", (
        run["output"]["summary"], log_tail)
    assert '"job attempt resumed"' in survivor.text()
    await wait_for(lambda: standin.comments(repo, number), 10, "the comment")
    assert len(standin.comments(repo, number)) == 1


# -- settings and the command line ---------------------------------------------------------------

def test_queue_settings_from_the_environment(keypair):
    from reviewbot.app.settings import Settings, SettingsError

    env = {"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": keypair[0],
           "GITHUB_WEBHOOK_SECRET": "x"}
    s = Settings.from_env(env)
    assert (s.queue_url, s.distributed, s.reconcile_interval, s.write_gap) == (
        None, False, 300.0, 1.0)
    s = Settings.from_env({**env, "REVIEWBOT_QUEUE_URL": "redis://127.0.0.1:6379/0",
                           "REVIEWBOT_QUEUE_NAME": "prod", "REVIEWBOT_HEARTBEAT": "5",
                           "REVIEWBOT_RECONCILE_INTERVAL": "0", "REVIEWBOT_WRITE_GAP": "0.5"})
    assert (s.distributed, s.queue_name, s.heartbeat, s.reconcile_interval, s.write_gap) == (
        True, "prod", 5, 0.0, 0.5)
    with pytest.raises(SettingsError, match="REVIEWBOT_QUEUE_URL must be"):
        Settings.from_env({**env, "REVIEWBOT_QUEUE_URL": "amqp://x"})
    with pytest.raises(SettingsError, match="REVIEWBOT_QUEUE_NAME may only"):
        Settings.from_env({**env, "REVIEWBOT_QUEUE_NAME": "a b"})


def test_worker_needs_a_queue_url(keypair, monkeypatch, capsys):
    from reviewbot import cli

    for key in ("REVIEWBOT_QUEUE_URL", "GITHUB_PRIVATE_KEY_PATH"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GITHUB_APP_ID", "1")
    monkeypatch.setenv("GITHUB_PRIVATE_KEY", keypair[0])
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "x")
    assert cli.main(["worker"]) == 2
    assert "REVIEWBOT_QUEUE_URL is not set" in capsys.readouterr().err
