"""`python -m reviewbot.ghaction`: the check as a GitHub Actions step (`action.yml`).

An adapter around the same engine as `reviewbot check`: the base comes from the event
(`pull_request` and `pull_request_target`: the PR's base commit; `merge_group`: the
queue's base), the head is the checkout, and a shallow checkout (actions/checkout's
default) is deepened as far as the merge base needs. One report, four sinks: `::error`
annotations on stdout, the comment's Markdown in the job summary, step outputs, and, when
asked, the sticky comment kept with the workflow's token.

Inputs come as environment variables (`INPUT_*`, set by action.yml), with the ones
GitHub Actions sets for every step (`GITHUB_EVENT_NAME`, `GITHUB_EVENT_PATH`,
`GITHUB_WORKSPACE`, `GITHUB_STEP_SUMMARY`, `GITHUB_OUTPUT`, `GITHUB_REPOSITORY`,
`GITHUB_API_URL`). Exit codes as `reviewbot check`: 0, 1 (an import error, or a warning
with `fail-on-warnings`), 2 (the event, the checkout or the configuration is unusable).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reviewbot.model import CONFIG_PATH, Report

ACTIONS_BOT = "github-actions[bot]"  # who comments with the workflow's GITHUB_TOKEN


class ActionError(Exception):
    """The step cannot run; the message says why and what to change."""


@dataclass(frozen=True)
class Change:
    """What the event says to check."""

    base: str
    pr: int | None


def change_from_event(name: str, payload: Mapping) -> Change:
    if name in ("pull_request", "pull_request_target"):
        pull = payload.get("pull_request") or {}
        base = (pull.get("base") or {}).get("sha")
        if base:
            return Change(str(base), int(pull["number"]))
    elif name == "merge_group":
        base = (payload.get("merge_group") or {}).get("base_sha")
        if base:
            return Change(str(base), None)
    else:
        raise ActionError(f"reviewbot's action checks pull requests: run it on "
                          f"pull_request or merge_group, not {name or 'an unknown event'}")
    raise ActionError(f"the {name} event has no base commit")


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("true", "1", "yes")


def _append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(text)


def outputs(report: Report, change: Change) -> str:
    """Step outputs, in GITHUB_OUTPUT's `name=value` lines."""
    return (f"base={change.base}\nerrors={len(report.errors)}\n"
            f"warnings={len(report.warnings)}\nconclusion={report.conclusion}\n")


def run_check(env: Mapping[str, str], change: Change) -> Report:
    from reviewbot.localrun import check_local

    return check_local(env.get("GITHUB_WORKSPACE") or ".", change.base, "HEAD", env=env,
                       deepen=True, config_path=env.get("INPUT_CONFIG") or CONFIG_PATH)


async def keep_comment(env: Mapping[str, str], change: Change, markdown: str,
                       head: str) -> str:
    """The sticky comment, written with the workflow's token (as github-actions[bot])."""
    import aiohttp
    from gidgethub.aiohttp import GitHubAPI

    from reviewbot.app.job import comment

    async with aiohttp.ClientSession() as session:
        gh = GitHubAPI(session, "reviewbot-action", oauth_token=env["INPUT_GITHUB_TOKEN"],
                       base_url=env.get("GITHUB_API_URL") or "https://api.github.com")

        async def still_head() -> bool:
            return True  # this run's checkout is what the comment describes

        return await comment.upsert(gh, env["GITHUB_REPOSITORY"], change.pr, markdown,
                                    bot_login=ACTIONS_BOT, head_sha=head, create=True,
                                    still_head=still_head)


def main(env: Mapping[str, str] | None = None) -> int:
    from reviewbot.config import ConfigError
    from reviewbot.gitsource import GitError
    from reviewbot.render import to_github, to_markdown

    env = os.environ if env is None else env
    try:
        payload = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text())
        change = change_from_event(env.get("GITHUB_EVENT_NAME", ""), payload)
        report = run_check(env, change)
    except (ActionError, ConfigError, GitError, OSError, KeyError, ValueError) as exc:
        reason = f"{exc.__class__.__name__}: {exc}" if isinstance(exc, KeyError) else exc
        print(f"::error title=reviewbot::{reason}".replace("\n", "%0A"))
        return 2
    print(to_github(report), end="")
    markdown = to_markdown(report)
    _append(env.get("GITHUB_STEP_SUMMARY"), markdown + "\n")
    _append(env.get("GITHUB_OUTPUT"), outputs(report, change))
    if _flag(env, "INPUT_COMMENT") and change.pr is not None:
        import asyncio

        try:
            done = asyncio.run(keep_comment(env, change, markdown, report.head))
            print(f"sticky comment {done}")
        except Exception as exc:  # a fork's read-only token: the check still stands
            print(f"::warning title=reviewbot::the PR comment could not be written "
                  f"({exc.__class__.__name__}: {exc}); a fork's token is read-only")
    if report.errors:
        return 1
    return 1 if report.warnings and _flag(env, "INPUT_FAIL_ON_WARNINGS") else 0


if __name__ == "__main__":
    sys.exit(main())
