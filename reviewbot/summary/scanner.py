"""The walk over a module's `ast` that builds its summary.

Module-level statements are interpreted in order, tracking which names are bound on every
path (DEFINITE) or on some (MAYBE); a block that never falls through (`raise`,
`sys.exit()`) ends its path. Function and class bodies are walked only for their imports
and `global` statements, and only when a text scan says they hold one.
"""

from __future__ import annotations

import ast
import bisect
import re

from reviewbot.summary.lazy import served_names
from reviewbot.summary.record import (
    CALL,
    CAUGHT,
    CONDITIONAL,
    DEFINITE,
    MAKES_MODULES,
    MAYBE,
    TOP,
    UNGUARDED,
    Import,
    ModuleSummary,
)
from reviewbot.summary.runtime import dotted, evaluate


class CompileError(Exception):
    """A module-level statement that `compile()` rejects although `ast.parse` accepts it."""


# Indented lines: each pattern starts at the newline before one, a literal that `re`
# finds by a fast scan (a pattern starting with `^` would be tried at every position).
# An indented first line never gets here: it does not parse.
_DEEP_HINT = re.compile(rb"\n[ \t]+(?:import|from|global)[ \t]")
_INNER_LINE = re.compile(r"\n[ \t]+(?:(?:from[ \t]+[\w.]+[ \t]+)?import|global)[ \t]")
_OPENERS = re.compile(
    r"\bglobals\(\)|\bvars\(\)|sys\.modules\[__name__\]|setattr\(sys\.modules|"
    r"__dict__\.update\(|^exec\(|^\s*__path__\s*(?:=|\+=)|extend_path\(|"
    r"sys\.meta_path\.(?:append|insert)\(",
    re.M,
)
# A module that registers modules itself: a meta path hook, or sys.modules entries.
_MAKES_MODULES = re.compile(r"sys\.meta_path\.(?:append|insert)\(|sys\.modules\[[^\]\n]+\]\s*=(?!=)")
# Each alternative of _OPENERS holds one of these: where none is, it cannot match.
_OPENER_WORDS = ("globals()", "vars()", "sys.modules", "__dict__.update(", "exec(",
                 "__path__", "extend_path(", "sys.meta_path")


def needs_text_scan(source: bytes) -> bool:
    """Might the source hold an indented import or `global`, or rewrite its namespace?"""
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
    return _first_import_handler(handlers) is not None


def _first_import_handler(handlers: list[ast.ExceptHandler]) -> ast.ExceptHandler | None:
    """The arm that runs when the `try` body raises ImportError (see _catches_import_error)."""
    for h in handlers:
        if _names_import_error(h.type):
            return None if _is_terminal(h.body) else h
    return None


