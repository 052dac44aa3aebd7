"""JSON logs: fixed message strings, variables in `extra`, secrets never written."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import re
import sys
import threading
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


_PLAIN = (str, int, float, bool, type(None))
_SKIP, _SECRET, _KEEP = 1, 2, 3  # all true: `kinds.get(key) or _kind(key)`
_kinds: dict[str, int] = {}  # record attribute -> what the formatter does with it


def _kind(key: str) -> int:
    kind = _kinds.get(key)
    if kind is None:
        kind = _kinds[key] = (_SKIP if key in _STANDARD or key[0] == "_" else
                              _SECRET if _SECRET_KEYS.search(key) else _KEEP)
    return kind


_second: list = [None, ""]  # the last whole second formatted, and its text


def _timestamp(created: float, msecs: float) -> str:
    whole = int(created)
    if whole != _second[0]:
        _second[:] = [whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))]
    return f"{_second[1]}.{int(msecs):03d}Z"


def _add_fields(data: dict, fields: dict) -> dict:
    kinds = _kinds
    for key, value in fields.items():
        kind = kinds.get(key) or _kind(key)
        if kind == _SKIP:
            continue
        if kind == _SECRET:
            value = "[redacted]"
        elif not isinstance(value, _PLAIN):
            value = str(value)
        data[key] = value
    return data


def _dump(data: dict) -> str:
    return redact(orjson.dumps(data, default=str).decode())


class JSONFormatter(logging.Formatter):
    """One JSON object per line: orjson, no caller lookup, each attribute name classified
    once, the second formatted once."""

    def format(self, record: logging.LogRecord) -> str:
        data = _add_fields({"ts": _timestamp(record.created, record.msecs),
                            "level": record.levelname.lower(), "logger": record.name,
                            "message": record.getMessage()}, record.__dict__)
        if record.exc_info:  # the traceback as a field: the line stays one JSON object
            data["exc_info"] = self.formatException(record.exc_info)
            data["exc_type"] = getattr(record.exc_info[0], "__name__", None)
        if record.stack_info:
            data["stack_info"] = record.stack_info
        return _dump(data)


_stream = None  # where `configure` sends the lines
_held: list[bytes] = []  # LineLogger lines of this turn of the event loop, not written yet


def flush_lines() -> None:
    """Write the lines LineLogger holds, in one write. Runs at the end of the loop turn
    that made them, before any other record is written (so lines keep their order), and
    at exit."""
    if not _held:
        return
    data = b"".join(_held)
    _held.clear()
    stream = _stream
    if stream is None:
        return
    out = getattr(stream, "buffer", None)
    if out is None:
        stream.write(data.decode())
        stream.flush()
    else:
        stream.flush()  # whatever the text layer holds goes first
        out.write(data)
        out.flush()


atexit.register(flush_lines)


class _Handler(logging.StreamHandler):
    def emit(self, record: logging.LogRecord) -> None:
        flush_lines()
        super().emit(record)


class LineLogger:
    """`info(message, fields)` for the one line written at request rate (a webhook
    delivery). Once `configure` has set up logging, it writes the JSONFormatter's line
    straight to the stream's bytes, without a LogRecord, the handler chain or a text
    layer (its cost is in docs/performance.md); in the event loop, the lines of one
    turn of the loop go out in one write. Otherwise (tests, another program's logging) it is
    `Logger.info`."""

    def __init__(self, name: str):
        self.logger = logging.getLogger(name)

    def info(self, message: str, fields: dict) -> None:
        logger = self.logger
        stream = _stream
        if stream is None or logger.handlers or logger.filters:
            logger.info(message, extra=fields)
        elif logger.isEnabledFor(logging.INFO):
            now = time.time()
            line = orjson.dumps(_add_fields({"ts": _timestamp(now, (now - int(now)) * 1000),
                                             "level": "info", "logger": logger.name,
                                             "message": message}, fields), default=str)
            if b"gh" in line or b"eyJ" in line:  # as `redact` does
                line = redact(line.decode()).encode()
            _held.append(line + b"\n")
            if len(_held) == 1:
                try:
                    asyncio.get_running_loop().call_soon(flush_lines)
                except RuntimeError:  # no loop here: at once
                    flush_lines()


def configure(level: int | None = None, stream=None) -> None:
    """JSON lines on stderr, at REVIEWBOT_LOG_LEVEL (default INFO)."""
    if level is None:
        name = os.environ.get("REVIEWBOT_LOG_LEVEL", "INFO").upper()
        level = logging.getLevelName(name) if isinstance(logging.getLevelName(name), int) \
            else logging.INFO
    global _stream
    flush_lines()  # held lines go where they were meant to
    _stream = stream or sys.stderr
    handler = _Handler(_stream)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # Records never show file and line; skip the stack walk that would find them.
    logging._srcfile = None
    # What would print plain text to stderr goes through the JSON lines instead: warnings,
    # and exceptions nothing caught, in the main thread or another.
    logging.captureWarnings(True)
    sys.excepthook = _uncaught
    threading.excepthook = lambda args: _uncaught(args.exc_type, args.exc_value,
                                                  args.exc_traceback)


def _uncaught(exc_type, exc, tb) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    logging.getLogger("reviewbot").critical("uncaught exception",
                                            exc_info=(exc_type, exc, tb))
