"""`@reviewbot recheck` in a PR comment re-runs the check on the PR's head; the command's
name is `recheck_command` in the base branch's config. Bots, issues that are not pull
requests, and other comments are ignored."""

from __future__ import annotations

import pytest

from reviewbot.app.demo.github import INCIDENT_PR, INCIDENT_REPO
from reviewbot.app.web.webhook import command_lines, route
from reviewbot.config import Config, ConfigError, parse_config
from reviewbot.demo import incident_files
from tests.app.conftest import APP_ID, INSTALLATION, pr_event
from tests.standin import payloads


def comment_event(gh, body: str, **kw) -> dict:
    return payloads.issue_comment(INCIDENT_PR, body, gh.repo_json(gh.repos[INCIDENT_REPO]),
                                  INSTALLATION, **kw)


def runs(gh, sha):
    return [(r["status"], r["conclusion"]) for r in gh.runs(INCIDENT_REPO, sha)]


async def test_recheck_runs_the_check_again_on_the_head(server, incident):
    gh = server.gh
    await server.send("pull_request", pr_event(gh, "opened"))
    assert runs(gh, incident["pr"]) == [("completed", "failure")]

    status, data = await server.send("issue_comment", comment_event(
        gh, "Flaky? Let's see.\n@reviewbot recheck\nthanks"))
    assert (status, data["outcome"]) == (202, "queued")
    assert runs(gh, incident["pr"]) == [("completed", "failure")] * 2
    assert len(gh.comments(INCIDENT_REPO, INCIDENT_PR)) == 1  # the sticky one, updated

    # after a push the command checks the new head, not the old one
    gh.push(INCIDENT_REPO, INCIDENT_PR, incident["fix"])
    await server.send("issue_comment", comment_event(gh, "@ReviewBot  Recheck"))
    assert runs(gh, incident["fix"]) == [("completed", "success")]
    assert len(runs(gh, incident["pr"])) == 2


@pytest.mark.parametrize(("body", "kw", "reason"), [
    ("@reviewbot recheck", {"user": {"login": "other[bot]", "id": 5, "type": "Bot"}},
     "comment by a bot"),
    ("@reviewbot recheck", {"pull": False}, "comment on an issue, not a pull request"),
    ("@reviewbot recheck", {"action": "edited"}, None),
    ("@reviewbot recheck", {"state": "closed"}, "comment on a closed pull request"),
    ("please recheck this", {}, "comment holds no command"),
])
async def test_comments_that_are_not_a_recheck_are_ignored(server, incident, body, kw,
                                                           reason):
    gh = server.gh
    status, data = await server.send("issue_comment", comment_event(gh, body, **kw))
    assert status == 202
    assert data["outcome"] in ("ignored", "queued")
    if reason is not None:
        assert data["reason"] == reason
    assert gh.runs(INCIDENT_REPO, incident["pr"]) == []


async def test_another_command_reaches_the_worker_and_is_dropped(server, incident):
    gh = server.gh
    _, data = await server.send("issue_comment", comment_event(gh, "@someone have a look"))
    assert data["outcome"] == "queued"  # command-like: only the worker knows the config
    assert gh.runs(INCIDENT_REPO, incident["pr"]) == []
    assert server.runner.outcomes == []  # dropped before the runner


async def test_the_command_name_comes_from_the_base_branch_config(server, incident):
    gh = server.gh
    repo = gh.repos[INCIDENT_REPO]
    files = incident_files("base")
    files[".github/reviewbot.yml"] = (files[".github/reviewbot.yml"].rstrip("\n")
                                      + "\nrecheck_command: /import-check again\n")
    base = gh.commit(INCIDENT_REPO, files, parents=[repo.branches["main"]], branch="main",
                     message="config")
    gh.push(INCIDENT_REPO, INCIDENT_PR, incident["pr"])  # base now at `base`
    assert repo.pulls[INCIDENT_PR]["base"]["sha"] == base

    await server.send("issue_comment", comment_event(gh, "@reviewbot recheck"))
    assert gh.runs(INCIDENT_REPO, incident["pr"]) == []
    await server.send("issue_comment", comment_event(gh, "/import-check again"))
    assert len(gh.runs(INCIDENT_REPO, incident["pr"])) == 1


def test_route_builds_a_forced_job_without_a_head(standin):
    standin.create_repo(INCIDENT_REPO)
    payload = payloads.issue_comment(7, "hi\n  @reviewbot recheck  \n", standin.repo_json(
        standin.repos[INCIDENT_REPO]), INSTALLATION)
    job = route("issue_comment", payload, "d-1", str(APP_ID)).job
    assert (job.pr_number, job.head_sha, job.force, job.command) == (
        7, "", True, "@reviewbot recheck")
    assert command_lines("a\n/x\n@y\n" + "@z\n" * 10).count("\n") == 4


def test_recheck_command_config_key():
    assert Config().recheck_command == "@reviewbot recheck"
    assert parse_config(b"recheck_command: /recheck\n").recheck_command == "/recheck"
    with pytest.raises(ConfigError, match="recheck_command: must not be empty"):
        parse_config(b"recheck_command: '  '\n")
    with pytest.raises(ConfigError, match="recheck_command: expected a string"):
        parse_config(b"recheck_command: [a]\n")
