"""Reconciliation: nothing lost to a crash, a restart or an outage.

At start-up and every `reconcile_interval` seconds (one process at a time, by a lock in the
shared store):

1. failed webhook deliveries (`GET /app/hook/deliveries`, newest first, cursor pages of
   100) newer than the last pass and inside GitHub's 3-day window are grouped by GUID;
   each GUID that never got a 2xx is redelivered once (`POST .../attempts`);
2. for each installation, each repository, each open pull request: when the head has no
   completed run of ours (nor one in progress that started recently), a job is queued for
   it. Its key is the same as a webhook job's for that head, so it never doubles one.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from reviewbot.app.job import checks
from reviewbot.app.queue.job import Job
from reviewbot.app.queue.store import MemoryStore, Store

log = logging.getLogger("reviewbot.reconcile")

WINDOW = 3 * 24 * 3600 - 3600  # GitHub redelivers up to 3 days back; keep an hour's margin
SLACK = 120  # re-read this much before the last pass (clock skew, in-flight deliveries)


def _newest(ours: list[dict]) -> dict[str, dict]:
    newest: dict[str, dict] = {}
    for r in ours:
        name = r.get("name") or ""
        if name not in newest or int(r.get("id") or 0) > int(newest[name].get("id") or 0):
            newest[name] = r
    return newest


def _hidden_open(ours: list[dict]) -> list[dict]:
    """Runs in progress that are not the newest of their name."""
    newest = {id(r) for r in _newest(ours).values()}
    return [r for r in ours if r.get("status") != "completed" and id(r) not in newest]


def _state(ours: list[dict], recent: float) -> str:
    """Our runs on a head, by the newest of each name (the one branch protection reads):
    "done" when each is completed, "running" when one is in progress and started within
    `recent` seconds, "stale" otherwise (none, or one left in progress for longer). A run
    left in progress behind a completed one still counts: it would hold a required check
    pending."""
    newest = _newest(ours)
    if not newest:
        return "stale"
    state = "done"
    for r in newest.values():
        if r.get("status") == "completed":
            continue
        if time.time() - _ts(r.get("started_at")) >= recent:
            return "stale"
        state = "running"
    return state


def _ts(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def delivered_ok(item: dict) -> bool:
    code = item.get("status_code")
    return (isinstance(code, int) and 200 <= code < 300) or item.get("status") == "OK"


class Reconciler:
    def __init__(self, runner, enqueue: Callable[[Job], Awaitable[bool]],
                 store: Store | None = None, *, recent: float = 900.0,
                 lock_ttl: float = 60.0,
                 busy: Callable[[Job], Awaitable[bool]] | None = None):
        self.runner = runner
        self.enqueue = enqueue
        # whether a job for the head is queued or running: a recent run in progress with
        # none is an orphan (its job lost, e.g. with a Redis restart), not a live job
        self.busy = busy
        self.store = store or MemoryStore()
        self.recent = recent  # an in-progress run younger than this is someone's live job
        self.lock_ttl = lock_ttl
        self.passes = 0

    async def run_once(self, *, trust_in_progress: bool = True, force: bool = False) -> dict:
        """One pass; skipped (returns {}) while another process holds the lock."""
        if not force and not await self.store.claim("reconcile:lock", self.lock_ttl):
            log.info("reconcile skipped: another process ran it recently")
            return {}
        started = time.time()
        last = float(await self.store.get("reconcile:last") or 0)
        stats = {"redelivered": 0, "queued": 0, "pulls": 0}
        try:
            stats["redelivered"] = await self.redeliver(last)
        except Exception as exc:
            log.warning("reconcile: redelivery pass failed", extra={"error": repr(exc)})
        stats["pulls"], stats["queued"] = await self.open_pulls(trust_in_progress)
        await self.store.set("reconcile:last", str(started), WINDOW)
        self.passes += 1
        log.info("reconcile pass finished", extra={
            **stats, "duration": round(time.time() - started, 3)})
        return stats

    async def redeliver(self, last: float) -> int:
        app = self.runner.app_client()
        jwt = self.runner.jwt.get()
        horizon = max(last - SLACK, time.time() - WINDOW)
        by_guid: dict[str, list[dict]] = {}
        async for item in app.getiter("/app/hook/deliveries?per_page=100", jwt=jwt,
                                      iterable_key=None):
            if _ts(item.get("delivered_at")) < horizon:
                break  # newest first: everything after is older
            by_guid.setdefault(str(item.get("guid")), []).append(item)
        count = 0
        for guid, items in by_guid.items():
            if any(delivered_ok(i) for i in items):
                continue
            if not await self.store.claim(f"redelivered:{guid}", WINDOW + 3600):
                continue  # redelivered once already
            newest = max(items, key=lambda i: int(i.get("id") or 0))
            try:
                await app.post(f"/app/hook/deliveries/{newest['id']}/attempts", data={},
                               jwt=self.runner.jwt.get())
            except Exception as exc:
                await self.store.delete(f"redelivered:{guid}")
                log.warning("reconcile: redelivery failed", extra={
                    "delivery": guid, "error": repr(exc)})
                continue
            count += 1
            log.info("reconcile: failed delivery redelivered", extra={
                "delivery": guid, "event": newest.get("event"),
                "status_code": newest.get("status_code")})
        return count

    async def open_pulls(self, trust_in_progress: bool) -> tuple[int, int]:
        app = self.runner.app_client()
        pulls = queued = 0
        installations = [i async for i in app.getiter(
            "/app/installations?per_page=100", jwt=self.runner.jwt.get(), iterable_key=None)]
        for inst in installations:
            iid = int(inst["id"])
            try:
                p, q = await self._installation(iid, trust_in_progress)
            except Exception as exc:
                log.warning("reconcile: installation failed", extra={
                    "installation": iid, "error": repr(exc)})
                continue
            pulls += p
            queued += q
        return pulls, queued

    async def _installation(self, iid: int, trust_in_progress: bool) -> tuple[int, int]:
        gh = self.runner.client(iid)
        app_id = str(self.runner.settings.app_id)
        pulls = queued = 0
        async for repo in gh.getiter("/installation/repositories?per_page=100",
                                     iterable_key="repositories"):
            full = repo["full_name"]
            async for pull in gh.getiter(f"/repos/{full}/pulls?state=open&per_page=100",
                                         iterable_key=None):
                pulls += 1
                queued += await self._head(gh, iid, full, pull, app_id, trust_in_progress)
        return pulls, queued

    async def _head(self, gh, iid: int, full: str, pull: dict, app_id: str,
                    trust_in_progress: bool) -> int:
        """1 when a job was queued for this PR's head."""
        sha = pull["head"]["sha"]
        ours = await checks.our_runs(gh, full, sha, app_id)
        job = Job(installation_id=iid, repo=full, head_sha=sha,
                  pr_number=int(pull["number"]), base_ref=pull["base"]["ref"],
                  base_sha=pull["base"]["sha"], event="pull_request", action="reconcile",
                  delivery_id=f"reconcile-{uuid.uuid4()}", resume=True)
        hidden = _hidden_open(ours)
        if hidden and self.busy is not None and not await self.busy(job):
            await self._close_orphans(gh, full, hidden, job)
        state = _state(ours, self.recent)
        if state == "done":
            return 0
        if state == "running" and trust_in_progress and (
                self.busy is None or await self.busy(job)):
            return 0
        if not await self.enqueue(job):
            return 0
        log.info("reconcile: head without a completed run queued", extra=job.log_extra())
        return 1

    async def _close_orphans(self, gh, full: str, runs: list[dict], job: Job) -> None:
        """Runs left in progress behind a newer run of the same name, with no job for the
        head: their jobs are gone (a queue lost with a Redis restart). The newer run holds
        the result; these are completed as neutral, saying so, never left in progress."""
        for r in runs:
            await checks.close_orphan(
                gh, full, r["id"], "Superseded by a newer run",
                "A newer run of this check on this commit holds the result. This run's job "
                "ended without finishing it, so reviewbot closed it.")
            log.info("reconcile: orphaned check run closed", extra={
                **job.log_extra(), "check_run": r["id"]})

    async def loop(self, interval: float, *, delay: float = 1.0,
                   trust_at_start: bool = True) -> None:
        """Run a pass after `delay` seconds (the server must be listening to receive
        redeliveries), then every `interval` seconds."""
        await asyncio.sleep(delay)
        trust = trust_at_start
        while True:
            try:
                await self.run_once(trust_in_progress=trust)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reconcile pass failed", exc_info=True,
                            extra={"error": repr(exc)})
            trust = True
            await asyncio.sleep(interval)
