"""Check-run lifecycle against the stand-in (bodies validated against GitHub's schema)."""

from __future__ import annotations

import time
from dataclasses import replace

import aiohttp
import pytest_asyncio

from reviewbot.app.github.client import GitHubClient
from reviewbot.app.job import checks
from reviewbot.model import Finding, Handler, HandlerStatus, Report, Unresolved
from tests.app.conftest import FAST


@pytest_asyncio.fixture
async def gh(standin):
    token = "ghs_" + "k" * 50
    standin.tokens[token] = (1, time.time() + 3600)
    standin.create_repo("o/r")
    sha = standin.commit("o/r", {"a.py": ""}, branch="main")
    async with aiohttp.ClientSession() as session:
        yield GitHubClient(session, base_url=standin.base_url, policy=FAST,
                           oauth_token=token), sha


def _report(n_errors: int, message: str = "cannot import name 'X'") -> Report:
    h = Handler("auth", "main.handler", "backend/handlers/auth")
    errors = tuple(Finding("auth", f"backend/handlers/auth/m{i}.py", i + 1, "missing-name",
                           message) for i in range(n_errors))
    return Report(handlers=(HandlerStatus(h, True, ("main", "goals_common"), True),),
                  errors=errors, base="b" * 40, head="h" * 40)


async def test_annotations_go_in_batches_of_50_and_complete_last(standin, gh):
    client, sha = gh
    run = checks.CheckRun(client, "o/r", sha, external_id="7", app_id=str(standin.app_id))
    await run.start()
    await run.report(_report(120))
    stored = standin.runs("o/r", sha)[0]
    assert (stored["status"], stored["conclusion"]) == ("completed", "failure")
    assert len(stored["annotations"]) == 120
    patches = standin.calls("PATCH", "/check-runs/")
    sizes = [len(p.body["output"].get("annotations", [])) for p in patches]
    assert sizes == [50, 50, 20]
    assert "conclusion" not in patches[0].body and patches[-1].body["conclusion"] == "failure"
    assert stored["external_id"] == "7"
    assert stored["annotations"][0] == {
        "path": "backend/handlers/auth/m0.py", "start_line": 1, "end_line": 1,
        "annotation_level": "failure", "title": "missing-name (auth)",
        "message": "cannot import name 'X'"}


async def test_long_output_is_trimmed_below_the_limit(standin, gh):
    client, sha = gh
    run = checks.CheckRun(client, "o/r", sha)
    await run.start()
    report = _report(40, "x" * 3000)
    report = replace(report, errors=tuple(  # 40 distinct causes, each listed in full
        replace(f, message=f"{i} {f.message}") for i, f in enumerate(report.errors)))
    await run.report(report)
    stored = standin.runs("o/r", sha)[0]
    assert stored["status"] == "completed"
    assert len(stored["output"]["text"]) <= 65_535 and "trimmed" in stored["output"]["text"]
    assert len(stored["output"]["summary"]) <= 65_535


async def test_nothing_affected_says_so(standin, gh):
    client, sha = gh
    run = checks.CheckRun(client, "o/r", sha)
    await run.start()
    h = Handler("health", "main.handler", "h")
    await run.report(Report(handlers=(HandlerStatus(h, False),)))
    stored = standin.runs("o/r", sha)[0]
    assert stored["conclusion"] == "success"
    assert "No Lambda handler is affected" in stored["output"]["summary"]


async def test_a_run_that_could_check_nothing_is_neutral_and_says_how_to_settle(standin, gh):
    client, sha = gh
    run = checks.CheckRun(client, "o/r", sha)
    await run.start()
    await run.report(Report(handlers=(), unresolved=(
        Unresolved("Web", "template.yaml", 3, "runtime nodejs20.x is not Python"),
        Unresolved("Api|v2", "template.yaml", 9, "Handler is computed"))))
    stored = standin.runs("o/r", sha)[0]
    assert stored["conclusion"] == "neutral"
    assert stored["output"]["title"] == "nothing checked: 1 deployment entry could not be " \
                                        "resolved"
    summary = stored["output"]["summary"]
    assert "Handler is computed" in summary and '- name: "Api|v2"' in summary
    assert "Web" not in summary


async def test_failure_has_reason_and_rerun_button(standin, gh):
    client, sha = gh
    run = checks.CheckRun(client, "o/r", sha)
    await run.start()
    await run.fail("GitHub answered 502")
    stored = standin.runs("o/r", sha)[0]
    assert stored["conclusion"] == "failure"
    assert "GitHub answered 502" in stored["output"]["summary"]
    assert stored["actions"][0]["identifier"] == "rerun"


async def test_an_incomplete_run_of_ours_is_adopted_not_duplicated(standin, gh):
    client, sha = gh
    first = checks.CheckRun(client, "o/r", sha, app_id=str(standin.app_id))
    await first.start()  # then the process died
    second = checks.CheckRun(client, "o/r", sha, app_id=str(standin.app_id))
    await second.start()
    assert second.id == first.id and len(standin.runs("o/r", sha)) == 1
    await second.fail("x")
    third = checks.CheckRun(client, "o/r", sha, app_id=str(standin.app_id))
    await third.start()  # completed runs are never reopened
    assert third.id != first.id and len(standin.runs("o/r", sha)) == 2


async def test_the_stand_in_rejects_bodies_github_would_reject(standin, gh):
    if standin.validator is None:
        import pytest

        pytest.skip("../shared/fixtures/github/rest-api-subset.json is not available")
    client, sha = gh
    from gidgethub import BadRequest

    try:
        await client.post("/repos/o/r/check-runs", data={"name": "n", "head_sha": sha,
                                                          "status": "done"})
    except BadRequest as exc:
        assert exc.status_code == 422
    else:
        raise AssertionError("an invalid status was accepted")
    assert any("status" in e for e in standin.validation_errors)
    standin.validation_errors.clear()  # expected here; any other test would fail