def _suppresses_import_error(items: list[ast.withitem]) -> bool:
    """`with contextlib.suppress(ImportError):` swallows an ImportError from its body."""
    for item in items:
        call = item.context_expr
        if (isinstance(call, ast.Call) and dotted(call.func) in ("suppress", "contextlib.suppress")
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
        return dotted(last.value.func) in ("sys.exit", "exit", "quit", "os._exit")
    return False


State = dict[str, tuple[int, int]]  # name -> (DEFINITE or MAYBE, seq of first binding)


def _merge(states: list[State | None]) -> State | None:
    """The names bound where paths join (None: a path that never gets there)."""
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


def _literal_strings(node: ast.expr) -> list[str] | None:
    """The strings of a list or tuple of string literals (or a sum of them), else None."""
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


def _is_all(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "__all__"


class Scanner:
    """Abstract interpretation of a module's top level for one target runtime.

    Each statement type has a method (see _STATEMENTS); it takes the names bound before
    the statement and returns those bound after it, or None where the path ends there.
    Function and class bodies are walked by `walk_body` (see _BODY_STATEMENTS), which
    only collects imports and `global` names."""

    def __init__(self, version: tuple[int, int], text: str, version_dependent: bool,
                 has_walrus: bool):
        self.version = version
        self.has_walrus = has_walrus
        self.version_dependent = version_dependent
        self.seq = 0
        self.imports: list[Import] = []
        self.all_names: list[str] | None = None
        self.all_dynamic = False
        self.open_reason = ""
        self.globals_maybe: set[str] = set()
        self.loops = 0  # loops around the statement being scanned
        # names that `import m` or `from p import m` (unguarded, at the top level) bound to
        # a module, maybe, and nothing has bound since: (module, level); and the attributes
        # read through them (see attributes())
        self.aliases: dict[str, tuple[str, int]] = {}
        self.reads: list[tuple[str, Import]] = []
        self.stores: set[tuple[str, str]] = set()
        self.inner_lines: list[int] = []  # lines of indented imports and `global`s
        if text:
            self.inner_lines = _line_numbers(text, _INNER_LINE.finditer(text))
            m = _OPENERS.search(text) if any(w in text for w in _OPENER_WORDS) else None
            made = _MAKES_MODULES.search(text) if "sys." in text else None
            if made:  # a submodule it is asked for may be no file (six.moves)
                self.open_reason = f"{MAKES_MODULES} ({made.group(0).strip()})"
            elif m:
                self.open_reason = f"dynamic module namespace ({m.group(0).strip()})"

    def run(self, tree: ast.Module) -> ModuleSummary:
        state = self.block(tree.body, {}, UNGUARDED) or {}
        for name in self.globals_maybe:
            if name not in state:
                state[name] = (MAYBE, self.seq + 1)
        # A read stays only where no function may rebind the name and the module does not
        # set that attribute itself.
        dropped = {id(imp) for name, imp in self.reads
                   if name in self.globals_maybe or (imp.module, imp.names[0]) in self.stores}
        if dropped:
            self.imports = [i for i in self.imports if id(i) not in dropped]
        served = served_names(tree) if "__getattr__" in state and not self.open_reason else ()
        if served is None:
            self.open_reason = "module-level __getattr__ (PEP 562)"
        return ModuleSummary(
            state,
            tuple(self.imports),
            tuple(self.all_names) if self.all_names is not None and not self.all_dynamic else None,
            self.all_dynamic, self.open_reason, None, self.version_dependent, served or (),
        )

    def bind(self, state: State, name: str, cert: int = DEFINITE) -> None:
        self.aliases.pop(name, None)
        old = state.get(name)
        state[name] = (cert, self.seq) if old is None else (max(cert, old[0]), old[1])

    def block(self, stmts: list[ast.stmt], state: State | None, guard: int) -> State | None:
        for stmt in stmts:
            if state is None:
                return None
            self.seq += 1
            state = _STATEMENTS.get(type(stmt), Scanner._other)(self, stmt, state, guard)
        return state

    def target(self, node: ast.expr, state: State, cert: int = DEFINITE) -> None:
        if isinstance(node, ast.Name):
            self.bind(state, node.id, cert)
        elif isinstance(node, ast.Tuple | ast.List):
            for elt in node.elts:
                self.target(elt, state, cert)
        elif isinstance(node, ast.Starred):
            self.target(node.value, state, cert)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in self.aliases:
            self.stores.add((self.aliases[node.value.id][0], node.attr))
        # attribute and subscript targets bind nothing in the module namespace

    def attributes(self, node: ast.expr | None, guard: int) -> None:
        """Record `m.name` reads in an expression run at import time (not inside a lambda),
        `m` a name that `import m` or `from p import m` bound (see `aliases`)."""
        if not self.aliases or node is None:
            return
        todo = [node]
        while todo:
            sub = todo.pop()
            if isinstance(sub, ast.Lambda):
                continue
            if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) \
                    and isinstance(sub.ctx, ast.Load) and sub.value.id in self.aliases:
                module, level = self.aliases[sub.value.id]
                imp = Import(self.seq, sub.lineno, module, level, (sub.attr,), True, TOP, guard,
                             "", True)
                self.imports.append(imp)
                self.reads.append((sub.value.id, imp))
            todo.extend(ast.iter_child_nodes(sub))

    def walrus(self, node: ast.AST, state: State) -> None:
        if not self.has_walrus:
            return
        for sub in ast.walk(node):
            if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
                self.bind(state, sub.target.id)

    # -- module-level statements ----------------------------------------------------------

    def _import(self, node: ast.Import, state: State, guard: int) -> State:
        self.record_import(node, "", TOP, guard)
        for alias in node.names:
            name = alias.asname or alias.name.partition(".")[0]
            self.bind(state, name)
            if guard == UNGUARDED and not self.loops:
                self.aliases[name] = (alias.name if alias.asname else name, 0)
        return state

    def _import_from(self, node: ast.ImportFrom, state: State, guard: int) -> State:
        self.record_import_from(node, "", TOP, guard)
        for alias in node.names:
            if alias.name != "*":
                self.bind(state, alias.asname or alias.name)
                if guard == UNGUARDED and not self.loops:  # a submodule, if it is one
                    self.aliases[alias.asname or alias.name] = (
                        f"{node.module}.{alias.name}" if node.module else alias.name,
                        node.level)
        return state

    def _def(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, state: State,
             guard: int) -> State:
        # decorators, bases and defaults run when the statement does
        run_now: list[ast.expr] = list(node.decorator_list)
        if isinstance(node, ast.ClassDef):
            run_now += [*node.bases, *(k.value for k in node.keywords)]
        else:
            run_now += [*node.args.defaults, *(d for d in node.args.kw_defaults if d)]
        for expr in run_now:
            self.attributes(expr, guard)
        self.bind(state, node.name)
        self.inner(node, guard)
        return state

    def _assign(self, node: ast.Assign, state: State, guard: int) -> State:
        self.attributes(node.value, guard)
        for target in node.targets:
            self.target(target, state)
        self.dunder_all_assign(node.targets, node.value)
        self.walrus(node.value, state)
        return state

    def _ann_assign(self, node: ast.AnnAssign, state: State, guard: int) -> State:
        self.attributes(node.value, guard)
        if node.value is not None:
            self.target(node.target, state)
            self.dunder_all_assign([node.target], node.value)
        return state

    def _aug_assign(self, node: ast.AugAssign, state: State, guard: int) -> State:
        self.attributes(node.value, guard)
        self.target(node.target, state)
        if _is_all(node.target):
            self.extend_all(node.value)
        return state

    def _expr(self, node: ast.Expr, state: State, guard: int) -> State | None:
        if _is_terminal([node]):
            return None
        value = node.value
        self.attributes(value, guard)
        if isinstance(value, ast.Call):
            func = value.func
            if isinstance(func, ast.Attribute) and _is_all(func.value):
                self.all_method(func.attr, value.args)
            elif dotted(func) in ("exec", "builtins.exec"):
                self.open_reason = self.open_reason or "exec() at module level"
        self.walrus(value, state)
        return state

    def _if(self, node: ast.If, state: State, guard: int) -> State | None:
        verdict = evaluate(node.test, self.version)
        if verdict is True:
            return self.block(node.body, state, guard)
        if verdict is False:
            return self.block(node.orelse, state, guard)
        self.walrus(node.test, state)
        inner = max(guard, CONDITIONAL)
        body = self.block(node.body, dict(state), inner)
        other = self.block(node.orelse, dict(state), inner)
        return _merge([body, other])

    def _try(self, node: ast.Try | ast.TryStar, state: State, guard: int) -> State | None:
        catches = _catches_import_error(node.handlers)
        body_guard = CAUGHT if catches else guard
        before = dict(state)
        first = len(self.imports)
        body = self.block(node.body, dict(state), body_guard)
        triggers = self._top_imports(node.body, first) if catches and guard == UNGUARDED \
            and not self.loops else ()
        rescuer = _first_import_handler(node.handlers) if triggers else None
        arms = []
        for handler in node.handlers:
            start = dict(_merge([before, body]) or before)
            if handler.name:
                self.bind(start, handler.name)
            first = len(self.imports)
            end = self.block(handler.body, start, max(guard, CONDITIONAL))
            if handler is rescuer:
                rescued = set(self._top_imports(handler.body, first))
                self.imports[first:] = [i._replace(rescues=triggers) if i.seq in rescued else i
                                        for i in self.imports[first:]]
            if end is not None and handler.name:
                end.pop(handler.name, None)  # `except ... as e` unbinds e at the end
            arms.append(end)
        if node.orelse and body is not None:
            body = self.block(node.orelse, body, guard)
        result = _merge([body, *arms]) if node.handlers else body
        if node.finalbody:
            end = self.block(node.finalbody, dict(before if result is None else result), guard)
            result = None if result is None else end
        return result

    def _top_imports(self, body: list[ast.stmt], first: int) -> tuple[int, ...]:
        """The seqs of the imports recorded since `first` by statements directly in `body`
        (not nested in an `if`, a loop or another `try`)."""
        lines = {s.lineno for s in body if isinstance(s, (ast.Import, ast.ImportFrom))}
        return tuple(i.seq for i in self.imports[first:] if i.line in lines and not i.attribute)

    def _with(self, node: ast.With | ast.AsyncWith, state: State, guard: int) -> State | None:
        for item in node.items:
            if item.optional_vars is not None:
                self.target(item.optional_vars, state)
        if _suppresses_import_error(node.items):
            # like `try: body` / `except ImportError: pass`
            return _merge([self.block(node.body, dict(state), CAUGHT), state])
        return self.block(node.body, state, guard)

    def _loop(self, node: ast.For | ast.AsyncFor | ast.While, state: State, guard: int) -> State:
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

    def _delete(self, node: ast.Delete, state: State, guard: int) -> State:
        for target in node.targets:
            if isinstance(target, ast.Name):
                state.pop(target.id, None)
        return state

    def _match(self, node: ast.Match, state: State, guard: int) -> State | None:
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

    def _raise(self, node: ast.Raise, state: State, guard: int) -> None:
        return None

    def _return(self, node: ast.Return, state: State, guard: int) -> None:
        raise CompileError("'return' outside function", node.lineno)

    def _break(self, node: ast.Break | ast.Continue, state: State, guard: int) -> State:
        if not self.loops:
            raise CompileError("'break' outside loop" if isinstance(node, ast.Break) else
                               "'continue' not properly in loop", node.lineno)
        return state

    def _type_alias(self, node: ast.TypeAlias, state: State, guard: int) -> State:
        self.bind(state, node.name.id)
        return state

    def _other(self, node: ast.stmt, state: State, guard: int) -> State:
        """Any other statement binds only what a `:=` in it binds."""
        self.walrus(node, state)
        return state

    # -- __all__ --------------------------------------------------------------------------

    def dunder_all_assign(self, targets: list[ast.expr], value: ast.expr) -> None:
        if not any(_is_all(t) for t in targets):
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

    def all_method(self, method: str, args: list[ast.expr]) -> None:
        """`__all__.<method>(*args)` as a statement."""
        if method == "extend" and args:
            self.extend_all(args[0])
        elif method == "append" and args:
            arg = args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                if self.all_names is not None:
                    self.all_names.append(arg.value)
            else:
                self.all_dynamic = True
        else:
            self.all_dynamic = True

    # -- function and class bodies ------------------------------------------------------

    def record_import(self, node: ast.Import, func: str, scope: int, guard: int) -> None:
        for alias in node.names:
            self.imports.append(Import(self.seq, node.lineno, alias.name, 0, (), False, scope,
                                       guard, func))

    def record_import_from(self, node: ast.ImportFrom, func: str, scope: int,
                           guard: int) -> None:
        self.imports.append(Import(self.seq, node.lineno, node.module or "", node.level,
                                   tuple(a.name for a in node.names), True, scope, guard, func))

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
        self.walk_body(node.body, "" if is_class else node.name, TOP if is_class else CALL, guard)

    def walk_body(self, stmts: list[ast.stmt], func: str, scope: int, guard: int) -> None:
        for stmt in stmts:
            walk = _BODY_STATEMENTS.get(type(stmt))
            if walk is not None:
                walk(self, stmt, func, scope, guard)

    def _body_global(self, node: ast.Global, func: str, scope: int, guard: int) -> None:
        self.globals_maybe.update(node.names)

    def _body_def(self, node: ast.FunctionDef | ast.AsyncFunctionDef, func: str, scope: int,
                  guard: int) -> None:
        self.walk_body(node.body, node.name if scope == TOP and not func else func, CALL, guard)

    def _body_class(self, node: ast.ClassDef, func: str, scope: int, guard: int) -> None:
        self.walk_body(node.body, func, scope, guard)

    def _body_if(self, node: ast.If, func: str, scope: int, guard: int) -> None:
        verdict = evaluate(node.test, self.version)
        if verdict is not False:
            self.walk_body(node.body, func, scope, guard if verdict else max(guard, CONDITIONAL))
        if verdict is not True:
            self.walk_body(node.orelse, func, scope,
                      guard if verdict is False else max(guard, CONDITIONAL))

    def _body_try(self, node: ast.Try | ast.TryStar, func: str, scope: int, guard: int) -> None:
        caught = CAUGHT if _catches_import_error(node.handlers) else guard
        self.walk_body(node.body, func, scope, caught)
        for h in node.handlers:
            self.walk_body(h.body, func, scope, max(guard, CONDITIONAL))
        self.walk_body(node.orelse, func, scope, guard)
        self.walk_body(node.finalbody, func, scope, guard)

    def _body_with(self, node: ast.With | ast.AsyncWith, func: str, scope: int,
                   guard: int) -> None:
        caught = CAUGHT if _suppresses_import_error(node.items) else guard
        self.walk_body(node.body, func, scope, caught)

    def _body_loop(self, node: ast.For | ast.AsyncFor | ast.While, func: str, scope: int,
                   guard: int) -> None:
        self.walk_body(node.body, func, scope, max(guard, CONDITIONAL))
        self.walk_body(node.orelse, func, scope, max(guard, CONDITIONAL))

    def _body_match(self, node: ast.Match, func: str, scope: int, guard: int) -> None:
        for case in node.cases:
            self.walk_body(case.body, func, scope, max(guard, CONDITIONAL))


# Statement type -> the Scanner method that interprets it at module level.
_STATEMENTS = {
    ast.Import: Scanner._import, ast.ImportFrom: Scanner._import_from,
    ast.FunctionDef: Scanner._def, ast.AsyncFunctionDef: Scanner._def, ast.ClassDef: Scanner._def,
    ast.Assign: Scanner._assign, ast.AnnAssign: Scanner._ann_assign,
    ast.AugAssign: Scanner._aug_assign, ast.Delete: Scanner._delete, ast.Expr: Scanner._expr,
    ast.If: Scanner._if, ast.Match: Scanner._match, ast.Try: Scanner._try, ast.TryStar: Scanner._try,
    ast.With: Scanner._with, ast.AsyncWith: Scanner._with,
    ast.For: Scanner._loop, ast.AsyncFor: Scanner._loop, ast.While: Scanner._loop,
    ast.Raise: Scanner._raise, ast.Return: Scanner._return,
    ast.Break: Scanner._break, ast.Continue: Scanner._break,
}
if hasattr(ast, "TypeAlias"):  # `type X = ...`, Python 3.12
    _STATEMENTS[ast.TypeAlias] = Scanner._type_alias

# Statement type -> the Scanner method that collects imports from it in a def or class body.
_BODY_STATEMENTS = {
    ast.Import: Scanner.record_import, ast.ImportFrom: Scanner.record_import_from,
    ast.Global: Scanner._body_global,
    ast.FunctionDef: Scanner._body_def, ast.AsyncFunctionDef: Scanner._body_def,
    ast.ClassDef: Scanner._body_class,
    ast.If: Scanner._body_if, ast.Match: Scanner._body_match,
    ast.Try: Scanner._body_try, ast.TryStar: Scanner._body_try,
    ast.With: Scanner._body_with, ast.AsyncWith: Scanner._body_with,
    ast.For: Scanner._body_loop, ast.AsyncFor: Scanner._body_loop, ast.While: Scanner._body_loop,
}
