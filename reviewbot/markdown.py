"""Text from code and from messages, made literal for GitHub's Markdown (cmark-gfm).

Paths, names and Lambda's messages are not Markdown: `goals_common/__init__.py` pasted as
is renders as `goals_common/**init**.py`, and a `|` in a handler name splits a table
cell. Everything the comment and the check run show from code goes through `text` (plain
text, every character that can start Markdown syntax backslash-escaped) or `code` (a code
span). Inside a table cell, GFM splits on `|` even in code spans unless it is escaped,
and a newline ends the row, so cells pass `cell=True`.
"""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#&!])")
_TICKS = re.compile(r"`+")


def text(value: str, *, cell: bool = False) -> str:
    """`value` shown literally in Markdown prose (or in a table cell)."""
    out = _SPECIAL.sub(r"\\\1", value)
    return " ".join(out.split("\n")) if cell else out


def code(value: str, *, cell: bool = False) -> str:
    """`value` as a code span: a fence longer than any backtick run inside it."""
    longest = max((len(m) for m in _TICKS.findall(value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    if cell:
        value = " ".join(value.replace("|", "\\|").split("\n"))
    return f"{fence}{pad}{value}{pad}{fence}"
