"""Reconciliation: open PRs whose head has no completed run of ours are checked; failed
deliveries are redelivered once per GUID. In process against the stand-in, then with real
`reviewbot serve` processes: killed right after acknowledging a push, and down while
deliveries failed."""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
import uuid

import pytest_asyncio

from reviewbot.app.demo.github import INCIDENT_PR, INCIDENT_REPO, iso_time
from reviewbot.app.job.checks import DEFAULT_NAME
from reviewbot.app.queue.reconcile import Reconciler, delivered_ok
from tests.app.conftest import APP_ID, INSTALLATION, check_run_event, pr_event
from tests.app.services import Procs, base_env, free_port, wait_for


def reconciler(server) -> Reconciler:
    return Reconciler(server.runner, server.queue.enqueue)


async def our_run(server, sha: str, status: str, **fields) -> dict:
    """A run of ours on the incident PR's `sha`, as another job (or a crash) left it."""
    client = server.runner.client(INSTALLATION)
    return await client.post(f"/repos/{INCIDENT_REPO}/check-runs", data={
        "name": DEFAULT_NAME, "head_sha": sha, "status": status,
        "external_id": str(INCIDENT_PR), **fields})


def statuses(gh, sha):
    return [(r["status"], r["conclusion"]) for r in gh.runs(INCIDENT_REPO, sha)]


async def test_open_pr_without_a_run_is_checked_once(server, incident):
    gh = server.gh
    gh.install(INSTALLATION, [INCIDENT_REPO])
    r = reconciler(server)
    stats = await r.run_once(force=True)
    assert stats == {"redelivered": 0, "queued": 1, "pulls": 1}
    await server.queue.join()
    assert statuses(gh, incident["pr"]) == [("completed", "failure")]
    assert len(gh.comments(INCIDENT_REPO, INCIDENT_PR)) == 1
    # nothing left to do; the check-runs query is filtered to our app
    assert (await r.run_once(force=True))["queued"] == 0
    assert all(c.query.get("app_id") == str(APP_ID) for c in gh.calls("GET", "/check-runs")
               if "commits/" in c.path and c.query.get("check_name") is None)


async def test_a_closed_pr_or_another_installation_is_left_alone(server, incident):
    gh = server.gh
    gh.repos[INCIDENT_REPO].pulls[INCIDENT_PR]["state"] = "closed"
    gh.install(INSTALLATION, [INCIDENT_REPO])
    assert (await reconciler(server).run_once(force=True))["queued"] == 0


async def test_a_run_left_in_progress_is_adopted_when_not_recent(server, incident):
    gh = server.gh
    gh.install(INSTALLATION, [INCIDENT_REPO])
    stuck = await our_run(server, incident["pr"], "in_progress")
    r = reconciler(server)
    assert (await r.run_once(force=True))["queued"] == 0  # someone's live job, trusted
    assert (await r.run_once(force=True, trust_in_progress=False))["queued"] == 1
    await server.queue.join()
    [run] = gh.runs(INCIDENT_REPO, incident["pr"])
    assert (run["id"], run["status"], run["conclusion"]) == (stuck["id"], "completed",
                                                             "failure")
    # the same after a while: an in-progress run older than `recent` is not trusted
    gh.push(INCIDENT_REPO, INCIDENT_PR, incident["fix"])
    old = await our_run(server, incident["fix"], "in_progress",
                        started_at=iso_time(time.time() - 3600))
    assert (await r.run_once(force=True))["queued"] == 1
    await server.queue.join()
    assert [(x["id"], x["conclusion"]) for x in gh.runs(INCIDENT_REPO, incident["fix"])] == [
        (old["id"], "success")]


