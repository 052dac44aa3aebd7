"""A thin subclass of gidgethub's aiohttp `GitHubAPI` that owns what gidgethub lacks:
timeouts, bounded retries with jitter for 5xx and connection errors, secondary rate limits
(403/429 with `retry-after` or the "secondary rate limit" message), primary exhaustion
waited out when short and failed clearly when long, a per-installation concurrency limit
with a minimum gap between writes, a fresh token before every request, and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from gidgethub.aiohttp import GitHubAPI

log = logging.getLogger("reviewbot.github")

USER_AGENT = "reviewbot (+https://github.com/reviewbot)"
API_VERSION = "2022-11-28"
RETRY_STATUSES = {500, 502, 503, 504}


class GitHubUnavailable(Exception):
    """GitHub kept failing (5xx or connection errors) after the bounded retries."""


class RateLimited(Exception):
    """GitHub's rate limit would need a longer wait than we are willing to make."""


class ResponseTooLarge(Exception):
    pass


@dataclass(frozen=True)
class RetryPolicy:
    timeout: float = 30.0  # per request, total
    download_timeout: float = 180.0
    retries: int = 4  # for 5xx and connection errors
    backoff: float = 1.0  # first retry waits about this long (with jitter), doubling
    max_backoff: float = 20.0
    rate_limit_retries: int = 4  # secondary-limit waits before giving up
    secondary_default_wait: float = 60.0  # no retry-after: wait this, doubling
    max_wait: float = 120.0  # never sleep longer than this for one rate-limit wait
    max_concurrent: int = 10  # per installation
    write_gap: float = 1.0  # seconds between writes per installation
    max_response_bytes: int = 160 * 1024 * 1024


class InstallationLimiter:
    """Concurrency for one installation: N requests at a time, writes one at a time and at
    least `write_gap` seconds apart (Probot's throttling defaults)."""

    def __init__(self, max_concurrent: int, write_gap: float):
        self._sem = asyncio.Semaphore(max_concurrent)
        self._write_lock = asyncio.Lock()
        self._write_gap = write_gap
        self._last_write = 0.0
        self.in_flight = 0
        self.max_in_flight = 0

    @contextlib.asynccontextmanager
    async def slot(self, write: bool):
        async with self._sem:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                if write:
                    async with self._write_lock:
                        wait = self._last_write + self._write_gap - time.monotonic()
                        if wait > 0:
                            await asyncio.sleep(wait)
                        try:
                            yield
                        finally:
                            self._last_write = time.monotonic()
                else:
                    yield
            finally:
                self.in_flight -= 1


class Limiters:
    def __init__(self, policy: RetryPolicy):
        self._policy = policy
        self._by_installation: dict[object, InstallationLimiter] = {}

    def get(self, installation: object) -> InstallationLimiter:
        lim = self._by_installation.get(installation)
        if lim is None:
            lim = InstallationLimiter(self._policy.max_concurrent, self._policy.write_gap)
            self._by_installation[installation] = lim
        return lim


TokenProvider = Callable[[], Awaitable[str]]


