"""No input, signed or not, gets a 5xx: the webhook's decode-route-enqueue path fuzzed with
Hypothesis, on random bytes and on real payloads with a value swapped for random JSON."""

from __future__ import annotations

import asyncio
import copy
import json

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviewbot.app.metrics import Metrics
from reviewbot.app.queue.job import Job
from reviewbot.app.settings import Settings
from reviewbot.app.web import keys
from reviewbot.app.web.payload import BadPayload
from reviewbot.app.web.webhook import Malformed, accept, parse, route, signature
from tests.app.conftest import APP_ID, WEBHOOKS

SECRET = b"fuzz-secret"
EVENTS = ("pull_request", "check_run", "check_suite", "merge_group", "issue_comment", "ping",
          "issues", "installation")


def _real() -> list[tuple[str, dict]]:
    out = []
    if WEBHOOKS.is_dir():
        for path in sorted(WEBHOOKS.glob("*.json")):
            out.append((path.name.split(".")[0], json.loads(path.read_text())))
    # without the fixtures: the shapes the router reads, from its own tests
    from tests.app.web.test_webhook import _scenarios

    events = ("pull_request", "pull_request", "check_run", "check_run", "check_suite",
              "issue_comment", "issue_comment", "merge_group")
    return out + list(zip(events, _scenarios(), strict=True))


REAL = _real()
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=12)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            yield from _paths(v, (*prefix, i))


@st.composite
def mutated(draw):
    event, payload = draw(st.sampled_from(REAL))
    payload = copy.deepcopy(payload)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(payload) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = payload
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(JSON)
    return event, json.dumps(payload).encode()  # big integers too


def _check_job(job: Job) -> None:
    assert 0 < job.installation_id < 2**63
    assert job.pr_number is None or 0 < job.pr_number < 2**31
    assert job.comment_id is None or 0 < job.comment_id < 2**63
    assert isinstance(job.repo, str) and isinstance(job.head_sha, str)
    json.dumps(job.to_dict())  # what the queue stores


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_are_bad_payloads_or_decode(body):
    """Either a dict of the read fields or BadPayload: nothing else escapes."""
    try:
        assert isinstance(parse(body), dict)
    except BadPayload:
        return


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.sampled_from(EVENTS))
def test_mutated_real_payloads_route_to_a_bounded_job_or_a_reason(case, event):
    real_event, body = case
    for name in {event, real_event}:
        try:
            routed = route(name, parse(body), "d", str(APP_ID))
        except (BadPayload, Malformed):
            continue
        if routed.job is not None:
            _check_job(routed.job)


class _Queue:
    def __init__(self):
        self.jobs: list[Job] = []

    async def enqueue(self, job: Job) -> bool:
        json.dumps(job.to_dict())
        self.jobs.append(job)
        return True


class _Deliveries:
    def __init__(self):
        self.keys: set[str] = set()

    def seen(self, key: str) -> bool:
        return key in self.keys

    def mark(self, key: str) -> None:
        self.keys.add(key)


def _app() -> dict:
    return {keys.SETTINGS: Settings(app_id=str(APP_ID), private_key="", webhook_secret=SECRET),
            keys.METRICS: Metrics(), keys.QUEUE: _Queue(), keys.DELIVERIES: _Deliveries()}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated() | st.tuples(st.sampled_from(EVENTS), st.binary(max_size=200)),
       st.sampled_from(EVENTS), st.booleans())
def test_no_signed_or_unsigned_delivery_gets_a_5xx(case, event, signed):
    _, body = case
    app = _app()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": "d-1"}
    if signed:
        headers["X-Hub-Signature-256"] = signature(SECRET, body)
    status, reply = asyncio.run(accept(app, headers, body))
    assert status < 500, reply
    assert status == 401 or signed
    orjson.loads(reply)
    for job in app[keys.QUEUE].jobs:
        _check_job(job)
