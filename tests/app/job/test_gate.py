"""The reviewer checklist gate, CODEOWNERS in the comment and review requests, end to end:
signed `issue_comment.edited` webhooks -> server -> runner -> the GitHub stand-in."""

from __future__ import annotations

import copy
import json

import pytest

from reviewbot import checklist
from reviewbot.app.job import reviewer
from reviewbot.config import load_config
from reviewbot.demo import CONFIG, incident_files
from tests.app.conftest import INSTALLATION, pr_event, real_payload

REPO = "acme/gated"
PR = 11
AUTHOR = "octocat"
GATE = "reviewbot / reviewer checklist"
CODEOWNERS = """\
* @platform-lead
/backend/handlers/auth/ @alice @acme/identity @octocat
/backend/handlers/list_goals/ bob@example.com
"""


def seed(gh, *, extra_config: str = "checklist_required: true\nrequest_owner_reviews: true\n"):
    gh.create_repo(REPO)
    base_files = {**incident_files("base"), ".github/CODEOWNERS": CODEOWNERS,
                  ".github/reviewbot.yml": CONFIG + extra_config}
    base = gh.commit(REPO, base_files, branch="main")
    pr = gh.commit(REPO, {**base_files, **{k: v for k, v in incident_files("pr").items()
                                            if k != ".github/reviewbot.yml"}}, parents=[base])
    fix = gh.commit(REPO, {**base_files, **{k: v for k, v in incident_files("fix").items()
                                             if k != ".github/reviewbot.yml"}}, parents=[pr])
    gh.open_pull(REPO, PR, pr, user=AUTHOR)
    return {"base": base, "pr": pr, "fix": fix}


def sticky(gh) -> dict:
    [c] = gh.comments(REPO, PR)
    return c


def gate_run(gh, sha: str) -> dict:
    [run] = [r for r in gh.runs(REPO, sha) if r["name"] == GATE]
    return run


def edited_event(gh, comment: dict, before: str, sender: str, *, sender_type="User") -> dict:
    real = real_payload("issue_comment.edited")
    if real is None:
        pytest.skip("../shared/fixtures/webhooks/issue_comment.edited.json is not available")
    out = copy.deepcopy(real)
    repo = gh.repos[REPO]
    out["repository"] = gh.repo_json(repo)
    out["installation"] = {"id": INSTALLATION}
    out["issue"].update(number=PR, state="open", user={"login": AUTHOR, "type": "User"},
                        pull_request={"url": f"{gh.base_url}/repos/{REPO}/pulls/{PR}"})
    out["comment"] = {**out["comment"], **{k: v for k, v in comment.items()
                                           if not k.startswith("_")}}
    out["changes"] = {"body": {"from": before}}
    out["sender"] = {**out["sender"], "login": sender, "type": sender_type}
    return out


async def edit(server, sender: str, change) -> dict:
    """`sender` edits the sticky comment in the web UI with `change(body) -> body`, and
    GitHub sends the event."""
    gh = server.gh
    c = sticky(gh)
    comment, before = gh.edit_comment(REPO, c["id"], change(c["body"]), login=sender)
    status, data = await server.send("issue_comment", edited_event(gh, comment, before, sender))
    assert status == 202, data
    return data


def tick(*indexes: int, checked: bool = True):
    def change(body: str) -> str:
        ids = list(checklist.boxes(body))
        return checklist.set_boxes(body, {ids[i]: checked for i in indexes})
    return change


