"""The GitHub that `reviewbot demo --serve` talks to: an in-process aiohttp server that
answers, in GitHub's REST shapes, the endpoints a review of the demo's pull request uses.
It keeps repositories as commits ({path: bytes} with parents) and trusts every request:
nothing here checks credentials or GitHub's rules. The webhooks are in `payloads`.

The tests' stand-in (`tests/standin/`) subclasses `DemoGitHub` and adds what only tests
need: credential and body checks, validation against GitHub's OpenAPI description, fault
injection, recording, webhook deliveries and the other endpoints the app calls.
"""

from __future__ import annotations

import base64
import copy
import difflib
import hashlib
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple
from urllib.parse import quote, unquote

from aiohttp import web

from reviewbot.tree import blob_id

TOKEN_TTL = 3600.0
INCIDENT_REPO = "acme/goals-service"
INCIDENT_PR = 7


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error(status: int, message: str, **extra) -> web.Response:
    """An error body as GitHub sends it."""
    return web.json_response({"message": message, **extra,
                              "documentation_url": "https://docs.github.com/rest"},
                             status=status)


def unified_patch(old: bytes | None, new: bytes | None) -> str:
    """A file's `patch` as GitHub shows it in `GET /pulls/{n}/files`: the unified diff's
    hunks (3 lines of context) without the ---/+++ header."""
    a = (old or b"").decode("utf-8", "replace").splitlines()
    b = (new or b"").decode("utf-8", "replace").splitlines()
    lines = list(difflib.unified_diff(a, b, lineterm="", n=3))
    return "\n".join(lines[2:])


