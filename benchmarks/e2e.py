"""Webhook to completed check run, through the GitHub stand-in with added latency.

    python benchmarks/e2e.py [--modules 1500] [--handlers 300] [--latency 0.03]

Seeds the stand-in with the generated monorepo (see monorepo.py), runs the real
`reviewbot serve` app in-process against it, and for two pull requests that each edit
one shared module sends the signed `pull_request.opened` webhook and waits for the
completed check run: the first with every cache cold, the second warm. Every request to
the stand-in waits `--latency` seconds first. Prints wall time and the number of GitHub
requests per PR. Target (docs/performance.md): <= 10 requests for a warm PR.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.standin

import aiohttp
from monorepo import generate

from reviewbot.app.demo import payloads
from reviewbot.app.demo.serve import generate_key, start_app
from reviewbot.app.github.client import RetryPolicy
from reviewbot.app.settings import Settings
from reviewbot.app.web import keys
from tests.standin import GitHubStandIn

REPO = "acme/monorepo"
INSTALLATION = 1


def edit(files: dict[str, str], path: str, marker: str) -> dict[str, str]:
    return {**files, path: files[path] + f"\n\ndef {marker}():\n    return 1\n"}


async def one_pr(gh: GitHubStandIn, server_url: str, app, session, secret: bytes,
                 number: int, head: str) -> tuple[float, int, Counter, dict]:
    gh.open_pull(REPO, number, head, base="main", head_ref=f"pr-{number}")
    pull = gh.repos[REPO].pulls[number]
    event = payloads.pull_request("opened", pull, gh.repo_json(gh.repos[REPO]), INSTALLATION)
    before = len(gh.requests)
    t0 = time.perf_counter()
    status, _ = await payloads.send(session, server_url + "/webhook", "pull_request", event,
                                    secret, delivery=str(uuid.uuid4()))
    assert status == 202, status
    await app[keys.QUEUE].join()
    elapsed = time.perf_counter() - t0
    calls = gh.requests[before:]
    kinds = Counter(f"{c.method} {_shape(c.path)}" for c in calls)
    [run] = [r for r in gh.runs(REPO, head) if r["name"] == "reviewbot / import check"]
    return elapsed, len(calls), kinds, run


def _shape(path: str) -> str:
    parts = path.split("/")
    return "/".join("{sha}" if len(p) == 40 else "{n}" if p.isdigit() else p for p in parts)


async def main_async(args) -> int:
    work = Path(tempfile.mkdtemp(prefix="reviewbot-e2e-"))
    os.environ["REVIEWBOT_CACHE_DIR"] = str(work / "cache")
    files = generate(work / "gen", modules=args.modules, handlers=args.handlers, commit=False)
    pem, public = generate_key()
    gh = GitHubStandIn(public_key=public, latency=args.latency)
    await gh.start()
    gh.create_repo(REPO)
    gh.install(INSTALLATION, [REPO])
    base = gh.commit(REPO, files, branch="main", message="base")
    packages = sorted({p.split("/")[2] for p in files if p.startswith("libs/python/")})
    first = edit(files, f"libs/python/{packages[-1]}/mod_19.py", "added_in_pr_1")
    second = edit(files, f"libs/python/{packages[-2]}/mod_19.py", "added_in_pr_2")
    head1 = gh.commit(REPO, first, parents=[base], message="pr 1")
    head2 = gh.commit(REPO, second, parents=[base], message="pr 2")
    secret = secrets.token_hex(16).encode()
    settings = Settings(app_id=str(gh.app_id), private_key=pem, webhook_secret=secret,
                        api_url=gh.base_url, workers=1)
    runner, url = await start_app(settings, policy=RetryPolicy(write_gap=args.write_gap))
    py = sum(1 for p in files if p.endswith(".py"))
    print(f"repository: {py} modules, {args.handlers} handlers; "
          f"{args.latency * 1000:.0f} ms added to every GitHub request, "
          f"{args.write_gap:g} s between writes to one installation")
    try:
        async with aiohttp.ClientSession() as session:
            for label, number, head in (("cold", 1, head1), ("warm", 2, head2)):
                elapsed, n, kinds, run = await one_pr(gh, url, runner.app, session, secret,
                                                      number, head)
                print(f"{label}: {elapsed:6.2f} s to a completed run ({run['conclusion']}), "
                      f"{n} GitHub requests")
                for kind, count in sorted(kinds.items()):
                    print(f"    {count:3d}  {kind}")
    finally:
        await runner.cleanup()
        await gh.close()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--modules", type=int, default=1500)
    ap.add_argument("--handlers", type=int, default=300)
    ap.add_argument("--latency", type=float, default=0.03)
    ap.add_argument("--write-gap", type=float, default=1.0,
                    help="seconds between GitHub writes (REVIEWBOT_WRITE_GAP; default 1)")
    return asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
