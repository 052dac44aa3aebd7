"""The GitHubAPI subclass: timeouts, retries with jitter, rate limits, concurrency."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import pytest
import pytest_asyncio
from gidgethub import BadRequest, GitHubBroken

from reviewbot.app.github.client import (
    GitHubClient,
    GitHubUnavailable,
    InstallationLimiter,
    RateLimited,
    RetryPolicy,
)
from reviewbot.app.metrics import Metrics
from tests.app.conftest import FAST


@pytest_asyncio.fixture
async def gh(standin):
    standin.create_repo("o/r")
    standin.commit("o/r", {"a.py": "x = 1\n"}, branch="main")
    token = "ghs_" + "t" * 80
    standin.tokens[token] = (1, time.time() + 3600)
    async with aiohttp.ClientSession() as session:
        calls = []

        async def provider():
            calls.append(1)
            return token

        def make(policy: RetryPolicy = FAST, **kw) -> GitHubClient:
            return GitHubClient(session, base_url=standin.base_url, policy=policy,
                                token_provider=provider, metrics=Metrics(), **kw)
        make.provider_calls = calls
        make.session = session
        yield make


async def test_5xx_are_retried_then_succeed(standin, gh):
    client = gh()
    standin.fail(3, 502)
    repo = await client.getitem("/repos/o/r")
    assert repo["full_name"] == "o/r"
    assert [r.status for r in standin.requests] == [502, 502, 502, 200]
    assert client.metrics.value("reviewbot_github_requests_total",
                                {"method": "GET", "status": "502"}) == 3
    # The token is looked up before every attempt, never cached in the client.
    assert len(gh.provider_calls) == 4


async def test_5xx_forever_gives_up_after_bounded_retries(standin, gh):
    standin.fail(100, 503)
    with pytest.raises(GitHubBroken) as info:
        await gh().getitem("/repos/o/r")
    assert info.value.status_code == 503
    assert len(standin.requests) == FAST.retries + 1


async def test_connection_errors_are_retried_then_reported(gh):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = GitHubClient(gh.session, base_url=f"http://127.0.0.1:{port}", policy=FAST,
                          oauth_token="x")
    with pytest.raises(GitHubUnavailable, match="attempts"):
        await client.getitem("/repos/o/r")


async def test_timeouts_are_bounded(standin, gh):
    standin.latency = 0.5
    policy = RetryPolicy(timeout=0.1, retries=1, backoff=0.01, write_gap=0)
    started = time.monotonic()
    with pytest.raises(GitHubUnavailable, match="Timeout"):
        await gh(policy).getitem("/repos/o/r")
    assert time.monotonic() - started < 1.0


async def test_secondary_rate_limit_honours_retry_after(standin, gh):
    standin.secondary_limit(1, retry_after=1)
    started = time.monotonic()
    assert (await gh().getitem("/repos/o/r"))["full_name"] == "o/r"
    assert time.monotonic() - started >= 1.0
    assert [r.status for r in standin.requests] == [403, 200]


async def test_secondary_limit_by_message_or_429_uses_the_default_wait(standin, gh):
    standin.secondary_limit(1, retry_after=None)
    standin.secondary_limit(1, retry_after=None, status=429)
    started = time.monotonic()
    await gh().getitem("/repos/o/r")
    waited = time.monotonic() - started
    # 0.2 s, then doubled: 0.4 s (FAST.secondary_default_wait)
    assert waited >= 0.6
    assert [r.status for r in standin.requests] == [403, 429, 200]


async def test_secondary_limit_that_never_lifts_fails_clearly(standin, gh):
    standin.secondary_limit(100, retry_after=0)
    with pytest.raises(RateLimited, match="still limited"):
        await gh().getitem("/repos/o/r")
    assert len(standin.requests) == FAST.rate_limit_retries + 1


async def test_primary_exhaustion_short_is_waited_long_fails_clearly(standin, gh):
    standin.primary_limit(1, reset_in=0.5)
    await gh().getitem("/repos/o/r")
    assert [r.status for r in standin.requests] == [403, 200]
    standin.requests.clear()
    standin.primary_limit(1, reset_in=3600)
    started = time.monotonic()
    with pytest.raises(RateLimited, match="would have to wait"):
        await gh().getitem("/repos/o/r")
    assert time.monotonic() - started < 1.0 and len(standin.requests) == 1


async def test_plain_403_is_not_retried(standin, gh):
    standin.fail(1, 403)
    with pytest.raises(BadRequest) as info:
        await gh().getitem("/repos/o/r")
    assert info.value.status_code == 403 and len(standin.requests) == 1


async def test_401_mints_a_new_token_once(standin, gh):
    invalidated = []
    client = gh(on_unauthorized=lambda: invalidated.append(1))
    standin.fail(1, 401)
    await client.getitem("/repos/o/r")
    assert invalidated == [1] and [r.status for r in standin.requests] == [401, 200]


async def test_per_installation_concurrency_limit(standin, gh):
    standin.latency = 0.05
    limiter = InstallationLimiter(max_concurrent=3, write_gap=0)
    client = gh(limiter=limiter)
    await asyncio.gather(*(client.getitem("/repos/o/r") for _ in range(12)))
    assert limiter.max_in_flight == 3


async def test_writes_are_spaced(standin, gh):
    sha = standin.repos["o/r"].branches["main"]
    policy = RetryPolicy(write_gap=0.2, backoff=0.01)
    client = gh(policy)
    started = time.monotonic()
    await asyncio.gather(*(client.post("/repos/o/r/check-runs", data={
        "name": "n", "head_sha": sha}) for _ in range(3)))
    assert time.monotonic() - started >= 0.4
    assert len(standin.runs("o/r")) == 3


async def test_tarball_redirect_never_forwards_the_token(standin, gh):
    data = await gh().get_bytes("/repos/o/r/tarball/main", max_bytes=1 << 20)
    assert data[:2] == b"\x1f\x8b"
    assert standin.codeload_with_auth == 0
    assert standin.requests[0].headers["Authorization"].startswith("token ghs_")