def public(record: dict) -> dict:
    """A stored record without our bookkeeping keys (those start with `_`)."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


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

    def pull_sides(self, pull: dict) -> tuple[Commit, Commit]:
        """(merge base, head) of a pull request: the two sides of its diff."""
        head = self.commits[pull["head"]["sha"]]
        return self.commits[self.merge_base(head.sha, pull["base"]["sha"])], head


class Token(NamedTuple):
    installation_id: int
    expires: float


class Route(NamedTuple):
    method: str
    pattern: re.Pattern
    handler: Callable


def routes(table: list[tuple[str, str, Callable]]) -> list[Route]:
    return [Route(method, re.compile(pattern), handler) for method, pattern, handler in table]


REPO_PATH = r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"


class DemoGitHub:
    def __init__(self, *, app_id: int = 4242, slug: str = "reviewbot"):
        self.app_id = app_id
        self.slug = slug
        self.repos: dict[str, Repo] = {}
        self.tokens: dict[str, Token] = {}
        self.request_count = 0
        self.base_url = ""
        self._ids = itertools.count(1000)
        self._runner: web.AppRunner | None = None
        self._routes = self._route_table()

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"

    def bot_user(self) -> dict:
        return {"login": self.bot_login, "id": 9000 + self.app_id, "type": "Bot",
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
        org = {"login": repo.owner, "id": 2, "type": "Organization"}
        pull = {
            "url": f"{self.base_url}/repos/{full_name}/pulls/{number}",
            "id": next(self._ids), "node_id": "PR_kwDO", "number": number, "state": "open",
            "locked": False, "title": title, "body": None, "draft": draft,
            "html_url": f"https://github.example/{full_name}/pull/{number}",
            "user": {"login": user, "id": 1, "type": "User"},
            "head": {"ref": head_ref, "sha": head_sha, "label": f"{repo.owner}:{head_ref}",
                     "user": dict(org), "repo": self.repo_json(repo)},
            "base": {"ref": base, "sha": repo.branches[base], "label": f"{repo.owner}:{base}",
                     "user": dict(org), "repo": self.repo_json(repo)},
            "merged": False, "mergeable": None, "author_association": "MEMBER",
            "requested_reviewers": [], "requested_teams": [],
            "created_at": iso_time(time.time()), "updated_at": iso_time(time.time()),
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

    def _new_comment(self, repo: Repo, number: int, body: str, user: dict) -> dict:
        cid = next(self._ids)
        now = iso_time(time.time())
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

    # -- server ---------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
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
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _route_table(self) -> list[Route]:
        r = REPO_PATH
        return routes([
            ("POST", r"^/app/installations/(?P<iid>\d+)/access_tokens$", self._access_token),
            ("GET", r"^/app$", self._app),
            ("GET", rf"{r}/pulls/(?P<n>\d+)$", self._pull),
            ("GET", rf"{r}/pulls/(?P<n>\d+)/files$", self._pull_files),
            ("GET", rf"{r}/compare/(?P<basehead>.+)$", self._compare),
            ("GET", rf"{r}/git/trees/(?P<sha>[^/]+)$", self._tree),
            ("GET", rf"{r}/git/blobs/(?P<sha>[0-9a-f]{{40}})$", self._blob),
            ("GET", rf"{r}/contents/(?P<path>.+)$", self._contents),
            ("GET", rf"{r}/issues/(?P<n>\d+)/comments$", self._list_comments),
            ("POST", rf"{r}/issues/(?P<n>\d+)/comments$", self._create_comment),
            ("PATCH", rf"{r}/issues/comments/(?P<cid>\d+)$", self._update_comment),
            ("GET", rf"{r}/pulls/(?P<n>\d+)/reviews$", self._list_reviews),
            ("POST", rf"{r}/pulls/(?P<n>\d+)/reviews$", self._create_review),
            ("POST", rf"{r}/check-runs$", self._create_run),
            ("PATCH", rf"{r}/check-runs/(?P<rid>\d+)$", self._update_run),
            ("GET", rf"{r}/commits/(?P<ref>[^/]+)/check-runs$", self._list_runs),
        ])

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.request_count += 1
        for route in self._routes:
            match = route.pattern.match(request.path)
            if match and route.method == request.method:
                return await self._call(request, route.handler, match.groupdict())
        return error(404, "Not Found")

    async def _call(self, request: web.Request, handler, params: dict) -> web.StreamResponse:
        """Run a matched route's handler; a `/repos/{owner}/{repo}` route gets the `Repo`."""
        if "owner" in params:
            repo = self.repos.get(f"{params['owner']}/{params['repo']}")
            if repo is None:
                return error(404, "Not Found")
            params["repo_obj"] = repo
        return await handler(request, **params)

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

    # -- the app ----------------------------------------------------------------------------------

    async def _access_token(self, request, iid):
        token = "ghs_" + secrets.token_urlsafe(60).replace("-", "a").replace("_", "b")
        expires = time.time() + TOKEN_TTL
        self.tokens[token] = Token(int(iid), expires)
        return web.json_response({"token": token, "expires_at": iso_time(expires),
                                  "permissions": {"checks": "write", "contents": "read"},
                                  "repository_selection": "all"}, status=201)

    async def _app(self, request):
        return web.json_response({"id": self.app_id, "slug": self.slug, "name": self.slug,
                                  "owner": {"login": "acme", "id": 2, "type": "Organization"},
                                  "html_url": f"https://github.example/apps/{self.slug}"})

    # -- content ----------------------------------------------------------------------------------

    async def _pull(self, request, owner, repo, repo_obj, n):
        pull = repo_obj.pulls.get(int(n))
        return web.json_response(pull) if pull else error(404, "Not Found")

    async def _pull_files(self, request, owner, repo, repo_obj, n):
        pull = repo_obj.pulls.get(int(n))
        if pull is None:
            return error(404, "Not Found")
        base, head = repo_obj.pull_sides(pull)
        rows = []
        for path in sorted(set(head.files) | set(base.files)):
            a, b = base.files.get(path), head.files.get(path)
            if a == b:
                continue
            status = "added" if a is None else "removed" if b is None else "modified"
            rows.append({"filename": path, "status": status,
                         "sha": blob_id(b) if b is not None else None,
                         "patch": unified_patch(a, b)})
        return self._page(request, rows[:3000])

    async def _compare(self, request, owner, repo, repo_obj, basehead):
        base_ref, sep, head_ref = unquote(basehead).partition("...")
        if not sep:
            return error(404, "Not Found")
        base, head = repo_obj.resolve(base_ref), repo_obj.resolve(head_ref)
        if base is None or head is None:
            return error(404, "Not Found")
        mb = repo_obj.merge_base(base, head)
        if mb is None:
            return error(404, "No common ancestor between the base and head")
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

    def _listing(self, repo: Repo, tree: str, recursive: bool) -> tuple[list[dict], bool]:
        """A tree's entries (every level when `recursive`) and whether they were cut short."""
        entries = []

        def walk(t: str, prefix: str) -> None:
            for e in repo.trees[t]:
                item = {**e, "path": prefix + e["path"]}
                entries.append(item)
                if recursive and e["type"] == "tree":
                    walk(e["sha"], item["path"] + "/")
        walk(tree, "")
        return entries, False

    async def _tree(self, request, owner, repo, repo_obj, sha):
        tree = self._tree_for(repo_obj, sha)
        if tree is None:
            return error(404, "Not Found")
        recursive = request.query.get("recursive") not in (None, "", "0", "false")
        entries, truncated = self._listing(repo_obj, tree, recursive)
        for e in entries:
            e["url"] = f"{self.base_url}/repos/{repo_obj.full_name}/git/{e['type']}s/{e['sha']}"
        return web.json_response({"sha": tree, "url": f"{self.base_url}{request.path}",
                                  "tree": entries, "truncated": truncated})

    async def _blob(self, request, owner, repo, repo_obj, sha):
        data = repo_obj.blobs.get(sha)
        if data is None:
            return error(404, "Not Found")
        return web.json_response({"sha": sha, "node_id": "B_kwDO", "size": len(data),
                                  "url": f"{self.base_url}{request.path}",
                                  "content": base64.encodebytes(data).decode(),
                                  "encoding": "base64"})

    async def _contents(self, request, owner, repo, repo_obj, path):
        ref = request.query.get("ref") or repo_obj.default_branch
        sha = repo_obj.resolve(ref)
        path = unquote(path)
        if sha is None or path not in repo_obj.commits[sha].files:
            return error(404, "Not Found")
        data = repo_obj.commits[sha].files[path]
        return web.json_response({"type": "file", "encoding": "base64", "size": len(data),
                                  "name": path.rsplit("/", 1)[-1], "path": path,
                                  "content": base64.encodebytes(data).decode(),
                                  "sha": blob_id(data)})

    # -- comments and reviews ---------------------------------------------------------------------

    def _comment(self, repo: Repo, cid: str) -> dict | None:
        return next((c for c in repo.comments if c["id"] == int(cid)), None)

    async def _list_comments(self, request, owner, repo, repo_obj, n):
        rows = [public(c) for c in repo_obj.comments if c["_issue"] == int(n)]
        rows.sort(key=lambda c: c["id"])
        return self._page(request, rows)

    async def _create_comment(self, request, owner, repo, repo_obj, n):
        body = await request.json()
        if int(n) not in repo_obj.pulls:
            return error(404, "Not Found")
        c = self._new_comment(repo_obj, int(n), body["body"], self.bot_user())
        return web.json_response(public(c), status=201)

    async def _update_comment(self, request, owner, repo, repo_obj, cid):
        c = self._comment(repo_obj, cid)
        if c is None:
            return error(404, "Not Found")
        c["body"] = (await request.json())["body"]
        c["updated_at"] = iso_time(time.time())
        return web.json_response(public(c))

    async def _list_reviews(self, request, owner, repo, repo_obj, n):
        return self._page(request, [public(r) for r in repo_obj.reviews if r["_pull"] == int(n)])

    async def _create_review(self, request, owner, repo, repo_obj, n):
        pull = repo_obj.pulls.get(int(n))
        if pull is None:
            return error(404, "Not Found")
        body = await request.json()
        rid = next(self._ids)
        review = {"id": rid, "node_id": "PRR_kwDO", "user": self.bot_user(),
                  "body": body.get("body", ""),
                  "commit_id": body.get("commit_id") or pull["head"]["sha"],
                  "state": {"COMMENT": "COMMENTED", "APPROVE": "APPROVED",
                            "REQUEST_CHANGES": "CHANGES_REQUESTED"}.get(body.get("event"),
                                                                        "PENDING"),
                  "html_url": f"https://github.example/{repo_obj.full_name}/pull/{n}"
                              f"#pullrequestreview-{rid}",
                  "comments": copy.deepcopy(body.get("comments") or []), "_pull": int(n)}
        repo_obj.reviews.append(review)
        return web.json_response({k: v for k, v in public(review).items() if k != "comments"})

    # -- check runs -------------------------------------------------------------------------------

    def _apply(self, run: dict, body: dict) -> None:
        for key in ("name", "details_url", "external_id", "status", "started_at",
                    "conclusion", "completed_at", "actions"):
            if key in body:
                run[key] = body[key]
        if body.get("conclusion"):
            run["status"] = "completed"
        if "output" in body:
            out = body["output"]
            run["annotations"].extend(out.get("annotations") or [])
            for key in ("title", "summary", "text"):
                if key in out:
                    run["output"][key] = out[key]
            run["output"]["annotations_count"] = len(run["annotations"])

    def _public_run(self, run: dict) -> dict:
        return {k: v for k, v in run.items() if k not in ("annotations", "actions")}

    async def _create_run(self, request, owner, repo, repo_obj):
        body = await request.json()
        rid = next(self._ids)
        run = {"id": rid, "node_id": "CR_kwDO", "head_sha": body["head_sha"],
               "name": body["name"], "status": "queued", "conclusion": None,
               "external_id": "", "started_at": iso_time(time.time()), "completed_at": None,
               "url": f"{self.base_url}/repos/{repo_obj.full_name}/check-runs/{rid}",
               "html_url": f"https://github.example/{repo_obj.full_name}/runs/{rid}",
               "details_url": None, "output": {"title": None, "summary": None, "text": None,
                                               "annotations_count": 0},
               "annotations": [], "actions": [],
               "app": {"id": self.app_id, "slug": self.slug, "name": self.slug},
               "pull_requests": [], "check_suite": {"id": 1}}
        self._apply(run, body)
        repo_obj.check_runs[rid] = run
        return web.json_response(self._public_run(run), status=201)

    async def _update_run(self, request, owner, repo, repo_obj, rid):
        run = repo_obj.check_runs.get(int(rid))
        if run is None:
            return error(404, "Not Found")
        self._apply(run, await request.json())
        return web.json_response(self._public_run(run))

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


# -- the incident -------------------------------------------------------------------------

def seed_incident(gh: DemoGitHub, full_name: str = INCIDENT_REPO,
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
