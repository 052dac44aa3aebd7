"""The delivery path in front of aiohttp, over raw connections: plain deliveries answered,
everything else handed to aiohttp with the bytes already read, in order, and stopped
gracefully."""

from __future__ import annotations

import asyncio
import logging
import random
from urllib.parse import urlsplit

import orjson
import pytest

from reviewbot.app import deliveryhttp, webhook
from reviewbot.app.webhook import MAX_BODY, signature


def ping(server, *, delivery: str = "d-1", extra: bytes = b"", ctype: bytes = b"application/json",
         length: int | None = None, zen: str = "Keep it logically awesome.") -> bytes:
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


async def test_plain_deliveries_answered_on_a_kept_alive_connection(server):
    reader, writer = await connect(server)
    for n in range(3):
        writer.write(ping(server, delivery=f"d-{n}"))
        status, headers, body = await read_response(reader)
        assert (status, orjson.loads(body)) == (200, {"outcome": "pong"})
        assert headers["content-type"] == "application/json"
        assert headers["date"].endswith("GMT")
    writer.close()


async def test_another_request_hands_the_connection_to_the_app_in_order(make_server):
    server = await make_server()
    reader, writer = await connect(server)
    writer.write(ping(server, delivery="0"))
    assert (await read_response(reader))[0] == 200
    assert len(server.app_runner.server.open) == 1  # answered by deliveryhttp
    # pipelined: a delivery, a request of another shape, then a delivery aiohttp now answers
    writer.write(ping(server, delivery="a") + HEALTHZ + ping(server, delivery="b"))
    answers = [await read_response(reader) for _ in range(3)]
    assert [a[0] for a in answers] == [200, 200, 200]
    assert orjson.loads(answers[0][2]) == {"outcome": "pong"}
    assert orjson.loads(answers[1][2])["status"] == "ok"
    assert orjson.loads(answers[2][2]) == {"outcome": "pong"}
    assert not server.app_runner.server.open  # aiohttp's now
    writer.write(HEALTHZ)
    assert (await read_response(reader))[0] == 200
    writer.close()


async def test_a_delivery_split_into_single_bytes(server):
    reader, writer = await connect(server)
    for byte in ping(server):
        writer.write(bytes([byte]))
        await writer.drain()
    status, _, body = await read_response(reader)
    assert (status, orjson.loads(body)) == (200, {"outcome": "pong"})
    writer.close()


async def test_a_10_mb_delivery_in_pieces(server):
    reader, writer = await connect(server)
    request = ping(server, zen="z" * (10 * 1024 * 1024))
    for start in range(0, len(request), 65536):
        writer.write(request[start:start + 65536])
        await writer.drain()
    writer.write(ping(server, delivery="next"))
    assert [(await read_response(reader))[0] for _ in range(2)] == [200, 200]
    writer.close()


async def test_pipelined_requests_split_anywhere(server):
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


async def test_other_shapes_of_a_delivery_are_answered_by_aiohttp(server):
    request = ping(server)
    head, _, body = request.partition(b"\r\n\r\n")
    no_length = b"\r\n".join(x for x in head.split(b"\r\n") if not x.startswith(b"Content-Length"))
    chunked = (no_length + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    cases = [
        (chunked, 200),
        (ping(server, ctype=b"application/json; charset=utf-8"), 200),
        (ping(server, ctype=b"text/plain"), 415),
        (ping(server, length=MAX_BODY + 1).partition(b"\r\n\r\n")[0] + b"\r\n\r\n", 413),
        (request.replace(b"/webhook", b"/webhook?x=1", 1), 200),
        (request.replace(b"HTTP/1.1", b"HTTP/1.0", 1), 200),
    ]
    for raw, expected in cases:
        reader, writer = await connect(server)
        writer.write(raw)
        assert (await read_response(reader))[0] == expected, raw[:120]
        writer.close()


async def test_expect_100_continue(server):
    head, _, body = ping(server, extra=b"Expect: 100-continue\r\n").partition(b"\r\n\r\n")
    reader, writer = await connect(server)
    writer.write(head + b"\r\n\r\n")
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).startswith(
        b"HTTP/1.1 100 Continue")
    writer.write(body)
    status, _, reply = await read_response(reader)
    assert (status, orjson.loads(reply)) == (200, {"outcome": "pong"})
    writer.close()


async def test_garbage_gets_aiohttps_400(server):
    reader, writer = await connect(server)
    writer.write(b"POST /webhook HTTP/1.1\r\nContent-Length: x\r\n\r\n")
    assert (await read_response(reader))[0] == 400
    writer.close()


async def test_a_head_with_bare_line_feeds_is_left_to_aiohttp(server):
    reader, writer = await connect(server)
    writer.write(ping(server).replace(b"\r\n", b"\n"))
    assert (await read_response(reader))[0] == 400  # aiohttp's answer, not a stall
    writer.close()