async def test_failed_deliveries_are_redelivered_once_per_guid(server, incident):
    gh = server.gh
    gh.webhook_url = server.url + "/webhook"
    gh.webhook_secret = server.settings.webhook_secret
    dead = f"http://127.0.0.1:{free_port()}/webhook"
    gh.push(INCIDENT_REPO, INCIDENT_PR, incident["fix"])
    failed = await gh.deliver("pull_request", pr_event(gh, "synchronize"), url=dead)
    assert (failed["status_code"], delivered_ok(failed)) == (0, False)
    ok = await gh.deliver("pull_request", pr_event(gh, "opened"))
    assert ok["status"] == "OK"
    await server.queue.join()
    # failed once, then succeeded: nothing to do
    guid = str(uuid.uuid4())
    await gh.deliver("pull_request", pr_event(gh, "reopened"), url=dead, guid=guid)
    await gh.deliver("pull_request", pr_event(gh, "reopened"), guid=guid)
    # failed, but older than GitHub's 3-day window
    stale = await gh.deliver("pull_request", pr_event(gh, "opened"), url=dead)
    stale["delivered_at"] = iso_time(time.time() - 4 * 24 * 3600)
    gh.deliveries.sort(key=lambda d: d["delivered_at"])  # ids stay in time order
    for i, d in enumerate(gh.deliveries, start=1):
        d["id"] = i
    await server.queue.join()

    r = reconciler(server)
    assert await r.redeliver(0) == 1
    await gh.settle()
    await server.queue.join()
    attempts = gh.calls("POST", "/attempts")
    assert [c.path for c in attempts] == [
        f"/app/hook/deliveries/{failed['id']}/attempts"]
    again = gh.delivery_rows(failed["guid"])
    assert [(d["redelivery"], d["status"]) for d in again] == [
        (False, "failed to connect to host"), (True, "OK")]
    # the redelivered push was processed (its head already had a run: "exists")
    assert [o.outcome for o in server.runner.outcomes
            if o.job.delivery_id == failed["guid"]] == ["exists"]
    # once per GUID: a later pass does not redeliver it again
    assert await r.redeliver(0) == 0


async def test_deliveries_are_read_page_by_page_newest_first(server, incident):
    gh = server.gh
    now = time.time()
    for i in range(1, 131):  # 130 deliveries; the two oldest failed
        gh.deliveries.append({
            "id": i, "guid": f"g-{i}", "delivered_at": iso_time(now - 3600 + i),
            "redelivery": False, "duration": 0.1, "status": "OK" if i > 2 else
            "Invalid HTTP Response: 503", "status_code": 202 if i > 2 else 503,
            "event": "pull_request", "action": "opened", "installation_id": INSTALLATION,
            "repository_id": 1, "throttled_at": None, "_payload": {}, "_url":
            f"http://127.0.0.1:{free_port()}/webhook"})
    assert await reconciler(server).redeliver(0) == 2
    pages = gh.calls("GET", "/app/hook/deliveries")
    assert [p.query.get("cursor") for p in pages] == [None, "31"]
    assert all(p.query["per_page"] == "100" for p in pages)
    await gh.settle()


async def test_the_reconcile_lock_lets_one_process_run_a_pass(server, incident):
    gh = server.gh
    gh.install(INSTALLATION, [INCIDENT_REPO])
    r = reconciler(server)
    other = Reconciler(server.runner, server.queue.enqueue, r.store)
    assert (await r.run_once())["queued"] == 1
    assert await other.run_once() == {}  # within the lock's lifetime
    await server.queue.join()


# -- real `reviewbot serve` processes (embedded mode) ---------------------------------------------

@pytest_asyncio.fixture
async def procs(tmp_path):
    registry = Procs(tmp_path, {})
    yield registry
    await registry.stop_all()


def _embedded_env(standin, keypair, tmp_path, secret):
    return base_env(api_url=standin.base_url, app_id=APP_ID, private_key=keypair[0],
                    secret=secret, tmp=tmp_path, REVIEWBOT_RECONCILE_INTERVAL=60)


