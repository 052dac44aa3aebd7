"""The tests' GitHub stand-in: `StrictGitHub` plus what tests need to watch and break it.

Every request is recorded; failures (5xx, secondary and primary rate limits) and latency
can be injected; JSON bodies are validated against GitHub's OpenAPI description when the
test passes its path; rate-limit headers come with every answer. It also sends and
redelivers webhooks as GitHub does, and serves the endpoints the demo does not use
(installations, deliveries, the repository, open pulls, tarballs, single and deleted
comments, requested reviewers).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import aiohttp
from aiohttp import web

from reviewbot.app.demo.github import (
    REPO_PATH,
    Repo,
    error,
    iso_time,
    public,
    routes,
)
from reviewbot.app.web.webhook import signature
from tests.standin.manifest import ManifestFlow
from tests.standin.openapi import OpenAPIValidator
from tests.standin.rules import StrictGitHub


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    headers: dict
    body: object
    status: int = 0


@dataclass
class Failure:
    status: int
    count: int
    method: str | None = None
    path: str | None = None  # substring of the path
    headers: dict = field(default_factory=dict)
    message: str = "Server Error"


class GitHubStandIn(ManifestFlow, StrictGitHub):
    def __init__(self, *, schema_path: Path | None = None, tree_truncate_at: int | None = None,
                 latency: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.tree_truncate_at = tree_truncate_at
        self.latency = latency
        self.validator = OpenAPIValidator(schema_path) if schema_path else None
        self.requests: list[Recorded] = []
        self.failures: list[Failure] = []
        self.validation_errors: list[str] = []
        self.codeload_with_auth = 0
        self._rate_used = 0
        # Installations (id -> repository names; empty: none) and the webhook deliveries
        # this stand-in sent, newest last, in the shape of GET /app/hook/deliveries.
        self.installations: dict[int, list[str]] = {}
        self.deliveries: list[dict] = []
        self.webhook_url: str | None = None
        self.webhook_secret: bytes | None = None
        self._delivery_ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None
        self._pending: set[asyncio.Task] = set()
        # the manifest flow: code -> (manifest, issued at, organization)
        self.manifest_codes: dict[str, tuple[dict, float, str | None]] = {}
        self.registered_manifest: dict | None = None

    # -- data ---------------------------------------------------------------------------------

    def add_comment(self, full_name: str, number: int, body: str, *, login: str = "octocat",
                    user_type: str = "User") -> dict:
        return self._new_comment(self.repos[full_name], number, body,
                                 {"login": login, "id": 3, "type": user_type})

    def edit_comment(self, full_name: str, cid: int, body: str, *,
                     login: str = "octocat") -> tuple[dict, str]:
        """A user edits a comment in the web UI (ticking a box edits the body). Returns the
        comment and its body before the edit, as the `issue_comment.edited` event has them."""
        c = self._comment(self.repos[full_name], str(cid))
        before = c["body"]
        c["body"] = body
        c["updated_at"] = iso_time(time.time())
        return public(c), before

    def reviews(self, full_name: str, number: int) -> list[dict]:
        return [r for r in self.repos[full_name].reviews if r["_pull"] == number]

    def calls(self, method: str | None = None, contains: str | None = None) -> list[Recorded]:
        return [r for r in self.requests
                if (method is None or r.method == method)
                and (contains is None or contains in r.path)]

    # -- failure injection ----------------------------------------------------------------------

    def fail(self, count: int, status: int = 502, *, method: str | None = None,
             path: str | None = None) -> Failure:
        f = Failure(status, count, method, path, {}, "Server Error" if status >= 500 else
                    "Error")
        self.failures.append(f)
        return f

    def secondary_limit(self, count: int, *, retry_after: int | None = 1, status: int = 403,
                        method: str | None = None, path: str | None = None) -> Failure:
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        f = Failure(status, count, method, path, headers,
                    "You have exceeded a secondary rate limit. Please wait a few minutes "
                    "before you try again.")
        self.failures.append(f)
        return f

    def primary_limit(self, count: int, *, reset_in: float, path: str | None = None) -> Failure:
        f = Failure(403, count, None, path, {
            "x-ratelimit-remaining": "0", "x-ratelimit-limit": "5000",
            "x-ratelimit-reset": str(int(time.time() + reset_in))},
            "API rate limit exceeded for installation ID 1.")
        self.failures.append(f)
        return f

    def _injected(self, request: web.Request) -> web.Response | None:
        for f in self.failures:
            if f.count <= 0:
                continue
            if f.method is not None and f.method != request.method:
                continue
            if f.path is not None and f.path not in request.path:
                continue
            f.count -= 1
            resp = error(f.status, f.message)
            for k, v in f.headers.items():
                resp.headers[k] = v
            return resp
        return None

    def _listing(self, repo: Repo, tree: str, recursive: bool) -> tuple[list[dict], bool]:
        entries, _ = super()._listing(repo, tree, recursive)
        if self.tree_truncate_at is not None and len(entries) > self.tree_truncate_at:
            return entries[: self.tree_truncate_at], True
        return entries, False

    # -- server ---------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = super().make_app()
        app.middlewares.append(self._middleware)
        return app

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None
        await super().close()

    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        body = None
        raw = await request.read()
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        rec = Recorded(request.method, request.path, dict(request.query),
                       dict(request.headers), body)
        self.requests.append(rec)
        if self.latency:
            await asyncio.sleep(self.latency)
        resp = self._injected(request) or self._invalid(request, body)
        if resp is None:
            try:
                resp = await handler(request)
            except web.HTTPException as exc:
                resp = error(exc.status, exc.reason)
        if not request.path.startswith("/_codeload"):
            self._rate_used += 1
            resp.headers.setdefault("x-ratelimit-limit", "5000")
            resp.headers.setdefault("x-ratelimit-remaining", str(max(0, 5000 - self._rate_used)))
            resp.headers.setdefault("x-ratelimit-reset", str(int(time.time()) + 3600))
            resp.headers.setdefault("x-ratelimit-resource", "core")
        rec.status = resp.status
        return resp

    def _invalid(self, request: web.Request, body) -> web.Response | None:
        """A 422 for a JSON body GitHub's OpenAPI description does not allow."""
        if self.validator is None or not isinstance(body, dict | list):
            return None
        errors = self.validator.validate(request.method, request.path, body)
        if not errors:
            return None
        self.validation_errors.extend(f"{request.method} {request.path}: {e}" for e in errors)
        return error(422, "Invalid request.\n\n" + "\n".join(errors))

    def _route_table(self):
        r = REPO_PATH
        return [*super()._route_table(), *routes([
            ("GET", r"^/app/installations$", self._installations),
            ("GET", r"^/app/hook/deliveries$", self._list_deliveries),
            ("POST", r"^/app/hook/deliveries/(?P<did>\d+)/attempts$", self._redeliver),
            ("GET", r"^/installation/repositories$", self._installation_repos),
            ("GET", rf"{r}/pulls$", self._list_pulls),
            ("GET", rf"{r}$", self._repo),
            ("GET", rf"{r}/tarball/(?P<ref>.+)$", self._tarball),
            ("GET", r"^/_codeload/(?P<account>[^/]+)/(?P<name>[^/]+)/tar.gz/(?P<sha>[0-9a-f]+)$",
             self._codeload),
            ("GET", rf"{r}/issues/comments/(?P<cid>\d+)$", self._get_comment),
            ("DELETE", rf"{r}/issues/comments/(?P<cid>\d+)$", self._delete_comment),
            ("POST", rf"{r}/pulls/(?P<n>\d+)/requested_reviewers$", self._request_reviewers),
            *self.manifest_routes(),
        ])]

    # -- installations and webhook deliveries -----------------------------------------------

    def install(self, installation_id: int, repos: list[str]) -> None:
        self.installations.setdefault(installation_id, [])
        self.installations[installation_id].extend(r for r in repos
                                                   if r not in self.installations[
                                                       installation_id])

    async def deliver(self, event: str, payload: dict, *, guid: str | None = None,
                      url: str | None = None, secret: bytes | None = None,
                      redelivery: bool = False, timeout: float = 10.0) -> dict:
        """Send a signed webhook the way GitHub does and record the delivery (status code
        0 when the app could not be reached)."""
        url = url or self.webhook_url
        secret = secret if secret is not None else self.webhook_secret
        if url is None or secret is None:
            raise ValueError("set webhook_url and webhook_secret (or pass them)")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        guid = guid or str(uuid.uuid4())
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": event,
                   "X-GitHub-Delivery": guid, "X-GitHub-Hook-ID": "109948940",
                   "User-Agent": "GitHub-Hookshot/standin",
                   "X-Hub-Signature-256": signature(secret, body)}
        started = time.time()
        code, status = 0, "failed to connect to host"
        try:
            async with self._session.post(url, data=body, headers=headers,
                                          timeout=aiohttp.ClientTimeout(total=timeout)) as r:
                await r.read()
                code = r.status
                status = "OK" if 200 <= code < 300 else f"Invalid HTTP Response: {code}"
        except TimeoutError:
            status = "timed out"
        except (aiohttp.ClientError, OSError):
            pass
        record = {**self._delivery(event, payload, guid, started, redelivery, status, code),
                  "_payload": payload, "_url": url}
        self.deliveries.append(record)
        return record

    def _delivery(self, event: str, payload, guid: str, started: float, redelivery: bool,
                  status: str, code: int) -> dict:
        """A row of GET /app/hook/deliveries."""
        fields = payload if isinstance(payload, dict) else {}
        return {"id": next(self._delivery_ids), "guid": guid,
                "delivered_at": iso_time(started), "redelivery": redelivery,
                "duration": round(time.time() - started, 3), "status": status,
                "status_code": code, "event": event, "action": fields.get("action"),
                "installation_id": (fields.get("installation") or {}).get("id"),
                "repository_id": (fields.get("repository") or {}).get("id"),
                "throttled_at": None}

    def delivery_rows(self, guid: str | None = None) -> list[dict]:
        return [public(d) for d in self.deliveries if guid is None or d["guid"] == guid]

    async def settle(self) -> None:
        """Wait for redeliveries in flight."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def _installations(self, request):
        denied = self._check_jwt(request)
        if denied is not None:
            return denied
        rows = [{"id": iid, "app_id": self.app_id, "target_type": "Organization",
                 "account": {"login": (repos[0].split("/")[0] if repos else "acme"),
                             "id": 2, "type": "Organization"},
                 "repository_selection": "selected", "permissions": {"checks": "write"},
                 "events": ["pull_request", "check_run", "check_suite"]}
                for iid, repos in sorted(self.installations.items())]
        return self._page(request, rows)

    async def _list_deliveries(self, request):
        denied = self._check_jwt(request)
        if denied is not None:
            return denied
        rows = sorted(self.delivery_rows(), key=lambda d: -d["id"])  # newest first
        wanted = request.query.get("status")
        if wanted == "success":
            rows = [d for d in rows if d["status"] == "OK"]
        elif wanted == "failure":
            rows = [d for d in rows if d["status"] != "OK"]
        cursor = request.query.get("cursor")
        if cursor:
            rows = [d for d in rows if d["id"] < int(cursor)]
        per_page = min(int(request.query.get("per_page", 30)), 100)
        chunk = rows[:per_page]
        resp = web.json_response(chunk)
        if len(rows) > per_page:
            query = {k: v for k, v in request.query.items() if k != "cursor"}
            query.update(per_page=str(per_page), cursor=str(chunk[-1]["id"]))
            qs = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in query.items())
            resp.headers["Link"] = f'<{self.base_url}{request.path}?{qs}>; rel="next"'
        return resp

    async def _redeliver(self, request, did):
        denied = self._check_jwt(request)
        if denied is not None:
            return denied
        original = next((d for d in self.deliveries if d["id"] == int(did)), None)
        if original is None:
            return error(404, "Not Found")
        task = asyncio.create_task(self.deliver(
            original["event"], original["_payload"], guid=original["guid"],
            url=self.webhook_url or original["_url"], redelivery=True))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return web.json_response({}, status=202)

    async def _installation_repos(self, request):
        token = request.headers.get("Authorization", "").partition(" ")[2]
        iid = self.tokens[token][0]
        names = self.installations.get(iid, [])
        rows = [self.repo_json(self.repos[n]) for n in names if n in self.repos]
        return self._page(request, rows, key="repositories")

    # -- the repository, pulls and tarballs -----------------------------------------------

    async def _repo(self, request, owner, repo, repo_obj):
        return web.json_response(self.repo_json(repo_obj))

    async def _list_pulls(self, request, owner, repo, repo_obj):
        state = request.query.get("state", "open")
        rows = [p for n, p in sorted(repo_obj.pulls.items())
                if state == "all" or p["state"] == state]
        return self._page(request, rows)

    async def _tarball(self, request, owner, repo, repo_obj, ref):
        sha = repo_obj.resolve(ref)
        if sha is None:
            return error(404, "Not Found")
        location = f"{self.base_url}/_codeload/{owner}/{repo}/tar.gz/{sha}"
        return web.Response(status=302, headers={"Location": location})

    async def _codeload(self, request, account, name, sha):
        """The download host a tarball redirects to; it needs no credentials."""
        if "Authorization" in request.headers:
            self.codeload_with_auth += 1
        repo_obj = self.repos.get(f"{account}/{name}")
        if repo_obj is None or sha not in repo_obj.commits:
            return web.Response(status=404, text="Not Found")
        commit = repo_obj.commits[sha]
        buf = io.BytesIO()
        prefix = f"{account}-{name}-{sha[:7]}/"
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for path in sorted(commit.files):
                info = tarfile.TarInfo(prefix + path)
                info.size = len(commit.files[path])
                info.mtime = 0
                tar.addfile(info, io.BytesIO(commit.files[path]))
            for path, target in sorted(commit.symlinks.items()):
                info = tarfile.TarInfo(prefix + path)
                info.type = tarfile.SYMTYPE
                info.linkname = target
                tar.addfile(info)
        return web.Response(body=buf.getvalue(), content_type="application/x-gzip")

    # -- comments and review requests -------------------------------------------------------

    async def _get_comment(self, request, owner, repo, repo_obj, cid):
        c = self._comment(repo_obj, cid)
        return web.json_response(public(c)) if c else error(404, "Not Found")

    async def _delete_comment(self, request, owner, repo, repo_obj, cid):
        c = self._comment(repo_obj, cid)
        if c is None:
            return error(404, "Not Found")
        denied = self._not_ours(c)
        if denied is not None:
            return denied
        repo_obj.comments.remove(c)
        return web.Response(status=204)

    async def _request_reviewers(self, request, owner, repo, repo_obj, n):
        pull = repo_obj.pulls.get(int(n))
        if pull is None:
            return error(404, "Not Found")
        body = await request.json()
        users = list(body.get("reviewers") or [])
        teams = list(body.get("team_reviewers") or [])
        if pull["user"]["login"] in users:
            return error(422, "Review cannot be requested from pull request author.")
        got = repo_obj.review_requests.setdefault(int(n), {"users": [], "teams": []})
        got["users"] += [u for u in users if u not in got["users"]]
        got["teams"] += [t for t in teams if t not in got["teams"]]
        pull["requested_reviewers"] = [{"login": u, "type": "User"} for u in got["users"]]
        pull["requested_teams"] = [{"slug": t, "name": t} for t in got["teams"]]
        return web.json_response(pull, status=201)
