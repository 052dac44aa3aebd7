"""One sticky PR comment, found again by a hidden marker and our bot login.

Both are needed: a quoted marker in someone else's comment cannot hijack it. The comment
is created only when there is something to say, updated in place, left alone when
unchanged, deduplicated (keep the oldest) if a race made two, trimmed below 65,536
characters (GitHub's limit for a comment body), and never written for a head the PR has
moved past.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable

from reviewbot.render import COMMENT_MARKER

log = logging.getLogger("reviewbot.comment")

MAX_BODY = 65_536
SAFE_BODY = 65_000
MAX_PAGES = 30
_HEAD_MARK = re.compile(r"\n?<!-- reviewbot:head=([0-9a-f]{7,64}) -->\n?")

_locks: dict[tuple[str, int], asyncio.Lock] = {}


def head_marker(sha: str) -> str:
    return f"<!-- reviewbot:head={sha} -->"


def strip_head(body: str) -> str:
    return _HEAD_MARK.sub("\n", body).rstrip("\n")


def compose(body: str, head_sha: str, details_url: str | None = None) -> str:
    """The body with the head marker, kept below GitHub's limit."""
    tail = "\n" + head_marker(head_sha) + "\n"
    limit = SAFE_BODY - len(tail)
    if len(body) > limit:
        more = f"[the check run]({details_url})" if details_url else "the check run"
        note = f"\n\n… trimmed: the full report is in {more}.\n"
        body = body[: limit - len(note)].rsplit("\n", 1)[0] + note
    if COMMENT_MARKER not in body:
        body = COMMENT_MARKER + "\n" + body
    out = body.rstrip("\n") + tail
    assert len(out) < MAX_BODY
    return out


def is_ours(comment: dict, bot_login: str) -> bool:
    user = comment.get("user") or {}
    return (COMMENT_MARKER in (comment.get("body") or "")
            and user.get("login") == bot_login and user.get("type") == "Bot")


def lock(repo: str, pr: int) -> asyncio.Lock:
    """The lock every writer of a PR's sticky comment holds (in this process)."""
    return _locks.setdefault((repo, pr), asyncio.Lock())


async def upsert(gh, repo: str, pr: int, body: str, *, bot_login: str, head_sha: str,
                 create: bool, still_head: Callable[[], Awaitable[bool]],
                 details_url: str | None = None,
                 carry: Callable[[str | None, str], str] | None = None) -> str:
    """Create, update or leave the sticky comment. Returns what was done. `carry(existing
    body or None, new body)` may carry state (the checklist's ticks) into the new body."""
    async with lock(repo, pr):
        ours = []
        seen = 0
        url = f"/repos/{repo}/issues/{pr}/comments?per_page=100"
        async for c in gh.getiter(url):
            seen += 1
            if is_ours(c, bot_login):
                ours.append(c)
            if seen >= MAX_PAGES * 100:
                break
        ours.sort(key=lambda c: c["id"])
        for extra in ours[1:]:  # a race made several: keep the oldest
            await gh.delete(f"/repos/{repo}/issues/comments/{extra['id']}")
            log.info("sticky comment duplicate deleted", extra={
                "repo": repo, "pr": pr, "comment": extra["id"]})
        existing = ours[0] if ours else None
        if existing is None and not create:
            return "silent"
        if carry is not None:
            body = carry(existing.get("body") if existing is not None else None, body)
        new_body = compose(body, head_sha, details_url)
        if existing is not None and strip_head(existing.get("body") or "") == strip_head(new_body):
            return "unchanged"
        if not await still_head():
            log.info("sticky comment skipped: PR head moved on", extra={
                "repo": repo, "pr": pr, "head_sha": head_sha})
            return "stale"
        if existing is None:
            await gh.post(f"/repos/{repo}/issues/{pr}/comments", data={"body": new_body})
            return "created"
        await gh.patch(f"/repos/{repo}/issues/comments/{existing['id']}",
                       data={"body": new_body})
        return "updated"
