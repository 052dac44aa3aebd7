"""Settings (errors before bind), /healthz, /metrics, JSON logs."""

from __future__ import annotations

import io
import json
import logging

import pytest

from reviewbot import cli
from reviewbot.app.logs import JSONFormatter
from reviewbot.app.settings import Settings, SettingsError
from tests.app.conftest import pr_event


def _env(keypair, **extra):
    env = {"GITHUB_APP_ID": "4242", "GITHUB_PRIVATE_KEY": keypair[0],
           "GITHUB_WEBHOOK_SECRET": "s3cret-value"}
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def test_valid_settings_and_defaults(keypair, tmp_path):
    s = Settings.from_env(_env(keypair))
    assert (s.app_id, s.api_url, s.port, s.webhook_secret) == (
        "4242", "https://api.github.com", 8000, b"s3cret-value")
    assert "s3cret" not in repr(s) and "PRIVATE" not in repr(s)
    path = tmp_path / "key.pem"
    path.write_text(keypair[0])
    s = Settings.from_env(_env(keypair, GITHUB_PRIVATE_KEY=None,
                               GITHUB_PRIVATE_KEY_PATH=str(path), PORT="9000",
                               GITHUB_API_URL="https://ghe.example/api/v3/"))
    assert (s.port, s.api_url) == (9000, "https://ghe.example/api/v3")
    one_line = keypair[0].replace("\n", "\\n")
    assert Settings.from_env(_env(keypair, GITHUB_PRIVATE_KEY=one_line)).private_key == \
        keypair[0]


@pytest.mark.parametrize(("change", "needle"), [
    ({"GITHUB_WEBHOOK_SECRET": None}, "GITHUB_WEBHOOK_SECRET is not set"),
    ({"GITHUB_WEBHOOK_SECRET": "  "}, "GITHUB_WEBHOOK_SECRET is not set"),
    ({"GITHUB_APP_ID": None}, "GITHUB_APP_ID is not set"),
    ({"GITHUB_APP_ID": "abc"}, "GITHUB_APP_ID must be a number"),
    ({"GITHUB_PRIVATE_KEY": None}, "no private key"),
    ({"GITHUB_PRIVATE_KEY": "not a key"}, "is not a PEM-encoded private key"),
    ({"GITHUB_PRIVATE_KEY": None, "GITHUB_PRIVATE_KEY_PATH": "/nonexistent/key.pem"},
     "cannot read GITHUB_PRIVATE_KEY_PATH"),
    ({"PORT": "http"}, "PORT must be a whole number"),
    ({"PORT": "70000"}, "PORT must be between"),
    ({"GITHUB_API_URL": "api.github.com"}, "GITHUB_API_URL must be an http(s) URL"),
])
def test_bad_settings_are_named(keypair, change, needle):
    with pytest.raises(SettingsError) as info:
        Settings.from_env(_env(keypair, **change))
    assert needle in str(info.value)
    assert "s3cret-value" not in str(info.value)


def test_serve_refuses_to_start_before_binding(keypair, monkeypatch, capsys):
    for key in ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_PRIVATE_KEY_PATH",
                "GITHUB_WEBHOOK_SECRET"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GITHUB_APP_ID", "1")
    monkeypatch.setenv("GITHUB_PRIVATE_KEY", keypair[0])
    import reviewbot.app.server as server_module

    def must_not_bind(*args, **kwargs):
        raise AssertionError("bound a port with bad settings")

    monkeypatch.setattr(server_module, "run", must_not_bind)
    assert cli.main(["serve", "--port", "0"]) == 2
    assert "GITHUB_WEBHOOK_SECRET is not set" in capsys.readouterr().err

    calls = []
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "x")
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setattr(server_module, "run", lambda host, port, s: calls.append((host, port)))
    assert cli.main(["serve", "--host", "127.0.0.1"]) == 0
    assert calls == [("127.0.0.1", 8123)]


async def test_healthz(server):
    async with server.session.get(server.url + "/healthz") as resp:
        assert resp.status == 200
        assert (await resp.json())["status"] == "ok"


async def test_webhooks_go_straight_to_their_handler_and_the_rest_through_the_app(server):
    import aiohttp

    from reviewbot.app.webhook import signature

    body = json.dumps({"zen": "x", "hook_id": 1}).encode()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "ping",
               "X-GitHub-Delivery": "d-1",
               "X-Hub-Signature-256": signature(server.settings.webhook_secret, body)}
    async with server.session.post(server.url + "/webhook", data=body,
                                   headers=headers) as resp:
        assert (resp.status, (await resp.json())["outcome"]) == (200, "pong")
    # Expect: 100-continue is answered by the app's route, then the same handler runs.
    async with server.session.post(server.url + "/webhook", data=body, expect100=True,
                                   headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=5)) as resp:
        assert (resp.status, (await resp.json())["outcome"]) == (200, "pong")
    async with server.session.get(server.url + "/webhook") as resp:
        assert resp.status == 405  # the router's answer
    async with server.session.post(server.url + "/webhooks", data=body,
                                   headers=headers) as resp:
        assert resp.status == 404


