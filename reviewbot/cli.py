"""The `reviewbot` command: the same engine as the GitHub App, on a local repository.

Exit codes: 0 no import error, 1 at least one error, 2 usage, configuration or git error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

from reviewbot import __version__
from reviewbot.errors import UsageError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reviewbot",
        description="Find the Lambda handlers a change reaches and check that their imports "
                    "resolve as the Lambda runtime would resolve them.")
    p.add_argument("--version", action="version", version=f"reviewbot {__version__}")
    p.add_argument("--debug", action="store_true",
                   help="show the traceback of an unexpected error")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="review a change in a local git repository")
    c.add_argument("--repo", default=".", help="repository path (default: .)")
    c.add_argument("--base", help="base ref (default: the default branch: origin/HEAD, "
                   "else main or master); the change is checked from its merge base")
    c.add_argument("--head", help="a commit to check (default: the files on disk: staged "
                   "and unstaged changes and new files git does not ignore)")
    c.add_argument("--all", action="store_true", help="check every handler, not only the "
                   "affected ones")
    c.add_argument("--format", choices=("text", "json", "markdown", "github", "sarif"),
                   default="text",
                   help="github: workflow commands (::error file=...,line=...::) for Actions; "
                        "sarif: SARIF 2.1.0 for code scanning")
    c.add_argument("--offline", action="store_true",
                   help="do not resolve or fetch third-party packages (also "
                        "REVIEWBOT_OFFLINE=1): their names are then not checked")
    c.add_argument("--config", default=None, metavar="PATH",
                   help="the configuration's path, read at the base (default: "
                        ".github/reviewbot.yml)")
    c.add_argument("--staged", action="store_true",
                   help="check the staged files (what a commit would record) against "
                        "HEAD's merge base: a pre-commit hook's view")
    c.add_argument("--deepen", action="store_true",
                   help="in a shallow clone, fetch from origin the history the merge base "
                        "needs (as far as it takes)")
    c.add_argument("--fix", action="store_true",
                   help="write the suggested __init__.py exports into the working tree "
                        "(nothing is committed; run check again to see the result)")
    c.add_argument("--max-memory", type=_size, default=None, metavar="SIZE",
                   help="stop with an error (exit 2) rather than grow past this resident "
                        "memory, such as 1536M or 2G (also REVIEWBOT_MAX_MEMORY; default: "
                        "no limit)")

    d = sub.add_parser("demo", help="replay the goals_common incident on a built-in example")
    d.add_argument("--dir", help="where to write the example repository (kept; default: a "
                   "temporary folder, removed at the end)")
    d.add_argument("--keep", action="store_true",
                   help="keep the temporary example repository")
    d.add_argument("--serve", action="store_true",
                   help="run the GitHub App server against an in-process GitHub stand-in "
                        "and replay the incident PR's webhooks")

    s = sub.add_parser("serve", help="run the GitHub App webhook server")
    s.add_argument("--host", default="0.0.0.0", help="address to bind (default: 0.0.0.0)")
    s.add_argument("--port", type=int, default=None,
                   help="port to bind (default: $PORT or 8000)")
    w = sub.add_parser("worker", help="run GitHub App jobs from the shared queue "
                       "(REVIEWBOT_QUEUE_URL); `serve` then only enqueues")
    for one in (s, w):
        one.add_argument("--env-file", type=Path, default=None,
                         help="settings file, KEY=value lines (default: ./.env when it "
                              "exists); the environment wins over it")

    r = sub.add_parser("register", help="create the GitHub App from its manifest "
                       "(a local page posts it to GitHub) and write its settings to .env")
    r.add_argument("--webhook-url", required=True,
                   help="where GitHub will send webhooks: https://HOST/webhook")
    r.add_argument("--org", help="create the App in this organization (default: your "
                   "personal account)")
    r.add_argument("--name", help="the App's name (default: the manifest's, reviewbot); "
                   "names are unique on GitHub")
    r.add_argument("--env-file", type=Path, default=Path(".env"),
                   help="where to write the settings (default: .env; never overwritten)")
    r.add_argument("--port", type=int, default=3000,
                   help="the local page's port (default: 3000)")
    r.add_argument("--host", default="127.0.0.1", help="the local page's address")
    r.add_argument("--github-url", default="https://github.com",
                   help="GitHub's web address (GitHub Enterprise Server: https://HOST)")
    r.add_argument("--api-url", default=None,
                   help="GitHub's API (default: $GITHUB_API_URL or https://api.github.com)")
    r.add_argument("--manifest", type=Path, default=None,
                   help="the App's manifest (default: reviewbot's app.yml)")
    r.add_argument("--open", action="store_true", help="open the page in a browser")

    h = sub.add_parser("handlers", help="list the Lambda handlers found in the repository")
    h.add_argument("--repo", default=".")
    h.add_argument("--head", "--ref", dest="ref",
                   help="commit to read (default: the files on disk)")
    h.add_argument("--base", help="where the configuration is read, as `check` reads it "
                   "(default: the default branch)")
    h.add_argument("--format", choices=("text", "json"), default="text")

    v = sub.add_parser("verify-imports", help="import each handler for real, each in a fresh "
                       "process with Lambda's sys.path (runs the repository's code)")
    v.add_argument("--repo", default=".", help="repository path (default: .)")
    v.add_argument("--ref", help="commit to verify when no --base/--head (default: the "
                   "files on disk)")
    v.add_argument("--base", help="verify only the handlers the change from here reaches")
    v.add_argument("--head", help="head of the change (default: the files on disk)")
    v.add_argument("--handler", nargs="+", default=[], metavar="NAME",
                   help="verify only these handlers")
    v.add_argument("--python", action="append", default=[], metavar="[3.X=]PATH",
                   help="interpreter to import with, for example a virtualenv with the "
                   "functions' requirements: 3.12=/path/to/python3.12 for the python3.12 "
                   "functions (repeatable), or one PATH for all (default: python3.X on PATH "
                   "for a python3.X function, else this one)")
    v.add_argument("--timeout", type=float, default=30.0,
                   help="seconds per handler before it is killed (default: 30)")
    v.add_argument("--jobs", type=int, help="parallel imports (default: CPU count)")
    v.add_argument("--compare-static", action="store_true",
                   help="also run the static check and list every disagreement")
    v.add_argument("--format", choices=("text", "json"), default="text")

    g = sub.add_parser("graph", help="handlers and the shared modules they load")
    g.add_argument("--repo", default=".", help="repository path (default: .)")
    g.add_argument("--ref", help="commit to read when no --base/--head (default: the "
                   "files on disk)")
    g.add_argument("--base", help="highlight what the change from here reaches")
    g.add_argument("--head", help="head of the change (default: the files on disk)")
    g.add_argument("--modules", action="store_true",
                   help="module-level edges among every repository module loaded")
    g.add_argument("--format", choices=("mermaid", "dot", "json"), default="mermaid")
    g.add_argument("--no-collapse", action="store_true",
                   help="draw every node even when the Mermaid graph is too big to read")
    return p


# Commands that analyse once and exit. In a process of their own they run without the
# cyclic GC: checks and summaries leave no reference cycles (tests/test_replay
# checks it), and re-enabled after a batch of checks, the GC's first pass walked every
# object the batch made (measured in docs/performance.md). `serve` and `worker` run for
# long and keep it.
BATCH_COMMANDS = frozenset({"check", "demo", "handlers", "graph"})


# `check`: 0 all clear, 1 an import would fail, 2 bad usage or configuration, 3 nothing
# could be checked (no Python handler found, or changed files no handler found loads while
# some deployment entries could not be read): neither "clear" nor "broken".
EXIT_CODES = {"success": 0, "failure": 1, "neutral": 3}


def run() -> None:
    """The `reviewbot` executable (and `python -m reviewbot`): main() in its own process.
    A reader that closes the pipe early (`| head`) ends it quietly with 141, the status
    of a Unix tool stopped by SIGPIPE: never 1, which means an import error."""
    try:
        code = main(own_process=True)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush stays quiet
        code = 128 + 13
    raise SystemExit(code)


def main(argv: list[str] | None = None, *, own_process: bool = False) -> int:
    parser = _parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # `check --bsae main`: check's usage, not the top level's
            commands = next(a for a in parser._actions
                            if isinstance(a, argparse._SubParsersAction))
            commands.choices[args.command].error(
                f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:
        return 2 if exc.code not in (0, None) else 0
    if own_process and args.command in BATCH_COMMANDS:
        import gc

        gc.disable()
    from reviewbot.config import ConfigError
    from reviewbot.gitsource import GitError
    from reviewbot.memory import MemoryLimitExceeded

    try:
        return COMMANDS[args.command](args)
    except (ConfigError, GitError, UsageError, MemoryLimitExceeded) as exc:
        print(f"reviewbot: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise
    except Exception as exc:  # a bug of ours: one line, unless asked for the traceback
        if args.debug:
            raise
        print(f"reviewbot: error: internal error ({exc.__class__.__name__}: {exc}); run "
              f"it again with --debug for the traceback, and please report it",
              file=sys.stderr)
        return 2


def _size(text: str) -> int:
    from reviewbot.memory import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _env_budget():
    from reviewbot.memory import ENV, MemoryBudget

    try:
        return MemoryBudget.from_env()
    except ValueError as exc:
        raise UsageError(f"{ENV}: {exc}") from None


def _what_was_checked(head: str, merge_base: str, base: str | None) -> str:
    from reviewbot.gitsource import INDEX, WORKTREE

    what = {WORKTREE: "the files on disk (the working tree: uncommitted changes and new "
                      "files included)",
            INDEX: "the staged files (what a commit would record)"}.get(
        head, f"commit {head[:12]}")
    since = f"its merge base with {base}" if base else "its merge base with the default branch"
    return f"Checking {what} against {merge_base[:12]}, {since}"


def cmd_check(args) -> int:
    if args.staged and args.head:
        raise UsageError("--staged checks the index: it cannot be combined with --head")
    from reviewbot.gitsource import INDEX, WORKTREE, GitRepo
    from reviewbot.localrun import check_local
    from reviewbot.memory import MemoryBudget
    from reviewbot.model import CONFIG_PATH
    from reviewbot.render import to_github, to_json, to_markdown, to_text

    head = args.head or (INDEX if args.staged else WORKTREE)
    memory = MemoryBudget(args.max_memory) if args.max_memory else _env_budget()
    repo = GitRepo(args.repo)  # one for the check and its fixes: files read once
    report = check_local(repo, args.base, head, offline=args.offline,
                         check_all=args.all, deepen=args.deepen,
                         config_path=args.config or CONFIG_PATH, memory=memory)
    if args.format == "json":
        print(to_json(report))
    elif args.format == "github":
        print(to_github(report), end="")
    elif args.format == "sarif":
        from reviewbot.sarif import to_sarif

        print(to_sarif(report), end="")
    elif args.format == "markdown":
        print(to_markdown(report), end="")
    else:
        print(_what_was_checked(report.head, report.base, args.base))
        print(to_text(report, color=sys.stdout.isatty()), end="")
    if getattr(args, "fix", False):
        _apply_fixes(repo, report, sys.stdout if args.format == "text" else sys.stderr)
    return EXIT_CODES[report.conclusion]


def _apply_fixes(repo, report, out) -> None:
    from reviewbot.localrun import apply_fixes, suggest_fixes

    suggestions = suggest_fixes(repo, report)
    if not suggestions:
        print("\nno fix to apply", file=out)
        return
    print("\nFixes", file=out)
    for path, what in apply_fixes(repo, suggestions):
        print(f"  {path}: {what}", file=out)
    for s in suggestions:
        if s.alternative is not None:
            print(f"  {s.alternative.path}:{s.finding.line}: {s.alternative.description}",
                  file=out)
    print("The check was not re-run: run `reviewbot check` again (it reads the files on "
          "disk).", file=out)


def cmd_handlers(args) -> int:
    from reviewbot.localrun import list_handlers

    found, config = list_handlers(args.repo, args.ref, args.base)
    if args.format == "json":
        from reviewbot.discovery import discover_cli_json

        print(json.dumps({**discover_cli_json(found), "warnings": list(found.warnings),
                          "config": config.to_json() if config else None}, indent=2))
        return 0
    if config is not None:
        print(f"note: {config.summary()}", file=sys.stderr)
    from reviewbot.render import columns

    rows = []
    for h in found.handlers:
        extra = f"  paths: {', '.join(h.paths)}" if h.paths else ""
        if h.layer_modules:
            extra += f"  layer modules: {', '.join(h.layer_modules)}"
        if h.unknown_layers:
            extra += f"  unknown layers: {', '.join(h.unknown_layers)}"
        rows.append((h.name, h.handler, h.runtime_label,
                     f"root: {h.root}{extra}  [{h.source}:{h.line}]"))
    rows.extend((u.name, "not analysed:", "", f"{u.reason}  [{u.source}:{u.line}]")
                for u in found.unresolved)
    for line in columns(rows):
        print(line)
    for w in found.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if not found.handlers and not found.unresolved:
        print("no Lambda handlers found (add them under `handlers:` in .github/reviewbot.yml)")
    return 0


APP_EXTRA = ("aiohttp", "gidgethub", "msgspec", "orjson", "jwt", "cryptography")


def need_app_extra(command: str, modules: tuple[str, ...] = APP_EXTRA) -> None:
    """A usage error naming the extra when one of its modules is not installed."""
    import importlib

    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise UsageError(f"reviewbot {command} needs the app extra: pip install "
                         f"'reviewbot[app]' (not installed: {', '.join(missing)})")


def _app_settings(env_file: Path | None = None):
    """The GitHub App's settings from the environment (over `env_file`, or ./.env when
    it exists), or a usage error saying why not."""
    from reviewbot.app.settings import Settings, SettingsError, environment
    if env_file is None and Path(".env").is_file():
        env_file = Path(".env")
    try:
        return Settings.from_env(environment(env_file))
    except SettingsError as exc:
        raise UsageError(str(exc)) from None


def cmd_serve(args) -> int:
    need_app_extra("serve")
    settings = _app_settings(args.env_file)
    from reviewbot.app.health import PortInUse
    from reviewbot.app.web.server import run

    try:
        run(args.host, args.port if args.port is not None else settings.port, settings)
    except PortInUse as exc:
        print(f"reviewbot: error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_worker(args) -> int:
    need_app_extra("worker", (*APP_EXTRA, "saq"))
    settings = _app_settings(args.env_file)
    if not settings.queue_url:
        raise UsageError("REVIEWBOT_QUEUE_URL is not set: `reviewbot worker` runs jobs from a "
                         "shared queue (redis://HOST:6379/0 or postgresql://USER@HOST/DB); "
                         "without one, `reviewbot serve` runs the jobs itself")
    try:
        from reviewbot.app.health import PortInUse
        from reviewbot.app.queue.worker import run
    except ImportError as exc:
        raise UsageError(f"the worker needs its dependencies ({exc.name}): "
                         "pip install 'saq[redis,postgres]'") from None
    try:
        run(settings)
    except PortInUse as exc:
        print(f"reviewbot: error: {exc} (REVIEWBOT_WORKER_PORT; 0 serves no health "
              "endpoints)", file=sys.stderr)
        return 2
    return 0


def cmd_demo(args) -> int:
    if getattr(args, "serve", False):
        need_app_extra("demo --serve")
        from reviewbot.app.demo.serve import run as demo_serve

        return demo_serve()
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
    if not args.dir and not args.keep:
        import shutil

        shutil.rmtree(repo.parent, ignore_errors=True)
        print(f"Removed {repo} (reviewbot demo --keep keeps it; --dir writes elsewhere)")
    return 1 if not pr.errors or fix.errors else 0


def cmd_verify_imports(args) -> int:
    import shutil

    from reviewbot import verify

    if args.ref and (args.base or args.head):
        raise UsageError("--ref cannot be combined with --base/--head")
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    pythons: dict[str, str] = {}
    default = None
    for value in args.python:
        version, sep, path = value.partition("=")
        if sep and not re.fullmatch(r"3\.\d+", version):
            raise UsageError(f"--python {value}: expected 3.X=PATH or PATH")
        if not shutil.which(path if sep else value):
            raise UsageError(f"--python: '{path if sep else value}' is not an executable")
        if sep:
            pythons[version] = path
        elif default is not None:
            raise UsageError("--python: give one PATH for all, or 3.X=PATH per version")
        else:
            default = value
    outcome = verify.verify(args.repo, ref=args.ref, base=args.base, head=args.head,
                            names=args.handler, python=default, timeout=args.timeout,
                            compare_static=args.compare_static, jobs=args.jobs,
                            pythons=pythons)
    if args.format == "json":
        print(json.dumps(outcome.to_json(), indent=2))
    else:
        print(verify.to_text(outcome), end="")
    return 0 if outcome.ok else 1


def cmd_graph(args) -> int:
    from reviewbot import graph

    if args.ref and (args.base or args.head):
        raise UsageError("--ref cannot be combined with --base/--head")
    readable = args.format == "mermaid" and not args.no_collapse
    model = graph.build_graph(args.repo, ref=args.ref, base=args.base, head=args.head,
                              modules=args.modules,
                              max_nodes=graph.MAX_NODES if readable else None)
    print(graph.render(model, args.format), end="")
    return 0


def cmd_register(args) -> int:
    import asyncio
    import os
    import webbrowser

    need_app_extra("register")
    from reviewbot.app import register

    def ready(url: str) -> None:
        print(f"Open {url} in a browser and press the button: GitHub asks you to confirm "
              f"the App, then sends you back here ({args.env_file} is written then).",
              flush=True)
        if args.open:
            webbrowser.open(url)

    options = register.Options(
        webhook_url=args.webhook_url, env_file=args.env_file, org=args.org, name=args.name,
        manifest=args.manifest or register.DEFAULT_MANIFEST, host=args.host, port=args.port,
        github_url=args.github_url,
        api_url=args.api_url or os.environ.get("GITHUB_API_URL") or register.DEFAULT_API_URL)
    try:
        reg = asyncio.run(register.register(options, ready=ready))
    except register.RegisterError as exc:
        raise UsageError(str(exc)) from None
    print(f"Registered {reg.slug} (App ID {reg.app_id}); its settings are in "
          f"{args.env_file} (mode 0600). Install it: {reg.html_url}/installations/new")
    return 0


COMMANDS = {"check": cmd_check, "demo": cmd_demo, "handlers": cmd_handlers,
            "verify-imports": cmd_verify_imports, "graph": cmd_graph, "serve": cmd_serve,
            "worker": cmd_worker, "register": cmd_register}
