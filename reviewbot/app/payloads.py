"""Webhook payloads of GitHub's shape and a signed sender, for the demo and the tests.

Only the fields reviewbot reads are guaranteed; the shapes follow octokit/webhooks'
payload examples (the tests also replay those real payloads when available).
"""

from __future__ import annotations

import json
import uuid

import aiohttp

from reviewbot.app.webhook import signature

SENDER = {"login": "octocat", "id": 1, "type": "User"}


def _installation(installation_id: int) -> dict:
    return {"id": installation_id, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="}


def pull_request(action: str, pull: dict, repo: dict, installation_id: int, *,
                 before: str | None = None, changes: dict | None = None) -> dict:
    out = {"action": action, "number": pull["number"], "pull_request": pull,
           "repository": repo, "installation": _installation(installation_id),
           "sender": SENDER}
    if action == "synchronize":
        out["before"] = before or "0" * 40
        out["after"] = pull["head"]["sha"]
    if changes is not None:
        out["changes"] = changes
    return out


def _pr_ref(pull: dict) -> dict:
    return {"url": pull.get("url", ""), "id": pull.get("id", 1), "number": pull["number"],
            "head": {"ref": pull["head"]["ref"], "sha": pull["head"]["sha"],
                     "repo": {"id": 1, "url": pull["head"]["repo"]["url"], "name": "x"}},
            "base": {"ref": pull["base"]["ref"], "sha": pull["base"]["sha"],
                     "repo": {"id": 1, "url": pull["base"]["repo"]["url"], "name": "x"}}}


def check_run(action: str, run: dict, repo: dict, installation_id: int, *,
              pulls: list[dict] = (), identifier: str | None = None) -> dict:
    run = {**run, "pull_requests": [_pr_ref(p) for p in pulls]}
    out = {"action": action, "check_run": run, "repository": repo,
           "installation": _installation(installation_id), "sender": SENDER}
    if identifier is not None:
        out["requested_action"] = {"identifier": identifier}
    return out


def check_suite(action: str, head_sha: str, repo: dict, installation_id: int, app_id: int, *,
                pulls: list[dict] = ()) -> dict:
    return {"action": action, "repository": repo, "sender": SENDER,
            "installation": _installation(installation_id),
            "check_suite": {"id": 5, "head_branch": None, "head_sha": head_sha,
                            "status": "queued", "conclusion": None,
                            "app": {"id": app_id, "slug": "reviewbot"},
                            "pull_requests": [_pr_ref(p) for p in pulls]}}


def merge_group(head_sha: str, base_sha: str, base_ref: str, repo: dict,
                installation_id: int) -> dict:
    return {"action": "checks_requested", "repository": repo, "sender": SENDER,
            "installation": _installation(installation_id),
            "merge_group": {"head_sha": head_sha, "head_ref": f"refs/heads/gh-readonly-queue/"
                            f"{base_ref}/pr-7-{base_sha[:12]}", "base_sha": base_sha,
                            "base_ref": f"refs/heads/{base_ref}",
                            "head_commit": {"id": head_sha, "message": "Merge pull request"}}}


def issue_comment(number: int, body: str, repo: dict, installation_id: int, *,
                  user: dict | None = None, pull: bool = True, action: str = "created",
                  state: str = "open") -> dict:
    """`issue_comment.<action>` on PR `number` (on a plain issue when `pull` is false)."""
    user = user or SENDER
    issue = {"number": number, "state": state, "title": "A change", "user": SENDER,
             "url": f"{repo.get('url', '')}/issues/{number}"}
    if pull:
        issue["pull_request"] = {"url": f"{repo.get('url', '')}/pulls/{number}"}
    return {"action": action, "issue": issue, "repository": repo, "sender": user,
            "installation": _installation(installation_id),
            "comment": {"id": 1, "body": body, "user": user,
                        "author_association": "MEMBER"}}


async def send(session: aiohttp.ClientSession, url: str, event: str, payload: dict,
               secret: bytes, *, delivery: str | None = None) -> tuple[int, dict]:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": event,
               "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
               "X-GitHub-Hook-ID": "109948940", "User-Agent": "GitHub-Hookshot/demo",
               "X-Hub-Signature-256": signature(secret, body)}
    async with session.post(url, data=body, headers=headers) as resp:
        try:
            data = await resp.json()
        except (aiohttp.ContentTypeError, ValueError):
            data = {}
        return resp.status, data
