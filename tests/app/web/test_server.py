"""Settings (errors before bind), /healthz, /metrics, JSON logs, and HTTP over raw
connections: aiohttp serves every request, deliveries included."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest

from reviewbot import cli
from reviewbot.app.logs import JSONFormatter
from reviewbot.app.settings import Settings, SettingsError
from reviewbot.app.web import keys, webhook
from reviewbot.app.web.webhook import MAX_BODY, signature
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
    assert s.max_memory is None
    assert Settings.from_env(_env(keypair, REVIEWBOT_MAX_MEMORY="3G")).max_memory == 3 << 30
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
    ({"REVIEWBOT_MAX_MEMORY": "lots"}, "REVIEWBOT_MAX_MEMORY: 'lots' is not a size"),
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
    import reviewbot.app.web.server as server_module

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
    async with server.session.get(server.url + "/readyz") as resp:  # the embedded queue
        assert (resp.status, await resp.json()) == (200, {"status": "ready"})


async def test_the_webhook_route(server):
    import aiohttp

    body = json.dumps({"zen": "x", "hook_id": 1}).encode()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "ping",
               "X-GitHub-Delivery": "d-1",
               "X-Hub-Signature-256": signature(server.settings.webhook_secret, body)}
    async with server.session.post(server.url + "/webhook", data=body,
                                   headers=headers) as resp:
        assert (resp.status, (await resp.json())["outcome"]) == (200, "pong")
    # Expect: 100-continue is answered by aiohttp, then the handler runs.
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

    from reviewbot.app.demo import serve as demo_serve

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
    import threading

    from reviewbot.app import logs

    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logs._stream)
    hooks = (sys.excepthook, threading.excepthook)
    out = request.param()
    logs.configure(logging.INFO, stream=out)
    yield out
    root.handlers[:], root.level, logs._stream = saved
    sys.excepthook, threading.excepthook = hooks
    logging.captureWarnings(False)


def test_every_line_is_one_json_object_exceptions_and_warnings_included(tmp_path):
    """A process that configured the logs: a logged exception, a warning, an exception in
    a thread and one nothing caught all come out as JSON lines, the traceback a field."""
    script = tmp_path / "crash.py"
    script.write_text(
        "import logging, threading, warnings\n"
        "from reviewbot.app import logs\n"
        "logs.configure()\n"
        "try:\n    1 / 0\nexcept ZeroDivisionError:\n"
        "    logging.getLogger('reviewbot.job').exception('job failed', extra={'pr': 7})\n"
        "warnings.warn('old API')\n"
        "t = threading.Thread(target=lambda: {}['missing'])\nt.start()\nt.join()\n"
        "raise RuntimeError('at start-up')\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parents[3])
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stderr.splitlines()]  # each one JSON
    assert [line["message"] for line in lines][::2] == ["job failed", "uncaught exception"]
    failed, warned, thread, crash = lines
    assert failed["pr"] == 7 and failed["exc_type"] == "ZeroDivisionError"
    assert "Traceback" in failed["exc_info"] and "1 / 0" in failed["exc_info"]
    assert warned["logger"] == "py.warnings" and "old API" in warned["message"]
    assert thread["exc_type"] == "KeyError" and crash["exc_type"] == "RuntimeError"
    assert crash["level"] == "critical"


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

    from reviewbot.app.web import server

    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed
    loop = server.event_loop()
    assert type(loop).__module__.startswith("asyncio")
    loop.close()
    monkeypatch.undo()
    uvloop = pytest.importorskip("uvloop")
    loop = server.event_loop()
    assert isinstance(loop, uvloop.Loop) and isinstance(loop, asyncio.AbstractEventLoop)
    loop.close()


# -- HTTP over raw connections --------------------------------------------------------------

def ping(server, *, delivery: str = "d-1", extra: bytes = b"", ctype: bytes = b"application/json",
         length: int | None = None, zen: str = "Keep it logically awesome.") -> bytes:
    """A signed `ping` delivery as GitHub sends it; `extra` is more header lines."""
    body = orjson.dumps({"zen": zen, "hook_id": 1})
    return b"".join([
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: ", ctype,
        b"\r\nX-GitHub-Event: ping\r\nX-GitHub-Delivery: ", delivery.encode(),
        b"\r\nX-Hub-Signature-256: ", signature(server.settings.webhook_secret, body).encode(),
        b"\r\nContent-Length: ", str(len(body) if length is None else length).encode(), b"\r\n",
        extra, b"\r\n", body])


HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


async def connect(server):
    url = urlsplit(server.url)
    return await asyncio.open_connection(url.hostname, url.port)


async def read_response(reader) -> tuple[int, dict, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
    body = await reader.readexactly(int(headers.get("content-length", 0)))
    return status, headers, body


async def test_deliveries_on_a_kept_alive_connection(server):
    reader, writer = await connect(server)
    for n in range(3):
        writer.write(ping(server, delivery=f"d-{n}"))
        status, headers, body = await read_response(reader)
        assert (status, orjson.loads(body)) == (200, {"outcome": "pong"})
        assert headers["content-type"] == "application/json"
        assert headers["date"].endswith("GMT")
        assert "connection" not in headers  # kept alive
    writer.close()


async def test_pipelined_requests_split_anywhere_are_answered_in_order(server):
    rng = random.Random(6)
    data = ping(server, delivery="a") + ping(server, delivery="b") + HEALTHZ + ping(server)
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(data)), 6))
        reader, writer = await connect(server)
        for start, stop in zip([0, *cuts], [*cuts, len(data)], strict=True):
            writer.write(data[start:stop])
            await writer.drain()
            await asyncio.sleep(0)
        answers = [await read_response(reader) for _ in range(4)]
        assert [a[0] for a in answers] == [200] * 4, cuts
        assert [orjson.loads(a[2]).get("outcome") for a in answers] == [
            "pong", "pong", None, "pong"], cuts
        writer.close()


async def test_many_pipelined_deliveries_are_all_answered(server):
    reader, writer = await connect(server)
    count = 1000  # about 2.5 MB: reading pauses and resumes on the way
    pad = b"X-Pad: " + b"p" * 2000 + b"\r\n"
    writer.write(b"".join(ping(server, delivery=f"d-{n}", extra=pad) for n in range(count)))
    statuses = [(await read_response(reader))[0] for _ in range(count)]
    assert statuses == [200] * count
    writer.close()


async def test_a_10_mb_delivery_in_pieces_then_another(server):
    reader, writer = await connect(server)
    request = ping(server, zen="z" * (10 * 1024 * 1024))
    for start in range(0, len(request), 65536):
        writer.write(request[start:start + 65536])
        await writer.drain()
    writer.write(ping(server, delivery="next"))
    assert [(await read_response(reader))[0] for _ in range(2)] == [200, 200]
    writer.close()


async def test_an_oversized_content_length_is_a_413_before_the_body_is_sent(server):
    reader, writer = await connect(server)
    head = ping(server, length=MAX_BODY + 1).partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
    writer.write(head)  # and never the body
    status, _, body = await read_response(reader)
    assert (status, orjson.loads(body)) == (413, {"outcome": "too_large"})
    assert server.app[keys.METRICS].value("reviewbot_webhook_deliveries_total",
                                          {"event": "ping", "outcome": "too_large"}) == 1
    writer.close()


async def test_every_shape_of_a_delivery_gets_the_handlers_answer(server):
    request = ping(server)
    head, _, body = request.partition(b"\r\n\r\n")
    no_length = b"\r\n".join(x for x in head.split(b"\r\n") if not x.startswith(b"Content-Length"))
    chunked = (no_length + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    cases = [
        (chunked, 200),
        (ping(server, ctype=b"application/json; charset=utf-8"), 200),
        (ping(server, ctype=b"text/plain"), 415),
        (request.replace(b"/webhook", b"/webhook?x=1", 1), 200),
        (request.replace(b"HTTP/1.1", b"HTTP/1.0", 1), 200),
        # aiohttp's parser (llhttp, strict) refuses these before any handler runs
        (b"POST /webhook HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
        (request.replace(b"\r\n", b"\n"), 400),
    ]
    for raw, expected in cases:
        reader, writer = await connect(server)
        writer.write(raw)
        assert (await read_response(reader))[0] == expected, raw[:120]
        writer.close()


async def test_connection_close_is_honoured(server):
    reader, writer = await connect(server)
    writer.write(ping(server, extra=b"Connection: close\r\n"))
    status, headers, _ = await read_response(reader)
    assert (status, headers["connection"]) == (200, "close")
    assert await asyncio.wait_for(reader.read(), 5) == b""


async def test_a_handler_fault_is_a_500_and_logged(server, monkeypatch, caplog):
    real = webhook.accept
    calls = []

    async def faulty(app, headers, body):
        calls.append(headers["X-GitHub-Delivery"])
        if len(calls) == 1:
            raise RuntimeError("bug")
        return await real(app, headers, body)

    monkeypatch.setattr(webhook, "accept", faulty)
    reader, writer = await connect(server)
    writer.write(ping(server, delivery="first"))
    assert (await read_response(reader))[0] == 500
    assert any(r.levelno == logging.ERROR and r.exc_info for r in caplog.records)
    writer.close()
    reader, writer = await connect(server)  # aiohttp closes the connection of a 500
    writer.write(ping(server, delivery="second"))
    assert (await read_response(reader))[0] == 200
    assert calls == ["first", "second"]
    writer.close()


class Gate:
    """webhook.accept that waits to be let through."""

    def __init__(self, monkeypatch):
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        real = webhook.accept

        async def gated(app, headers, body):
            self.entered.set()
            await self.release.wait()
            return await real(app, headers, body)

        monkeypatch.setattr(webhook, "accept", gated)


async def test_a_graceful_stop_answers_the_delivery_in_flight_and_closes_idle_ones(
        server, monkeypatch):
    idle_reader, _ = await connect(server)
    reader, writer = await connect(server)
    gate = Gate(monkeypatch)
    writer.write(ping(server))
    await asyncio.wait_for(gate.entered.wait(), 5)
    stopping = asyncio.create_task(server.app_runner.cleanup())
    assert await asyncio.wait_for(idle_reader.read(), 5) == b""  # closed at once
    gate.release.set()
    assert (await read_response(reader))[0] == 200
    assert await asyncio.wait_for(reader.read(), 5) == b""
    await asyncio.wait_for(stopping, 10)


async def test_a_client_gone_mid_answer_breaks_nothing(server, monkeypatch, caplog):
    reader, writer = await connect(server)
    gate = Gate(monkeypatch)
    writer.write(ping(server))
    await asyncio.wait_for(gate.entered.wait(), 5)
    writer.close()
    await asyncio.sleep(0.05)
    gate.release.set()
    await asyncio.sleep(0.05)
    reader, writer = await connect(server)
    writer.write(ping(server, delivery="after"))
    assert (await read_response(reader))[0] == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    writer.close()


async def test_an_idle_connection_is_closed_after_the_keepalive_timeout(make_server):
    server = await make_server(serve_options={"keepalive_timeout": 0.3})
    reader, writer = await connect(server)
    writer.write(ping(server))
    assert (await read_response(reader))[0] == 200
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed once idle
    silent_reader, _ = await connect(server)
    assert await asyncio.wait_for(silent_reader.read(), 5) == b""  # never sent a thing


async def test_the_homepage_exists(server):
    async with server.session.get(server.url + "/") as resp:
        assert resp.status == 200
        assert "POST /webhook" in await resp.text()
