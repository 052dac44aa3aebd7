"""What one Python file does when it is imported, extracted once with the stdlib `ast`.

A `ModuleSummary` keeps only the facts the import check needs (the imports, in execution
order, and the names bound at module level when execution finishes, with how sure we are),
so summaries are small, cacheable by content hash and cheap to query. The rules follow
`import-semantics.md`: guards are evaluated for the target runtime (Linux, a given Python
version, `__name__` not `"__main__"`, `TYPE_CHECKING` false), `del` and `except ... as`
unbind, names bound on only some paths are "maybe", dynamic tricks make the module "open".

Only module-level statements are walked; function and class bodies are entered only when a
text scan says they hold an import or a `global` statement, which keeps the cost of a
summary a small fraction of the parse itself.
"""

from __future__ import annotations

import ast
import bisect
import re
import sys
from typing import NamedTuple

SUMMARY_VERSION = 4  # bump whenever what a summary says about a file changes

DEFINITE = 2
MAYBE = 1

# Import guards: how sure it is that a failing import would break the module.
UNGUARDED = 0  # runs whenever the module runs
CONDITIONAL = 1  # runs on some paths only (an `if` we cannot decide, a loop, an except arm)
CAUGHT = 2  # an ImportError raised here is caught by an enclosing try

TOP = 0  # runs while the module is being imported
CALL = 1  # runs when a function is called

MAX_SOURCE_BYTES = 5 * 1024 * 1024

MODULE_DUNDERS = frozenset({
    "__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__",
    "__cached__", "__builtins__", "__dict__", "__annotations__",
})


class Import(NamedTuple):
    """One imported module: `import a.b` gives module "a.b"; `from .x import y` gives
    module "x", level 1, names ("y",); `from m import *` gives names ("*",)."""

    seq: int
    line: int
    module: str
    level: int
    names: tuple[str, ...]
    is_from: bool
    scope: int
    guard: int
    func: str


class ModuleSummary(NamedTuple):
    names: dict[str, tuple[int, int]]  # name -> (DEFINITE or MAYBE, seq of first binding)
    imports: tuple[Import, ...]
    all_names: tuple[str, ...] | None  # a static __all__, or None
    all_dynamic: bool  # __all__ is assigned in a way we cannot read
    open_reason: str  # why names we do not see may exist ("" when the module is closed)
    error: tuple[str, str, int] | None  # (kind, message, line) when the file cannot be parsed
    version_dependent: bool

    def to_plain(self) -> tuple:
        """A marshal-friendly form (only builtin containers) for the disk cache."""
        return (
            self.names,
            tuple(tuple(i) for i in self.imports),
            self.all_names,
            self.all_dynamic,
            self.open_reason,
            self.error,
            self.version_dependent,
        )

    @classmethod
    def from_plain(cls, data: tuple) -> ModuleSummary:
        names, imports, all_names, all_dynamic, open_reason, error, vdep = data
        if not isinstance(names, dict) or not all(
            isinstance(k, str) and isinstance(v, tuple) and len(v) == 2 for k, v in names.items()
        ):
            raise ValueError("bad names")
        return cls(
            names,
            tuple(Import(*i) for i in imports),
            None if all_names is None else tuple(all_names),
            bool(all_dynamic),
            str(open_reason),
            None if error is None else (str(error[0]), str(error[1]), int(error[2])),
            bool(vdep),
        )

    def public_names(self) -> frozenset[str]:
        """What a reader of the module sees as its interface: `__all__` if static,
        else every bound name without a leading underscore."""
        if self.all_names is not None:
            return frozenset(self.all_names)
        return frozenset(n for n in self.names if not n.startswith("_"))


def is_version_dependent(source: bytes) -> bool:
    return b"version_info" in source


def failed(kind: str, message: str, line: int) -> ModuleSummary:
    return ModuleSummary({}, (), None, False, "", (kind, message, line), False)


