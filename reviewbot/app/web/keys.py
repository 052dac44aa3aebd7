"""Typed keys for what the aiohttp application holds (aiohttp's AppKey)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

SETTINGS: web.AppKey[Any] = web.AppKey("settings")
METRICS: web.AppKey[Any] = web.AppKey("metrics")
DELIVERIES: web.AppKey[Any] = web.AppKey("deliveries")
POLICY: web.AppKey[Any] = web.AppKey("policy")
STARTED: web.AppKey[float] = web.AppKey("started", float)
RUNNER: web.AppKey[Any] = web.AppKey("runner")
QUEUE: web.AppKey[Any] = web.AppKey("queue")
READINESS: web.AppKey[Any] = web.AppKey("readiness")