async def test_connection_close_is_honoured(make_server):
    server = await make_server()
    reader, writer = await connect(server)
    # pipelined after a delivery that closes: never read
    writer.write(ping(server, extra=b"Connection: close\r\n") + HEALTHZ)
    status, headers, _ = await read_response(reader)
    assert (status, headers["connection"]) == (200, "close")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert not server.app_runner.server.open


async def test_a_client_that_half_closes_still_gets_its_answer(server):
    reader, writer = await connect(server)
    writer.write(ping(server))
    writer.write_eof()
    assert (await read_response(reader))[0] == 200
    assert await asyncio.wait_for(reader.read(), 5) == b""


async def test_a_handler_fault_is_a_500_and_the_connection_goes_on(server, monkeypatch, caplog):
    real = webhook.accept
    calls = []

    async def faulty(app, headers, body):
        calls.append(headers["X-GitHub-Delivery"])
        if len(calls) == 1:
            raise RuntimeError("bug")
        return await real(app, headers, body)

    monkeypatch.setattr(webhook, "accept", faulty)
    reader, writer = await connect(server)
    writer.write(ping(server, delivery="first") + ping(server, delivery="second"))
    assert (await read_response(reader))[0] == 500
    assert (await read_response(reader))[0] == 200
    assert calls == ["first", "second"]
    assert any(r.levelno == logging.ERROR and r.delivery == "first" for r in caplog.records)
    writer.close()


async def test_many_pipelined_deliveries_are_all_answered(server):
    reader, writer = await connect(server)
    count = 1000  # about 2.5 MB: more than the read-ahead limit
    pad = b"X-Pad: " + b"p" * 2000 + b"\r\n"
    data = b"".join(ping(server, delivery=f"d-{n}", extra=pad) for n in range(count))
    assert len(data) > deliveryhttp.PIPELINE_LIMIT
    writer.write(data)
    statuses = [(await read_response(reader))[0] for _ in range(count)]
    assert statuses == [200] * count
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
        make_server, monkeypatch):
    server = await make_server()
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
    handed_reader, handed_writer = await connect(server)
    handed_writer.write(HEALTHZ)
    assert (await read_response(handed_reader))[0] == 200
    assert await asyncio.wait_for(handed_reader.read(), 5) == b""  # aiohttp's, idle too


@pytest.mark.parametrize(("head", "shape"), [
    (b"POST /webhook HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n",
     5),
    (b"POST /webhook HTTP/1.1\r\ncontent-type: Application/JSON\r\ncontent-length: 0\r\n\r\n",
     0),
    (b"GET /webhook HTTP/1.1\r\n\r\n", None),
    (b"POST /webhook/ HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n",
     None),
    (b"POST /webhook HTTP/1.1\r\nContent-Type: application/json\r\n\r\n", None),
    (b"POST /webhook HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
     b"Content-Length: 5\r\n\r\n", None),
    (b"POST /webhook HTTP/1.1\r\nContent-Type: application/json\r\nContent-Type: text/plain\r\n"
     b"Content-Length: 5\r\n\r\n", None),
    (b"POST /webhook HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n", None),
    (b"POST /webhook HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
     b"Upgrade: websocket\r\nConnection: upgrade\r\n\r\n", None),
    (b"POST /webhook HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
     % (MAX_BODY + 1), None),
    (b"POST /webhook HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
     + b"X-A: b\r\n" * (deliveryhttp.MAX_HEADERS) + b"\r\n", None),
    (b"POST /webhook HTTP/1.1\r\nContent-Length: -1\r\n\r\n", None),
    # llhttp is strict about line ends, so the head ends where this module says it does
    (b"POST /webhook HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5\n"
     b"X-A: b\r\n\r\n", None),
    (b"POST /webhook HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
     b"X-A: a\rb\r\n\r\n", None),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", None),  # TLS on the plain port
])
def test_parse_head_takes_the_plain_delivery_shape_only(head, shape):
    parsed = deliveryhttp.parse_head(head)
    if shape is None:
        assert parsed is None
    else:
        assert parsed is not None and parsed[1:] == (shape, True)
        assert parsed[0]["content-type"].lower() == "application/json"


def test_parse_head_reads_connection_close():
    head = (b"POST /webhook HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
            b"Connection: close\r\n\r\n")
    assert deliveryhttp.parse_head(head)[1:] == (5, False)


def test_response_is_a_whole_http_message():
    raw = deliveryhttp.response(202, b'{"outcome":"queued"}')
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 202 Accepted"
    assert b"Content-Length: 20" in lines and b"Content-Type: application/json" in lines
    assert b"Connection: close" not in lines
    assert body == b'{"outcome":"queued"}'
    assert b"\r\nConnection: close\r\n\r\n" in deliveryhttp.response(500, b"{}", close=True)