async def test_gate_blocks_until_a_reviewer_ticks_every_box(server):
    gh = server.gh
    commits = seed(gh)
    await server.send("pull_request", pr_event(gh, "opened", repo=REPO, number=PR))
    body = sticky(gh)["body"]
    n = len(checklist.boxes(body))
    assert n == 3 and "- [ ] " in body and "<!-- item:" in body
    # what reviewbot verifies itself is a line of its own, not a box: here it fails
    assert checklist.verified(body) == {"import-check": False}
    assert "- ☐ Every import of the affected handlers resolves" in body
    run = gate_run(gh, commits["pr"])
    assert (run["status"], run["conclusion"]) == ("completed", "failure")
    assert run["output"]["title"].startswith(f"0 of {n + 1} checklist items done")

    # The author ticks everything: it does not count.
    assert (await edit(server, AUTHOR, tick(*range(n))))["outcome"] == "queued"
    run = gate_run(gh, commits["pr"])
    assert run["conclusion"] == "failure"
    assert "@octocat (the author)" in run["output"]["summary"]
    assert all(checklist.boxes(sticky(gh)["body"]).values())  # the boxes stay ticked

    # A reviewer unticks and re-ticks all but the last: still blocked.
    await edit(server, "alice", tick(*range(n - 1), checked=False))
    await edit(server, "alice", tick(*range(n - 1)))
    run = gate_run(gh, commits["pr"])
    assert run["conclusion"] == "failure"
    assert run["output"]["title"].startswith(f"{n - 1} of {n + 1}")
    # ... then the last one (through a second reviewer): every box ticked, but the import
    # is still broken, so the gate still fails
    await edit(server, "bob", tick(n - 1, checked=False))
    await edit(server, "bob", tick(n - 1))
    run = gate_run(gh, commits["pr"])
    assert run["conclusion"] == "failure", run["output"]
    assert run["output"]["title"].startswith(f"{n} of {n + 1}")
    summary = run["output"]["summary"]
    assert "@alice" in summary and "@bob" in summary and "✅ yes" in summary
    assert "❌ not verified | reviewbot |" in summary
    assert len([r for r in gh.runs(REPO, commits["pr"]) if r["name"] == GATE]) == 1

    # A push with the fix: the items did not change, so the ticks persist on the new head,
    # and reviewbot now verifies the imports itself: unblocked.
    gh.push(REPO, PR, commits["fix"])
    await server.send("pull_request", pr_event(gh, "synchronize", repo=REPO, number=PR,
                                               before=commits["pr"]))
    [check] = [r for r in gh.runs(REPO, commits["fix"]) if r["name"] != GATE]
    assert check["conclusion"] == "success"
    body = sticky(gh)["body"]
    assert all(checklist.boxes(body).values())
    assert checklist.verified(body) == {"import-check": True}
    assert "- ☑ Every import of the affected handlers resolves" in body
    run = gate_run(gh, commits["fix"])
    assert run["conclusion"] == "success", run["output"]
    assert "✅ verified | reviewbot |" in run["output"]["summary"]
    assert "⚠️" not in run["output"]["summary"].split("**Latest changes**")[0]

    # The author unticks one: blocked again.
    await edit(server, AUTHOR, tick(0, checked=False))
    assert gate_run(gh, commits["fix"])["conclusion"] == "failure"
    await edit(server, "alice", tick(0))
    assert gate_run(gh, commits["fix"])["conclusion"] == "success"


async def test_edits_outside_the_boxes_are_undone_and_ticks_kept(server):
    gh = server.gh
    commits = seed(gh)
    await server.send("pull_request", pr_event(gh, "opened", repo=REPO, number=PR))
    original = sticky(gh)["body"]

    # A reviewer ticks a box and, in the same edit, rewrites the bot's verdict.
    def tamper(body: str) -> str:
        return tick(0)(body).replace("this change would fail at cold start", "all good")
    await edit(server, "alice", tamper)
    body = sticky(gh)["body"]
    assert "this change would fail at cold start" in body and "all good" not in body
    assert next(iter(checklist.boxes(body).values())) is True  # the tick is kept
    assert checklist.skeleton(body) == checklist.skeleton(original)
    summary = gate_run(gh, commits["pr"])["output"]["summary"]
    assert "✅ yes | @alice" in summary

    # The author forges the hidden record to claim reviewers ticked the rest.
    def forge(body: str) -> str:
        ids = list(checklist.boxes(body))
        m = checklist.BLOCK.search(body)
        data = json.loads(m["json"])
        data["items"] = {i: [True, "alice", False] for i in ids}
        forged = body.replace(m["json"], json.dumps(data, separators=(",", ":")))
        return checklist.set_boxes(forged, {i: True for i in ids})
    await edit(server, AUTHOR, forge)
    body = sticky(gh)["body"]
    run = gate_run(gh, commits["pr"])
    assert run["conclusion"] == "failure"  # the author's ticks count for nothing
    assert "@octocat (the author)" in run["output"]["summary"]
    state = checklist.read_state(body, reviewer.ticks_key(server.settings), f"{REPO}#{PR}")
    assert state is not None and state.items[list(checklist.boxes(body))[1]].author is True


async def test_bot_edits_and_foreign_comments_do_not_count(server):
    gh = server.gh
    commits = seed(gh)
    await server.send("pull_request", pr_event(gh, "opened", repo=REPO, number=PR))
    c = sticky(gh)
    before = c["body"]
    ticked = tick(0, 1, 2)(before)
    # Our own PATCH comes back as an edited event sent by the bot: ignored.
    comment, _ = gh.edit_comment(REPO, c["id"], ticked, login=gh.bot_login)
    status, data = await server.send("issue_comment", edited_event(
        gh, comment, before, gh.bot_login, sender_type="Bot"))
    assert (status, data["outcome"]) == (202, "ignored")
    # Someone's own comment that quotes our marker: not ours, ignored.
    mine = gh.add_comment(REPO, PR, before, login="mallory")
    event = edited_event(gh, {k: v for k, v in mine.items() if not k.startswith("_")},
                         before, "alice")
    event["comment"]["body"] = ticked
    status, data = await server.send("issue_comment", event)
    assert data["outcome"] == "ignored"
    assert gate_run(gh, commits["pr"])["conclusion"] == "failure"