async def test_server_killed_right_after_acknowledging_a_push(standin, keypair, tmp_path,
                                                              procs, incident):
    gh = standin
    gh.install(INSTALLATION, [INCIDENT_REPO])
    secret = secrets.token_hex(16).encode()
    procs.env = _embedded_env(gh, keypair, tmp_path, secret)
    port = free_port()
    first = procs.start("serve", port=port)
    await procs.ready(first)
    gh.latency = 0.2  # the job cannot finish before the kill
    record = await gh.deliver("pull_request", pr_event(gh, "opened"),
                              url=first.url + "/webhook", secret=secret)
    assert record["status_code"] == 202
    await procs.stop(first, sig=signal.SIGKILL)
    assert [r["status"] for r in gh.runs(INCIDENT_REPO, incident["pr"])] != ["completed"]

    gh.latency = 0.0
    second = procs.start("serve", port=port)
    await procs.ready(second)
    await wait_for(lambda: statuses(gh, incident["pr"]) == [("completed", "failure")], 30,
                   "the restarted server to complete the run")
    await wait_for(lambda: gh.comments(INCIDENT_REPO, INCIDENT_PR), 10, "the comment")
    await asyncio.sleep(0.5)
    assert statuses(gh, incident["pr"]) == [("completed", "failure")]
    assert len(gh.comments(INCIDENT_REPO, INCIDENT_PR)) == 1
    assert '"reconcile: head without a completed run queued"' in second.text()


async def test_deliveries_failed_while_down_are_redelivered_on_start(standin, keypair,
                                                                     tmp_path, procs,
                                                                     incident):
    gh = standin
    gh.install(INSTALLATION, [INCIDENT_REPO])
    secret = secrets.token_hex(16).encode()
    procs.env = _embedded_env(gh, keypair, tmp_path, secret)
    port = free_port()
    gh.webhook_url, gh.webhook_secret = f"http://127.0.0.1:{port}/webhook", secret
    first = procs.start("serve", port=port)
    await procs.ready(first)
    assert (await gh.deliver("pull_request", pr_event(gh, "opened")))["status"] == "OK"
    await wait_for(lambda: statuses(gh, incident["pr"]) == [("completed", "failure")], 20,
                   "the first run")
    await procs.stop(first)  # SIGTERM: a clean stop
    assert first.popen.returncode == 0 and '"server stopped"' in first.text(), first.text()

    # while the server is down: a push, and a re-run pressed on the old head's run
    [old_run] = gh.runs(INCIDENT_REPO, incident["pr"])
    gh.push(INCIDENT_REPO, INCIDENT_PR, incident["fix"])
    pushed = await gh.deliver("pull_request", pr_event(gh, "synchronize",
                                                        before=incident["pr"]))
    rerun = await gh.deliver("check_run", check_run_event(gh, "rerequested", old_run))
    assert (pushed["status_code"], rerun["status_code"]) == (0, 0)

    second = procs.start("serve", port=port)
    await procs.ready(second)
    await wait_for(lambda: len(gh.calls("POST", "/attempts")) == 2, 20, "the redeliveries")
    await gh.settle()
    for original in (pushed, rerun):
        rows = gh.delivery_rows(original["guid"])
        assert [(d["redelivery"], d["status"]) for d in rows] == [
            (False, "failed to connect to host"), (True, "OK")]
    await wait_for(lambda: statuses(gh, incident["fix"]) == [("completed", "success")]
                   and len(gh.runs(INCIDENT_REPO, incident["pr"])) == 2
                   and all(s == "completed" for s, _ in statuses(gh, incident["pr"])),
                   30, "the redelivered events to be processed")
    assert len(gh.comments(INCIDENT_REPO, INCIDENT_PR)) == 1


