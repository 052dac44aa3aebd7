"""End to end: signed webhooks -> server -> queue -> runner -> the GitHub stand-in."""

from __future__ import annotations

import logging

from reviewbot.app.demo.github import INCIDENT_PR, INCIDENT_REPO
from reviewbot.app.logs import JSONFormatter
from reviewbot.app.web import keys
from reviewbot.demo import incident_files
from reviewbot.markdown import text
from reviewbot.render import COMMENT_MARKER
from tests.app.conftest import (
    check_run_event,
    check_suite_event,
    merge_group_event,
    pr_event,
)

AUTH = "backend/handlers/auth/main.py"


def _only(runs):
    assert len(runs) == 1, runs
    return runs[0]


async def test_incident_pr_fails_then_fix_passes_with_one_updated_comment(server, incident):
    gh = server.gh
    status, data = await server.send("pull_request", pr_event(gh, "opened"))
    assert (status, data["outcome"]) == (202, "queued")

    run = _only(gh.runs(INCIDENT_REPO, incident["pr"]))
    assert (run["status"], run["conclusion"]) == ("completed", "failure")
    assert run["name"] == "reviewbot / import check"
    assert run["external_id"] == str(INCIDENT_PR)
    failures = [a for a in run["annotations"] if a["annotation_level"] == "failure"]
    assert [(a["path"], a["start_line"]) for a in failures] == [(AUTH, 3)]
    assert "GoalValidationError" in failures[0]["message"]
    assert "3 affected handlers checked · 1 broken · 1 broken import" in \
        run["output"]["summary"]
    for name in ("auth", "create_goal", "list_goals"):  # as Markdown text: `_` escaped
        assert text(name, cell=True) in run["output"]["text"]

    comments = gh.comments(INCIDENT_REPO, INCIDENT_PR)
    assert len(comments) == 1
    first = dict(comments[0])
    assert first["user"]["type"] == "Bot" and first["user"]["login"] == gh.bot_login
    assert first["body"].startswith(COMMENT_MARKER)
    affected = first["body"].split("**Affected handlers**")[1].split("**Import check**")[0]
    for name in ("auth", "create_goal", "list_goals"):
        assert f"| {text(name, cell=True)} |" in affected
    assert "health" not in affected
    assert f"`{AUTH}:3`" in first["body"] and "GoalValidationError" in first["body"]

    # The author pushes the fix.
    gh.push(INCIDENT_REPO, INCIDENT_PR, incident["fix"])
    status, _ = await server.send("pull_request", pr_event(gh, "synchronize",
                                                          before=incident["pr"]))
    assert status == 202
    fixed = _only(gh.runs(INCIDENT_REPO, incident["fix"]))
    assert (fixed["status"], fixed["conclusion"]) == ("completed", "success")
    assert fixed["annotations"] == [] or all(a["annotation_level"] != "failure"
                                             for a in fixed["annotations"])
    # The old SHA keeps its own (failing) result.
    assert _only(gh.runs(INCIDENT_REPO, incident["pr"]))["conclusion"] == "failure"

    comments = gh.comments(INCIDENT_REPO, INCIDENT_PR)
    assert len(comments) == 1 and comments[0]["id"] == first["id"]
    assert comments[0]["body"] != first["body"]
    assert "✅" in comments[0]["body"] and "GoalValidationError" in comments[0]["body"]
    assert incident["fix"] in comments[0]["body"]  # the head marker
    assert len(gh.calls("POST", "/comments")) == 1
    assert len(gh.calls("PATCH", "/issues/comments/")) == 1


async def test_unchanged_comment_is_left_alone(server, incident):
    gh = server.gh
    await server.send("pull_request", pr_event(gh, "opened"))
    # `edited` with a base change re-evaluates the same head: same report, same comment.
    status, _ = await server.send("pull_request", pr_event(
        gh, "edited", changes={"base": {"ref": {"from": "develop"}, "sha": {"from": "0" * 40}}}))
    assert status == 202
    assert len(gh.runs(INCIDENT_REPO, incident["pr"])) == 2
    assert len(gh.comments(INCIDENT_REPO, INCIDENT_PR)) == 1
    assert gh.calls("PATCH", "/issues/comments/") == []


