"""`reviewbot register` against the GitHub stand-in: the local page's form posts the
manifest to GitHub's "new App" page, GitHub redirects back with a code, the code is
exchanged, and the `.env` written (mode 0600) is one `reviewbot serve` starts from."""

from __future__ import annotations

import asyncio
import html
import json
import re
import stat

import aiohttp
import pytest

from reviewbot.app import register
from reviewbot.app.settings import read_env_file
from tests.app.services import Procs, base_env


class Browser:
    """What a person's browser does with the page: submit the form, follow GitHub's
    redirect (after they confirm, which the stand-in skips)."""

    def __init__(self, session: aiohttp.ClientSession):
        self.session = session

    async def form(self, url: str) -> tuple[str, dict]:
        async with self.session.get(url) as r:
            assert r.status == 200
            page = await r.text()
        action = html.unescape(re.search(r"<form action='([^']+)' method='post'>",
                                         page).group(1))
        value = html.unescape(re.search(r"name='manifest' value='([^']*)'", page).group(1))
        return action, json.loads(value)

    async def submit(self, action: str, manifest: dict) -> tuple[int, str]:
        async with self.session.post(action, data={"manifest": json.dumps(manifest)},
                                     allow_redirects=False) as r:
            assert r.status == 302, await r.text()
            back = r.headers["Location"]
        async with self.session.get(back) as r:
            return r.status, await r.text()


def _options(standin, tmp_path, **extra) -> register.Options:
    return register.Options(webhook_url="https://reviewbot.example.com/webhook",
                            env_file=tmp_path / ".env", port=0,
                            github_url=standin.base_url, api_url=standin.base_url, **extra)


async def _start(options):
    opened: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(register.register(options, ready=opened.set_result))
    return task, await asyncio.wait_for(opened, 10)


async def test_register_writes_an_env_that_serve_starts_from(standin, tmp_path):
    task, url = await _start(_options(standin, tmp_path, org="acme", name="reviewbot-acme"))
    async with aiohttp.ClientSession() as session:
        browser = Browser(session)
        action, manifest = await browser.form(url)
        assert action.startswith(f"{standin.base_url}/organizations/acme/settings/apps/new"
                                 "?state=")
        assert manifest["hook_attributes"]["url"] == "https://reviewbot.example.com/webhook"
        assert manifest["redirect_url"] == f"{url}callback"  # this run's page: it exists
        assert manifest["name"] == "reviewbot-acme"
        assert "pull_request" in manifest["default_events"]
        status, page = await browser.submit(action, manifest)
    assert status == 200 and "reviewbot-acme is registered" in page
    reg = await asyncio.wait_for(task, 10)
    assert reg.app_id == standin.app_id and reg.slug == "reviewbot-acme"

    env_file = tmp_path / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = read_env_file(env_file)
    assert values["GITHUB_APP_ID"] == str(standin.app_id)
    assert values["GITHUB_WEBHOOK_SECRET"].encode() == standin.webhook_secret
    assert values["GITHUB_PRIVATE_KEY"].startswith("-----BEGIN PRIVATE KEY-----\n")
    assert values["GITHUB_API_URL"] == standin.base_url

    # `serve`, with no GitHub variable in its environment, reads ./.env
    env = {k: v for k, v in base_env(api_url="", app_id=0, private_key="", secret=b"",
                                     tmp=tmp_path).items() if not k.startswith("GITHUB_")}
    env["REVIEWBOT_RECONCILE_INTERVAL"] = "3600"  # its start-up pass calls the App's API
    procs = Procs(tmp_path, env)
    serve = procs.start("serve", cwd=tmp_path)
    try:
        await procs.ready(serve)
        sent = await standin.deliver("ping", {"zen": "Keep it logically awesome.",
                                              "hook_id": 1}, url=serve.url + "/webhook")
        assert sent["status_code"] == 200  # signed with the secret GitHub made
        for _ in range(50):  # the start-up reconciliation authenticates as the new App
            calls = [r for r in standin.requests if r.path == "/app/hook/deliveries"]
            if calls:
                break
            await asyncio.sleep(0.1)
        assert calls and calls[0].status == 200
    finally:
        await procs.stop_all()


async def test_a_code_works_once_and_a_wrong_state_is_refused(standin, tmp_path):
    task, url = await _start(_options(standin, tmp_path))
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "callback?code=x&state=forged") as r:
            assert r.status == 400
        action, manifest = await Browser(session).form(url)
        async with session.post(action, data={"manifest": json.dumps(manifest)},
                                allow_redirects=False) as r:
            back = r.headers["Location"]
        code = re.search(r"code=(\w+)", back).group(1)
        async with session.post(f"{standin.base_url}/app-manifests/{code}/conversions") as r:
            assert r.status == 201  # someone else used the code first
        async with session.get(back) as r:
            assert r.status == 502
    with pytest.raises(register.RegisterError, match="work once"):
        await asyncio.wait_for(task, 10)
    assert not (tmp_path / ".env").exists()


async def test_an_existing_env_file_is_never_overwritten(standin, tmp_path):
    (tmp_path / ".env").write_text("GITHUB_APP_ID=1\n")
    with pytest.raises(register.RegisterError, match="exists"):
        await register.register(_options(standin, tmp_path))
    assert (tmp_path / ".env").read_text() == "GITHUB_APP_ID=1\n"


async def test_a_manifest_that_is_not_one_is_refused(standin, tmp_path):
    bad = tmp_path / "app.yml"
    bad.write_text("name: x\n")
    with pytest.raises(register.RegisterError, match="not an App manifest"):
        await register.register(_options(standin, tmp_path, manifest=bad))


def test_the_env_file_reader_reads_what_compose_writes(tmp_path):
    path = tmp_path / "env"
    path.write_text("# comment\nexport A=1\nB='x\\ny'\nC=\"p\\nq \\\"r\\\"\"\nD=plain # note\n")
    assert read_env_file(path) == {"A": "1", "B": "x\\ny", "C": 'p\nq "r"', "D": "plain"}
    path.write_text("no equals sign\n")
    with pytest.raises(Exception, match="env:1: expected KEY=value"):
        read_env_file(path)


def test_the_command_says_what_is_wrong(tmp_path, capsys, monkeypatch):
    from reviewbot.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["register", "--webhook-url", "reviewbot.example.com/webhook",
                 "--port", "0"]) == 2
    assert "--webhook-url must be an http(s) URL" in capsys.readouterr().err
    (tmp_path / ".env").write_text("")
    assert main(["register", "--webhook-url", "https://h/webhook"]) == 2
    assert ".env exists" in capsys.readouterr().err
