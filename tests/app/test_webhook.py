"""The webhook front: verify, dedupe, enqueue, acknowledge; never a 5xx for client input."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from reviewbot.app import keys
from reviewbot.app.standin import INCIDENT_PR, INCIDENT_REPO
from reviewbot.app.webhook import Malformed, route, signature, verify
from tests.app.conftest import APP_ID, pr_event, require_fixture


def test_signature_matches_githubs_documented_vector():
    assert signature(b"It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    assert verify(b"s", b"body", signature(b"s", b"body"))
    assert not verify(b"s", b"body", signature(b"other", b"body"))
    assert not verify(b"s", b"body", None)
    assert not verify(b"s", b"body", "sha256=\u00e9")  # non-ASCII never raises


def _headers(server, body: bytes, **override) -> dict:
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "pull_request",
               "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
               "X-Hub-Signature-256": signature(server.settings.webhook_secret, body)}
    for key, value in override.items():
        key = key.replace("_", "-")
        if value is None:
            headers.pop(key, None)
        else:
            headers[key] = value
    return headers


async def test_rejections_get_the_right_status_and_no_github_calls(server, incident):
    gh = server.gh
    body = json.dumps(pr_event(gh, "opened")).encode()
    sha1 = "sha1=" + hmac.new(server.settings.webhook_secret, body, hashlib.sha1).hexdigest()
    cases = [
        (401, body, {"X-Hub-Signature-256": signature(b"wrong", body)}),
        (401, body, {"X-Hub-Signature-256": None}),
        (401, body, {"X-Hub-Signature-256": None, "X-Hub-Signature": sha1}),
        (400, b"{not json", {}),
        (400, body, {"X-GitHub-Event": None}),
        (400, body, {"X-GitHub-Delivery": None}),
        (415, body, {"Content-Type": "application/x-www-form-urlencoded"}),
        (415, body, {"Content-Type": "text/plain"}),
    ]
    for expected, payload, override in cases:
        headers = _headers(server, payload)
        headers.update({k: v for k, v in override.items() if v is not None})
        for k, v in override.items():
            if v is None:
                headers.pop(k)
        if payload is not body:
            headers["X-Hub-Signature-256"] = signature(server.settings.webhook_secret, payload)
        assert await server.raw(payload, headers) == expected, override
    big = b'{"a": "' + b"x" * (26 * 1024 * 1024) + b'"}'
    assert await server.raw(big, _headers(server, big)) == 413
    await server.queue.join()
    assert gh.requests == []
    metrics = server.app[keys.METRICS]
    assert metrics.value("reviewbot_webhook_deliveries_total",
                         {"event": "pull_request", "outcome": "bad_signature"}) == 1
    assert metrics.value("reviewbot_webhook_deliveries_total",
                         {"event": "pull_request", "outcome": "unsigned"}) == 2


async def test_malformed_payload_of_a_handled_event_is_400(server, incident):
    payload = {"action": "opened", "installation": {"id": 1},
               "repository": {"full_name": INCIDENT_REPO}, "pull_request": {"head": {}}}
    status, data = await server.send("pull_request", payload)
    assert (status, data["outcome"]) == (400, "bad_request")
    assert server.gh.requests == []


async def test_ping_and_unhandled_events(server, incident):
    status, data = await server.send("ping", {"zen": "Hi", "hook_id": 1})
    assert (status, data["outcome"]) == (200, "pong")
    status, data = await server.send("issues", {"action": "opened"})
    assert (status, data["outcome"]) == (202, "ignored")
    status, data = await server.send("pull_request", pr_event(server.gh, "closed"))
    assert (status, data["outcome"]) == (202, "ignored")
    status, data = await server.send("pull_request", pr_event(server.gh, "edited"))
    assert (status, data["outcome"]) == (202, "ignored")  # no base change
    assert server.gh.requests == []


async def test_real_ping_and_installation_payloads_are_acknowledged(server):
    status, _ = await server.send("ping", require_fixture("ping.with-app_id"))
    assert status == 200
    status, data = await server.send("installation", require_fixture("installation.created"))
    assert (status, data["outcome"]) == (202, "ignored")
    assert server.gh.requests == []


async def test_same_delivery_guid_is_processed_once(server, incident):
    gh = server.gh
    event = pr_event(gh, "opened")
    first = await server.send("pull_request", event, delivery="guid-1")
    second = await server.send("pull_request", event, delivery="guid-1")
    assert first == (202, {"outcome": "queued"})
    assert second == (202, {"outcome": "duplicate"})
    assert len(gh.runs(INCIDENT_REPO, incident["pr"])) == 1
    assert len(gh.comments(INCIDENT_REPO, INCIDENT_PR)) == 1


async def test_ack_is_fast_while_github_is_slow(server, incident):
    import time

    server.gh.latency = 0.05  # a job makes ~30 calls: well over a second
    started = time.monotonic()
    status, _ = await server.send("pull_request", pr_event(server.gh, "opened"), wait=False)
    assert status == 202 and time.monotonic() - started < 0.5
    assert all(r["status"] != "completed" for r in server.gh.runs(INCIDENT_REPO))
    await server.queue.join()
    assert server.gh.runs(INCIDENT_REPO, incident["pr"])[0]["status"] == "completed"


def test_route_maps_events_to_jobs():
    repo = {"full_name": "o/r"}
    inst = {"id": 9}
    pr = {"number": 7, "head": {"sha": "h" * 40}, "base": {"ref": "main", "sha": "b" * 40}}
    job = route("pull_request", {"action": "synchronize", "pull_request": pr,
                                 "repository": repo, "installation": inst}, "d1", "1").job
    assert (job.repo, job.pr_number, job.head_sha, job.base_sha, job.installation_id) == (
        "o/r", 7, "h" * 40, "b" * 40, 9)
    assert job.key == ("o/r", "#7", "h" * 40)
    edited = route("pull_request", {"action": "edited", "pull_request": pr, "repository": repo,
                                    "installation": inst,
                                    "changes": {"base": {"ref": {"from": "dev"}}}}, "d", "1")
    assert edited.job is not None
    run = {"head_sha": "c" * 40, "external_id": "12", "app": {"id": 1}, "pull_requests": []}
    job = route("check_run", {"action": "rerequested", "check_run": run, "repository": repo,
                              "installation": inst}, "d", "1").job
    assert (job.pr_number, job.force, job.key) == (12, True, ("o/r", "#12", "c" * 40))
    assert route("check_run", {"action": "rerequested", "check_run": run,
                               "repository": repo, "installation": inst}, "d", "2").job is None
    group = {"head_sha": "m" * 40, "base_sha": "b" * 40, "base_ref": "refs/heads/main"}
    job = route("merge_group", {"action": "checks_requested", "merge_group": group,
                                "repository": repo, "installation": inst}, "d", "1").job
    assert (job.pr_number, job.base_ref, job.key) == (None, "main", ("o/r", "m" * 40, "m" * 40))
    assert route("pull_request", {"action": "opened", "pull_request": pr,
                                  "repository": repo}, "d", "1").job is None  # no install
    with pytest.raises(Malformed):
        route("check_suite", {"action": "requested", "check_suite": {},
                              "repository": repo, "installation": inst}, "d", "1")


def test_real_payloads_route(tmp_path):
    opened = require_fixture("pull_request.opened")
    job = route("pull_request", opened, "d", str(APP_ID)).job
    assert job.head_sha == opened["pull_request"]["head"]["sha"]
    assert job.pr_number == opened["number"]
    suite = require_fixture("check_suite.rerequested")
    job = route("check_suite", suite, "d", str(suite["check_suite"]["app"]["id"])).job
    assert job.pr_number == suite["check_suite"]["pull_requests"][0]["number"] and job.force
    group = require_fixture("merge_group.checks_requested")
    job = route("merge_group", group, "d", "1").job
    assert job.head_sha == group["merge_group"]["head_sha"]
    action = require_fixture("check_run.requested_action")
    assert route("check_run", action, "d", str(action["check_run"]["app"]["id"])).job is None