def summarize(source: bytes, path: str, version: tuple[int, int] = (3, 12)) -> ModuleSummary:
    """Summarise a module's source. Never raises for bad input: unparsable files come back
    with `error` set, as CPython would report them at import time."""
    basename = path.rpartition("/")[2]
    if len(source) > MAX_SOURCE_BYTES:
        return failed("syntax-error", f"file too large to analyse ({len(source)} bytes)", 1)
    try:
        tree = ast.parse(source, basename)
    except SyntaxError as exc:
        return failed("syntax-error", str(exc), exc.lineno or 1)
    except ValueError as exc:  # null bytes on Python 3.11
        return failed("syntax-error", f"source code cannot contain null bytes ({exc})", 1)
    except (RecursionError, MemoryError):
        return failed("syntax-error", f"too deeply nested to parse ({basename})", 1)
    text = source.decode("utf-8", "replace") if _needs_deep_scan(source) else ""
    try:
        scanner = _Scanner(version, text, is_version_dependent(source), b":=" in source)
        return scanner.run(tree)
    except RecursionError:
        return failed("syntax-error", f"too deeply nested to analyse ({basename})", 1)
    except _CompileError as exc:  # the parser accepts it, the compiler does not
        message, line = exc.args
        return failed("syntax-error", f"{message} ({basename}, line {line})", line)


class _CompileError(Exception):
    """A module-level statement that `compile()` rejects although `ast.parse` accepts it."""


# Indented lines: each pattern starts at the newline before one, a literal that `re`
# finds by a fast scan (a pattern starting with `^` is tried at every position, four
# times slower). An indented first line never gets here: it does not parse.
_DEEP_HINT = re.compile(rb"\n[ \t]+(?:import|from|global)[ \t]")
_INNER_LINE = re.compile(r"\n[ \t]+(?:(?:from[ \t]+[\w.]+[ \t]+)?import|global)[ \t]")
_OPENERS = re.compile(
    r"\bglobals\(\)|\bvars\(\)|sys\.modules\[__name__\]|setattr\(sys\.modules|"
    r"__dict__\.update\(|^exec\(|^\s*__path__\s*(?:=|\+=)|extend_path\(",
    re.M,
)
# Each alternative of _OPENERS holds one of these: where none is, it cannot match.
_OPENER_WORDS = ("globals()", "vars()", "sys.modules", "__dict__.update(", "exec(",
                 "__path__", "extend_path(")


def _needs_deep_scan(source: bytes) -> bool:
    return bool(_DEEP_HINT.search(source)) or any(
        marker in source for marker in (b"globals()", b"vars()", b"sys.modules", b"exec(",
                                        b"__dict__", b"__path__", b"extend_path")
    )


def _line_numbers(text: str, matches) -> list[int]:
    """The line of each match of an _INNER_LINE-style pattern (which starts at the
    newline before it), counting newlines once."""
    out, line, pos = [], 1, 0
    for m in matches:
        start = m.start() + 1
        line += text.count("\n", pos, start)
        pos = start
        out.append(line)
    return out


_CATCHES_IMPORT = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


def _names_import_error(node: ast.expr | None) -> bool:
    """Does an `except` clause (or `suppress(...)` argument) with this type match ImportError?"""
    if node is None:
        return True
    types = node.elts if isinstance(node, ast.Tuple) else [node]
    for t in types:
        name = t.attr if isinstance(t, ast.Attribute) else getattr(t, "id", None)
        if name in _CATCHES_IMPORT:
            return True
    return False


def _catches_import_error(handlers: list[ast.ExceptHandler]) -> bool:
    """Is an ImportError raised in the `try` body handled? The first matching handler
    decides, and one that re-raises (or exits) does not handle it."""
    for h in handlers:
        if _names_import_error(h.type):
            return not _is_terminal(h.body)
    return False