async def test_a_rerun_gets_its_own_run_and_leaves_another_job_s_run_alone(server, incident,
                                                                            caplog):
    """One job per check run: a Re-run while another job's run is in progress on the same
    head (a reconciliation job, say) creates a run of its own and never writes the other
    one; only a resumed job takes over a run left in progress, and logs it."""
    import logging

    gh = server.gh
    done = await our_run(server, incident["pr"], "completed", conclusion="success")
    # then another job starts its run on the head: the latest run is in progress
    live = await our_run(server, incident["pr"], "in_progress")
    event = check_run_event(gh, "rerequested", {**done, "external_id": str(INCIDENT_PR)})
    status, _ = await server.send("check_run", event)
    assert status == 202
    runs = {r["id"]: r for r in gh.runs(INCIDENT_REPO, incident["pr"])}
    assert runs[live["id"]]["status"] == "in_progress"  # untouched
    assert not [c for c in gh.calls("PATCH", f"/check-runs/{live['id']}")]
    [mine] = [r for i, r in runs.items() if i not in (live["id"], done["id"])]
    assert (mine["status"], mine["conclusion"]) == ("completed", "failure")

    # a resumed job (a dead worker's) takes the run over, and says so
    caplog.set_level(logging.INFO, logger="reviewbot.jobs")
    gh.install(INSTALLATION, [INCIDENT_REPO])
    gh.push(INCIDENT_REPO, INCIDENT_PR, incident["fix"])
    stuck = await our_run(server, incident["fix"], "in_progress")
    assert (await reconciler(server).run_once(force=True, trust_in_progress=False))[
        "queued"] == 1
    await server.queue.join()
    assert [(r["id"], r["conclusion"]) for r in gh.runs(INCIDENT_REPO, incident["fix"])] == [
        (stuck["id"], "success")]
    [line] = [r for r in caplog.records if r.getMessage() == "check run taken over"]
    assert line.check_run == stuck["id"]


async def test_an_orphaned_run_behind_a_completed_one_is_finished(server, incident):
    """A run left in progress as the newest on its head, its job gone (a Redis restart
    loses the queue): however recent, with no job for the head queued or running, the
    reconciler queues one, which takes the run over and completes it."""
    gh = server.gh
    gh.install(INSTALLATION, [INCIDENT_REPO])
    await our_run(server, incident["pr"], "completed", conclusion="failure")
    orphan = await our_run(server, incident["pr"], "in_progress")
    trusting = Reconciler(server.runner, server.queue.enqueue)
    assert (await trusting.run_once(force=True))["queued"] == 0  # no way to tell: trusted
    r = Reconciler(server.runner, server.queue.enqueue, busy=server.queue.busy)
    assert (await r.run_once(force=True))["queued"] == 1
    await server.queue.join()
    runs = {x["id"]: x for x in gh.runs(INCIDENT_REPO, incident["pr"])}
    assert (runs[orphan["id"]]["status"], runs[orphan["id"]]["conclusion"]) == (
        "completed", "failure")
    assert all(x["status"] == "completed" for x in runs.values())
    assert (await r.run_once(force=True))["queued"] == 0  # settled now


async def test_a_run_left_in_progress_behind_a_newer_one_is_closed(server, incident):
    """Branch protection reads the newest run; one left in progress under it, with no job
    for the head, is closed as neutral (saying why), never left in progress."""
    gh = server.gh
    gh.install(INSTALLATION, [INCIDENT_REPO])
    hidden = await our_run(server, incident["pr"], "in_progress")
    await our_run(server, incident["pr"], "completed", conclusion="failure")
    r = Reconciler(server.runner, server.queue.enqueue, busy=server.queue.busy)
    assert (await r.run_once(force=True))["queued"] == 0  # the newest is completed
    closed = {x["id"]: x for x in gh.runs(INCIDENT_REPO, incident["pr"])}[hidden["id"]]
    assert (closed["status"], closed["conclusion"]) == ("completed", "neutral")
    assert closed["output"]["title"] == "Superseded by a newer run"


async def test_a_resumed_job_whose_head_moved_on_closes_the_run_it_left(server, incident):
    """A worker died mid-job; by its retry the PR has a newer head. The retry does not
    check the old head, but it completes the run its first attempt left in progress."""
    from reviewbot.app.queue.job import Job

    gh = server.gh
    left = await our_run(server, incident["pr"], "in_progress")
    gh.push(INCIDENT_REPO, INCIDENT_PR, incident["fix"])
    await server.queue.enqueue(Job(
        installation_id=INSTALLATION, repo=INCIDENT_REPO, head_sha=incident["pr"],
        pr_number=INCIDENT_PR, base_ref="main", base_sha=None, event="pull_request",
        action="synchronize", delivery_id="d-dead", resume=True))
    await server.queue.join()
    [run] = gh.runs(INCIDENT_REPO, incident["pr"])
    assert (run["id"], run["status"], run["conclusion"]) == (left["id"], "completed",
                                                             "neutral")
    assert gh.runs(INCIDENT_REPO, incident["fix"]) == []  # the new head is not its job
