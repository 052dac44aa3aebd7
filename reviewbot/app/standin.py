"""An in-process stand-in for GitHub's REST API, in GitHub's shapes.

Used by the tests and by `reviewbot demo --serve`. It stores repositories as commits
({sha: {path: bytes}} with parents), serves the endpoints the app uses (installation
tokens, trees, blobs, contents, tarball with a 302 to a download URL, compare, pulls, issue
comments, check runs), records every request, can inject failures (5xx, secondary and
primary rate limits) and latency, and validates JSON request bodies against GitHub's
OpenAPI description when `shared/fixtures/github/rest-api-subset.json` is available.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import difflib
import hashlib
import io
import itertools
import json
import re
import secrets
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote

import jwt as pyjwt
from aiohttp import web

from reviewbot.tree import blob_id

BOT_TYPE = "Bot"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_schema_path() -> Path | None:
    """`shared/fixtures/github/rest-api-subset.json` beside the repository, if present."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "fixtures" / "github" / "rest-api-subset.json"
        if candidate.is_file():
            return candidate
    return None


# -- OpenAPI request validation -----------------------------------------------------------

def _nullable_to_union(node):
    if isinstance(node, list):
        return [_nullable_to_union(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_to_union(v) for k, v in node.items()}
    if out.pop("nullable", False) is True:
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "type" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class OpenAPIValidator:
    def __init__(self, spec_path: Path):
        import jsonschema

        spec = json.loads(spec_path.read_text())
        components = _nullable_to_union(spec.get("components", {}))
        self._ops: list[tuple[str, re.Pattern, object]] = []
        for template, item in spec.get("paths", {}).items():
            pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
            for method, op in item.items():
                body = ((op.get("requestBody") or {}).get("content") or {}).get(
                    "application/json")
                if not body or "schema" not in body:
                    continue
                schema = _nullable_to_union(body["schema"])
                schema = {**schema, "components": components}
                validator = jsonschema.Draft4Validator(schema)
                self._ops.append((method.upper(), pattern, validator))

    def validate(self, method: str, path: str, body) -> list[str]:
        for m, pattern, validator in self._ops:
            if m == method and pattern.match(path):
                return [f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}"
                        for e in validator.iter_errors(body)]
        return []

    def covers(self, method: str, path: str) -> bool:
        return any(m == method and p.match(path) for m, p, _ in self._ops)


# -- repository model ---------------------------------------------------------------------

@dataclass
class Commit:
    sha: str
    files: dict[str, bytes]
    parents: list[str]
    tree: str
    symlinks: dict[str, str] = field(default_factory=dict)