def _suppresses_import_error(items: list[ast.withitem]) -> bool:
    """`with contextlib.suppress(ImportError):` swallows an ImportError from its body."""
    for item in items:
        call = item.context_expr
        if (isinstance(call, ast.Call) and _dotted(call.func) in ("suppress", "contextlib.suppress")
                and any(arg is not None and _names_import_error(arg) for arg in call.args)):
            return True
    return False


def _is_terminal(stmts: list[ast.stmt]) -> bool:
    """Does this block never fall through (ends in raise or sys.exit())?"""
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, ast.Raise):
        return True
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        f = last.value.func
        dotted = _dotted(f)
        return dotted in ("sys.exit", "exit", "quit", "os._exit")
    return False


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


State = dict  # name -> (certainty, seq)


def _merge(states: list[State | None]) -> State | None:
    live = [s for s in states if s is not None]
    if not live:
        return None
    if len(live) == 1:
        return live[0]
    out: State = {}
    keys = set().union(*live)
    n = len(live)
    for k in keys:
        present = [s[k] for s in live if k in s]
        cert = DEFINITE if len(present) == n and all(c == DEFINITE for c, _ in present) else MAYBE
        out[k] = (cert, min(q for _, q in present))
    return out


def _as_maybe(state: State) -> State:
    return {k: (MAYBE, q) for k, q in ((k, v[1]) for k, v in state.items())}


