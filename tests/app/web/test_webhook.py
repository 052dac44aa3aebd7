"""The webhook front: verify, dedupe, enqueue, acknowledge; never a 5xx for client input."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import orjson
import pytest

from reviewbot.app.demo.github import INCIDENT_PR, INCIDENT_REPO
from reviewbot.app.web import keys
from reviewbot.app.web.payload import BadPayload
from reviewbot.app.web.webhook import Malformed, parse, route, signature, verify
from reviewbot.render import COMMENT_MARKER
from tests.app.conftest import APP_ID, WEBHOOKS, pr_event, require_fixture
from tests.standin import payloads


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


async def test_signed_bodies_of_odd_shapes_get_400_with_a_reason_and_nothing_queued(
        server, incident, caplog):
    """Bodies GitHub's signature covers but whose values reviewbot would misread: never a
    5xx, never a job, one JSON log line each with the reason."""
    event = pr_event(server.gh, "opened")
    odd = [json.dumps({**event, "pull_request": {**event["pull_request"], "number": n}})
           .encode() for n in (10**30, 1.5, True, "7")]
    odd.append(b'{"action": "opened", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    caplog.set_level(logging.INFO, logger="reviewbot.webhook")
    for body in odd:
        caplog.clear()
        status = await server.raw(body, _headers(server, body))
        assert status == 400, body[:80]
        [line] = [r for r in caplog.records if r.getMessage() == "webhook rejected: bad payload"]
        assert line.reason.startswith(("invalid payload", "body is nested too deeply"))
    await server.queue.join()
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


HANDLED = ("pull_request", "check_run", "check_suite", "merge_group", "issue_comment")


def _routed(event: str, payload) -> tuple:
    try:
        r = route(event, payload, "d", str(APP_ID))
    except Malformed as exc:
        return ("malformed", str(exc))
    return (r.job, r.reason)


def _scenarios() -> list[dict]:
    """One payload per kind of job the router makes, with every field it reads."""
    repo = {"full_name": "o/r"}
    pull = {"number": 7, "head": {"ref": "f", "sha": "h" * 40, "repo": {"url": "u"}},
            "base": {"ref": "main", "sha": "b" * 40,
                     "repo": {"url": "https://api.github.com/repos/o/r"}}}
    run = {"app": {"id": APP_ID}, "head_sha": "c" * 40, "external_id": "12"}
    user = {"login": "u", "type": "User"}
    return [
        payloads.pull_request("synchronize", pull, repo, 1),
        payloads.pull_request("edited", pull, repo, 1,
                              changes={"base": {"ref": {"from": "dev"}}}),
        payloads.check_run("rerequested", run, repo, 1, pulls=[pull]),
        payloads.check_run("requested_action", run, repo, 1, identifier="rerun"),
        payloads.check_suite("requested", "c" * 40, repo, 1, APP_ID, pulls=[pull]),
        {"action": "created", "repository": repo, "installation": {"id": 1}, "sender": user,
         "issue": {"number": 7, "pull_request": {"url": "u"}, "state": "open"},
         "comment": {"id": 3, "user": user, "body": "@reviewbot recheck"}},
        {"action": "edited", "repository": repo, "installation": {"id": 1}, "sender": user,
         "issue": {"number": 7, "pull_request": {"url": "u"}, "state": "open"},
         "comment": {"id": 3, "user": {"login": "reviewbot[bot]", "type": "Bot"},
                     "body": f"{COMMENT_MARKER}\n- [x] checked"},
         "changes": {"body": {"from": f"{COMMENT_MARKER}\n- [ ] checked"}}},
        {"action": "checks_requested", "repository": repo, "installation": {"id": 1},
         "merge_group": {"head_sha": "m" * 40, "base_sha": "b" * 40,
                         "base_ref": "refs/heads/main"}},
    ]


def _bodies() -> list[bytes]:
    """Real payloads when present; each scenario under every action; and each of its
    fields replaced by a shape the router does not expect, or a sub-field dropped."""
    real = sorted(WEBHOOKS.glob("*.json")) if WEBHOOKS.is_dir() else []
    bodies = [p.read_bytes() for p in real]
    for payload in _scenarios():
        bodies += [orjson.dumps({**payload, "action": a}) for a in ACTIONS]
        for key, value in payload.items():
            bodies += [orjson.dumps({**payload, key: odd}) for odd in (None, 5, [1], {}, "s")]
            if isinstance(value, dict):
                for sub in value:
                    rest = {k: v for k, v in value.items() if k != sub}
                    bodies.append(orjson.dumps({**payload, key: rest}))
                    bodies.append(orjson.dumps({**payload, key: {**value, sub: [1]}}))
    bodies += [b"[1, 2]", b'"text"', b"{}", b'{"action": null}']
    return bodies


ACTIONS = ("opened", "synchronize", "edited", "rerequested", "requested_action", "requested",
           "created", "checks_requested", "closed")


def test_parse_gives_route_the_values_of_a_full_parse():
    """`parse` decodes only the routed fields, typed; a body it accepts must route as a
    full parse does, under every handled event; one it refuses is of a shape the router
    would not route to a job anyway (or a value it would misread)."""
    jobs = set()
    refused = 0
    for body in _bodies():
        full = orjson.loads(body)
        try:
            typed = parse(body)
        except BadPayload:
            refused += 1
            continue
        for event in HANDLED:
            expected = _routed(event, full)
            assert _routed(event, typed) == expected, (event, body[:100])
            if expected[0] not in (None, "malformed"):
                jobs.add((event, full.get("action")))
    assert len(jobs) >= 8, jobs  # the scenarios reach every kind of job
    assert refused > 50  # the odd shapes are refused up front


def test_real_payloads_all_decode():
    if not WEBHOOKS.is_dir():
        pytest.skip("../shared/fixtures/webhooks is not available")
    for path in sorted(WEBHOOKS.glob("*.json")):
        parse(path.read_bytes())


@pytest.mark.parametrize("number", [b"1.5", b"true", b"0", b"-3", b"1" + b"0" * 30, b'"7"'])
def test_a_pr_number_that_is_not_a_positive_int_is_refused(number):
    body = b'{"action": "opened", "pull_request": {"number": ' + number + b"}}"
    with pytest.raises(BadPayload, match=r"\$\.pull_request\.number"):
        parse(body)


def test_ids_fit_in_64_bits_and_nesting_is_bounded():
    with pytest.raises(BadPayload, match=r"\$\.installation\.id"):
        parse(b'{"installation": {"id": 18446744073709551616}}')
    assert parse(b'{"installation": {"id": 9223372036854775807}}') == {
        "installation": {"id": 9223372036854775807}}
    deep = b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(BadPayload, match="nested too deeply"):
        parse(deep)


def test_parse_rejects_what_is_not_json():
    for body in (b"{not json", b"", b'{"a": 1} x', b"[1", b'{"action": "\xff"}', b"[1, 2]"):
        with pytest.raises(ValueError):
            parse(body)
    # Only the routed fields become objects: the rest of a payload is checked, not built.
    body = orjson.dumps({"action": "opened", "pull_request": {"number": 7, "title": "t"},
                         "extra": {"large": ["x"] * 1000}})
    assert parse(body) == {"action": "opened", "pull_request": {"number": 7}}
