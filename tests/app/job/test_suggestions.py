"""Fix suggestions in the app: ```suggestion review comments only on lines of the diff
(the stand-in answers 422 otherwise, like GitHub), diffs in the check run otherwise, and
the incident's suggestion, once applied, turns the check green."""

from __future__ import annotations

import random

from reviewbot.app.demo.github import INCIDENT_PR, INCIDENT_REPO, unified_patch
from reviewbot.app.job.suggestions import commentable_lines, hunks, place, placeable
from reviewbot.demo import INIT_FIX, incident_files
from reviewbot.fixes import Fix, suggest_all
from reviewbot.model import Finding
from tests.app.conftest import pr_event
from tests.test_fixes import apply_regions

INIT = "backend/src/goals_common/__init__.py"
AUTH = "backend/handlers/auth/main.py"

PATCH = "\n".join([
    "@@ -1,4 +1,5 @@",
    " import json",
    "-import os",
    "+import sys",
    "+import re",
    " ",  # an empty context line
    " x = 1",
    "@@ -20,3 +21,4 @@ def f():",
    "     a = 1",
    "+    b = 2",
    "     return a",
    "\\ No newline at end of file",
])


def test_commentable_lines_are_the_right_side_of_each_hunk():
    assert hunks(PATCH) == [{1, 2, 3, 4, 5}, {21, 22, 23}]
    assert commentable_lines(PATCH) == {1, 2, 3, 4, 5, 21, 22, 23}
    assert commentable_lines(None) == set()  # binary or too large: GitHub sends no patch
    assert commentable_lines("") == set()
    assert commentable_lines("@@ -1,2 +0,0 @@\n-a\n-b") == set()  # a deleted file


def test_commentable_lines_match_githubs_diff_view():
    """Against the stand-in's own reckoning (difflib's grouped opcodes, not the patch)."""
    rnd = random.Random(8)
    for _ in range(200):
        old = [f"line {rnd.randrange(30)}" for _ in range(rnd.randrange(0, 40))]
        new = list(old)
        for _ in range(rnd.randrange(1, 6)):
            op = rnd.choice("aid")
            k = rnd.randrange(len(new) + 1)
            if op == "a":
                new.insert(k, f"new {rnd.randrange(99)}")
            elif new and k < len(new):
                if op == "d":
                    del new[k]
                else:
                    new[k] = f"changed {rnd.randrange(99)}"
        a, b = "\n".join(old) + "\n", "\n".join(new) + "\n"
        if a == b:
            continue
        import difflib

        groups = difflib.SequenceMatcher(None, old, new, autojunk=False).get_grouped_opcodes(3)
        expected = [set(range(g[0][3] + 1, g[-1][4] + 1)) for g in groups]
        assert hunks(unified_patch(a.encode(), b.encode())) == [h for h in expected if h]


def test_placeable_needs_every_region_inside_one_hunk():
    old = "".join(f"l{i}\n" for i in range(1, 31))
    fix = Fix("f.py", old, old.replace("l2\n", "L2\n").replace("l25\n", "L25\n"), "")
    near = "@@ -1,5 +1,5 @@\n l1\n-l2\n+l2!\n l3\n l4\n l5"
    both = near + "\n@@ -22,5 +22,5 @@\n l22\n l23\n l24\n-l25\n+l25!\n l26"
    assert not placeable(fix, near)  # line 25 is outside the diff
    assert placeable(fix, both)
    assert not placeable(fix, None)


def test_no_suggestion_outside_the_diff_for_any_layout():
    """Whatever the layout of `__init__.py` and whatever the PR changed, every review
    comment `place` produces lies inside one hunk of the PR's diff."""
    rnd = random.Random(88)
    names = ["A", "B", "C", "D"]
    for _ in range(100):
        filler = [f"X{k} = {k}" for k in range(rnd.randrange(0, 15))]
        base_init = "\n".join(["from .errors import A, B", *filler,
                               "__all__ = ['A', 'B']", ""])
        head_init = base_init
        if rnd.random() < 0.5:  # the PR touches the import line, or not
            head_init = head_init.replace("import A, B", f"import A, B, {rnd.choice('CD')}")
        if rnd.random() < 0.5:
            head_init = head_init + "# touched\n"
        missing = rnd.choice([n for n in names if n not in head_init.split("\n")[0]] or ["Z"])
        errors = "".join(f"class {n}(Exception): pass\n" for n in [*names, "Z"])
        consumer = f"from pkg import {missing}\n"
        files = {"pkg/__init__.py": head_init, "pkg/errors.py": errors, "h/main.py": consumer}
        finding = Finding("h", "h/main.py", 1, "missing-name",
                          f"cannot import name '{missing}' from 'pkg' (pkg/__init__.py)")
        [s] = suggest_all([finding], files.get, files)
        base_files = {"pkg/__init__.py": base_init, "pkg/errors.py": errors,
                      "h/main.py": "import json\n"}
        patches = {p: unified_patch(base_files[p].encode(), files[p].encode())
                   for p in files if base_files[p] != files[p]}
        placement = place([s], patches)
        for c in placement.comments:
            start = c.get("start_line", c["line"])
            assert any(set(range(start, c["line"] + 1)) <= h for h in hunks(patches[c["path"]]))
        placed = {c["path"] for c in placement.comments}
        if s.export is not None and "pkg/__init__.py" not in placed:
            assert "```diff" in placement.check_text and "pkg/__init__.py" in placement.check_text


