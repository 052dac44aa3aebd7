"""The signed `pull_request` webhooks `reviewbot demo --serve` sends, in GitHub's shape.

Only the fields reviewbot reads are guaranteed; the shapes follow octokit/webhooks'
payload examples. The payloads only tests send are in `tests/standin/payloads.py`.
"""

from __future__ import annotations

import json
import uuid

import aiohttp

from reviewbot.app.web.webhook import signature

SENDER = {"login": "octocat", "id": 1, "type": "User"}


def installation_ref(installation_id: int) -> dict:
    return {"id": installation_id, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="}


def pull_request(action: str, pull: dict, repo: dict, installation_id: int, *,
                 before: str | None = None, changes: dict | None = None) -> dict:
    out = {"action": action, "number": pull["number"], "pull_request": pull,
           "repository": repo, "installation": installation_ref(installation_id),
           "sender": SENDER}
    if action == "synchronize":
        out["before"] = before or "0" * 40
        out["after"] = pull["head"]["sha"]
    if changes is not None:
        out["changes"] = changes
    return out


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
