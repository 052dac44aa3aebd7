"""Fixtures for the GitHub App tests: the GitHub stand-in, the real server on 127.0.0.1,
and a signed-webhook sender that replays the real payloads from ../shared/fixtures when
that folder exists (own builders of the same shape otherwise)."""

from __future__ import annotations

import copy
import inspect
import json
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from reviewbot.app.demo.github import INCIDENT_PR, INCIDENT_REPO, seed_incident
from reviewbot.app.demo.serve import generate_key, start_app
from reviewbot.app.github.client import RetryPolicy
from reviewbot.app.settings import Settings
from reviewbot.app.web import keys
from tests.standin import GitHubStandIn, payloads

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
WEBHOOKS = FIXTURES / "webhooks"
SCHEMA = FIXTURES / "github" / "rest-api-subset.json"
INSTALLATION = 1234
APP_ID = 4242

FAST = RetryPolicy(timeout=5.0, download_timeout=10.0, retries=4, backoff=0.02,
                   max_backoff=0.1, rate_limit_retries=4, secondary_default_wait=0.2,
                   max_wait=5.0, max_concurrent=10, write_gap=0.0)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector, name, obj):
    """Run every `async def test_*` here with pytest-asyncio (strict mode is the default
    and the project's pytest config is not ours to change)."""
    if name.startswith("test") and inspect.iscoroutinefunction(obj) and \
            Path(str(collector.path)).resolve().is_relative_to(Path(__file__).parent):
        pytest.mark.asyncio(obj)


def real_payload(name: str) -> dict | None:
    path = WEBHOOKS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def require_fixture(name: str) -> dict:
    data = real_payload(name)
    if data is None:
        pytest.skip(f"../shared/fixtures/webhooks/{name}.json is not available")
    return data


@pytest.fixture(scope="session")
def keypair():
    return generate_key()


@pytest_asyncio.fixture
async def standin(keypair):
    gh = GitHubStandIn(app_id=APP_ID, public_key=keypair[1],
                       schema_path=SCHEMA if SCHEMA.is_file() else None)
    await gh.start()
    yield gh
    await gh.close()
    # Every request body must be valid against GitHub's OpenAPI description.
    assert gh.validation_errors == [], gh.validation_errors


@dataclass
class Server:
    url: str
    app: object
    settings: Settings
    gh: GitHubStandIn
    session: aiohttp.ClientSession
    app_runner: web.AppRunner  # the aiohttp runner (`runner` is the job runner)

    @property
    def queue(self):
        return self.app[keys.QUEUE]

    @property
    def runner(self):
        return self.app[keys.RUNNER]

    async def send(self, event: str, payload: dict, *, delivery: str | None = None,
                   wait: bool = True) -> tuple[int, dict]:
        status, data = await payloads.send(self.session, self.url + "/webhook", event, payload,
                                           self.settings.webhook_secret,
                                           delivery=delivery or str(uuid.uuid4()))
        if wait:
            await self.queue.join()
        return status, data

    async def raw(self, body: bytes, headers: dict) -> int:
        async with self.session.post(self.url + "/webhook", data=body, headers=headers) as r:
            await r.read()
            return r.status


@pytest_asyncio.fixture
async def make_server(standin, keypair):
    started = []

    async def make(policy: RetryPolicy = FAST, *, serve_options: dict | None = None,
                   settings_options: dict | None = None, **runner_options) -> Server:
        """`serve_options` go to the aiohttp runner, `settings_options` to Settings,
        `runner_options` to the job runner."""
        settings = Settings(app_id=str(APP_ID), private_key=keypair[0],
                            webhook_secret=secrets.token_hex(16).encode(),
                            api_url=standin.base_url, workers=2, **(settings_options or {}))
        runner_options.setdefault("disk_cache", False)
        app_runner, url = await start_app(settings, policy=policy,
                                          runner_options=runner_options,
                                          **(serve_options or {}))
        session = aiohttp.ClientSession()
        started.append((app_runner, session))
        return Server(url, app_runner.app, settings, standin, session, app_runner)

    yield make
    for app_runner, session in started:
        await session.close()
        if app_runner.server is not None:  # not stopped by the test
            await app_runner.cleanup()