class _Scanner:
    """Abstract interpretation of a module's top level for one target runtime."""

    def __init__(self, version: tuple[int, int], text: str, version_dependent: bool,
                 has_walrus: bool):
        self.version = version
        self.has_walrus = has_walrus
        self.text = text
        self.version_dependent = version_dependent
        self.seq = 0
        self.imports: list[Import] = []
        self.all_names: list[str] | None = None
        self.all_dynamic = False
        self.open_reason = ""
        self.globals_maybe: set[str] = set()
        self.loops = 0  # loops around the statement being scanned
        self.inner_lines: list[int] = []
        if text:
            self.inner_lines = _line_numbers(text, _INNER_LINE.finditer(text))
            m = _OPENERS.search(text) if any(w in text for w in _OPENER_WORDS) else None
            if m:
                self.open_reason = f"dynamic module namespace ({m.group(0).strip()})"

    def run(self, tree: ast.Module) -> ModuleSummary:
        state = self.block(tree.body, {}, UNGUARDED) or {}
        for name in self.globals_maybe:
            if name not in state:
                state[name] = (MAYBE, self.seq + 1)
        if "__getattr__" in state and not self.open_reason:
            self.open_reason = "module-level __getattr__ (PEP 562)"
        return ModuleSummary(
            state,
            tuple(self.imports),
            tuple(self.all_names) if self.all_names is not None and not self.all_dynamic else None,
            self.all_dynamic,
            self.open_reason,
            None,
            self.version_dependent,
        )

    # -- statements ---------------------------------------------------------------------

    def bind(self, state: State, name: str, cert: int = DEFINITE) -> None:
        old = state.get(name)
        state[name] = (cert, self.seq) if old is None else (max(cert, old[0]), old[1])

    def block(self, stmts: list[ast.stmt], state: State | None, guard: int) -> State | None:
        for stmt in stmts:
            if state is None:
                return None
            self.seq += 1
            state = self.stmt(stmt, state, guard)
        return state

    def stmt(self, node: ast.stmt, state: State, guard: int) -> State | None:
        t = type(node)
        if t is ast.Import:
            for alias in node.names:
                self.imports.append(Import(self.seq, node.lineno, alias.name, 0, (), False, TOP,
                                           guard, ""))
                self.bind(state, alias.asname or alias.name.partition(".")[0])
            return state
        if t is ast.ImportFrom:
            names = tuple(a.name for a in node.names)
            self.imports.append(Import(self.seq, node.lineno, node.module or "", node.level,
                                       names, True, TOP, guard, ""))
            for alias in node.names:
                if alias.name != "*":
                    self.bind(state, alias.asname or alias.name)
            return state
        if t is ast.FunctionDef or t is ast.AsyncFunctionDef:
            self.bind(state, node.name)
            self.inner(node, guard)
            return state
        if t is ast.ClassDef:
            self.bind(state, node.name)
            self.inner(node, guard)
            return state
        if t is ast.Assign:
            for target in node.targets:
                self.target(target, state)
            self.dunder_all_assign(node.targets, node.value)
            self.walrus(node.value, state)
            return state
        if t is ast.AnnAssign:
            if node.value is not None:
                self.target(node.target, state)
                self.dunder_all_assign([node.target], node.value)
            return state
        if t is ast.AugAssign:
            self.target(node.target, state)
            if isinstance(node.target, ast.Name) and node.target.id == "__all__":
                self.extend_all(node.value)
            return state
        if t is ast.Expr:
            if _is_terminal([node]):
                return None
            self.expr_stmt(node.value, state)
            return state
        if t is ast.If:
            return self.if_stmt(node, state, guard)
        if t is ast.Try or t is getattr(ast, "TryStar", None):
            return self.try_stmt(node, state, guard)
        if t is ast.With or t is ast.AsyncWith:
            for item in node.items:
                if item.optional_vars is not None:
                    self.target(item.optional_vars, state)
            if _suppresses_import_error(node.items):
                # like `try: body` / `except ImportError: pass`
                return _merge([self.block(node.body, dict(state), CAUGHT), state])
            return self.block(node.body, state, guard)
        if t is ast.For or t is ast.AsyncFor or t is ast.While:
            return self.loop(node, state, guard)
        if t is ast.Delete:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    state.pop(target.id, None)
            return state
        if t is ast.Match:
            return self.match(node, state, guard)
        if t is ast.Raise:
            return None
        if t is ast.Return:
            raise _CompileError("'return' outside function", node.lineno)
        if (t is ast.Break or t is ast.Continue) and not self.loops:
            raise _CompileError("'break' outside loop" if t is ast.Break else
                                "'continue' not properly in loop", node.lineno)
        if t is getattr(ast, "TypeAlias", None):
            self.bind(state, node.name.id)
            return state
        self.walrus(node, state)
        return state

    def expr_stmt(self, value: ast.expr, state: State) -> None:
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
            owner = value.func.value
            if isinstance(owner, ast.Name) and owner.id == "__all__":
                method = value.func.attr
                if method == "extend" and value.args:
                    self.extend_all(value.args[0])
                elif method == "append" and value.args:
                    arg = value.args[0]
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        if self.all_names is not None:
                            self.all_names.append(arg.value)
                    else:
                        self.all_dynamic = True
                else:
                    self.all_dynamic = True
        if isinstance(value, ast.Call) and _dotted(value.func) in ("exec", "builtins.exec"):
            self.open_reason = self.open_reason or "exec() at module level"
        self.walrus(value, state)

    def walrus(self, node: ast.AST, state: State) -> None:
        if not self.has_walrus:
            return
        for sub in ast.walk(node):
            if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
                self.bind(state, sub.target.id)

    def target(self, node: ast.expr, state: State, cert: int = DEFINITE) -> None:
        if isinstance(node, ast.Name):
            self.bind(state, node.id, cert)
        elif isinstance(node, ast.Tuple | ast.List):
            for elt in node.elts:
                self.target(elt, state, cert)
        elif isinstance(node, ast.Starred):
            self.target(node.value, state, cert)
        # attribute and subscript targets bind nothing in the module namespace

    # -- __all__ --------------------------------------------------------------------------

    def dunder_all_assign(self, targets: list[ast.expr], value: ast.expr) -> None:
        if not any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return
        names = _literal_strings(value)
        if names is None:
            self.all_dynamic = True
            self.all_names = None
        else:
            self.all_names = names

    def extend_all(self, value: ast.expr) -> None:
        names = _literal_strings(value)
        if names is None or self.all_names is None:
            self.all_dynamic = True
        else:
            self.all_names.extend(names)

    # -- control flow ---------------------------------------------------------------------

    def if_stmt(self, node: ast.If, state: State, guard: int) -> State | None:
        verdict = self.evaluate(node.test)
        if verdict is True:
            return self.block(node.body, state, guard)
        if verdict is False:
            return self.block(node.orelse, state, guard)
        self.walrus(node.test, state)
        inner = max(guard, CONDITIONAL)
        body = self.block(node.body, dict(state), inner)
        other = self.block(node.orelse, dict(state), inner)
        return _merge([body, other])

    def try_stmt(self, node: ast.Try, state: State, guard: int) -> State | None:
        catches = _catches_import_error(node.handlers)
        body_guard = CAUGHT if catches else guard
        before = dict(state)
        body = self.block(node.body, dict(state), body_guard)
        arms = []
        for handler in node.handlers:
            start = _merge([before, body]) or dict(before)
            start = dict(start)
            if handler.name:
                self.bind(start, handler.name)
            end = self.block(handler.body, start, max(guard, CONDITIONAL))
            if end is not None and handler.name:
                end.pop(handler.name, None)
            arms.append(end)
        if node.orelse and body is not None:
            body = self.block(node.orelse, body, guard)
        result = _merge([body, *arms]) if node.handlers else body
        if node.finalbody:
            end = self.block(node.finalbody, dict(before if result is None else result), guard)
            result = None if result is None else end
        return result

    def loop(self, node: ast.For | ast.While, state: State, guard: int) -> State | None:
        inner = max(guard, CONDITIONAL)
        body_state = dict(state)
        if not isinstance(node, ast.While):
            self.target(node.target, body_state)
        self.loops += 1
        body = self.block(node.body, body_state, inner)
        self.loops -= 1
        if body is None:
            body = {}
        merged = dict(state)
        for k, (_, q) in body.items():
            if k not in state:
                merged[k] = (MAYBE, q)
        if node.orelse:
            merged = self.block(node.orelse, merged, inner) or merged
        return merged

    def match(self, node: ast.Match, state: State, guard: int) -> State | None:
        inner = max(guard, CONDITIONAL)
        arms: list[State | None] = []
        exhaustive = False
        for case in node.cases:
            arm = dict(state)
            for sub in ast.walk(case.pattern):
                name = getattr(sub, "name", None) or getattr(sub, "rest", None)
                if isinstance(name, str):
                    self.bind(arm, name)
            arms.append(self.block(case.body, arm, inner))
            pattern = case.pattern
            if case.guard is None and isinstance(pattern, ast.MatchAs) and pattern.pattern is None:
                exhaustive = True
        if not exhaustive:
            arms.append(state)
        return _merge(arms)

    # -- function and class bodies ------------------------------------------------------

    def inner(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
              guard: int) -> None:
        """Collect imports (and `global` names) from a def or class body, if the text
        scan says it has any."""
        lines = self.inner_lines
        if not lines:
            return
        i = bisect.bisect_left(lines, node.lineno)
        if i == len(lines) or lines[i] > (node.end_lineno or node.lineno):
            return
        is_class = isinstance(node, ast.ClassDef)
        self._walk_body(node.body, func="" if is_class else node.name,
                        scope=TOP if is_class else CALL, guard=guard)

    def _walk_body(self, stmts: list[ast.stmt], func: str, scope: int, guard: int) -> None:
        for stmt in stmts:
            t = type(stmt)
            if t is ast.Import:
                for alias in stmt.names:
                    self.imports.append(Import(self.seq, stmt.lineno, alias.name, 0, (), False,
                                               scope, guard, func))
            elif t is ast.ImportFrom:
                self.imports.append(Import(self.seq, stmt.lineno, stmt.module or "", stmt.level,
                                           tuple(a.name for a in stmt.names), True, scope,
                                           guard, func))
            elif t is ast.Global:
                self.globals_maybe.update(stmt.names)
            elif t is ast.FunctionDef or t is ast.AsyncFunctionDef:
                self._walk_body(stmt.body, stmt.name if scope == TOP and not func else func,
                                CALL, guard)
            elif t is ast.ClassDef:
                self._walk_body(stmt.body, func, scope, guard)
            elif t is ast.If:
                verdict = self.evaluate(stmt.test)
                if verdict is not False:
                    self._walk_body(stmt.body, func, scope,
                                    guard if verdict else max(guard, CONDITIONAL))
                if verdict is not True:
                    self._walk_body(stmt.orelse, func, scope,
                                    guard if verdict is False else max(guard, CONDITIONAL))
            elif t is ast.Try or t is getattr(ast, "TryStar", None):
                inner = CAUGHT if _catches_import_error(stmt.handlers) else guard
                self._walk_body(stmt.body, func, scope, inner)
                for h in stmt.handlers:
                    self._walk_body(h.body, func, scope, max(guard, CONDITIONAL))
                self._walk_body(stmt.orelse, func, scope, guard)
                self._walk_body(stmt.finalbody, func, scope, guard)
            elif t in (ast.With, ast.AsyncWith):
                self._walk_body(stmt.body, func, scope,
                                CAUGHT if _suppresses_import_error(stmt.items) else guard)
            elif t in (ast.For, ast.AsyncFor, ast.While):
                self._walk_body(stmt.body, func, scope, max(guard, CONDITIONAL))
                self._walk_body(stmt.orelse, func, scope, max(guard, CONDITIONAL))
            elif t is ast.Match:
                for case in stmt.cases:
                    self._walk_body(case.body, func, scope, max(guard, CONDITIONAL))

    # -- static evaluation of guards ------------------------------------------------------

    def evaluate(self, node: ast.expr) -> bool | None:
        """True/False when the test's value is known on the target runtime, else None."""
        if isinstance(node, ast.Constant):
            return bool(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            v = self.evaluate(node.operand)
            return None if v is None else not v
        if isinstance(node, ast.BoolOp):
            values = [self.evaluate(v) for v in node.values]
            if isinstance(node.op, ast.And):
                if any(v is False for v in values):
                    return False
                return True if all(v is True for v in values) else None
            if any(v is True for v in values):
                return True
            return False if all(v is False for v in values) else None
        dotted = _dotted(node)
        if dotted in ("TYPE_CHECKING", "typing.TYPE_CHECKING", "t.TYPE_CHECKING",
                      "typing_extensions.TYPE_CHECKING"):
            return False
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            return self.compare(node.left, node.ops[0], node.comparators[0])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = _dotted(node.func.value)
            if owner == "sys.platform" and node.func.attr == "startswith" and node.args:
                prefix = _literal(node.args[0])
                if isinstance(prefix, str):
                    return "linux".startswith(prefix)
                if isinstance(prefix, tuple):
                    return any("linux".startswith(p) for p in prefix if isinstance(p, str))
        return None

    def compare(self, left: ast.expr, op: ast.cmpop, right: ast.expr) -> bool | None:
        lhs = self.known_value(left)
        rhs = self.known_value(right)
        if lhs is _UNKNOWN or rhs is _UNKNOWN:
            return None
        if _NAME in (lhs, rhs):
            # The module's name depends on the handler importing it; all we know is
            # that it is not "__main__" on Lambda.
            other = rhs if lhs is _NAME else lhs
            if other == "__main__" and type(op) in (ast.Eq, ast.NotEq):
                return type(op) is ast.NotEq
            return None
        if isinstance(lhs, _Version) or isinstance(rhs, _Version):
            return _compare_version(lhs, op, rhs)
        try:
            return _apply(op, lhs, rhs)
        except TypeError:
            return None

    def known_value(self, node: ast.expr):
        lit = _literal(node)
        if lit is not _UNKNOWN:
            return lit
        dotted = _dotted(node)
        if dotted in ("sys.platform", "platform"):
            return "linux"
        if dotted == "os.name":
            return "posix"
        if dotted == "__name__":
            return _NAME
        if dotted in ("sys.version_info", "version_info"):
            return _Version(self.version)
        if dotted in ("sys.version_info.major", "version_info.major"):
            return self.version[0]
        if dotted in ("sys.version_info.minor", "version_info.minor"):
            return self.version[1]
        if isinstance(node, ast.Call) and _dotted(node.func) == "platform.system" and not node.args:
            return "Linux"
        if isinstance(node, ast.Subscript) and _dotted(node.value) in ("sys.version_info",
                                                                       "version_info"):
            index = node.slice
            if isinstance(index, ast.Constant) and index.value in (0, 1):
                return self.version[index.value]
            if isinstance(index, ast.Slice) and index.lower is None and index.step is None:
                upper = _literal(index.upper) if index.upper is not None else _UNKNOWN
                if upper in (1, 2):
                    return tuple(self.version[:upper])
        return _UNKNOWN


class _Unknown:
    pass


_UNKNOWN = _Unknown()
_NAME = _Unknown()  # the module's own __name__: known only not to be "__main__"


class _Version:
    """sys.version_info on the target: (major, minor, <unknown micro>, ...)."""

    def __init__(self, version: tuple[int, int]):
        self.version = version


def _compare_version(lhs, op: ast.cmpop, rhs) -> bool | None:
    if isinstance(rhs, _Version):
        lhs, rhs = rhs, lhs
        op = _FLIP.get(type(op), type(op))()
    if not isinstance(rhs, tuple) or not all(isinstance(x, int) for x in rhs):
        return None
    ver = lhs.version
    # The real tuple is longer than two items; compare as far as we know it.
    prefix = rhs[:2]
    if tuple(ver[: len(prefix)]) != prefix:
        return _apply(op, tuple(ver[: len(prefix)]), prefix)
    if len(rhs) <= 2 or rhs[2:] == (0,):
        # equal prefix, and the runtime tuple is longer (micro >= 0): it compares greater
        return _apply(op, (0, 1), (0,))
    return None


_FLIP = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}


