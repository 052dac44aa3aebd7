"""`reviewbot demo --serve`: the real server against the in-process GitHub of `demo/github.py`.

Sends the incident PR's signed webhooks (opened, then a synchronize with the fix) and
prints the check runs and the sticky comment the app produced.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys

import aiohttp
from aiohttp import web

from reviewbot.app.demo import payloads
from reviewbot.app.demo.github import INCIDENT_PR, INCIDENT_REPO, DemoGitHub, seed_incident
from reviewbot.app.github.client import RetryPolicy
from reviewbot.app.settings import Settings
from reviewbot.app.web import keys
from reviewbot.app.web.server import create_app

INSTALLATION = 31337


def generate_key() -> tuple[str, object]:
    """A throwaway RSA key pair: (private PEM, public key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, key.public_key()


async def start_app(settings: Settings, *, policy: RetryPolicy | None = None,
                    runner_options: dict | None = None,
                    **serve_options) -> tuple[web.AppRunner, str]:
    """`serve_options` (such as `keepalive_timeout`) go to the aiohttp runner."""
    app = create_app(settings, policy=policy, runner_options=runner_options)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0, **serve_options)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


def _show_run(run: dict) -> str:
    out = [f"  check run #{run['id']} '{run['name']}' on {run['head_sha'][:12]}: "
           f"{run['status']} / {run['conclusion']}",
           f"  title: {run['output']['title']}"]
    for a in run["annotations"]:
        out.append(f"  annotation [{a['annotation_level']}] {a['path']}:{a['start_line']}: "
                   f"{a['message']}")
    return "\n".join(out)


async def _demo(out) -> int:
    logging.basicConfig(level=logging.WARNING)
    pem, _ = generate_key()
    gh = DemoGitHub()
    await gh.start()
    shas = seed_incident(gh)
    secret = secrets.token_hex(16)
    settings = Settings(app_id=str(gh.app_id), private_key=pem,
                        webhook_secret=secret.encode(), api_url=gh.base_url, workers=2)
    runner, url = await start_app(settings, runner_options={"disk_cache": False})
    app = runner.app
    repo = gh.repos[INCIDENT_REPO]
    try:
        async with aiohttp.ClientSession() as session:
            pull = repo.pulls[INCIDENT_PR]
            print(f"GitHub stand-in at {gh.base_url}; reviewbot at {url}\n", file=out)
            print(f"1. pull_request.opened for {INCIDENT_REPO}#{INCIDENT_PR} "
                  f"(head {shas['pr'][:12]})", file=out)
            status, _ = await payloads.send(
                session, url + "/webhook", "pull_request",
                payloads.pull_request("opened", pull, gh.repo_json(repo), INSTALLATION),
                settings.webhook_secret)
            print(f"   webhook answered {status}", file=out)
            await app[keys.QUEUE].join()
            for run in gh.runs(INCIDENT_REPO, shas["pr"]):
                print(_show_run(run), file=out)
            comments = gh.comments(INCIDENT_REPO, INCIDENT_PR)
            print(f"\n   the sticky comment ({len(comments)} comment on the PR):\n", file=out)
            for c in comments:
                print(c["body"], file=out)

            print(f"2. push the fix, pull_request.synchronize (head {shas['fix'][:12]})",
                  file=out)
            gh.push(INCIDENT_REPO, INCIDENT_PR, shas["fix"])
            status, _ = await payloads.send(
                session, url + "/webhook", "pull_request",
                payloads.pull_request("synchronize", pull, gh.repo_json(repo), INSTALLATION,
                                      before=shas["pr"]), settings.webhook_secret)
            print(f"   webhook answered {status}", file=out)
            await app[keys.QUEUE].join()
            for run in gh.runs(INCIDENT_REPO, shas["fix"]):
                print(_show_run(run), file=out)
            comments = gh.comments(INCIDENT_REPO, INCIDENT_PR)
            print(f"\n   the same sticky comment, updated ({len(comments)} comment on the "
                  f"PR):\n", file=out)
            for c in comments:
                print(c["body"], file=out)
            print(f"GitHub API calls made: {gh.request_count}", file=out)
    finally:
        await runner.cleanup()
        await gh.close()
    ok = ([r["conclusion"] for r in gh.runs(INCIDENT_REPO, shas["pr"])] == ["failure"]
          and [r["conclusion"] for r in gh.runs(INCIDENT_REPO, shas["fix"])] == ["success"]
          and len(gh.comments(INCIDENT_REPO, INCIDENT_PR)) == 1)
    return 0 if ok else 1


def run(out=None) -> int:
    return asyncio.run(_demo(out or sys.stdout))