async def test_work_for_an_old_head_is_dropped(server, incident):
    gh = server.gh
    event = pr_event(gh, "opened")  # built while the head is the PR commit
    gh.push(INCIDENT_REPO, INCIDENT_PR, incident["fix"])
    status, _ = await server.send("pull_request", event)
    assert status == 202
    assert gh.runs(INCIDENT_REPO, incident["pr"]) == []
    assert gh.comments(INCIDENT_REPO, INCIDENT_PR) == []
    assert server.runner.outcomes[-1].outcome == "stale"


async def test_rerun_from_the_checks_tab_and_requested_action(server, incident):
    gh = server.gh
    await server.send("pull_request", pr_event(gh, "opened"))
    first = _only(gh.runs(INCIDENT_REPO, incident["pr"]))

    # "Re-run" on a fork PR: the payload lists no pull request; external_id finds it.
    status, data = await server.send("check_run", check_run_event(gh, "rerequested", first))
    assert (status, data["outcome"]) == (202, "queued")
    runs = gh.runs(INCIDENT_REPO, incident["pr"])
    assert len(runs) == 2
    new = max(runs, key=lambda r: r["id"])
    assert (new["status"], new["conclusion"]) == ("completed", "failure")
    assert new["external_id"] == str(INCIDENT_PR)

    status, _ = await server.send("check_run", check_run_event(
        gh, "requested_action", new, identifier="rerun",
        pulls=[gh.repos[INCIDENT_REPO].pulls[INCIDENT_PR]]))
    assert status == 202
    runs = gh.runs(INCIDENT_REPO, incident["pr"])
    assert len(runs) == 3 and all(r["status"] == "completed" for r in runs)
    assert len(gh.comments(INCIDENT_REPO, INCIDENT_PR)) == 1

    # Someone else's check run, or an action we do not offer: nothing happens.
    before = len(gh.requests)
    _, data = await server.send("check_run", check_run_event(gh, "rerequested", new,
                                                             app_id=999))
    assert data["outcome"] == "ignored"
    _, data = await server.send("check_run", check_run_event(gh, "requested_action", new,
                                                             identifier="lgtm|1"))
    assert data["outcome"] == "ignored"
    assert len(gh.requests) == before


async def test_merge_group_gets_a_completed_run_and_no_comment(server, incident):
    gh = server.gh
    repo = gh.repos[INCIDENT_REPO]
    merge = gh.commit(INCIDENT_REPO, incident_files("fix"),
                      parents=[incident["base"], incident["fix"]], message="merge queue")
    status, _ = await server.send("merge_group",
                                  merge_group_event(gh, merge, repo.branches["main"]))
    assert status == 202
    run = _only(gh.runs(INCIDENT_REPO, merge))
    assert (run["status"], run["conclusion"]) == ("completed", "success")
    assert gh.comments(INCIDENT_REPO, INCIDENT_PR) == []

    broken = gh.commit(INCIDENT_REPO, incident_files("pr"),
                       parents=[incident["base"], incident["pr"]], message="merge queue 2")
    await server.send("merge_group", merge_group_event(gh, broken, repo.branches["main"]))
    assert _only(gh.runs(INCIDENT_REPO, broken))["conclusion"] == "failure"


async def test_check_suite_requested_and_rerequested(server, incident):
    gh = server.gh
    pull = gh.repos[INCIDENT_REPO].pulls[INCIDENT_PR]
    await server.send("check_suite", check_suite_event(gh, "requested", incident["pr"],
                                                       pulls=[pull]))
    assert _only(gh.runs(INCIDENT_REPO, incident["pr"]))["conclusion"] == "failure"
    # The pull_request event for the same push: the queue key or the existing run dedupes
    # `requested`; a later `requested` does not add a run.
    await server.send("check_suite", check_suite_event(gh, "requested", incident["pr"]))
    assert len(gh.runs(INCIDENT_REPO, incident["pr"])) == 1
    # The pull_request event of the same push finds that run and adds none.
    await server.send("pull_request", pr_event(gh, "synchronize", before=incident["base"]))
    assert len(gh.runs(INCIDENT_REPO, incident["pr"])) == 1
    assert server.runner.outcomes[-1].outcome == "exists"
    # "Re-run all checks" always runs.
    await server.send("check_suite", check_suite_event(gh, "rerequested", incident["pr"]))
    runs = gh.runs(INCIDENT_REPO, incident["pr"])
    assert len(runs) == 2 and all(r["conclusion"] == "failure" for r in runs)
    assert {r["external_id"] for r in runs} == {str(INCIDENT_PR)}


