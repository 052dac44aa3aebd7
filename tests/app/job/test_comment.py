"""The sticky comment algorithm (reviewbot/app/job/comment.py)."""

from __future__ import annotations

import time

import aiohttp
import pytest_asyncio

from reviewbot.app.github.client import GitHubClient
from reviewbot.app.job import comment
from reviewbot.render import COMMENT_MARKER
from tests.app.conftest import FAST

BODY = COMMENT_MARKER + "\n### reviewbot: 1 import error\n"


@pytest_asyncio.fixture
async def env(standin):
    token = "ghs_" + "m" * 50
    standin.tokens[token] = (1, time.time() + 3600)
    standin.create_repo("o/r")
    sha = standin.commit("o/r", {"a.py": ""}, branch="main")
    standin.open_pull("o/r", 7, sha)
    head = {"ok": True}

    async def still_head():
        return head["ok"]

    async with aiohttp.ClientSession() as session:
        gh = GitHubClient(session, base_url=standin.base_url, policy=FAST, oauth_token=token)

        async def upsert(body=BODY, create=True, sha=sha, **kw):
            return await comment.upsert(gh, "o/r", 7, body, bot_login=standin.bot_login,
                                        head_sha=sha, create=create, still_head=still_head,
                                        **kw)
        upsert.head = head
        yield upsert


async def test_create_update_unchanged(standin, env):
    assert await env(create=False) == "silent"
    assert standin.comments("o/r", 7) == []
    assert await env() == "created"
    (c,) = standin.comments("o/r", 7)
    assert c["body"].startswith(COMMENT_MARKER) and "reviewbot:head=" in c["body"]
    assert await env() == "unchanged"
    # Same report on a new head: still unchanged (the head marker alone is no news).
    assert await env(sha="e" * 40) == "unchanged"
    assert await env(BODY + "more\n", create=False) == "updated"
    (c2,) = standin.comments("o/r", 7)
    assert c2["id"] == c["id"] and c2["body"].endswith(
        f"more\n<!-- reviewbot:head={standin.repos['o/r'].pulls[7]['head']['sha']} -->\n")
    assert len(standin.calls("POST", "/comments")) == 1
    assert len(standin.calls("PATCH", "/issues/comments/")) == 1


async def test_a_quoted_marker_from_someone_else_is_not_hijacked(standin, env):
    human = standin.add_comment("o/r", 7, "> " + BODY + "why?")
    impostor = standin.add_comment("o/r", 7, BODY, login="other-bot[bot]", user_type="Bot")
    assert await env() == "created"
    bodies = {c["id"]: c["body"] for c in standin.comments("o/r", 7)}
    assert len(bodies) == 3 and bodies[human["id"]].startswith("> ")
    assert bodies[impostor["id"]] == BODY


async def test_duplicates_from_a_race_keep_the_oldest(standin, env):
    bot = standin.bot_user()
    repo = standin.repos["o/r"]
    first = standin._new_comment(repo, 7, BODY + "old", bot)
    second = standin._new_comment(repo, 7, BODY + "older race", bot)
    assert await env() == "updated"
    (kept,) = standin.comments("o/r", 7)
    assert kept["id"] == first["id"] and second["id"] != kept["id"]
    assert len(standin.calls("DELETE")) == 1


async def test_long_bodies_are_trimmed_with_a_link(standin, env):
    huge = BODY + ("- a finding line\n" * 10_000)
    assert await env(huge, details_url="https://github.example/o/r/runs/1") == "created"
    (c,) = standin.comments("o/r", 7)
    assert len(c["body"]) < 65_536
    assert "[the check run](https://github.example/o/r/runs/1)" in c["body"]
    assert COMMENT_MARKER in c["body"]


async def test_no_write_when_the_head_moved_on(standin, env):
    env.head["ok"] = False
    assert await env() == "stale"
    assert standin.comments("o/r", 7) == []


def test_compose_keeps_marker_and_limit():
    out = comment.compose("x" * 70_000, "a" * 40)
    assert len(out) < comment.MAX_BODY and out.startswith(COMMENT_MARKER)
    assert comment.strip_head(out) == comment.strip_head(comment.compose("x" * 70_000, "b" * 40))
