"""What one Python file does when it is imported, extracted once with the stdlib `ast`.

A `ModuleSummary` keeps only the facts the import check needs (the imports, in execution
order, and the names bound at module level when execution finishes, with how sure we are),
so summaries are small, cacheable by content hash and cheap to query. The rules follow
the language reference (the import system, and the execution model's naming and binding):
guards are evaluated for the target runtime (Linux, a given Python version, `__name__` not
`"__main__"`, `TYPE_CHECKING` false; see `runtime.py`), `del` and the end of an
`except ... as` clause unbind, names bound on only some paths are "maybe", and a module
that can bind names we do not see (`globals()`, `exec`, a module `__getattr__` as in
PEP 562, a `__path__` that `pkgutil.extend_path` rewrites) is "open".

`record.py` holds the summary and its plain (marshal) form, `scanner.py` the walk that
builds it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from reviewbot.summary.record import (
    CALL,
    CAUGHT,
    CONDITIONAL,
    DEFINITE,
    MAKES_MODULES,
    MAYBE,
    SUMMARY_VERSION,
    TOP,
    UNGUARDED,
    Import,
    ModuleSummary,
    failed,
    module_dunders,
)
from reviewbot.summary.scanner import CompileError, Scanner, needs_text_scan
from reviewbot.summary.syntax import may_gate, may_need_newer, may_reuse_quotes, pep701, too_new

HOST = sys.version_info[:2]  # the parser's version: what it rejects depends on it
UNPARSABLE_HERE = "unparsable-here"

__all__ = [
    "CALL", "CAUGHT", "CONDITIONAL", "DEFINITE", "MAKES_MODULES", "MAYBE", "SOURCE_FILES",
    "SUMMARY_VERSION",
    "TOP", "UNGUARDED", "UNPARSABLE_HERE", "Import", "ModuleSummary", "module_dunders",
    "summarize",
]

MAX_SOURCE_BYTES = 5 * 1024 * 1024

# The code that decides what a summary says (every module of this package): a cache
# trusts a summary only while these files are the ones that wrote it.
SOURCE_FILES = tuple(sorted(Path(__file__).parent.glob("*.py")))


def summarize(source: bytes, path: str, version: tuple[int, int] = (3, 12)) -> ModuleSummary:
    """Summarise a module's source for the function's Python `version`. Never raises for
    bad input: unparsable files come back with `error` set, as CPython would report them at
    import time. A file the host's (older) parser cannot read is `unparsable-here`: the
    function's version may accept it."""
    basename = path.rpartition("/")[2]
    if len(source) > MAX_SOURCE_BYTES:
        return failed("syntax-error", f"file too large to analyse ({len(source)} bytes)", 1)
    try:
        tree = ast.parse(source, basename)
    except SyntaxError as exc:
        if version > HOST and may_need_newer(source):
            return failed(UNPARSABLE_HERE, (
                f"Python {HOST[0]}.{HOST[1]}, which reviewbot runs on, cannot parse {basename} "
                f"({exc.msg}, line {exc.lineno or 1}): python{version[0]}.{version[1]} may; "
                f"run reviewbot on Python {version[0]}.{version[1]} or newer to check it"),
                exc.lineno or 1, version_dependent=True)
        return failed("syntax-error", str(exc), exc.lineno or 1, version_dependent=True)
    except ValueError as exc:  # null bytes on Python 3.11
        return failed("syntax-error", f"source code cannot contain null bytes ({exc})", 1)
    except (RecursionError, MemoryError):
        return failed("syntax-error", f"too deeply nested to parse ({basename})", 1)
    gated = may_gate(source)
    old_fstrings = version < (3, 12) and may_reuse_quotes(source)
    if old_fstrings:
        rejected = pep701(source)
        if rejected is not None:
            message, line = rejected
            return failed("syntax-error", f"{message} ({basename}, line {line})", line,
                          version_dependent=True)
    if gated:
        rejected = too_new(tree, version)
        if rejected is not None:
            message, line = rejected
            return failed("syntax-error", f"{message} ({basename}, line {line})", line,
                          version_dependent=True)
    text = source.decode("utf-8", "replace") if needs_text_scan(source) else ""
    try:
        return Scanner(version, text, gated or old_fstrings or b"version_info" in source,
                       b":=" in source).run(tree)
    except RecursionError:
        return failed("syntax-error", f"too deeply nested to analyse ({basename})", 1)
    except CompileError as exc:  # the parser accepts it, the compiler does not
        message, line = exc.args
        return failed("syntax-error", f"{message} ({basename}, line {line})", line)
