"""Helpers shared by the summary tests."""

from __future__ import annotations

import sys
import textwrap

from reviewbot.summary import ModuleSummary, summarize

HOST = sys.version_info[:2]  # the parser's own version: every syntax error is an error


def summ(src: str | bytes, version=HOST, path="pkg/m.py") -> ModuleSummary:
    data = textwrap.dedent(src).encode() if isinstance(src, str) else src
    result = summarize(data, path, version)
    return result


def cert(src: str, version=(3, 12)) -> dict[str, int]:
    s = summ(src, version)
    assert s.error is None, s.error
    return {name: c for name, (c, _) in s.names.items()}
