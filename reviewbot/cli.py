"""The `reviewbot` command: the same engine as the GitHub App, on a local repository.

Exit codes: 0 no import error, 1 at least one error, 2 usage, configuration or git error.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from reviewbot import __version__


class UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reviewbot",
        description="Find the Lambda handlers a change reaches and check that their imports "
                    "resolve as the Lambda runtime would resolve them.")
    p.add_argument("--version", action="version", version=f"reviewbot {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="review a change in a local git repository")
    c.add_argument("--repo", default=".", help="repository path (default: .)")
    c.add_argument("--base", help="base ref (default: the default branch)")
    c.add_argument("--head", help="head ref (default: HEAD)")
    c.add_argument("--all", action="store_true", help="check every handler, not only the "
                   "affected ones")
    c.add_argument("--format", choices=("text", "json", "markdown"), default="text")

    d = sub.add_parser("demo", help="replay the goals_common incident on a built-in example")
    d.add_argument("--dir", help="where to write the example repository (default: a temp dir)")

    h = sub.add_parser("handlers", help="list the Lambda handlers found in the repository")
    h.add_argument("--repo", default=".")
    h.add_argument("--ref", help="commit to read (default: HEAD)")
    h.add_argument("--format", choices=("text", "json"), default="text")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 2 if exc.code not in (0, None) else 0
    from reviewbot.config import ConfigError
    from reviewbot.gitsource import GitError

    try:
        return COMMANDS[args.command](args)
    except (ConfigError, GitError, UsageError) as exc:
        print(f"reviewbot: error: {exc}", file=sys.stderr)
        return 2


def cmd_check(args) -> int:
    from reviewbot.localrun import check_repo
    from reviewbot.render import to_json, to_markdown, to_text

    report = check_repo(args.repo, args.base, args.head, check_all=args.all)
    if args.format == "json":
        print(to_json(report))
    elif args.format == "markdown":
        print(to_markdown(report), end="")
    else:
        print(to_text(report, color=sys.stdout.isatty()), end="")
    return 1 if report.errors else 0


def cmd_handlers(args) -> int:
    from reviewbot.localrun import list_handlers

    found = list_handlers(args.repo, args.ref)
    if args.format == "json":
        print(json.dumps({"handlers": [h.to_json() for h in found.handlers],
                          "unresolved": [u.to_json() for u in found.unresolved],
                          "warnings": list(found.warnings)}, indent=2))
        return 0
    for h in found.handlers:
        paths = f"  paths: {', '.join(h.paths)}" if h.paths else ""
        print(f"{h.name:<28} {h.handler:<28} root: {h.root}{paths}  [{h.source}:{h.line}]")
    for u in found.unresolved:
        print(f"{u.name:<28} not analysed: {u.reason}  [{u.source}:{u.line}]")
    for w in found.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if not found.handlers and not found.unresolved:
        print("no Lambda handlers found (add them under `handlers:` in .github/reviewbot.yml)")
    return 0


def cmd_demo(args) -> int:
    from reviewbot.demo import write_incident_repo
    from reviewbot.localrun import check_repo
    from reviewbot.render import to_markdown, to_text

    if args.dir:
        repo = Path(args.dir)
        if repo.exists() and any(repo.iterdir()):
            raise UsageError(f"{repo} is not empty")
    else:
        repo = Path(tempfile.mkdtemp(prefix="reviewbot-demo-")) / "goals-service"
    commits = write_incident_repo(repo)
    color = sys.stdout.isatty()
    print(f"Wrote the incident repository to {repo}")
    print("  main: goals service with a shared goals_common package")
    print("  goals-validation: the PR (auth imports GoalValidationError; __init__.py "
          "forgets to export it), then the fix\n")
    print("$ reviewbot check --base main --head <the PR commit>\n")
    pr = check_repo(str(repo), "main", commits["pr"])
    print(to_text(pr, color=color))
    print("The PR comment reviewbot would post:\n")
    print(to_markdown(pr))
    print("$ reviewbot check --base main --head <the fix commit>\n")
    fix = check_repo(str(repo), "main", commits["fix"])
    print(to_text(fix, color=color))
    return 1 if not pr.errors or fix.errors else 0


COMMANDS = {"check": cmd_check, "demo": cmd_demo, "handlers": cmd_handlers}