class GitHubClient(GitHubAPI):
    def __init__(self, session: aiohttp.ClientSession, *, base_url: str,
                 policy: RetryPolicy | None = None, limiter: InstallationLimiter | None = None,
                 token_provider: TokenProvider | None = None,
                 on_unauthorized: Callable[[], None] | None = None,
                 cache=None, metrics=None, installation: object = "app",
                 oauth_token: str | None = None):
        super().__init__(session, USER_AGENT, base_url=base_url, cache=cache,
                         oauth_token=oauth_token or ("pending" if token_provider else None))
        self.policy = policy or RetryPolicy()
        self.limiter = limiter or InstallationLimiter(self.policy.max_concurrent,
                                                      self.policy.write_gap)
        self._token_provider = token_provider
        self._on_unauthorized = on_unauthorized
        self.metrics = metrics
        self.installation = installation

    async def _request(self, method: str, url: str, headers: Mapping[str, str],
                       body: bytes = b"") -> tuple[int, Mapping[str, str], bytes]:
        headers = dict(headers)
        headers["x-github-api-version"] = API_VERSION
        refreshed = False
        while True:
            status, rheaders, data = await self.send(method, url, headers, body)
            if status == 401 and self._token_provider is not None and not refreshed \
                    and self._on_unauthorized is not None:
                # The token was revoked or expired early: mint a new one once.
                refreshed = True
                self._on_unauthorized()
                continue
            return status, rheaders, data

    async def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes = b"",
                   *, allow_redirects: bool = True, timeout: float | None = None,
                   max_bytes: int | None = None) -> tuple[int, Mapping[str, str], bytes]:
        """One logical request with retries; returns the final status, headers and body."""
        policy = self.policy
        path = urlsplit(url).path
        attempt = 0
        limited = 0
        write = method.upper() not in ("GET", "HEAD")
        while True:
            attempt += 1
            if self._token_provider is not None and \
                    headers.get("authorization", "").startswith("token "):
                # Fresh from the cache before every attempt: long waits never send an
                # expired token.
                headers = {**headers, "authorization": "token " + await self._token_provider()}
            try:
                async with self.limiter.slot(write):
                    status, rheaders, data = await self._once(
                        method, url, headers, body, allow_redirects,
                        timeout or policy.timeout, max_bytes or policy.max_response_bytes)
            except (aiohttp.ClientError, TimeoutError) as exc:
                self._count(method, "error")
                if attempt > policy.retries:
                    log.warning("github request failed, giving up", extra={
                        "method": method, "path": path, "attempt": attempt,
                        "error": exc.__class__.__name__})
                    raise GitHubUnavailable(
                        f"{method} {path}: {exc.__class__.__name__} after {attempt} attempts"
                    ) from exc
                await self._backoff(method, path, attempt, exc.__class__.__name__)
                continue
            self._count(method, str(status))
            self._rate_gauge(rheaders)
            if status in RETRY_STATUSES and attempt <= policy.retries:
                await self._backoff(method, path, attempt, f"http {status}")
                continue
            if status in (403, 429):
                wait = self._rate_limit_wait(status, rheaders, data, limited)
                if wait is not None:
                    limited += 1
                    if wait > policy.max_wait:
                        raise RateLimited(
                            f"GitHub rate limit: {method} {path} would have to wait "
                            f"{int(wait)} s (limit {int(policy.max_wait)} s); try again later")
                    if limited > policy.rate_limit_retries:
                        log.warning("github rate limited, giving up", extra={
                            "method": method, "path": path, "status": status})
                        raise RateLimited(f"GitHub rate limit: {method} {path} still limited "
                                          f"after {limited - 1} waits")
                    log.info("github rate limited, waiting", extra={
                        "method": method, "path": path, "status": status, "wait": wait})
                    self._retry_metric("rate_limit")
                    await self.sleep(wait)
                    continue
            return status, rheaders, data

    async def _once(self, method, url, headers, body, allow_redirects, timeout, max_bytes):
        async with self._session.request(
                method, url, headers=headers, data=body or None,
                allow_redirects=allow_redirects,
                timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            if resp.content_length is not None and resp.content_length > max_bytes:
                raise ResponseTooLarge(f"{resp.content_length} bytes")
            chunks = []
            size = 0
            async for chunk in resp.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > max_bytes:
                    raise ResponseTooLarge(f"more than {max_bytes} bytes")
                chunks.append(chunk)
            return resp.status, resp.headers, b"".join(chunks)

    def _rate_limit_wait(self, status: int, headers: Mapping[str, str], data: bytes,
                         limited: int) -> float | None:
        """Seconds to wait before retrying a 403/429, or None when it is not a rate limit."""
        retry_after = headers.get("retry-after")
        if retry_after:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                pass
        if headers.get("x-ratelimit-remaining") == "0":
            try:
                reset = float(headers.get("x-ratelimit-reset", "0"))
            except ValueError:
                reset = 0.0
            return max(1.0, reset - time.time() + 1)
        message = ""
        with contextlib.suppress(ValueError, UnicodeDecodeError, AttributeError, TypeError):
            message = str(json.loads(data).get("message", ""))
        if "secondary rate" in message.lower() or "abuse" in message.lower() or status == 429:
            return self.policy.secondary_default_wait * (2 ** limited)
        return None

    async def _backoff(self, method: str, path: str, attempt: int, reason: str) -> None:
        base = min(self.policy.max_backoff, self.policy.backoff * (2 ** (attempt - 1)))
        wait = base / 2 + random.uniform(0, base / 2)  # jitter
        log.info("github request retrying", extra={
            "method": method, "path": path, "attempt": attempt, "reason": reason, "wait": wait})
        self._retry_metric("server_error" if reason.startswith("http") else "connection")
        await self.sleep(wait)

    def _count(self, method: str, status: str) -> None:
        if self.metrics is not None:
            self.metrics.inc("reviewbot_github_requests_total",
                             {"method": method.upper(), "status": status})

    def _retry_metric(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.inc("reviewbot_github_retries_total", {"reason": reason})

    def _rate_gauge(self, headers: Mapping[str, str]) -> None:
        remaining = headers.get("x-ratelimit-remaining")
        if self.metrics is not None and remaining is not None:
            with contextlib.suppress(ValueError):
                self.metrics.set("reviewbot_github_rate_limit_remaining",
                                 {"installation": self.installation}, float(remaining))

    # -- helpers --------------------------------------------------------------------------

    async def get_bytes(self, url: str, *, max_bytes: int, follow_auth: bool = False) -> bytes:
        """GET an API URL that answers with a redirect to a download (tarballs): the
        `Authorization` header is never forwarded to the download host."""
        full = url if url.startswith("http") else self.base_url + url
        headers = {"user-agent": USER_AGENT, "accept": "application/vnd.github+json",
                   "x-github-api-version": API_VERSION}
        token = self.oauth_token if self._token_provider is None else "pending"
        if token:
            headers["authorization"] = f"token {token}"  # send() puts in a fresh one
        status, rheaders, data = await self.send("GET", full, headers, allow_redirects=False,
                                                 max_bytes=max_bytes)
        if status in (301, 302, 303, 307, 308):
            location = rheaders.get("location")
            if not location:
                raise GitHubUnavailable(f"GET {urlsplit(full).path}: redirect without location")
            plain = {"user-agent": USER_AGENT}
            status, rheaders, data = await self.send(
                "GET", location, plain, timeout=self.policy.download_timeout,
                max_bytes=max_bytes)
        if status != 200:
            raise GitHubUnavailable(f"GET {urlsplit(full).path}: HTTP {status}")
        return data
