"""JSON logs: fixed message strings, variables in `extra`, secrets never written."""

from __future__ import annotations

import logging
import os
import re
import sys
import time

import orjson

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_SECRET_KEYS = re.compile(r"token|secret|private|password|authorization|jwt|key$", re.I)
_SECRET_VALUES = re.compile(r"\b(gh[pousr]_[A-Za-z0-9_]{20,}|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_.-]+)")


def redact(text: str) -> str:
    """Blank anything shaped like a GitHub token or a JWT (tokens vary in length)."""
    if "gh" not in text and "eyJ" not in text:  # neither shape can be there
        return text
    return _SECRET_VALUES.sub("[redacted]", text)


_secret_key: dict[str, bool] = {}


def _is_secret_key(key: str) -> bool:
    hit = _secret_key.get(key)
    if hit is None:
        hit = _secret_key[key] = bool(_SECRET_KEYS.search(key))
    return hit


class JSONFormatter(logging.Formatter):
    """One JSON object per line. On the webhook's hot path: orjson, no caller lookup."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD or key[0] == "_":
                continue
            if _is_secret_key(key):
                value = "[redacted]"
            elif not isinstance(value, str | int | float | bool | type(None)):
                value = str(value)
            data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return redact(orjson.dumps(data, default=str).decode())


def configure(level: int | None = None, stream=None) -> None:
    """JSON lines on stderr, at REVIEWBOT_LOG_LEVEL (default INFO)."""
    if level is None:
        name = os.environ.get("REVIEWBOT_LOG_LEVEL", "INFO").upper()
        level = logging.getLevelName(name) if isinstance(logging.getLevelName(name), int) \
            else logging.INFO
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # Records never show file and line; skip the stack walk that would find them.
    logging._srcfile = None
