"""`reviewbot register`: create the GitHub App from its manifest, as Probot does.

GitHub's manifest flow (docs.github.com, "Registering a GitHub App from a manifest"): a
browser POSTs the manifest to `https://github.com/settings/apps/new` (or an
organization's), the user confirms, GitHub redirects to the manifest's `redirect_url` with
`code` and our `state`, and `POST /app-manifests/{code}/conversions` (no credentials, one
hour, once) answers with the App's id, private key and webhook secret. This module serves
the two local pages that flow needs (the form, and the redirect target), makes the
exchange, and writes the three settings to an env file readable by its owner only.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import aiohttp
import yaml
from aiohttp import web

DEFAULT_MANIFEST = Path(__file__).with_name("app.yml")
DEFAULT_GITHUB_URL = "https://github.com"
DEFAULT_API_URL = "https://api.github.com"


class RegisterError(Exception):
    """The flow cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Registration:
    """What the conversion answers that a deployment needs."""

    app_id: int
    slug: str
    html_url: str
    pem: str
    webhook_secret: str


def manifest(path: Path, *, webhook_url: str, redirect_url: str, name: str | None = None,
             homepage: str | None = None) -> dict:
    """The App's manifest from `path`, aimed at this deployment and this run's redirect."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RegisterError(f"cannot read the manifest {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("hook_attributes"), dict):
        raise RegisterError(f"{path} is not an App manifest (no hook_attributes)")
    if not webhook_url.startswith(("https://", "http://")):
        raise RegisterError(f"--webhook-url must be an http(s) URL, got {webhook_url!r}")
    data["hook_attributes"] = {**data["hook_attributes"], "url": webhook_url}
    data["redirect_url"] = redirect_url
    data["url"] = homepage or webhook_url.rsplit("/webhook", 1)[0] or webhook_url
    if name:
        data["name"] = name
    return data


def create_url(github_url: str, org: str | None, state: str) -> str:
    owner = f"/organizations/{quote(org, safe='')}" if org else ""
    return f"{github_url.rstrip('/')}{owner}/settings/apps/new?state={state}"


def form_page(data: dict, action: str) -> str:
    """The page whose form POSTs the manifest to GitHub (its `manifest` field, as JSON)."""
    value = html.escape(json.dumps(data), quote=True)
    return (
        "<!doctype html><meta charset='utf-8'><title>Register reviewbot</title>"
        f"<h1>Create the GitHub App {html.escape(data.get('name', 'reviewbot'))}</h1>"
        f"<p>GitHub asks you to confirm the name, then sends you back here.</p>"
        f"<form action='{html.escape(action, quote=True)}' method='post'>"
        f"<input type='hidden' name='manifest' value='{value}'>"
        "<button type='submit'>Create the App on GitHub</button></form>")


async def exchange(session: aiohttp.ClientSession, api_url: str, code: str) -> Registration:
    url = f"{api_url.rstrip('/')}/app-manifests/{quote(code, safe='')}/conversions"
    async with session.post(url, headers={"Accept": "application/vnd.github+json",
                                          "X-GitHub-Api-Version": "2022-11-28"}) as resp:
        body = await resp.json(content_type=None)
        if resp.status != 201:
            message = body.get("message") if isinstance(body, dict) else None
            raise RegisterError(f"GitHub refused the code ({resp.status}"
                                f"{': ' + message if message else ''}); codes last one "
                                f"hour and work once: run reviewbot register again")
    try:
        return Registration(int(body["id"]), str(body["slug"]), str(body["html_url"]),
                            str(body["pem"]), str(body["webhook_secret"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise RegisterError(f"GitHub's answer lacks {exc}") from None


def _quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def write_env(path: Path, reg: Registration, api_url: str) -> None:
    """The settings `serve` and `worker` read, in a file only its owner can read. The key
    is one line with `\\n` escapes, which compose, systemd and `reviewbot` all read."""
    lines = [f"# Written by `reviewbot register` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
             f"for the GitHub App {reg.slug} ({reg.html_url}). Keep it secret.",
             f"GITHUB_APP_ID={reg.app_id}",
             f"GITHUB_WEBHOOK_SECRET={_quoted(reg.webhook_secret)}",
             f"GITHUB_PRIVATE_KEY={_quoted(reg.pem)}"]
    if api_url.rstrip("/") != DEFAULT_API_URL:
        lines.append(f"GITHUB_API_URL={api_url.rstrip('/')}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")


@dataclass
class Options:
    webhook_url: str
    env_file: Path = Path(".env")
    org: str | None = None
    name: str | None = None
    homepage: str | None = None
    manifest: Path = DEFAULT_MANIFEST
    host: str = "127.0.0.1"
    port: int = 3000
    github_url: str = DEFAULT_GITHUB_URL
    api_url: str = DEFAULT_API_URL
    timeout: float = 3600.0  # a code lasts one hour


async def register(options: Options, *, ready=None) -> Registration:
    """Serve the form and the redirect target until GitHub sends the code back, exchange
    it and write the env file. `ready(url)` is called with the page to open."""
    if options.env_file.exists():
        raise RegisterError(f"{options.env_file} exists: move it away or pass --env-file")
    state = secrets.token_urlsafe(24)
    done: asyncio.Future[Registration] = asyncio.get_running_loop().create_future()
    runner = web.AppRunner(web.Application(), access_log=None)
    base = f"http://{'localhost' if options.host == '127.0.0.1' else options.host}"

    pages: dict[str, str] = {}

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=pages["form"], content_type="text/html")

    async def callback(request: web.Request) -> web.Response:
        if request.query.get("state") != state or not request.query.get("code"):
            return web.Response(status=400, text="This is not the answer to this run's form "
                                "(state differs or no code): start from the first page.")
        if done.done():
            return web.Response(text="Already registered.")
        try:
            async with aiohttp.ClientSession() as session:
                reg = await exchange(session, options.api_url, request.query["code"])
            write_env(options.env_file, reg, options.api_url)
        except (RegisterError, aiohttp.ClientError, OSError) as exc:
            done.set_exception(exc if isinstance(exc, RegisterError) else RegisterError(
                f"the exchange failed: {exc.__class__.__name__}: {exc}"))
            return web.Response(status=502, text=f"Registration failed: {done.exception()}")
        done.set_result(reg)
        install = f"{reg.html_url}/installations/new"
        return web.Response(content_type="text/html", text=(
            "<!doctype html><meta charset='utf-8'><title>reviewbot registered</title>"
            f"<h1>{html.escape(reg.slug)} is registered</h1>"
            f"<p>Its settings are in <code>{html.escape(str(options.env_file))}</code>. "
            f"Next: <a href='{html.escape(install, quote=True)}'>install it on your "
            "repositories</a>, then deploy (docs/github-app.md).</p>"))

    runner.app.router.add_get("/", page)
    runner.app.router.add_get("/callback", callback)
    await runner.setup()
    try:
        site = web.TCPSite(runner, options.host, options.port)
        try:
            await site.start()
        except OSError as exc:
            raise RegisterError(f"cannot listen on {options.host}:{options.port}: "
                                f"{exc.strerror or exc} (pass --port)") from None
        port = site._server.sockets[0].getsockname()[1]  # --port 0: the one bound
        data = manifest(options.manifest, webhook_url=options.webhook_url,
                        redirect_url=f"{base}:{port}/callback", name=options.name,
                        homepage=options.homepage)
        pages["form"] = form_page(data, create_url(options.github_url, options.org, state))
        if ready is not None:
            ready(f"{base}:{port}/")
        try:
            return await asyncio.wait_for(done, options.timeout)
        except TimeoutError:
            raise RegisterError("no answer from GitHub within the hour a code lasts; run "
                                "reviewbot register again") from None
    finally:
        await runner.cleanup()
