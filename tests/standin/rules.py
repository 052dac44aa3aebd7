"""GitHub's refusals on top of the demo's GitHub, which trusts every request.

Installation tokens and the app's JWT are checked, and comment, check run and review
bodies are held to GitHub's rules, each refused with GitHub's status and message: a
mistake of the app's fails here as it would against GitHub.
"""

from __future__ import annotations

import difflib
import time

import jwt as pyjwt
from aiohttp import web

from reviewbot.app.demo.github import DemoGitHub, Repo, error

# The app's endpoints take its JWT, downloads nothing; GitHub's web pages (the manifest
# form) take the browser's session, and a manifest conversion nothing.
NO_TOKEN = ("/app", "/_codeload", "/settings/", "/organizations/")


class StrictGitHub(DemoGitHub):
    def __init__(self, *, public_key=None, **kwargs):
        super().__init__(**kwargs)
        self.public_key = public_key
        self.rejected_reviews: list[dict] = []  # review comments answered with 422

    # -- credentials ------------------------------------------------------------------------

    async def _call(self, request: web.Request, handler, params: dict) -> web.StreamResponse:
        if not request.path.startswith(NO_TOKEN):
            denied = self._check_token(request)
            if denied is not None:
                return denied
        return await super()._call(request, handler, params)

    def _check_token(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("token", "bearer") or token not in self.tokens:
            return error(401, "Bad credentials")
        _, expires = self.tokens[token]
        if expires <= time.time():
            return error(401, "Bad credentials")
        return None

    def _check_jwt(self, request: web.Request) -> web.Response | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return error(401, "A JSON web token could not be decoded")
        try:
            claims = pyjwt.decode(token, self.public_key, algorithms=["RS256"],
                                  options={"require": ["iat", "exp", "iss"]}, leeway=0)
        except pyjwt.PyJWTError as exc:
            return error(401, f"A JSON web token could not be decoded ({exc})")
        now = time.time()
        if claims["iat"] > now:
            return error(401, "'Issued at' claim ('iat') must be an Integer representing "
                              "a time in the past.")
        if claims["exp"] - now > 600:
            return error(401, "'Expiration time' claim ('exp') is too far in the future")
        if str(claims["iss"]) != str(self.app_id):
            return error(401, "'Issuer' claim ('iss') must be an Integer")
        return None

    async def _access_token(self, request, iid):
        return self._check_jwt(request) or await super()._access_token(request, iid)

    async def _app(self, request):
        return self._check_jwt(request) or await super()._app(request)

    # -- comments -----------------------------------------------------------------------------

    def _body_problem(self, body) -> web.Response | None:
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            return error(422, "Invalid request.\n\n\"body\" wasn't supplied.")
        if len(body["body"]) > 65536:
            return error(422, "Validation Failed", errors=[{
                "resource": "IssueComment", "code": "custom", "field": "body",
                "message": "Body is too long (maximum is 65536 characters)"}])
        return None

    def _not_ours(self, comment: dict) -> web.Response | None:
        """An app may edit or delete only its own comments."""
        if comment["user"]["login"] != self.bot_login:
            return error(403, "Resource not accessible by integration")
        return None

    async def _create_comment(self, request, owner, repo, repo_obj, n):
        return (self._body_problem(await request.json())
                or await super()._create_comment(request, owner, repo, repo_obj, n))

    async def _update_comment(self, request, owner, repo, repo_obj, cid):
        c = self._comment(repo_obj, cid)
        if c is not None:
            problem = self._not_ours(c) or self._body_problem(await request.json())
            if problem is not None:
                return problem
        return await super()._update_comment(request, owner, repo, repo_obj, cid)

    # -- check runs -------------------------------------------------------------------------

    def _run_problem(self, run: dict) -> web.Response | None:
        if run.get("status") == "completed" and not run.get("conclusion"):
            return error(422, "Invalid request.\n\n\"conclusion\" wasn't supplied.")
        out = run.get("output") or {}
        for key in ("summary", "text"):
            if len(out.get(key) or "") > 65535:
                return error(422, f"Invalid request.\n\n{key} is too long")
        if len(run.get("actions") or []) > 3:
            return error(422, "Invalid request.\n\nToo many actions")
        for a in run.get("actions") or []:
            if len(a.get("label", "")) > 20 or len(a.get("description", "")) > 40 or \
                    len(a.get("identifier", "")) > 20:
                return error(422, "Invalid request.\n\naction field too long")
        return None

    @staticmethod
    def _output_problem(body: dict) -> web.Response | None:
        if "output" not in body:
            return None
        out = body["output"]
        if "title" not in out or "summary" not in out:
            return error(422, "output needs title and summary")
        if len(out.get("annotations") or []) > 50:
            return error(422, "more than 50 annotations")
        return None

    async def _create_run(self, request, owner, repo, repo_obj):
        body = await request.json()
        if not isinstance(body, dict) or "name" not in body or "head_sha" not in body:
            return error(422, "Invalid request.\n\n\"name\", \"head_sha\" weren't supplied.")
        if repo_obj.resolve(body["head_sha"]) is None:
            return error(422, "No commit found for SHA: " + str(body["head_sha"]))
        problem = self._run_problem(body) or self._output_problem(body)
        if problem is not None:
            return problem
        return await super()._create_run(request, owner, repo, repo_obj)

    async def _update_run(self, request, owner, repo, repo_obj, rid):
        run = repo_obj.check_runs.get(int(rid))
        if run is not None:
            body = await request.json()
            merged = {**run, **{k: v for k, v in body.items() if k != "output"}}
            if "conclusion" in body:
                merged["status"] = "completed"
            problem = (self._run_problem({**merged, "output": body.get("output") or {}})
                       or self._output_problem(body))
            if problem is not None:
                return problem
        return await super()._update_run(request, owner, repo, repo_obj, rid)

    # -- pull request reviews -------------------------------------------------------------------

    @staticmethod
    def _pull_diff(repo: Repo, pull: dict) -> dict[str, list[set[int]]]:
        """path -> RIGHT-side lines of each diff hunk, computed like GitHub's diff view."""
        base, head = repo.pull_sides(pull)
        out = {}
        for path in set(head.files) | set(base.files):
            a = (base.files.get(path) or b"").decode("utf-8", "replace").splitlines()
            b = (head.files.get(path) or b"").decode("utf-8", "replace").splitlines()
            if path in base.files and base.files.get(path) == head.files.get(path):
                continue
            groups = difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(3)
            out[path] = [set(range(g[0][3] + 1, g[-1][4] + 1)) for g in groups]
        return out

    @staticmethod
    def _in_diff(comment: dict, diff: dict[str, list[set[int]]]) -> bool:
        """A line comment's lines lie in one hunk of the diff's RIGHT side."""
        hunks = diff.get(comment.get("path"))
        line, start = comment.get("line"), comment.get("start_line", comment.get("line"))
        return (hunks is not None and comment.get("side", "RIGHT") == "RIGHT"
                and isinstance(line, int)
                and any(set(range(start, line + 1)) <= h for h in hunks))

    def _review_problem(self, repo: Repo, pull: dict, body: dict) -> web.Response | None:
        if body.get("event") in ("COMMENT", "REQUEST_CHANGES") and not body.get("body"):
            return error(422, "Unprocessable Entity", errors=["Body is required"])
        if repo.resolve(body.get("commit_id") or pull["head"]["sha"]) is None:
            return error(422, "Unprocessable Entity",
                         errors=["commit_id is not part of the pull request"])
        diff = self._pull_diff(repo, pull)
        for c in body.get("comments") or []:
            if "position" not in c and not self._in_diff(c, diff):
                self.rejected_reviews.append(c)
                return error(422, "Unprocessable Entity", errors=[
                    "Pull request review thread line must be part of the diff"])
        return None

    async def _create_review(self, request, owner, repo, repo_obj, n):
        pull = repo_obj.pulls.get(int(n))
        if pull is not None:
            problem = self._review_problem(repo_obj, pull, await request.json())
            if problem is not None:
                return problem
        return await super()._create_review(request, owner, repo, repo_obj, n)
