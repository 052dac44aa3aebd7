"""App JWTs and installation tokens.

The JWT's `iat` is back-dated 60 s for clock drift. Installation tokens are cached per
installation until a minute before they expire; concurrent callers share one refresh
(single-flight); a token is looked up before every request, so long jobs never send an
expired one. Tokens are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import jwt

log = logging.getLogger("reviewbot.auth")

CLOCK_SKEW = 60
JWT_LIFETIME = 540  # exp = iat + 540 = now + 480 s, inside GitHub's 10 minutes
REFRESH_MARGIN = 60


def app_jwt(app_id: str, private_key: str, *, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time()) - CLOCK_SKEW
    return jwt.encode({"iat": issued, "exp": issued + JWT_LIFETIME, "iss": str(app_id)},
                      private_key, algorithm="RS256")


class AppJWT:
    """A cached App JWT, renewed well before it expires."""

    def __init__(self, app_id: str, private_key: str, clock: Callable[[], float] = time.time):
        self._app_id = app_id
        self._key = private_key
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0

    def get(self) -> str:
        now = self._clock()
        if self._token is None or now >= self._renew_at:
            self._token = app_jwt(self._app_id, self._key, now=now)
            self._renew_at = now + JWT_LIFETIME - CLOCK_SKEW - 120
        return self._token


def parse_expiry(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class _Entry:
    token: str = field(repr=False)
    expires_at: float


Minter = Callable[[int], Awaitable[tuple[str, float]]]


class TokenCache:
    def __init__(self, mint: Minter, *, margin: float = REFRESH_MARGIN,
                 clock: Callable[[], float] = time.time):
        self._mint = mint
        self._margin = margin
        self._clock = clock
        self._entries: dict[int, _Entry] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self.mints = 0

    def _valid(self, installation_id: int) -> str | None:
        entry = self._entries.get(installation_id)
        if entry is not None and entry.expires_at - self._margin > self._clock():
            return entry.token
        return None

    async def get(self, installation_id: int) -> str:
        token = self._valid(installation_id)
        if token is not None:
            return token
        lock = self._locks.setdefault(installation_id, asyncio.Lock())
        async with lock:
            token = self._valid(installation_id)  # someone else refreshed meanwhile
            if token is not None:
                return token
            token, expires_at = await self._mint(installation_id)
            self.mints += 1
            self._entries[installation_id] = _Entry(token, expires_at)
            log.info("installation token minted", extra={
                "installation": installation_id,
                "expires_in": int(expires_at - self._clock())})
            return token

    def invalidate(self, installation_id: int) -> None:
        self._entries.pop(installation_id, None)

    def provider(self, installation_id: int) -> Callable[[], Awaitable[str]]:
        async def get() -> str:
            return await self.get(installation_id)
        return get
