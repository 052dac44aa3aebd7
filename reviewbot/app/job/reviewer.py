"""Helping the reviewer finish the job (docs/reviewer-workflow.md), on top of the import check.

- Fix suggestions: built from the head tree (reviewbot.fixes), posted as ```suggestion
  review comments where GitHub accepts them, else put in the check run's text.
- Owners: the CODEOWNERS (read at the merge base, like GitHub) of each affected handler,
  named in the sticky comment and, with `request_owner_reviews`, asked to review.
- The reviewer checklist gate (`checklist_required`): a second check run that passes only
  when every box of the sticky comment is ticked by someone other than the PR's author.
  Ticks live in the comment (reviewbot.checklist); they survive pushes for every item
  whose text is unchanged. An edit of the bot's text is undone at once, ticks kept.

Nothing here may fail the import check: errors are logged and the feature skipped.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

from gidgethub import BadRequest

from reviewbot import checklist, fixes, owners
from reviewbot.app.job import comment, suggestions
from reviewbot.config import Config, ConfigError, load_config
from reviewbot.model import CONFIG_PATH, Report

log = logging.getLogger("reviewbot.reviewer")


@dataclass(frozen=True)
class Bot:
    """Who we are on GitHub: the author of our comments, the app of our check runs, and the
    key that signs our ticks."""
    login: str
    app_id: str
    ticks_key: bytes


@dataclass
class Extras:
    """What the analysis adds for the reviewer beyond the import check."""
    suggestions: list[fixes.Suggestion]
    owners: dict[str, tuple[str, ...]] | None  # handler -> owners (None: no CODEOWNERS)


def ticks_key(settings) -> bytes:
    """The key that signs the ticks block: derived from the webhook secret, which every
    process of the app has and nobody else."""
    secret = settings.webhook_secret
    secret = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(secret, b"reviewbot checklist ticks v1", hashlib.sha256).digest()


def scope(repo: str, pr: int) -> str:
    return f"{repo}#{pr}"


# -- in the analysis thread ----------------------------------------------------------------

def analyse(report: Report, base_tree, head_tree) -> Extras:
    """Suggestions for the report's errors (head tree) and owners of the affected handlers
    (CODEOWNERS at the merge base). Call from a worker thread (trees read over HTTP)."""
    found: list[fixes.Suggestion] = []
    if report.errors:
        try:
            versions = {st.handler.name: st.handler.python_version for st in report.handlers}

            def read(p: str) -> str | None:
                return head_tree.read(p).decode("utf-8", "replace") if p in head_tree else None

            for f in report.errors:
                found += fixes.suggest_all([f], read, head_tree.blobs,
                                           versions.get(f.handler, (3, 12)))
            found = fixes.merge_exports(found)
        except Exception:
            log.warning("fix suggestions failed", exc_info=True)
            found = []
    owner_map = None
    try:
        located = owners.find(base_tree)
        if located is not None:
            owner_map = owners.handler_owners(located[1], [st.handler for st in report.affected],
                                              base_tree)
    except Exception:
        log.warning("CODEOWNERS could not be read", exc_info=True)
    return Extras(found, owner_map)


# -- after the analysis --------------------------------------------------------------------

async def publish_suggestions(gh, repo: str, pr: int | None, head_sha: str,
                              found: list[fixes.Suggestion], bot_login: str) -> tuple[str, str]:
    """Post the placeable fixes as one review; returns (check run text, review outcome)."""
    if not found:
        return "", "none"
    patches = None
    if pr is not None:
        try:
            patches = await suggestions.pull_patches(gh, repo, pr)
        except BadRequest as exc:
            log.warning("pull request files unavailable", extra={"repo": repo, "pr": pr,
                                                                  "status": exc.status_code})
    placement = suggestions.place(found, patches)
    outcome = "none"
    if placement.comments and pr is not None:
        try:
            outcome = await suggestions.post_review(gh, repo, pr, head_sha, placement.comments,
                                                    bot_login=bot_login)
        except BadRequest as exc:  # GitHub refused a line after all: diffs in the run instead
            log.warning("suggestion review refused", extra={"repo": repo, "pr": pr,
                                                            "status": exc.status_code})
            placement = suggestions.place(found, None)
            outcome = "refused"
    return placement.check_text, outcome


async def request_owner_reviews(gh, repo: str, pr: int, owner_map, author: str) -> str:
    if not owner_map:
        return "none"
    wanted = [o for names in owner_map.values() for o in names]
    users, teams = owners.reviewers(wanted, author)
    if not users and not teams:
        return "none"
    asked, asked_teams = await _asked(gh, repo, pr)
    users = [u for u in users if u.lower() not in asked]
    teams = [t for t in teams if t not in asked_teams]
    if not users and not teams:
        return "already"
    try:
        await gh.post(f"/repos/{repo}/pulls/{pr}/requested_reviewers",
                      data={"reviewers": users, "team_reviewers": teams})
    except BadRequest as exc:  # e.g. an owner without access to the repository
        log.warning("review request refused", extra={"repo": repo, "pr": pr,
                                                     "status": exc.status_code})
        return "refused"
    return "requested"


async def _asked(gh, repo: str, pr: int) -> tuple[set[str], set[str]]:
    """(users, teams) already asked to review, or who reviewed: users in lower case."""
    pull = await gh.getitem(f"/repos/{repo}/pulls/{pr}")
    users = {u["login"].lower() for u in pull.get("requested_reviewers") or []}
    teams = {t.get("slug") for t in pull.get("requested_teams") or []}
    async for r in gh.getiter(f"/repos/{repo}/pulls/{pr}/reviews?per_page=100"):
        users.add(((r.get("user") or {}).get("login") or "").lower())
    return users, teams


def carrier(key: bytes, repo: str, pr: int):
    """The `carry` of comment.upsert: keep the ticks of unchanged items across updates."""
    return lambda old, new: checklist.carry(old, new, key, scope(repo, pr))


async def _our_comment(gh, repo: str, pr: int, bot_login: str) -> dict | None:
    ours = []
    async for c in gh.getiter(f"/repos/{repo}/issues/{pr}/comments?per_page=100"):
        if comment.is_ours(c, bot_login):
            ours.append(c)
    return min(ours, key=lambda c: c["id"]) if ours else None


async def publish_gate(gh, repo: str, head_sha: str, pr: int, name: str, app_id,
                       result: checklist.Gate) -> None:
    """Create or update our gate run on the head SHA."""
    output = {"title": result.title[:255], "summary": result.summary[:65_000]}
    data = {"name": name, "head_sha": head_sha, "status": "completed",
            "conclusion": result.conclusion, "output": output, "external_id": str(pr)}
    from urllib.parse import quote

    found = await gh.getitem(f"/repos/{repo}/commits/{head_sha}/check-runs"
                             f"?check_name={quote(name, safe='')}&filter=latest&per_page=100")
    for run in found.get("check_runs", []):
        if run.get("name") == name and str((run.get("app") or {}).get("id")) == str(app_id):
            await gh.patch(f"/repos/{repo}/check-runs/{run['id']}",
                           data={k: v for k, v in data.items() if k not in ("name",
                                                                            "head_sha")})
            return
    await gh.post(f"/repos/{repo}/check-runs", data=data)


async def update_gate(gh, repo: str, pr: int, head_sha: str, config: Config, author: str,
                      bot: Bot, *, expected: bool = False) -> str:
    """The gate from the sticky comment as it is now (read under the comment lock).
    `expected`: this head's report has a checklist, so no comment is a failure."""
    async with comment.lock(repo, pr):
        c = await _our_comment(gh, repo, pr, bot.login)
        body = c["body"] if c is not None else None
        state = checklist.read_state(body or "", bot.ticks_key, scope(repo, pr))
        result = checklist.gate(body, state, author, expected=expected)
        await publish_gate(gh, repo, head_sha, pr, config.checklist_check_name, bot.app_id,
                           result)
    return result.conclusion