async def test_standin_rejects_a_review_comment_outside_the_diff(server, incident):
    gh = server.gh
    client = server.runner.client(1234)
    pr = incident["pr"]
    import pytest
    from gidgethub import BadRequest

    with pytest.raises(BadRequest) as err:  # line 1 of errors.py is not in the diff
        await client.post(f"/repos/{INCIDENT_REPO}/pulls/{INCIDENT_PR}/reviews", data={
            "commit_id": pr, "event": "COMMENT", "body": "x",
            "comments": [{"path": "backend/src/goals_common/errors.py", "line": 1,
                          "side": "RIGHT", "body": "no"}]})
    assert err.value.status_code == 422
    assert gh.rejected_reviews and gh.reviews(INCIDENT_REPO, INCIDENT_PR) == []
    gh.rejected_reviews.clear()


async def test_incident_suggestion_is_a_review_and_applying_it_passes(server, incident):
    gh = server.gh
    await server.send("pull_request", pr_event(gh, "opened"))
    assert gh.rejected_reviews == []
    [review] = gh.reviews(INCIDENT_REPO, INCIDENT_PR)
    assert review["commit_id"] == incident["pr"] and review["state"] == "COMMENTED"
    comments = review["comments"]
    assert {(c["path"], c["line"], c["side"]) for c in comments} == {
        (INIT, 3, "RIGHT"), (INIT, 5, "RIGHT"), (AUTH, 3, "RIGHT")}
    assert all("```suggestion\n" in c["body"] for c in comments)

    # "Commit suggestion" on the __init__.py comments, as GitHub does it.
    head = gh.repos[INCIDENT_REPO].commits[incident["pr"]].files
    regions = []
    for c in comments:
        if c["path"] == INIT:
            block = c["body"].split("```suggestion\n")[1].split("```")[0]
            regions.append((c.get("start_line", c["line"]), c["line"],
                            block.splitlines()))
    fixed = apply_regions(head[INIT].decode(), regions)
    assert fixed == INIT_FIX  # byte for byte: only the name is added
    applied = gh.commit(INCIDENT_REPO, {**incident_files("pr"), INIT: fixed},
                        parents=[incident["pr"]], message="Apply suggestions from code review")
    gh.push(INCIDENT_REPO, INCIDENT_PR, applied)
    await server.send("pull_request", pr_event(gh, "synchronize", before=incident["pr"]))
    [run] = [r for r in gh.runs(INCIDENT_REPO, applied) if r["name"] == "reviewbot / import check"]
    assert run["conclusion"] == "success"
    assert len(gh.reviews(INCIDENT_REPO, INCIDENT_PR)) == 1  # nothing new to suggest

    # A re-run of the failing head does not post the same review twice.
    await server.send("pull_request", pr_event(gh, "reopened"))
    assert len(gh.reviews(INCIDENT_REPO, INCIDENT_PR)) == 1


async def test_fix_outside_the_diff_goes_to_the_check_run(server, standin):
    """The PR only adds the consumer import: `__init__.py` is not in the diff, so its fix
    is a diff in the check run's text; the consumer's alternative is a suggestion."""
    gh = standin
    repo = "acme/outside"
    gh.create_repo(repo)
    base_files = incident_files("base")
    base_files["backend/src/goals_common/errors.py"] = incident_files("pr")[
        "backend/src/goals_common/errors.py"]
    base = gh.commit(repo, base_files, branch="main")
    head = gh.commit(repo, {**base_files, AUTH: incident_files("pr")[AUTH]}, parents=[base])
    gh.open_pull(repo, 3, head)
    await server.send("pull_request", pr_event(gh, "opened", repo=repo, number=3))
    assert gh.rejected_reviews == []
    [review] = gh.reviews(repo, 3)
    assert [(c["path"], c["line"]) for c in review["comments"]] == [(AUTH, 3)]
    [run] = gh.runs(repo, head)
    assert run["conclusion"] == "failure"
    text = run["output"]["text"]
    # the report first (error groups, then the handlers), the fixes after it
    assert text.index("broken import") < text.index("Affected handlers") \
        < text.index("## Suggested fixes") < text.index(f"+++ b/{INIT}")
    assert "+from .errors import GoalError, GoalNotFoundError, GoalValidationError" in text
