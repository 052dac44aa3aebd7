"""Fix suggestions on the pull request, where GitHub accepts them.

A fix is posted as ```suggestion blocks in one pull request review (event COMMENT, on the
head SHA) only when every line it replaces lies inside one diff hunk of that file, as
computed from the `patch` of `GET /pulls/{n}/files`: GitHub rejects any other line with
422. Anything else goes into the check run's text as a unified diff. A review is posted
once per head SHA and set of fixes (a hidden marker in its body says which).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field

from reviewbot.fixes import Fix, Suggestion

log = logging.getLogger("reviewbot.suggestions")

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")
MAX_PAGES = 30


def hunks(patch: str | None) -> list[set[int]]:
    """The RIGHT-side (new file) line numbers of each hunk of a `patch`: added and context
    lines; deleted lines have no RIGHT-side number."""
    out: list[set[int]] = []
    line = 0
    current: set[int] | None = None
    for raw in (patch or "").split("\n"):
        m = _HUNK.match(raw)
        if m:
            line = int(m.group(1))
            current = set()
            out.append(current)
            continue
        if current is None or raw.startswith("\\"):  # "\ No newline at end of file"
            continue
        if raw.startswith(("+", " ")):  # an empty string is the split's tail, not a line
            current.add(line)
            line += 1
    return [h for h in out if h]


def commentable_lines(patch: str | None) -> set[int]:
    """Every RIGHT-side line a review comment may be placed on."""
    return set().union(*hunks(patch)) if patch else set()


def placeable(fix: Fix, patch: str | None) -> bool:
    """Every region of the fix replaces lines that lie in one hunk of the file's patch."""
    regions = fix.regions()
    if not regions:
        return False
    parts = hunks(patch)
    return all(any(set(range(start, end + 1)) <= h for h in parts)
               for start, end, _ in regions)


def review_comments(fix: Fix, note: str) -> list[dict]:
    out = []
    for start, end, lines in fix.regions():
        body = f"{note}\n\n```suggestion\n" + "".join(f"{ln}\n" for ln in lines) + "```"
        comment = {"path": fix.path, "line": end, "side": "RIGHT", "body": body}
        if start != end:
            comment.update(start_line=start, start_side="RIGHT")
        out.append(comment)
    return out


@dataclass
class Placement:
    comments: list[dict] = field(default_factory=list)
    text: list[str] = field(default_factory=list)  # Markdown for the check run

    @property
    def check_text(self) -> str:
        if not self.text:
            return ""
        return "\n".join(["## Suggested fixes", "", *self.text]).rstrip() + "\n"


def place(suggestions: list[Suggestion], patches: dict[str, str | None] | None) -> Placement:
    """Which fixes become review comments and which go into the check run's text.
    `patches` is None when there is no pull request (everything goes to the text)."""
    out = Placement()
    for s in suggestions:
        head = (f"`{s.finding.path}:{s.finding.line}` imports `{s.name}` from "
                f"`{s.package}`, which does not export it; `{s.package}.{s.submodule}` "
                f"defines it.")
        for fix, note in ((s.export, f"**reviewbot**: {head} Export it:"),
                          (s.alternative, "**reviewbot**: or, instead of the export above, "
                                          f"import it from its module (`{s.package}."
                                          f"{s.submodule}`):")):
            if fix is None:
                continue
            if patches is not None and fix.path in patches and placeable(fix,
                                                                        patches[fix.path]):
                out.comments.extend(review_comments(fix, note))
            else:
                out.text += [f"{note.removeprefix('**reviewbot**: ')}", "",
                             "```diff", fix.diff().rstrip("\n"), "```", ""]
    return out


def marker(head_sha: str, comments: list[dict]) -> str:
    digest = hashlib.sha1(repr([(c["path"], c["line"], c["body"]) for c in comments])
                          .encode()).hexdigest()[:12]
    return f"<!-- reviewbot:suggestions head={head_sha} fixes={digest} -->"


async def pull_patches(gh, repo: str, pr: int) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    seen = 0
    async for f in gh.getiter(f"/repos/{repo}/pulls/{pr}/files?per_page=100"):
        out[f["filename"]] = f.get("patch")
        seen += 1
        if seen >= MAX_PAGES * 100:
            break
    return out


async def post_review(gh, repo: str, pr: int, head_sha: str, comments: list[dict], *,
                      bot_login: str) -> str:
    """One COMMENT review holding the suggestions, unless we already posted the same."""
    if not comments:
        return "none"
    mark = marker(head_sha, comments)
    async for r in gh.getiter(f"/repos/{repo}/pulls/{pr}/reviews?per_page=100"):
        if (r.get("user") or {}).get("login") == bot_login and mark in (r.get("body") or ""):
            return "exists"
    n = len(comments)
    body = (f"reviewbot has {n} suggested change{'s' * (n != 1)} for the failing import "
            f"check: apply them with **Commit suggestion** (or add them to a batch).\n\n{mark}")
    await gh.post(f"/repos/{repo}/pulls/{pr}/reviews",
                  data={"commit_id": head_sha, "event": "COMMENT", "body": body,
                        "comments": comments})
    return "posted"
