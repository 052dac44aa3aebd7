"""Webhook payloads for the tests: the package's `pull_request` and `send` (the demo's),
and the events only tests send (check runs, check suites, merge groups, issue comments).

Only the fields reviewbot reads are guaranteed; the shapes follow octokit/webhooks'
payload examples (the tests also replay those real payloads when available).
"""

from __future__ import annotations

from reviewbot.app.demo.payloads import SENDER, installation_ref, pull_request, send

__all__ = ["SENDER", "check_run", "check_suite", "issue_comment", "merge_group",
           "pull_request", "send"]


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
           "installation": installation_ref(installation_id), "sender": SENDER}
    if identifier is not None:
        out["requested_action"] = {"identifier": identifier}
    return out


def check_suite(action: str, head_sha: str, repo: dict, installation_id: int, app_id: int, *,
                pulls: list[dict] = ()) -> dict:
    return {"action": action, "repository": repo, "sender": SENDER,
            "installation": installation_ref(installation_id),
            "check_suite": {"id": 5, "head_branch": None, "head_sha": head_sha,
                            "status": "queued", "conclusion": None,
                            "app": {"id": app_id, "slug": "reviewbot"},
                            "pull_requests": [_pr_ref(p) for p in pulls]}}


def merge_group(head_sha: str, base_sha: str, base_ref: str, repo: dict,
                installation_id: int) -> dict:
    return {"action": "checks_requested", "repository": repo, "sender": SENDER,
            "installation": installation_ref(installation_id),
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
            "installation": installation_ref(installation_id),
            "comment": {"id": 1, "body": body, "user": user,
                        "author_association": "MEMBER"}}
