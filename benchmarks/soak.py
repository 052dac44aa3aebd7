"""Soak: two `serve` and two `worker` processes on a real Redis (or PostgreSQL) take
signed deliveries for many PRs while the GitHub stand-in misbehaves. Bounded; not in the
default suite.

    python benchmarks/soak.py [--backend redis|postgres] [--prs 200] [--per-pr 10]
                              [--latency 0.2] [--timeout 600] [--keep]

Each PR gets `--per-pr` deliveries (2,000 for 200 PRs): `opened` and a redelivery of it
(same GUID), `check_suite.requested`, a push (`synchronize` to a new head) with its
`check_suite.requested`, and the rest Re-runs (`check_suite.rerequested`) pressed at
random moments, some while the head's job runs. Meanwhile the stand-in adds `--latency`
to every request and injects 502s and secondary rate limits in bursts, one worker is
SIGKILLed half-way (and started again 5 s later, as a process manager would), and Redis
(a private `redis-server` with `appendonly yes`, as a queue's Redis should run) is
restarted once; PostgreSQL (the machine's) is not restarted. Reconciliation runs every
5 s. `--keep` keeps the processes' logs (the script prints where).

At the end it checks, and prints with the figures:
- no check run is left in progress, every PR's head has a completed run, and no head has
  more runs than the pushes and Re-runs that asked for one;
- each PR has exactly one comment;
- no delivery got a 5xx outside the Redis outage, and each one that did was redelivered
  (by reconciliation) with a 2xx;
- every log line of every process is one JSON object.
Exit 0 when all hold, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import json
import random
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.*

from reviewbot.app.demo.serve import generate_key
from reviewbot.demo import incident_files
from tests.app.conftest import APP_ID, INSTALLATION, check_suite_event, pr_event
from tests.app.services import Procs, base_env, cleanup, free_port, queue_name, redis_server
from tests.standin import GitHubStandIn

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def seed(gh: GitHubStandIn, prs: int, per_repo: int = 10) -> list[dict]:
    """PRs over repositories of the incident code, each with a second head to push."""
    out = []
    for i in range((prs + per_repo - 1) // per_repo):
        full = f"acme/soak-{i}"
        gh.create_repo(full)
        base = gh.commit(full, incident_files("base"), branch="main", message="base")
        for n in range(1, min(per_repo, prs - i * per_repo) + 1):
            first = gh.commit(full, incident_files("pr"), parents=[base], message=f"pr {n}")
            second = gh.commit(full, incident_files("fix"), parents=[first],
                               message=f"fix {n}")
            gh.open_pull(full, n, first, head_ref=f"change-{n}")
            out.append({"repo": full, "number": n, "heads": [first, second], "reruns": 0})
        gh.install(INSTALLATION, [full])
    return out


def plan(gh: GitHubStandIn, pulls: list[dict], per_pr: int, rng: random.Random):
    """Per PR, its deliveries in order: (delay before it, what to do)."""
    steps = []
    for p in pulls:
        repo, n = p["repo"], p["number"]
        opened = str(uuid.uuid4())
        mine = [("send", "pull_request", lambda r=repo, k=n: pr_event(gh, "opened", repo=r,
                                                                      number=k), opened),
                ("send", "pull_request", lambda r=repo, k=n: pr_event(gh, "opened", repo=r,
                                                                      number=k), opened),
                ("suite", "requested", p, 0),
                ("push", p),
                ("send", "pull_request", lambda r=repo, k=n, h=p["heads"][0]: pr_event(
                    gh, "synchronize", repo=r, number=k, before=h), str(uuid.uuid4())),
                ("suite", "requested", p, 1)]
        while sum(1 for m in mine if m[0] != "push") < per_pr:
            mine.append(("suite", "rerequested", p, 1))
        steps.append([(rng.uniform(0.0, 2.0), s) for s in mine])
    return steps


async def run(args) -> int:
    rng = random.Random(args.seed)
    private_key, public_key = generate_key()
    gh = GitHubStandIn(app_id=APP_ID, public_key=public_key, latency=args.latency)
    await gh.start()
    tmp = Path(tempfile.mkdtemp(prefix="reviewbot-soak-"))
    redis = None
    if args.backend == "redis":
        port = free_port()
        redis = redis_server(port, tmp / "redis")
        url = f"redis://127.0.0.1:{port}/0"
        await asyncio.sleep(0.5)
    else:
        url = POSTGRES_URL
    name = queue_name()
    secret = secrets.token_hex(16).encode()
    gh.webhook_secret = secret
    env = base_env(api_url=gh.base_url, app_id=APP_ID, private_key=private_key, secret=secret,
                   tmp=tmp, queue_url=url, name=name, REVIEWBOT_RECONCILE_INTERVAL=5,
                   REVIEWBOT_WORKERS=8)
    procs = Procs(tmp, env)
    serves = [procs.start("serve") for _ in range(2)]
    workers = [procs.start("worker") for _ in range(2)]
    await asyncio.gather(*(procs.ready(p, timeout=60) for p in [*serves, *workers]))
    gh.webhook_url = serves[0].url + "/webhook"

    pulls = seed(gh, args.prs)
    steps = plan(gh, pulls, args.per_pr, rng)
    total = sum(1 for mine in steps for _, step in mine if step[0] != "push")  # deliveries
    outage: list[tuple[float, float]] = []
    sent = 0
    sem = asyncio.Semaphore(32)
    t0 = time.time()

    async def deliver(event: str, payload: dict, guid: str) -> None:
        nonlocal sent
        async with sem:
            target = serves[sent % 2].url + "/webhook"
            await gh.deliver(event, payload, guid=guid, url=target)
            sent += 1

    async def one_pr(mine) -> None:
        for delay, step in mine:
            await asyncio.sleep(delay)
            if step[0] == "push":
                p = step[1]
                gh.push(p["repo"], p["number"], p["heads"][1])
            elif step[0] == "send":
                _, event, make, guid = step
                await deliver(event, make(), guid)
            else:
                _, action, p, which = step
                pull = gh.repos[p["repo"]].pulls[p["number"]]
                if action == "rerequested":
                    p["reruns"] += 1
                await deliver("check_suite", check_suite_event(
                    gh, action, p["heads"][which], repo=p["repo"], pulls=[pull]),
                    str(uuid.uuid4()))

    async def chaos() -> None:
        killed = restarted = False
        while sent < total and time.time() - t0 < args.timeout:
            redis = box[0]
            await asyncio.sleep(0.5)
            if rng.random() < 0.3:
                gh.fail(rng.randint(1, 4), rng.choice((500, 502, 503)))
            if rng.random() < 0.15:
                gh.secondary_limit(rng.randint(1, 3), retry_after=1)
            if not killed and sent >= total // 2:
                workers[0].popen.send_signal(signal.SIGKILL)
                killed = True
                print(f"{time.time() - t0:6.1f} s  worker 0 SIGKILLed", flush=True)
                await asyncio.sleep(5.0)
                workers.append(procs.start("worker"))
                print(f"{time.time() - t0:6.1f} s  a worker started in its place", flush=True)
            if redis is not None and not restarted and sent >= total * 6 // 10:
                start = time.time()
                redis.terminate()  # a restart: Redis writes its append-only file and exits
                redis.wait()
                await asyncio.sleep(2.0)
                box[0] = redis_server(int(url.rsplit(":", 1)[1].split("/")[0]), tmp / "redis")
                await asyncio.sleep(1.0)
                outage.append((start, time.time() + 5.0))  # reconnects take a few seconds
                restarted = True
                print(f"{time.time() - t0:6.1f} s  Redis restarted", flush=True)

    box = [redis]  # the Redis server now running (restarted once)
    chaos_task = asyncio.create_task(chaos())
    await asyncio.gather(*(one_pr(m) for m in steps))
    sent_at = time.time() - t0
    await chaos_task
    print(f"{sent_at:6.1f} s  {sent} deliveries sent", flush=True)

    def settled() -> bool:
        for p in pulls:
            runs = gh.runs(p["repo"], p["heads"][1])
            if not any(r["status"] == "completed" for r in runs):
                return False
            for head in p["heads"]:
                if any(r["status"] != "completed" for r in gh.runs(p["repo"], head)):
                    return False
        return True

    deadline = time.time() + args.timeout
    while time.time() < deadline and not settled():
        await asyncio.sleep(1.0)
    await gh.settle()
    await asyncio.sleep(6.0)  # a reconciliation pass for the last failed deliveries
    await gh.settle()
    drained = time.time() - t0
    problems = check(gh, pulls, outage, procs)
    print(f"{drained:6.1f} s  settled; {len(problems)} problems", flush=True)
    figures(gh, pulls, sent_at, drained)
    for line in problems[:30]:
        print("  PROBLEM", line)
    await procs.stop_all()
    await gh.close()
    if box[0] is not None:
        box[0].kill()
    if args.backend == "postgres":
        cleanup(url, name)
    if args.keep:
        print(f"logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if problems else 0


def check(gh, pulls, outage, procs) -> list[str]:
    problems = []
    for p in pulls:
        where = f"{p['repo']}#{p['number']}"
        for i, head in enumerate(p["heads"]):
            runs = gh.runs(p["repo"], head)
            stuck = [r for r in runs if r["status"] != "completed"]
            if stuck:
                problems.append(f"{where}: {len(stuck)} runs left in progress on head {i}")
            asked = 2 if i == 0 else 2 + p["reruns"]  # deliveries that may ask for a run
            if len(runs) > asked:
                problems.append(f"{where}: {len(runs)} runs on head {i}, at most {asked} "
                                f"asked for")
        if not any(r["status"] == "completed" for r in gh.runs(p["repo"], p["heads"][1])):
            problems.append(f"{where}: no completed run on its head")
        comments = gh.comments(p["repo"], p["number"])
        if len(comments) != 1:
            problems.append(f"{where}: {len(comments)} comments")
    by_guid: dict[str, list[dict]] = {}
    for d in gh.deliveries:
        by_guid.setdefault(d["guid"], []).append(d)
    for guid, tries in by_guid.items():
        for d in tries:
            code = d["status_code"]
            if code >= 500 or code == 0:
                at = calendar.timegm(time.strptime(d["delivered_at"][:19],
                                                   "%Y-%m-%dT%H:%M:%S"))
                if not any(a - 1 <= at <= b for a, b in outage):
                    problems.append(f"delivery {guid}: {code} outside the Redis outage")
        failed = tries[0]["status_code"] >= 500 or tries[0]["status_code"] == 0
        if failed and not any(200 <= d["status_code"] < 300 for d in tries[1:]):
            problems.append(f"delivery {guid}: failed ({tries[0]['status_code']}) and never "
                            f"redelivered with a 2xx")
    for proc in procs.started:
        for n, line in enumerate(proc.text().splitlines(), 1):
            try:
                json.loads(line)
            except ValueError:
                problems.append(f"{proc.kind} {proc.pid} log line {n} is not JSON: "
                                f"{line[:120]}")
                break
    return problems


def figures(gh, pulls, sent_at: float, drained: float) -> None:
    codes = Counter(d["status_code"] for d in gh.deliveries)
    redelivered = sum(1 for d in gh.deliveries if d["redelivery"])
    runs = Counter(len(gh.runs(p["repo"], p["heads"][1])) for p in pulls)
    reruns = sum(p["reruns"] for p in pulls)
    injected = sum(1 for r in gh.requests if r.status in (500, 502, 503) or r.status == 403)
    print(f"deliveries: {len(gh.deliveries)} ({redelivered} redeliveries), status codes "
          f"{dict(sorted(codes.items()))}")
    print(f"sent in {sent_at:.1f} s, all settled {drained:.1f} s after the first")
    print(f"GitHub requests: {len(gh.requests)}, answered with an injected error: {injected}")
    print(f"Re-runs pressed: {reruns}; runs on each PR's final head: "
          f"{dict(sorted(runs.items()))} (runs: PRs)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=("redis", "postgres"), default="redis")
    ap.add_argument("--prs", type=int, default=200)
    ap.add_argument("--per-pr", type=int, default=10)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the processes' logs")
    args = ap.parse_args()
    if args.per_pr < 6:
        ap.error("--per-pr must be at least 6")
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
