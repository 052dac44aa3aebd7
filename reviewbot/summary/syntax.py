"""Syntax the function's Python version rejects though the host's parser accepts it.

reviewbot parses with the Python it runs on. Constructs newer than the function's runtime
(`match` before 3.10, `except*` before 3.11, `type X = ...` and type parameters before
3.12) are found in the tree and reported as that version's parser words them, at the line
where it stops: "invalid syntax", or "expected '('" for type parameters on 3.11. PEP 701
f-strings (3.12) written for an older runtime are not detected. Checked only when the
source mentions one of these constructs, so most files cost nothing.
"""

from __future__ import annotations

import ast
import re

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
