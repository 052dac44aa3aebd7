"""App JWTs and the installation-token cache."""

from __future__ import annotations

import asyncio
import time

import jwt

from reviewbot.app.github.auth import AppJWT, TokenCache, app_jwt, parse_expiry


def test_jwt_is_backdated_and_short_lived(keypair):
    now = time.time()
    token = app_jwt("4242", keypair[0], now=now)
    claims = jwt.decode(token, keypair[1], algorithms=["RS256"])
    assert claims["iss"] == "4242"
    assert claims["iat"] == int(now) - 60
    assert 0 < claims["exp"] - now <= 600
    assert jwt.get_unverified_header(token)["alg"] == "RS256"


def test_app_jwt_is_cached_and_renewed(keypair):
    clock = [1_000_000.0]
    cache = AppJWT("1", keypair[0], clock=lambda: clock[0])
    first = cache.get()
    assert cache.get() == first
    clock[0] += 400  # still valid for a while, but past the renewal point
    assert cache.get() != first


async def test_tokens_cached_until_a_minute_before_expiry():
    clock = [0.0]
    minted = []

    async def mint(iid):
        minted.append(iid)
        return f"tok-{iid}-{len(minted)}", clock[0] + 3600

    cache = TokenCache(mint, clock=lambda: clock[0])
    assert await cache.get(1) == "tok-1-1"
    clock[0] = 3539
    assert await cache.get(1) == "tok-1-1"
    clock[0] = 3541  # inside the last minute: refresh
    assert await cache.get(1) == "tok-1-2"
    assert await cache.get(2) == "tok-2-3"  # one token per installation
    cache.invalidate(1)
    assert await cache.get(1) == "tok-1-4"


async def test_refresh_is_single_flight():
    calls = 0

    async def mint(iid):
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return "tok", time.time() + 3600

    cache = TokenCache(mint)
    tokens = await asyncio.gather(*(cache.get(7) for _ in range(25)))
    assert set(tokens) == {"tok"} and calls == 1


def test_expiry_parsing():
    assert parse_expiry("2016-07-11T22:14:10Z") == 1468275250.0


async def test_runner_mints_against_the_stand_in_and_keeps_etags_per_installation(server):
    runner = server.runner
    token = await runner.tokens.get(77)
    assert token in server.gh.tokens and len(token) > 40  # not a fixed 40-char token
    assert await runner.tokens.get(77) == token and runner.tokens.mints == 1
    a, b, a2 = runner.client(1), runner.client(2), runner.client(1)
    assert a._cache is a2._cache and a._cache is not b._cache
    assert a.limiter is a2.limiter and a.limiter is not b.limiter
    assert await runner.bot_login() == server.gh.bot_login