async def test_metrics_in_prometheus_format(server, incident):
    await server.send("pull_request", pr_event(server.gh, "opened"))
    await server.send("issues", {"action": "opened"})
    async with server.session.get(server.url + "/metrics") as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        text = await resp.text()
    assert 'reviewbot_webhook_deliveries_total{event="pull_request",outcome="queued"} 1' in text
    assert 'reviewbot_webhook_deliveries_total{event="issues",outcome="ignored"} 1' in text
    assert "# TYPE reviewbot_job_duration_seconds histogram" in text
    assert 'reviewbot_job_duration_seconds_count{kind="pull_request",outcome="failure"} 1' \
        in text
    assert 'reviewbot_github_requests_total{method="POST",status="201"}' in text
    assert 'reviewbot_github_rate_limit_remaining{installation="1234"}' in text
    for line in text.splitlines():
        assert line.startswith("#") or len(line.rsplit(" ", 1)) == 2


def test_json_logs_redact_secrets():
    record = logging.LogRecord("reviewbot.x", logging.INFO, __file__, 1, "token minted", (),
                               None)
    token = "ghs_" + "A" * 500  # tokens are no longer 40 characters
    record.token = token
    record.installation = 5
    record.detail = f"Authorization: token {token}"
    out = json.loads(JSONFormatter().format(record))
    assert out["message"] == "token minted" and out["installation"] == 5
    assert out["token"] == "[redacted]"
    assert token not in json.dumps(out)


def test_demo_serve_replays_the_incident():
    import io

    from reviewbot.app import demo_serve

    out = io.StringIO()
    assert demo_serve.run(out) == 0
    text = out.getvalue()
    assert "completed / failure" in text and "completed / success" in text
    assert "backend/handlers/auth/main.py:3" in text and "GoalValidationError" in text
    assert "(1 comment on the PR)" in text


class _Text(io.TextIOWrapper):
    """A text stream over bytes, as stderr is: lines may be written to either layer."""

    def __init__(self):
        super().__init__(io.BytesIO(), encoding="utf-8", line_buffering=True)

    def getvalue(self) -> str:
        self.flush()
        return self.buffer.getvalue().decode()


@pytest.fixture(params=[io.StringIO, _Text])
def configured_logs(request):
    """`logs.configure` into a text-only or a bytes-backed stream; the root logger and the
    module state restored."""
    from reviewbot.app import logs

    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logs._stream)
    out = request.param()
    logs.configure(logging.INFO, stream=out)
    yield out
    root.handlers[:], root.level, logs._stream = saved


def test_line_logger_writes_the_formatters_line(configured_logs):
    from reviewbot.app.logs import LineLogger

    fields = {"delivery": "d-1", "pr": 7, "head_sha": "a" * 40, "secret_key": "s",
              "where": ("o", "r")}
    logging.getLogger("reviewbot.webhook").info("before")
    LineLogger("reviewbot.webhook").info("webhook accepted", fields)
    logging.getLogger("reviewbot.webhook").info("webhook accepted", extra=fields)
    LineLogger("reviewbot.webhook").info("after", {"token": "ghs_" + "A" * 40})
    first, fast, slow, last = (json.loads(line)
                               for line in configured_logs.getvalue().splitlines())
    assert (first["message"], last["message"], last["token"]) == ("before", "after",
                                                                  "[redacted]")
    assert fast.pop("ts")[:4] == slow.pop("ts")[:4]
    assert fast == slow == {"level": "info", "logger": "reviewbot.webhook",
                            "message": "webhook accepted", "delivery": "d-1", "pr": 7,
                            "head_sha": "a" * 40, "secret_key": "[redacted]",
                            "where": "('o', 'r')"}


def test_line_logger_in_the_loop_writes_a_turns_lines_at_its_end_in_order(configured_logs):
    import asyncio

    from reviewbot.app.logs import LineLogger

    lines = LineLogger("reviewbot.webhook")
    plain = logging.getLogger("reviewbot.webhook")
    seen = []

    async def turn():
        lines.info("one", {"n": 1})
        lines.info("two", {"n": 2})
        seen.append(configured_logs.getvalue())  # held until the turn ends
        await asyncio.sleep(0)
        seen.append(configured_logs.getvalue())
        lines.info("three", {"n": 3})
        plain.info("four")  # a record through logging: the held line goes first

    asyncio.run(turn())
    assert seen[0] == ""
    assert [json.loads(x)["message"] for x in seen[1].splitlines()] == ["one", "two"]
    assert [json.loads(x)["message"] for x in configured_logs.getvalue().splitlines()] == [
        "one", "two", "three", "four"]


def test_line_logger_follows_the_level_and_plain_logging(configured_logs, caplog):
    from reviewbot.app import logs

    logging.getLogger().setLevel(logging.WARNING)
    logs.LineLogger("reviewbot.webhook").info("webhook accepted", {"pr": 1})
    assert configured_logs.getvalue() == ""
    logs._stream = None  # logging not set up by `configure`: records go through logging
    logging.getLogger().setLevel(logging.INFO)
    with caplog.at_level(logging.INFO, logger="reviewbot.webhook"):
        logs.LineLogger("reviewbot.webhook").info("webhook accepted", {"pr": 2})
    assert [(r.getMessage(), r.pr) for r in caplog.records] == [("webhook accepted", 2)]


def test_serve_runs_on_uvloop_when_installed(monkeypatch):
    import asyncio
    import sys

    from reviewbot.app import server

    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed
    loop = server.event_loop()
    assert type(loop).__module__.startswith("asyncio")
    loop.close()
    monkeypatch.undo()
    uvloop = pytest.importorskip("uvloop")
    loop = server.event_loop()
    assert isinstance(loop, uvloop.Loop) and isinstance(loop, asyncio.AbstractEventLoop)
    loop.close()