@pytest_asyncio.fixture
async def server(make_server):
    return await make_server()


@pytest.fixture
def incident(standin):
    return seed_incident(standin)


# -- payloads: real ones retargeted at the stand-in, or our own of the same shape ----------

def _retarget(payload: dict, gh: GitHubStandIn, repo_name: str) -> dict:
    payload = copy.deepcopy(payload)
    payload["repository"] = gh.repo_json(gh.repos[repo_name])
    payload["installation"] = {**(payload.get("installation") or {}), "id": INSTALLATION}
    return payload


def pr_event(gh: GitHubStandIn, action: str, *, repo: str = INCIDENT_REPO,
             number: int = INCIDENT_PR, before: str | None = None,
             changes: dict | None = None) -> dict:
    pull = gh.repos[repo].pulls[number]
    real = real_payload(f"pull_request.{action}") or real_payload("pull_request.opened")
    if real is None:
        return payloads.pull_request(action, copy.deepcopy(pull), gh.repo_json(gh.repos[repo]),
                                     INSTALLATION, before=before, changes=changes)
    out = _retarget(real, gh, repo)
    out["action"] = action
    out["number"] = number
    pr = out["pull_request"]
    pr["number"] = number
    pr["draft"] = pull["draft"]
    for side in ("head", "base"):
        pr[side]["sha"] = pull[side]["sha"]
        pr[side]["ref"] = pull[side]["ref"]
        pr[side]["repo"] = out["repository"]
    if action == "synchronize":
        out["before"] = before or "0" * 40
        out["after"] = pull["head"]["sha"]
    if changes is not None:
        out["changes"] = changes
    return out


def check_run_event(gh: GitHubStandIn, action: str, run: dict, *, repo: str = INCIDENT_REPO,
                    pulls: list[dict] = (), identifier: str | None = None,
                    app_id: int = APP_ID) -> dict:
    run = {**run, "app": {"id": app_id, "slug": gh.slug}}
    real = real_payload(f"check_run.{action}")
    built = payloads.check_run(action, run, gh.repo_json(gh.repos[repo]), INSTALLATION,
                               pulls=list(pulls), identifier=identifier)
    if real is None:
        return built
    out = _retarget(real, gh, repo)
    out["check_run"].update({"id": run["id"], "head_sha": run["head_sha"],
                             "name": run["name"], "external_id": run.get("external_id") or "",
                             "app": {**out["check_run"]["app"], "id": app_id},
                             "pull_requests": built["check_run"]["pull_requests"]})
    if identifier is not None:
        out["requested_action"] = {"identifier": identifier}
    return out


def check_suite_event(gh: GitHubStandIn, action: str, head_sha: str, *,
                      repo: str = INCIDENT_REPO, pulls: list[dict] = ()) -> dict:
    built = payloads.check_suite(action, head_sha, gh.repo_json(gh.repos[repo]), INSTALLATION,
                                 APP_ID, pulls=list(pulls))
    real = real_payload(f"check_suite.{action}")
    if real is None:
        return built
    out = _retarget(real, gh, repo)
    out["check_suite"].update({"head_sha": head_sha,
                               "app": {**out["check_suite"]["app"], "id": APP_ID},
                               "pull_requests": built["check_suite"]["pull_requests"]})
    return out


def merge_group_event(gh: GitHubStandIn, head_sha: str, base_sha: str, *,
                      repo: str = INCIDENT_REPO) -> dict:
    built = payloads.merge_group(head_sha, base_sha, "main", gh.repo_json(gh.repos[repo]),
                                 INSTALLATION)
    real = real_payload("merge_group.checks_requested")
    if real is None:
        return built
    out = _retarget(real, gh, repo)
    out["merge_group"].update({"head_sha": head_sha, "base_sha": base_sha,
                               "base_ref": "refs/heads/main"})
    return out