async def test_owners_are_named_and_asked_to_review(server):
    gh = server.gh
    seed(gh)
    await server.send("pull_request", pr_event(gh, "opened", repo=REPO, number=PR))
    body = sticky(gh)["body"]
    table = body.split("**Affected handlers**")[1].split("**Import check**")[0]
    assert "| Owners |" in table
    assert "@alice, @acme/identity, @octocat |" in table  # auth: the last matching rule
    assert "| list\\_goals |" in table and "bob@example.com |" in table
    assert "@platform-lead |" in table  # create_goal: the catch-all
    # Requested: users and teams, never the author, never an e-mail.
    assert gh.repos[REPO].review_requests[PR] == {"users": ["alice", "platform-lead"],
                                                  "teams": ["identity"]}
    # A re-run does not ask again.
    await server.send("pull_request", pr_event(gh, "reopened", repo=REPO, number=PR))
    assert len(gh.calls("POST", "/requested_reviewers")) == 1


async def test_gate_and_owner_requests_are_opt_in(server):
    gh = server.gh
    commits = seed(gh, extra_config="")
    await server.send("pull_request", pr_event(gh, "opened", repo=REPO, number=PR))
    assert [r["name"] for r in gh.runs(REPO, commits["pr"])] == ["reviewbot / import check"]
    assert gh.calls("POST", "/requested_reviewers") == []
    assert "reviewbot:ticks" not in sticky(gh)["body"]
    await edit(server, "alice", tick(0))  # recorded nowhere: no gate
    assert [r["name"] for r in gh.runs(REPO, commits["pr"])] == ["reviewbot / import check"]


async def test_a_deleted_comment_is_posted_again_and_never_passes_the_gate(server):
    gh = server.gh
    commits = seed(gh)
    await server.send("pull_request", pr_event(gh, "opened", repo=REPO, number=PR))
    n = len(checklist.boxes(sticky(gh)["body"]))
    await edit(server, "alice", tick(*range(n)))
    assert gate_run(gh, commits["pr"])["conclusion"] == "failure"  # the import is broken
    gh.push(REPO, PR, commits["fix"])
    await server.send("pull_request", pr_event(gh, "synchronize", repo=REPO, number=PR,
                                               before=commits["pr"]))
    commits = {**commits, "pr": commits["fix"]}
    assert gate_run(gh, commits["pr"])["conclusion"] == "success"

    # Someone with admin rights deletes reviewbot's comment; GitHub says so.
    c = sticky(gh)
    gh.repos[REPO].comments.remove(next(x for x in gh.repos[REPO].comments
                                        if x["id"] == c["id"]))
    event = edited_event(gh, c, c["body"], "mallory")
    event.pop("changes")
    status, data = await server.send("issue_comment", {**event, "action": "deleted"})
    assert (status, data["outcome"]) == (202, "queued")
    again = sticky(gh)
    assert again["id"] != c["id"] and not any(checklist.boxes(again["body"]).values())
    run = gate_run(gh, commits["pr"])
    assert run["conclusion"] == "failure"
    assert run["output"]["title"].startswith(f"1 of {n + 1}")  # only the verified line

    # A deleted comment that is not reviewbot's changes nothing.
    mine = gh.add_comment(REPO, PR, "lgtm", login="bob")
    event = edited_event(gh, {k: v for k, v in mine.items() if not k.startswith("_")},
                         "lgtm", "bob")
    event.pop("changes")
    status, data = await server.send("issue_comment", {**event, "action": "deleted"})
    assert data["outcome"] == "ignored"


async def test_the_gate_fails_when_the_comment_it_expects_is_gone(server):
    gh = server.gh
    commits = seed(gh)
    await server.send("pull_request", pr_event(gh, "opened", repo=REPO, number=PR))
    gh.repos[REPO].comments.clear()
    bot = await server.runner._bot()
    config = load_config(CONFIG + "checklist_required: true\n")
    for expected, conclusion in ((True, "failure"), (False, "success")):
        got = await reviewer.update_gate(server.runner.client(INSTALLATION), REPO, PR,
                                         commits["pr"], config, AUTHOR, bot,
                                         expected=expected)
        assert got == conclusion == gate_run(gh, commits["pr"])["conclusion"]