@dataclass
class Repo:
    full_name: str
    id: int
    default_branch: str = "main"
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    trees: dict[str, list[dict]] = field(default_factory=dict)  # tree sha -> direct entries
    blobs: dict[str, bytes] = field(default_factory=dict)
    pulls: dict[int, dict] = field(default_factory=dict)
    comments: list[dict] = field(default_factory=list)
    check_runs: dict[int, dict] = field(default_factory=dict)
    reviews: list[dict] = field(default_factory=list)  # pull request reviews (with "_pull")
    review_requests: dict[int, dict] = field(default_factory=dict)  # pr -> users, teams

    @property
    def owner(self) -> str:
        return self.full_name.split("/")[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/")[1]

    def resolve(self, ref: str) -> str | None:
        ref = unquote(ref).removeprefix("refs/heads/")
        if ref in self.commits:
            return ref
        if ref in self.branches:
            return self.branches[ref]
        matches = [s for s in self.commits if s.startswith(ref)] if len(ref) >= 7 else []
        return matches[0] if len(matches) == 1 else None

    def ancestors(self, sha: str) -> list[str]:
        seen: list[str] = []
        todo = [sha]
        while todo:
            s = todo.pop(0)
            if s in seen or s not in self.commits:
                continue
            seen.append(s)
            todo.extend(self.commits[s].parents)
        return seen

    def merge_base(self, a: str, b: str) -> str | None:
        theirs = set(self.ancestors(b))
        return next((s for s in self.ancestors(a) if s in theirs), None)


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


class GitHubStandIn:
    def __init__(self, *, app_id: int = 4242, slug: str = "reviewbot",
                 public_key=None, token_ttl: float = 3600.0,
                 schema_path: Path | bool | None = None, tree_truncate_at: int | None = None,
                 latency: float = 0.0):
        self.app_id = app_id
        self.slug = slug
        self.public_key = public_key
        self.token_ttl = token_ttl
        self.tree_truncate_at = tree_truncate_at
        self.latency = latency
        if schema_path is None:
            schema_path = default_schema_path()
        self.validator = OpenAPIValidator(schema_path) if schema_path else None
        self.repos: dict[str, Repo] = {}
        self.requests: list[Recorded] = []
        self.failures: list[Failure] = []
        self.validation_errors: list[str] = []
        self.rejected_reviews: list[dict] = []  # review comments answered with 422
        self.tokens: dict[str, tuple[int, float]] = {}
        self.codeload_with_auth = 0
        self.base_url = ""
        self._ids = itertools.count(1000)
        self._runner: web.AppRunner | None = None
        self._rate_used = 0
        self._routes = self._route_table()
        # Installations (id -> repository names; empty: none) and the webhook deliveries
        # this stand-in sent, newest last, in the shape of GET /app/hook/deliveries.
        self.installations: dict[int, list[str]] = {}
        self.deliveries: list[dict] = []
        self.webhook_url: str | None = None
        self.webhook_secret: bytes | None = None
        self._delivery_ids = itertools.count(1)
        self._session = None
        self._pending: set[asyncio.Task] = set()

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"

    def bot_user(self) -> dict:
        return {"login": self.bot_login, "id": 9000 + self.app_id, "type": BOT_TYPE,
                "node_id": "BOT_kgDO", "site_admin": False}

    # -- data ---------------------------------------------------------------------------------

    def create_repo(self, full_name: str, default_branch: str = "main") -> Repo:
        repo = Repo(full_name, next(self._ids), default_branch)
        self.repos[full_name] = repo
        return repo

    def commit(self, full_name: str, files: dict[str, str | bytes], *,
               parents: list[str] | None = None, branch: str | None = None,
               message: str = "", symlinks: dict[str, str] | None = None) -> str:
        repo = self.repos[full_name]
        data = {p: c.encode() if isinstance(c, str) else c for p, c in files.items()}
        symlinks = symlinks or {}
        for content in [*data.values(), *(t.encode() for t in symlinks.values())]:
            repo.blobs[blob_id(content)] = content
        tree = self._build_tree(repo, data, symlinks)
        seed = f"{tree}|{','.join(parents or [])}|{message}|{next(self._ids)}"
        sha = hashlib.sha1(seed.encode()).hexdigest()
        repo.commits[sha] = Commit(sha, data, list(parents or []), tree, dict(symlinks))
        if branch:
            repo.branches[branch] = sha
        return sha

    def _build_tree(self, repo: Repo, files: dict[str, bytes], symlinks: dict[str, str]) -> str:
        def build(prefix: str) -> str:
            entries: dict[str, dict] = {}
            subdirs: set[str] = set()
            for path, content in [*files.items(), *((p, t.encode()) for p, t in
                                                    symlinks.items())]:
                if not path.startswith(prefix):
                    continue
                rest = path[len(prefix):]
                if "/" in rest:
                    subdirs.add(rest.split("/", 1)[0])
                    continue
                mode = "120000" if path in symlinks else "100644"
                entries[rest] = {"path": rest, "mode": mode, "type": "blob",
                                 "sha": blob_id(content), "size": len(content)}
            for d in subdirs:
                entries[d] = {"path": d, "mode": "040000", "type": "tree",
                              "sha": build(prefix + d + "/")}
            listing = [entries[k] for k in sorted(entries)]
            sha = hashlib.sha1(json.dumps(listing, sort_keys=True).encode()).hexdigest()
            repo.trees[sha] = listing
            return sha
        return build("")

    def open_pull(self, full_name: str, number: int, head_sha: str, *, base: str = "main",
                  head_ref: str = "feature", draft: bool = False, title: str = "A change",
                  user: str = "octocat") -> dict:
        repo = self.repos[full_name]
        pull = {
            "url": f"{self.base_url}/repos/{full_name}/pulls/{number}",
            "id": next(self._ids), "node_id": "PR_kwDO", "number": number, "state": "open",
            "locked": False, "title": title, "body": None, "draft": draft,
            "html_url": f"https://github.example/{full_name}/pull/{number}",
            "user": {"login": user, "id": 1, "type": "User"},
            "head": {"ref": head_ref, "sha": head_sha, "label": f"{repo.owner}:{head_ref}",
                     "user": {"login": repo.owner, "id": 2, "type": "Organization"},
                     "repo": self.repo_json(repo)},
            "base": {"ref": base, "sha": repo.branches[base], "label": f"{repo.owner}:{base}",
                     "user": {"login": repo.owner, "id": 2, "type": "Organization"},
                     "repo": self.repo_json(repo)},
            "merged": False, "mergeable": None, "author_association": "MEMBER",
            "requested_reviewers": [], "requested_teams": [],
            "created_at": _iso(time.time()), "updated_at": _iso(time.time()),
        }
        repo.branches[head_ref] = head_sha
        repo.pulls[number] = pull
        return pull

    def push(self, full_name: str, number: int, head_sha: str) -> dict:
        repo = self.repos[full_name]
        pull = repo.pulls[number]
        pull["head"]["sha"] = head_sha
        repo.branches[pull["head"]["ref"]] = head_sha
        pull["base"]["sha"] = repo.branches[pull["base"]["ref"]]
        return pull

    def add_comment(self, full_name: str, number: int, body: str, *, login: str = "octocat",
                    user_type: str = "User") -> dict:
        return self._new_comment(self.repos[full_name], number, body,
                                 {"login": login, "id": 3, "type": user_type})

    def _new_comment(self, repo: Repo, number: int, body: str, user: dict) -> dict:
        cid = next(self._ids)
        now = _iso(time.time())
        c = {"id": cid, "node_id": "IC_kwDO", "body": body, "user": user,
             "url": f"{self.base_url}/repos/{repo.full_name}/issues/comments/{cid}",
             "html_url": f"https://github.example/{repo.full_name}/pull/{number}#issuecomment-"
                         f"{cid}",
             "issue_url": f"{self.base_url}/repos/{repo.full_name}/issues/{number}",
             "created_at": now, "updated_at": now, "author_association": "NONE",
             "_issue": number}
        repo.comments.append(c)
        return c

    def comments(self, full_name: str, number: int) -> list[dict]:
        return [c for c in self.repos[full_name].comments if c["_issue"] == number]

    def runs(self, full_name: str, head_sha: str | None = None) -> list[dict]:
        return [r for r in self.repos[full_name].check_runs.values()
                if head_sha is None or r["head_sha"] == head_sha]

    def repo_json(self, repo: Repo) -> dict:
        return {"id": repo.id, "node_id": "R_kgDO", "name": repo.name,
                "full_name": repo.full_name, "private": False,
                "owner": {"login": repo.owner, "id": 2, "type": "Organization"},
                "html_url": f"https://github.example/{repo.full_name}",
                "url": f"{self.base_url}/repos/{repo.full_name}",
                "default_branch": repo.default_branch}

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

    def calls(self, method: str | None = None, contains: str | None = None) -> list[Recorded]:
        return [r for r in self.requests
                if (method is None or r.method == method)
                and (contains is None or contains in r.path)]

    # -- server ---------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sock = site._server.sockets[0]  # the bound ephemeral port
        self.base_url = f"http://{host}:{sock.getsockname()[1]}"
        return self.base_url

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

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
        import aiohttp

        from reviewbot.app.webhook import signature

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
        repo = (payload.get("repository") or {}) if isinstance(payload, dict) else {}
        record = {"id": next(self._delivery_ids), "guid": guid,
                  "delivered_at": _iso(started), "redelivery": redelivery,
                  "duration": round(time.time() - started, 3), "status": status,
                  "status_code": code, "event": event,
                  "action": payload.get("action") if isinstance(payload, dict) else None,
                  "installation_id": (payload.get("installation") or {}).get("id")
                  if isinstance(payload, dict) else None,
                  "repository_id": repo.get("id"), "throttled_at": None,
                  "_payload": payload, "_url": url}
        self.deliveries.append(record)
        return record

    def delivery_rows(self, guid: str | None = None) -> list[dict]:
        return [{k: v for k, v in d.items() if not k.startswith("_")} for d in self.deliveries
                if guid is None or d["guid"] == guid]

    async def settle(self) -> None:
        """Wait for redeliveries in flight."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

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
        resp = self._injected(request)
        if resp is None and self.validator is not None and isinstance(body, dict | list):
            errors = self.validator.validate(request.method, request.path, body)
            if errors:
                self.validation_errors.extend(f"{request.method} {request.path}: {e}"
                                              for e in errors)
                resp = _error(422, "Invalid request.\n\n" + "\n".join(errors))
        if resp is None:
            try:
                resp = await handler(request)
            except web.HTTPException as exc:
                resp = _error(exc.status, exc.reason)
        if not request.path.startswith("/_codeload"):
            self._rate_used += 1
            resp.headers.setdefault("x-ratelimit-limit", "5000")
            resp.headers.setdefault("x-ratelimit-remaining", str(max(0, 5000 - self._rate_used)))
            resp.headers.setdefault("x-ratelimit-reset", str(int(time.time()) + 3600))
            resp.headers.setdefault("x-ratelimit-resource", "core")
        rec.status = resp.status
        return resp

    def _injected(self, request: web.Request) -> web.Response | None:
        for f in self.failures:
            if f.count <= 0:
                continue
            if f.method is not None and f.method != request.method:
                continue
            if f.path is not None and f.path not in request.path:
                continue
            f.count -= 1
            resp = _error(f.status, f.message)
            for k, v in f.headers.items():
                resp.headers[k] = v
            return resp
        return None

    def _route_table(self):
        r = r"(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        table = [
            ("POST", r"^/app/installations/(?P<iid>\d+)/access_tokens$", self._access_token),
            ("GET", r"^/app$", self._app),
            ("GET", r"^/app/installations$", self._installations),
            ("GET", r"^/app/hook/deliveries$", self._list_deliveries),
            ("POST", r"^/app/hook/deliveries/(?P<did>\d+)/attempts$", self._redeliver),
            ("GET", r"^/installation/repositories$", self._installation_repos),
            ("GET", rf"^/repos/{r}/pulls$", self._list_pulls),
            ("GET", rf"^/repos/{r}$", self._repo),
            ("GET", rf"^/repos/{r}/pulls/(?P<n>\d+)$", self._pull),
            ("GET", rf"^/repos/{r}/pulls/(?P<n>\d+)/files$", self._pull_files),
            ("GET", rf"^/repos/{r}/compare/(?P<basehead>.+)$", self._compare),
            ("GET", rf"^/repos/{r}/git/trees/(?P<sha>[^/]+)$", self._tree),
            ("GET", rf"^/repos/{r}/git/blobs/(?P<sha>[0-9a-f]{{40}})$", self._blob),
            ("GET", rf"^/repos/{r}/contents/(?P<path>.+)$", self._contents),
            ("GET", rf"^/repos/{r}/tarball/(?P<ref>.+)$", self._tarball),
            ("GET", r"^/_codeload/(?P<owner>[^/]+)/(?P<repo>[^/]+)/tar.gz/(?P<sha>[0-9a-f]+)$",
             self._codeload),
            ("GET", rf"^/repos/{r}/issues/(?P<n>\d+)/comments$", self._list_comments),
            ("POST", rf"^/repos/{r}/issues/(?P<n>\d+)/comments$", self._create_comment),
            ("PATCH", rf"^/repos/{r}/issues/comments/(?P<cid>\d+)$", self._update_comment),
            ("GET", rf"^/repos/{r}/issues/comments/(?P<cid>\d+)$", self._get_comment),
            ("GET", rf"^/repos/{r}/pulls/(?P<n>\d+)/reviews$", self._list_reviews),
            ("POST", rf"^/repos/{r}/pulls/(?P<n>\d+)/reviews$", self._create_review),
            ("POST", rf"^/repos/{r}/pulls/(?P<n>\d+)/requested_reviewers$",
             self._request_reviewers),
            ("DELETE", rf"^/repos/{r}/issues/comments/(?P<cid>\d+)$", self._delete_comment),
            ("POST", rf"^/repos/{r}/check-runs$", self._create_run),
            ("PATCH", rf"^/repos/{r}/check-runs/(?P<rid>\d+)$", self._update_run),
            ("GET", rf"^/repos/{r}/commits/(?P<ref>[^/]+)/check-runs$", self._list_runs),
        ]
        return [(m, re.compile(p), h) for m, p, h in table]

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        for method, pattern, handler in self._routes:
            match = pattern.match(path)
            if match and method == request.method:
                params = match.groupdict()
                if not path.startswith(("/app", "/_codeload")):
                    denied = self._check_token(request)
                    if denied is not None:
                        return denied
                    if "owner" not in params:
                        return await handler(request, **params)
                    full = f"{params['owner']}/{params['repo']}"
                    if full not in self.repos:
                        return _error(404, "Not Found")
                    params["repo_obj"] = self.repos[full]
                return await handler(request, **params)
        return _error(404, "Not Found")

    # -- auth -------------------------------------------------------------------------------------

    def _check_token(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("token", "bearer") or token not in self.tokens:
            return _error(401, "Bad credentials")
        _, expires = self.tokens[token]
        if expires <= time.time():
            return _error(401, "Bad credentials")
        return None

    def _check_jwt(self, request: web.Request) -> web.Response | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _error(401, "A JSON web token could not be decoded")
        try:
            claims = pyjwt.decode(token, self.public_key, algorithms=["RS256"],
                                  options={"require": ["iat", "exp", "iss"]}, leeway=0)
        except pyjwt.PyJWTError as exc:
            return _error(401, f"A JSON web token could not be decoded ({exc})")
        now = time.time()
        if claims["iat"] > now:
            return _error(401, "'Issued at' claim ('iat') must be an Integer representing "
                               "a time in the past.")
        if claims["exp"] - now > 600:
            return _error(401, "'Expiration time' claim ('exp') is too far in the future")
        if str(claims["iss"]) != str(self.app_id):
            return _error(401, "'Issuer' claim ('iss') must be an Integer")
        return None

    async def _access_token(self, request, iid):
        denied = self._check_jwt(request)
        if denied is not None:
            return denied
        token = "ghs_" + secrets.token_urlsafe(60).replace("-", "a").replace("_", "b")
        expires = time.time() + self.token_ttl
        self.tokens[token] = (int(iid), expires)
        return web.json_response({"token": token, "expires_at": _iso(expires),
                                  "permissions": {"checks": "write", "contents": "read"},
                                  "repository_selection": "all"}, status=201)

    async def _app(self, request):
        denied = self._check_jwt(request)
        if denied is not None:
            return denied
        return web.json_response({"id": self.app_id, "slug": self.slug, "name": self.slug,
                                  "owner": {"login": "acme", "id": 2, "type": "Organization"},
                                  "html_url": f"https://github.example/apps/{self.slug}"})

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
            return _error(404, "Not Found")
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

    async def _list_pulls(self, request, owner, repo, repo_obj):
        state = request.query.get("state", "open")
        rows = [p for n, p in sorted(repo_obj.pulls.items())
                if state == "all" or p["state"] == state]
        return self._page(request, rows)

    # -- content ----------------------------------------------------------------------------------

    async def _repo(self, request, owner, repo, repo_obj):
        return web.json_response(self.repo_json(repo_obj))

    async def _pull(self, request, owner, repo, repo_obj, n):
        pull = repo_obj.pulls.get(int(n))
        return web.json_response(pull) if pull else _error(404, "Not Found")

    async def _pull_files(self, request, owner, repo, repo_obj, n):
        pull = repo_obj.pulls.get(int(n))
        if pull is None:
            return _error(404, "Not Found")
        head = repo_obj.commits[pull["head"]["sha"]]
        base = repo_obj.commits[repo_obj.merge_base(head.sha, pull["base"]["sha"])]
        rows = []
        for path in sorted(set(head.files) | set(base.files)):
            a, b = base.files.get(path), head.files.get(path)
            if a == b:
                continue
            status = "added" if a is None else "removed" if b is None else "modified"
            rows.append({"filename": path, "status": status,
                         "sha": blob_id(b) if b is not None else None,
                         "patch": unified_patch(a, b)})
        rows = rows[:3000]
        return self._page(request, rows)

    def _page(self, request: web.Request, rows: list, key: str | None = None):
        per_page = min(int(request.query.get("per_page", 30)), 100)
        page = int(request.query.get("page", 1))
        chunk = rows[(page - 1) * per_page: page * per_page]
        resp = web.json_response({key: chunk, "total_count": len(rows)} if key else chunk)
        if page * per_page < len(rows):
            query = dict(request.query)
            query.update(page=str(page + 1), per_page=str(per_page))
            qs = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in query.items())
            resp.headers["Link"] = f'<{self.base_url}{request.path}?{qs}>; rel="next"'
        return resp

    async def _compare(self, request, owner, repo, repo_obj, basehead):
        base_ref, sep, head_ref = unquote(basehead).partition("...")
        if not sep:
            return _error(404, "Not Found")
        base, head = repo_obj.resolve(base_ref), repo_obj.resolve(head_ref)
        if base is None or head is None:
            return _error(404, "Not Found")
        mb = repo_obj.merge_base(base, head)
        if mb is None:
            return _error(404, "No common ancestor between the base and head")
        ahead = repo_obj.ancestors(head).index(mb)
        behind = repo_obj.ancestors(base).index(mb)
        status = ("identical" if base == head else "ahead" if behind == 0 else
                  "behind" if ahead == 0 else "diverged")
        return web.json_response({
            "url": f"{self.base_url}{request.path}", "status": status, "ahead_by": ahead,
            "behind_by": behind, "total_commits": ahead,
            "base_commit": {"sha": base}, "merge_base_commit": {"sha": mb},
            "commits": [], "files": []})

    def _tree_for(self, repo: Repo, ref: str) -> str | None:
        if ref in repo.trees:
            return ref
        sha = repo.resolve(ref)
        return repo.commits[sha].tree if sha else None

    async def _tree(self, request, owner, repo, repo_obj, sha):
        tree = self._tree_for(repo_obj, sha)
        if tree is None:
            return _error(404, "Not Found")
        recursive = request.query.get("recursive") not in (None, "", "0", "false")
        if not recursive:
            entries = copy.deepcopy(repo_obj.trees[tree])
        else:
            entries = []

            def walk(t: str, prefix: str) -> None:
                for e in repo_obj.trees[t]:
                    item = {**e, "path": prefix + e["path"]}
                    entries.append(item)
                    if e["type"] == "tree":
                        walk(e["sha"], item["path"] + "/")
            walk(tree, "")
        truncated = False
        if self.tree_truncate_at is not None and len(entries) > self.tree_truncate_at:
            entries, truncated = entries[: self.tree_truncate_at], True
        for e in entries:
            e["url"] = f"{self.base_url}/repos/{repo_obj.full_name}/git/{e['type']}s/{e['sha']}"
        return web.json_response({"sha": tree, "url": f"{self.base_url}{request.path}",
                                  "tree": entries, "truncated": truncated})

    async def _blob(self, request, owner, repo, repo_obj, sha):
        data = repo_obj.blobs.get(sha)
        if data is None:
            return _error(404, "Not Found")
        return web.json_response({"sha": sha, "node_id": "B_kwDO", "size": len(data),
                                  "url": f"{self.base_url}{request.path}",
                                  "content": base64.encodebytes(data).decode(),
                                  "encoding": "base64"})

    async def _contents(self, request, owner, repo, repo_obj, path):
        ref = request.query.get("ref") or repo_obj.default_branch
        sha = repo_obj.resolve(ref)
        path = unquote(path)
        if sha is None or path not in repo_obj.commits[sha].files:
            return _error(404, "Not Found")
        data = repo_obj.commits[sha].files[path]
        return web.json_response({"type": "file", "encoding": "base64", "size": len(data),
                                  "name": path.rsplit("/", 1)[-1], "path": path,
                                  "content": base64.encodebytes(data).decode(),
                                  "sha": blob_id(data)})

    async def _tarball(self, request, owner, repo, repo_obj, ref):
        sha = repo_obj.resolve(ref)
        if sha is None:
            return _error(404, "Not Found")
        location = f"{self.base_url}/_codeload/{owner}/{repo}/tar.gz/{sha}"
        return web.Response(status=302, headers={"Location": location})

    async def _codeload(self, request, owner, repo, sha):
        if "Authorization" in request.headers:
            self.codeload_with_auth += 1
        repo_obj = self.repos.get(f"{owner}/{repo}")
        if repo_obj is None or sha not in repo_obj.commits:
            return web.Response(status=404, text="Not Found")
        commit = repo_obj.commits[sha]
        buf = io.BytesIO()
        prefix = f"{owner}-{repo}-{sha[:7]}/"
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

    # -- comments ---------------------------------------------------------------------------------

    def _public_comment(self, c: dict) -> dict:
        return {k: v for k, v in c.items() if not k.startswith("_")}

    async def _list_comments(self, request, owner, repo, repo_obj, n):
        rows = [self._public_comment(c) for c in repo_obj.comments if c["_issue"] == int(n)]
        rows.sort(key=lambda c: c["id"])
        return self._page(request, rows)

    def _body_problem(self, body) -> web.Response | None:
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            return _error(422, "Invalid request.\n\n\"body\" wasn't supplied.")
        if len(body["body"]) > 65536:
            return _error(422, "Validation Failed", errors=[{
                "resource": "IssueComment", "code": "custom", "field": "body",
                "message": "Body is too long (maximum is 65536 characters)"}])
        return None

    async def _create_comment(self, request, owner, repo, repo_obj, n):
        body = await request.json()
        problem = self._body_problem(body)
        if problem is not None:
            return problem
        if int(n) not in repo_obj.pulls:
            return _error(404, "Not Found")
        c = self._new_comment(repo_obj, int(n), body["body"], self.bot_user())
        return web.json_response(self._public_comment(c), status=201)

    def _comment(self, repo: Repo, cid: str) -> dict | None:
        return next((c for c in repo.comments if c["id"] == int(cid)), None)

    async def _update_comment(self, request, owner, repo, repo_obj, cid):
        c = self._comment(repo_obj, cid)
        if c is None:
            return _error(404, "Not Found")
        if c["user"]["login"] != self.bot_login:
            return _error(403, "Resource not accessible by integration")
        body = await request.json()
        problem = self._body_problem(body)
        if problem is not None:
            return problem
        c["body"] = body["body"]
        c["updated_at"] = _iso(time.time())
        return web.json_response(self._public_comment(c))

    async def _get_comment(self, request, owner, repo, repo_obj, cid):
        c = self._comment(repo_obj, cid)
        return web.json_response(self._public_comment(c)) if c else _error(404, "Not Found")

    def edit_comment(self, full_name: str, cid: int, body: str, *,
                     login: str = "octocat") -> tuple[dict, str]:
        """A user edits a comment in the web UI (ticking a box edits the body). Returns the
        comment and its body before the edit, as the `issue_comment.edited` event has them."""
        c = self._comment(self.repos[full_name], str(cid))
        before = c["body"]
        c["body"] = body
        c["updated_at"] = _iso(time.time())
        return self._public_comment(c), before

    # -- pull request reviews -------------------------------------------------------------------

    def _pull_diff(self, repo: Repo, pull: dict) -> dict[str, list[set[int]]]:
        """path -> RIGHT-side lines of each diff hunk, computed like GitHub's diff view."""
        head = repo.commits[pull["head"]["sha"]]
        base = repo.commits[repo.merge_base(head.sha, pull["base"]["sha"])]
        out = {}
        for path in set(head.files) | set(base.files):
            a = (base.files.get(path) or b"").decode("utf-8", "replace").splitlines()
            b = (head.files.get(path) or b"").decode("utf-8", "replace").splitlines()
            if path in base.files and base.files.get(path) == head.files.get(path):
                continue
            groups = difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(3)
            out[path] = [set(range(g[0][3] + 1, g[-1][4] + 1)) for g in groups]
        return out

    def reviews(self, full_name: str, number: int) -> list[dict]:
        return [r for r in self.repos[full_name].reviews if r["_pull"] == number]

    async def _list_reviews(self, request, owner, repo, repo_obj, n):
        rows = [{k: v for k, v in r.items() if not k.startswith("_")}
                for r in repo_obj.reviews if r["_pull"] == int(n)]
        return self._page(request, rows)

    async def _create_review(self, request, owner, repo, repo_obj, n):
        pull = repo_obj.pulls.get(int(n))
        if pull is None:
            return _error(404, "Not Found")
        body = await request.json()
        if body.get("event") in ("COMMENT", "REQUEST_CHANGES") and not body.get("body"):
            return _error(422, "Unprocessable Entity", errors=["Body is required"])
        commit = body.get("commit_id") or pull["head"]["sha"]
        if repo_obj.resolve(commit) is None:
            return _error(422, "Unprocessable Entity", errors=["commit_id is not part of the "
                                                               "pull request"])
        diff = self._pull_diff(repo_obj, pull)
        for c in body.get("comments") or []:
            if "position" in c:
                continue
            parts = diff.get(c.get("path"))
            line, start = c.get("line"), c.get("start_line", c.get("line"))
            if parts is None or c.get("side", "RIGHT") != "RIGHT" or not isinstance(line, int) \
                    or not any(set(range(start, line + 1)) <= h for h in parts):
                self.rejected_reviews.append(c)
                return _error(422, "Unprocessable Entity", errors=[
                    "Pull request review thread line must be part of the diff"])
        rid = next(self._ids)
        review = {"id": rid, "node_id": "PRR_kwDO", "user": self.bot_user(),
                  "body": body.get("body", ""), "commit_id": commit,
                  "state": {"COMMENT": "COMMENTED", "APPROVE": "APPROVED",
                            "REQUEST_CHANGES": "CHANGES_REQUESTED"}.get(body.get("event"),
                                                                        "PENDING"),
                  "html_url": f"https://github.example/{repo_obj.full_name}/pull/{n}"
                              f"#pullrequestreview-{rid}",
                  "comments": copy.deepcopy(body.get("comments") or []), "_pull": int(n)}
        repo_obj.reviews.append(review)
        return web.json_response({k: v for k, v in review.items()
                                  if not k.startswith("_") and k != "comments"})

    async def _request_reviewers(self, request, owner, repo, repo_obj, n):
        pull = repo_obj.pulls.get(int(n))
        if pull is None:
            return _error(404, "Not Found")
        body = await request.json()
        users = list(body.get("reviewers") or [])
        teams = list(body.get("team_reviewers") or [])
        if pull["user"]["login"] in users:
            return _error(422, "Review cannot be requested from pull request author.")
        got = repo_obj.review_requests.setdefault(int(n), {"users": [], "teams": []})
        got["users"] += [u for u in users if u not in got["users"]]
        got["teams"] += [t for t in teams if t not in got["teams"]]
        pull["requested_reviewers"] = [{"login": u, "type": "User"} for u in got["users"]]
        pull["requested_teams"] = [{"slug": t, "name": t} for t in got["teams"]]
        return web.json_response(pull, status=201)

    async def _delete_comment(self, request, owner, repo, repo_obj, cid):
        c = self._comment(repo_obj, cid)
        if c is None:
            return _error(404, "Not Found")
        if c["user"]["login"] != self.bot_login:
            return _error(403, "Resource not accessible by integration")
        repo_obj.comments.remove(c)
        return web.Response(status=204)

    # -- check runs -------------------------------------------------------------------------------

    def _run_problem(self, run: dict) -> web.Response | None:
        if run.get("status") == "completed" and not run.get("conclusion"):
            return _error(422, "Invalid request.\n\n\"conclusion\" wasn't supplied.")
        out = run.get("output") or {}
        for key in ("summary", "text"):
            if len(out.get(key) or "") > 65535:
                return _error(422, f"Invalid request.\n\n{key} is too long")
        if len(run.get("actions") or []) > 3:
            return _error(422, "Invalid request.\n\nToo many actions")
        for a in run.get("actions") or []:
            if len(a.get("label", "")) > 20 or len(a.get("description", "")) > 40 or \
                    len(a.get("identifier", "")) > 20:
                return _error(422, "Invalid request.\n\naction field too long")
        return None

    def _apply(self, run: dict, body: dict) -> None:
        for key in ("name", "details_url", "external_id", "status", "started_at",
                    "conclusion", "completed_at", "actions"):
            if key in body:
                run[key] = body[key]
        if body.get("conclusion"):
            run["status"] = "completed"
        if "output" in body:
            out = body["output"]
            if "title" not in out or "summary" not in out:
                raise web.HTTPUnprocessableEntity(reason="output needs title and summary")
            notes = out.get("annotations") or []
            if len(notes) > 50:
                raise web.HTTPUnprocessableEntity(reason="more than 50 annotations")
            run["annotations"].extend(notes)
            for key in ("title", "summary", "text"):
                if key in out:
                    run["output"][key] = out[key]
            run["output"]["annotations_count"] = len(run["annotations"])

    async def _create_run(self, request, owner, repo, repo_obj):
        body = await request.json()
        if not isinstance(body, dict) or "name" not in body or "head_sha" not in body:
            return _error(422, "Invalid request.\n\n\"name\", \"head_sha\" weren't supplied.")
        if repo_obj.resolve(body["head_sha"]) is None:
            return _error(422, "No commit found for SHA: " + str(body["head_sha"]))
        problem = self._run_problem(body)
        if problem is not None:
            return problem
        rid = next(self._ids)
        run = {"id": rid, "node_id": "CR_kwDO", "head_sha": body["head_sha"],
               "name": body["name"], "status": "queued", "conclusion": None,
               "external_id": "", "started_at": _iso(time.time()), "completed_at": None,
               "url": f"{self.base_url}/repos/{repo_obj.full_name}/check-runs/{rid}",
               "html_url": f"https://github.example/{repo_obj.full_name}/runs/{rid}",
               "details_url": None, "output": {"title": None, "summary": None, "text": None,
                                               "annotations_count": 0},
               "annotations": [], "actions": [],
               "app": {"id": self.app_id, "slug": self.slug, "name": self.slug},
               "pull_requests": [], "check_suite": {"id": 1}}
        try:
            self._apply(run, body)
        except web.HTTPException as exc:
            return _error(422, exc.reason)
        repo_obj.check_runs[rid] = run
        return web.json_response(self._public_run(run), status=201)

    async def _update_run(self, request, owner, repo, repo_obj, rid):
        run = repo_obj.check_runs.get(int(rid))
        if run is None:
            return _error(404, "Not Found")
        body = await request.json()
        merged = {**run, **{k: v for k, v in body.items() if k != "output"}}
        if "conclusion" in body:
            merged["status"] = "completed"
        problem = self._run_problem({**merged, "output": body.get("output") or {}})
        if problem is not None:
            return problem
        try:
            self._apply(run, body)
        except web.HTTPException as exc:
            return _error(422, exc.reason)
        return web.json_response(self._public_run(run))

    def _public_run(self, run: dict) -> dict:
        return {k: v for k, v in run.items() if k not in ("annotations", "actions")}

    async def _list_runs(self, request, owner, repo, repo_obj, ref):
        sha = repo_obj.resolve(ref)
        rows = [r for r in repo_obj.check_runs.values() if r["head_sha"] == sha]
        name = request.query.get("check_name")
        if name:
            rows = [r for r in rows if r["name"] == name]
        app_id = request.query.get("app_id")
        if app_id:
            rows = [r for r in rows if str(r["app"]["id"]) == app_id]
        rows.sort(key=lambda r: -r["id"])
        if request.query.get("filter", "latest") == "latest":
            seen, latest = set(), []
            for r in rows:
                if r["name"] not in seen:
                    seen.add(r["name"])
                    latest.append(r)
            rows = latest
        return self._page(request, [self._public_run(r) for r in rows], key="check_runs")


def unified_patch(old: bytes | None, new: bytes | None) -> str:
    """A file's `patch` as GitHub shows it in `GET /pulls/{n}/files`: the unified diff's
    hunks (3 lines of context) without the ---/+++ header."""
    a = (old or b"").decode("utf-8", "replace").splitlines()
    b = (new or b"").decode("utf-8", "replace").splitlines()
    lines = list(difflib.unified_diff(a, b, lineterm="", n=3))
    return "\n".join(lines[2:])


def _error(status: int, message: str, **extra) -> web.Response:
    return web.json_response({"message": message, **extra,
                              "documentation_url": "https://docs.github.com/rest"},
                             status=status)


# -- the incident ---------------------------------------------------------------------------

INCIDENT_REPO = "acme/goals-service"
INCIDENT_PR = 7


def seed_incident(gh: GitHubStandIn, full_name: str = INCIDENT_REPO,
                  number: int = INCIDENT_PR) -> dict[str, str]:
    """The goals_common incident as PR `number`: base on main, the PR commit, and the fix
    (pushed later by the caller with `gh.push`). Returns commit shas by stage."""
    from reviewbot.demo import incident_files

    gh.create_repo(full_name)
    base = gh.commit(full_name, incident_files("base"), branch="main", message="base")
    pr = gh.commit(full_name, incident_files("pr"), parents=[base], message="pr")
    fix = gh.commit(full_name, incident_files("fix"), parents=[pr], message="fix")
    gh.open_pull(full_name, number, pr, base="main", head_ref="goals-validation",
                 title="auth: reject requests without a token")
    return {"base": base, "pr": pr, "fix": fix}