async def test_github_502s_and_secondary_limits_still_complete(server, incident):
    gh = server.gh
    gh.fail(3, 502, path="/pulls/")
    gh.fail(2, 502, path="/check-runs")
    gh.secondary_limit(1, retry_after=1, path="/git/trees/")
    gh.secondary_limit(1, retry_after=None, status=429, path="/compare/")
    gh.secondary_limit(1, retry_after=None, path="/issues/")  # message only
    await server.send("pull_request", pr_event(gh, "opened"))
    run = _only(gh.runs(INCIDENT_REPO, incident["pr"]))
    assert (run["status"], run["conclusion"]) == ("completed", "failure")
    assert [(a["path"], a["start_line"]) for a in run["annotations"]] == [(AUTH, 3)]
    assert len(gh.comments(INCIDENT_REPO, INCIDENT_PR)) == 1
    statuses = [r.status for r in gh.requests]
    assert statuses.count(502) == 5 and statuses.count(403) == 2 and statuses.count(429) == 1
    assert all(f.count == 0 for f in gh.failures)
    metrics = server.app[keys.METRICS]
    assert sum(metrics.value("reviewbot_github_requests_total", {"method": m, "status": "502"})
               for m in ("GET", "POST", "PATCH")) == 5
    assert metrics.value("reviewbot_github_retries_total", {"reason": "rate_limit"}) == 3


async def test_github_down_completes_the_run_as_failure_with_rerun(server, incident):
    gh = server.gh
    gh.fail(10_000, 502, path="/git/")  # trees and blobs never answer
    await server.send("pull_request", pr_event(gh, "opened"))
    run = _only(gh.runs(INCIDENT_REPO, incident["pr"]))
    assert (run["status"], run["conclusion"]) == ("completed", "failure")
    assert "could not finish" in run["output"]["title"]
    assert "502" in run["output"]["summary"] or "GitHub" in run["output"]["summary"]
    assert run["actions"] == [{"label": "Re-run", "description": "Run the import check again",
                               "identifier": "rerun"}]
    assert gh.comments(INCIDENT_REPO, INCIDENT_PR) == []


async def test_a_job_over_the_memory_limit_fails_its_run_with_the_reason(make_server,
                                                                       incident, monkeypatch):
    """REVIEWBOT_MAX_MEMORY: the analysis stops at the limit and the run says so, rather
    than the worker being killed with the run left in progress."""
    monkeypatch.setattr("reviewbot.memory.resident", lambda: 3 << 30)  # a large monorepo
    server = await make_server(settings_options={"max_memory": 64 << 20})
    gh = server.gh
    await server.send("pull_request", pr_event(gh, "opened"))
    run = _only(gh.runs(INCIDENT_REPO, incident["pr"]))
    assert (run["status"], run["conclusion"]) == ("completed", "failure")
    assert "could not finish" in run["output"]["title"]
    summary = run["output"]["summary"]
    assert "stopped at its memory limit" in summary and "64 MiB" in summary
    assert "REVIEWBOT_MAX_MEMORY" in summary
    assert gh.comments(INCIDENT_REPO, INCIDENT_PR) == []


async def test_config_is_read_from_the_base_branch(server, standin):
    gh = standin
    gh.create_repo("acme/svc")
    base_files = incident_files("base")
    base = gh.commit("acme/svc", base_files, branch="main")
    # The PR breaks auth AND tries to switch the check off in its own config.
    pr_files = {**incident_files("pr"), ".github/reviewbot.yml": "discover: false\n"}
    head = gh.commit("acme/svc", pr_files, parents=[base])
    gh.open_pull("acme/svc", 3, head)
    await server.send("pull_request", pr_event(gh, "opened", repo="acme/svc", number=3))
    assert _only(gh.runs("acme/svc", head))["conclusion"] == "failure"


async def test_broken_config_fails_with_the_reason(server, standin):
    gh = standin
    gh.create_repo("acme/bad")
    files = {**incident_files("base"),
             ".github/reviewbot.yml": "check_name: imports\nhandlerz: []\n"}
    base = gh.commit("acme/bad", files, branch="main")
    head = gh.commit("acme/bad", {**files, "x.py": "x = 1\n"}, parents=[base])
    gh.open_pull("acme/bad", 4, head)
    await server.send("pull_request", pr_event(gh, "opened", repo="acme/bad", number=4))
    run = _only(gh.runs("acme/bad", head))
    assert run["name"] == "imports"  # the name branch protection expects
    assert run["conclusion"] == "failure"
    assert "handlerz" in run["output"]["summary"] and ".github/reviewbot.yml:2" in \
        run["output"]["summary"]
    assert run["actions"][0]["identifier"] == "rerun"