# -- issue_comment.edited -----------------------------------------------------------------

async def _config(gh, repo: str, base_sha: str, store) -> Config | None:
    from reviewbot.app.github.content import RepoContent

    raw = await RepoContent(gh, repo, store).config(base_sha, CONFIG_PATH)
    try:
        return load_config(raw)
    except ConfigError:
        return None


async def on_edit(gh, job, store, bot: Bot) -> str:
    """A human edited our sticky comment: record who ticked what, undo any change to the
    bot's text (ticks kept), and update the gate. Returns the outcome."""
    repo, pr = job.repo, job.pr_number
    pull = await gh.getitem(f"/repos/{repo}/pulls/{pr}")
    config = await _config(gh, repo, pull["base"]["sha"], store)
    if config is None or not config.checklist_required:
        return "gate_off"
    author = (pull.get("user") or {}).get("login") or ""
    key = bot.ticks_key
    where = scope(repo, pr)
    by_author = job.sender.lower() == author.lower()
    async with comment.lock(repo, pr):
        c = await gh.getitem(f"/repos/{repo}/issues/comments/{job.comment_id}")
        if not comment.is_ours(c, bot.login):
            return "not_ours"
        current = c.get("body") or ""
        state = None
        body = current
        if job.restore:
            state = checklist.read_state(job.restore, key, where)
            if state is not None:  # the body before the edit was the bot's: put it back
                body = checklist.set_boxes(job.restore, checklist.boxes(current))
            else:
                log.warning("comment edited, but its previous text is not reviewbot's; "
                            "the next update restores it", extra=job.log_extra())
        if state is None:
            state = checklist.read_state(current, key, where)
        if state is None:  # neither text is the bot's: sign nothing, the gate fails
            result = checklist.gate(current, None, author)
        else:
            state = checklist.apply(state, job.ticks, job.sender, by_author)
            new = checklist.write_state(body, state, key, where)
            if new != current:
                await gh.patch(f"/repos/{repo}/issues/comments/{job.comment_id}",
                               data={"body": new})
            result = checklist.gate(new, state, author)
        await publish_gate(gh, repo, pull["head"]["sha"], pr, config.checklist_check_name,
                           bot.app_id, result)
    log.info("checklist edit", extra={**job.log_extra(), "sender": job.sender,
                                      "by_author": by_author, "ticks": len(job.ticks),
                                      "restored": bool(job.restore),
                                      "gate": result.conclusion})
    return "restored" if job.restore else f"gate_{result.conclusion}"
