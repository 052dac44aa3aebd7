"""A Re-run is never lost: a rerequest for a head whose job has already created its check
run is a follow-up job that creates a new run once that job ends; it coalesces only with a
job that has not yet created its run. Tested at each stage of the running job."""

from __future__ import annotations

import asyncio

import pytest

from reviewbot.app.demo.github import INCIDENT_PR, INCIDENT_REPO
from reviewbot.app.job.runner import Runner
from tests.app.conftest import APP_ID, INSTALLATION, pr_event
from tests.standin import payloads


def suite_rerequested(gh, sha: str) -> dict:
    pull = gh.repos[INCIDENT_REPO].pulls[INCIDENT_PR]
    return payloads.check_suite("rerequested", sha, gh.repo_json(gh.repos[INCIDENT_REPO]),
                                INSTALLATION, APP_ID, pulls=[pull])


def completed(gh, sha: str) -> list[str]:
    return [r["conclusion"] for r in gh.runs(INCIDENT_REPO, sha)
            if r["status"] == "completed"]


# (the step the first job is held in, whether its run exists by then, runs at the end)
STAGES = [
    ("dequeued", False, 1),  # taken by a worker, runner not started: coalesces
    ("_load_config", False, 1),  # running, no run yet: coalesces too
    ("_write_comment", True, 2),  # its run created, comment being written: a follow-up
]


@pytest.mark.parametrize(("stage", "has_run", "runs"), STAGES)
async def test_a_rerequest_at_each_stage_of_a_job(server, incident, monkeypatch, stage,
                                                  has_run, runs):
    gh = server.gh
    sha = incident["pr"]
    reached, release = asyncio.Event(), asyncio.Event()
    if stage == "dequeued":  # hold the queue's handler before the runner starts
        original = server.queue._handler

        async def held(job):
            reached.set()
            await release.wait()
            await original(job)
        monkeypatch.setattr(server.queue, "_handler", held)
    else:
        step = getattr(Runner, stage)

        async def hold(self, ctx):
            if not reached.is_set():
                reached.set()
                await release.wait()
            return await step(self, ctx)
        monkeypatch.setattr(Runner, stage, hold)

    await server.send("pull_request", pr_event(gh, "opened"), wait=False)
    await asyncio.wait_for(reached.wait(), 10)
    assert bool(gh.runs(INCIDENT_REPO, sha)) is has_run
    status, data = await server.send("check_suite", suite_rerequested(gh, sha), wait=False)
    assert status == 202
    assert data["outcome"] == ("queued" if runs == 2 else "already_queued")
    release.set()
    await server.queue.join()
    assert completed(gh, sha) == ["failure"] * runs
    assert all(r["status"] == "completed" for r in gh.runs(INCIDENT_REPO, sha))
    assert len(gh.comments(INCIDENT_REPO, INCIDENT_PR)) == 1


async def test_follow_ups_coalesce_while_one_waits_and_chain_after_it_starts(
        server, incident, monkeypatch):
    gh = server.gh
    sha = incident["pr"]
    gates = [asyncio.Event(), asyncio.Event()]
    reached = [asyncio.Event(), asyncio.Event()]
    calls = 0
    step = Runner._write_comment

    async def hold(self, ctx):
        nonlocal calls
        i = calls
        calls += 1
        if i < 2:
            reached[i].set()
            await gates[i].wait()
        return await step(self, ctx)
    monkeypatch.setattr(Runner, "_write_comment", hold)

    await server.send("pull_request", pr_event(gh, "opened"), wait=False)
    await asyncio.wait_for(reached[0].wait(), 10)
    outcomes = [(await server.send("check_suite", suite_rerequested(gh, sha), wait=False))[1][
        "outcome"] for _ in range(3)]
    assert outcomes == ["queued", "already_queued", "already_queued"]  # one follow-up
    gates[0].set()
    await asyncio.wait_for(reached[1].wait(), 10)  # the follow-up, at its comment
    assert completed(gh, sha) == ["failure"]  # the first; the follow-up's run is open
    assert len(gh.runs(INCIDENT_REPO, sha)) == 2
    _, data = await server.send("check_suite", suite_rerequested(gh, sha), wait=False)
    assert data["outcome"] == "queued"  # after the follow-up's run: another one
    gates[1].set()
    await server.queue.join()
    assert completed(gh, sha) == ["failure"] * 3