async def test_nothing_affected_is_success_and_says_so(server, standin):
    gh = standin
    gh.create_repo("acme/docs")
    base = gh.commit("acme/docs", incident_files("base"), branch="main")
    head = gh.commit("acme/docs", {**incident_files("base"), "README.md": "hello\n"},
                     parents=[base])
    gh.open_pull("acme/docs", 5, head)
    await server.send("pull_request", pr_event(gh, "opened", repo="acme/docs", number=5))
    run = _only(gh.runs("acme/docs", head))
    assert run["conclusion"] == "success"
    assert "No Lambda handler is affected" in run["output"]["title"]
    assert gh.comments("acme/docs", 5) == []


async def test_drafts_get_the_run_and_the_comment_as_configured(server, standin):
    gh = standin
    gh.create_repo("acme/draft")
    config = incident_files("base")[".github/reviewbot.yml"] + "comment_on_drafts: false\n"
    base = gh.commit("acme/draft", {**incident_files("base"), ".github/reviewbot.yml": config},
                     branch="main")
    head = gh.commit("acme/draft", {**incident_files("pr"), ".github/reviewbot.yml": config},
                     parents=[base])
    gh.open_pull("acme/draft", 6, head, draft=True)
    await server.send("pull_request", pr_event(gh, "opened", repo="acme/draft", number=6))
    assert _only(gh.runs("acme/draft", head))["conclusion"] == "failure"
    assert gh.comments("acme/draft", 6) == []
    gh.repos["acme/draft"].pulls[6]["draft"] = False
    await server.send("pull_request", pr_event(gh, "ready_for_review", repo="acme/draft",
                                               number=6))
    assert len(gh.comments("acme/draft", 6)) == 1


async def test_cold_store_uses_one_tarball_and_logs_hold_no_secrets(make_server, standin,
                                                                    caplog):
    server = await make_server(tarball_threshold=2)
    gh = standin
    from reviewbot.app.demo.github import seed_incident

    shas = seed_incident(gh)
    with caplog.at_level(logging.INFO):
        await server.send("pull_request", pr_event(gh, "opened"))
    assert _only(gh.runs(INCIDENT_REPO, shas["pr"]))["conclusion"] == "failure"
    assert len(gh.calls("GET", "/tarball/")) == 1
    assert gh.codeload_with_auth == 0
    blob_calls = gh.calls("GET", "/git/blobs/")
    # Only what the tarball could not provide (the base versions of changed files).
    assert len(blob_calls) <= 3
    text = "\n".join(JSONFormatter().format(r) for r in caplog.records)
    assert "job finished" in text and INCIDENT_REPO in text and shas["pr"] in text
    for token in gh.tokens:
        assert token not in text
    assert server.settings.webhook_secret.decode() not in text
    assert "PRIVATE KEY" not in text


async def test_a_store_outage_leaves_the_run_to_the_queues_retry(server, incident):
    """The queue's store down mid-job (a Redis restart) is no verdict on the change: the
    job is not concluded, its run stays in progress, and the retry finishes that run."""
    import dataclasses

    import pytest

    from reviewbot.app.queue.job import Job
    from reviewbot.app.queue.store import MemoryStore, StoreUnavailable
    from tests.app.conftest import INSTALLATION

    class Down:
        async def set(self, *args, **kwargs):
            raise StoreUnavailable("ConnectionError: Error 111 connecting to 127.0.0.1")

    gh, runner = server.gh, server.runner
    job = Job(installation_id=INSTALLATION, repo=INCIDENT_REPO, head_sha=incident["pr"],
              pr_number=INCIDENT_PR, base_ref=None, base_sha=None, event="pull_request",
              delivery_id="d-outage", action="opened")
    runner.ledger = Down()
    with pytest.raises(StoreUnavailable):
        await runner.run(job)
    run = _only(gh.runs(INCIDENT_REPO, incident["pr"]))
    assert run["status"] == "in_progress"
    assert gh.comments(INCIDENT_REPO, INCIDENT_PR) == []

    runner.ledger = MemoryStore()
    assert await runner.run(dataclasses.replace(job, resume=True)) == "failure"
    again = _only(gh.runs(INCIDENT_REPO, incident["pr"]))
    assert again["id"] == run["id"]
    assert (again["status"], again["conclusion"]) == ("completed", "failure")
    assert len(gh.comments(INCIDENT_REPO, INCIDENT_PR)) == 1