def _apply(op: ast.cmpop, a, b) -> bool | None:
    t = type(op)
    if t is ast.Eq:
        return a == b
    if t is ast.NotEq:
        return a != b
    if t is ast.Lt:
        return a < b
    if t is ast.LtE:
        return a <= b
    if t is ast.Gt:
        return a > b
    if t is ast.GtE:
        return a >= b
    if t is ast.In:
        return a in b
    if t is ast.NotIn:
        return a not in b
    return None


def _literal(node: ast.expr):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _UNKNOWN


def _literal_strings(node: ast.expr) -> list[str] | None:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = _literal_strings(node.left)
        right = _literal_strings(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.List | ast.Tuple):
        out = []
        for elt in node.elts:
            if isinstance(elt, ast.Constant) and isinstance(elt.value, str):
                out.append(elt.value)
            else:
                return None
        return out
    return None


_PACKAGE_DUNDERS = MODULE_DUNDERS | {"__path__"}
# no file: `__file__` is None and `__cached__` is never set
_NAMESPACE_DUNDERS = (MODULE_DUNDERS - {"__cached__"}) | {"__path__"}


def module_dunders(is_package: bool, namespace: bool = False) -> frozenset[str]:
    if namespace:
        return _NAMESPACE_DUNDERS
    return _PACKAGE_DUNDERS if is_package else MODULE_DUNDERS


STDLIB_NAMES = frozenset(sys.stdlib_module_names)
