"""Syntax the function's Python version rejects though the host's parser accepts it.

reviewbot parses with the Python it runs on. Constructs newer than the function's runtime
(`match` before 3.10, `except*` before 3.11, `type X = ...` and type parameters before
3.12) are found in the tree and reported as that version's parser words them, at the line
where it stops: "invalid syntax", or "expected '('" for type parameters on 3.11. PEP 701
f-strings (3.12: the enclosing quote reused, or a backslash, inside a replacement field)
are found in the tokens, on a 3.12+ host whose tokenizer marks f-strings. Checked only when
the source mentions one of these constructs, so most files cost nothing.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize

_MENTIONS = re.compile(
    rb"^[ \t]*(?:match|case)\b|except[ \t]*\*|^[ \t]*type[ \t]+\w|"
    rb"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+\w+[ \t]*\[",
    re.MULTILINE,
)
_TYPE_ALIAS = getattr(ast, "TypeAlias", None)
_TRY_STAR = getattr(ast, "TryStar", None)


# What newer parsers accept that 3.11's does not: the constructs above, PEP 701 f-strings
# (3.12), template strings and `except A, B:` (3.14).
_NEWER = re.compile(rb"(?<![\w.])(?:[fFtT][rR]?|[rR][fFtT])['\"]|except[^:\n]*,")


# An f-string with a quote or a backslash after a `{` on its line: maybe PEP 701 syntax.
_FSTRING_HINT = re.compile(rb"""[fF][rR]?(["'])[^\n]*?\{[^}\n]*(?:["']|\\)""")
_FSTRING_START = getattr(tokenize, "FSTRING_START", None)  # Python 3.12+
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)


def may_reuse_quotes(source: bytes) -> bool:
    return _FSTRING_START is not None and _FSTRING_HINT.search(source) is not None


def pep701(source: bytes) -> tuple[str, int] | None:
    """(message, line) of the first f-string that parsers before 3.12 reject, as they word
    it, at the line of the outermost f-string; None when there is none (or on a host older
    than 3.12, whose parser rejects them itself)."""
    if _FSTRING_START is None:
        return None
    open_: list[tuple[str, int]] = []  # the delimiters of the f-strings we are inside
    try:
        for tok in tokenize.tokenize(io.BytesIO(source).readline):
            if tok.type == _FSTRING_END:
                open_.pop()
                continue
            if tok.type not in (_FSTRING_START, tokenize.STRING):
                continue
            delimiter = _delimiter(tok.string)
            if open_ and delimiter.startswith(tuple(d for d, _ in open_)):
                return "f-string: expecting '}'", open_[0][1]
            if open_ and tok.type == tokenize.STRING and "\\" in tok.string:
                return "f-string expression part cannot include a backslash", open_[0][1]
            if tok.type == _FSTRING_START:
                open_.append((delimiter, tok.start[0]))
    except (tokenize.TokenError, SyntaxError, IndexError):
        return None
    return None


def _delimiter(token: str) -> str:
    """The quotes that open a string token: `"`, `'`, `\"\"\"` or `\'\'\'`."""
    body = token.lstrip("rRbBfFuUtT")
    return body[:3] if body[:3] in ('"""', "\'\'\'") else body[:1]


def may_need_newer(source: bytes) -> bool:
    """Whether a parse error on an older host may be valid syntax for a newer runtime;
    when not, the error holds on every version."""
    return may_gate(source) or _NEWER.search(source) is not None


def may_gate(source: bytes) -> bool:
    """Whether the source may hold a construct that only some versions parse."""
    return _MENTIONS.search(source) is not None


def too_new(tree: ast.Module, version: tuple[int, int]) -> tuple[str, int] | None:
    """(message, line) of the first construct `version`'s parser rejects, or None."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Match) and version < (3, 10):
            found.append((node.lineno, "invalid syntax"))
        elif _TRY_STAR is not None and isinstance(node, _TRY_STAR) and version < (3, 11):
            found.append((node.handlers[0].lineno, "invalid syntax"))
        elif _TYPE_ALIAS is not None and isinstance(node, _TYPE_ALIAS) and version < (3, 12):
            found.append((node.lineno, "invalid syntax"))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) \
                and getattr(node, "type_params", None) and version < (3, 12):
            generic_def = version == (3, 11) and not isinstance(node, ast.ClassDef)
            found.append((node.lineno, "expected '('" if generic_def else "invalid syntax"))
    if not found:
        return None
    line, message = min(found)  # the parser stops at the first
    return message, line
