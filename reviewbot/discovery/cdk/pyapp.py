"""A Python CDK app read without running it: an evaluator over the stdlib `ast`.

It runs the app's own modules (the entry `cdk.json` names and the local modules it
imports) over a small value model: literals, containers, paths (`__file__`, `os.getcwd()`,
`os.path`, `pathlib`), the app's functions and classes (helpers, loops over literal lists,
custom constructs and stacks built with literal arguments), and the CDK names it imports,
which only record construct calls (see constructs.py). What only a real run knows (the
CDK context, the environment, other stacks, external calls) is `Unknown`, with the reason.
Nothing of the repository is executed, and the work is bounded.
"""

from __future__ import annotations

import ast
import posixpath
from pathlib import PurePosixPath
from typing import Any

from reviewbot.discovery.cdk.constructs import REPO, Unknown
from reviewbot.discovery.cdk.pycalls import Calls
from reviewbot.discovery.cdk.pyvalues import (
    MAX_TEXT,
    Cls,
    Ext,
    Func,
    Module,
    Obj,
    Returned,
    concrete,
    hashable,
)
from reviewbot.tree import Tree, join


class PythonApp(Calls):
    """Evaluates one Python CDK app; `constructs` holds the Lambda construct calls."""

    def __init__(self, tree: Tree, app_dir: str, entry: str):
        super().__init__(tree, app_dir, entry)
        self.search = list(dict.fromkeys((posixpath.dirname(entry) or ".", app_dir)))

    # -- modules -----------------------------------------------------------------------

    def load(self, path: str, name: str) -> Module:
        module = self.modules.get(path)
        if module is not None:
            return module
        module = self.modules[path] = Module(path, {
            "__file__": posixpath.join(REPO, path), "__name__": name})
        try:
            tree = ast.parse(self.tree.read(path), path)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return module
        self.block(tree.body, module, None)
        return module

    def find_module(self, dotted: str, module: Module | None = None,
                    level: int = 0) -> str | None:
        parts = [p for p in dotted.split(".") if p]
        if level and module is not None:
            base = posixpath.dirname(module.path)
            for _ in range(level - 1):
                base = posixpath.dirname(base)
            roots = [base or "."]
        else:
            roots = self.search
        for root in roots:
            stem = join(root, "/".join(parts)) if parts else root
            for candidate in (stem + ".py", join(stem, "__init__.py")):
                if candidate in self.tree:
                    return candidate
        return None

    def import_from(self, node: ast.ImportFrom, module: Module, scope: dict | None) -> None:
        dotted = node.module or ""
        path = self.find_module(dotted, module, node.level)
        for alias in node.names:
            if alias.name == "*":
                if path is not None:
                    names = self.load(path, dotted).names
                    for k, v in names.items():
                        if not k.startswith("_"):
                            self.assign_name(k, v, module, scope)
                continue
            value: Any
            if path is None:
                value = Ext(f"{dotted}.{alias.name}" if dotted else alias.name)
            else:
                loaded = self.load(path, dotted)
                sub = self.find_module(f"{dotted}.{alias.name}", module, node.level)
                if alias.name in loaded.names:
                    value = loaded.names[alias.name]
                elif sub is not None:
                    value = self.load(sub, f"{dotted}.{alias.name}")
                else:
                    value = Unknown(f"{alias.name} is not bound in {path}")
            self.assign_name(alias.asname or alias.name, value, module, scope)

    def import_(self, node: ast.Import, module: Module, scope: dict | None) -> None:
        for alias in node.names:
            path = self.find_module(alias.name)
            if path is None:
                value: Any = Ext(alias.name if alias.asname else alias.name.split(".")[0])
            else:
                value = self.load(path, alias.name)
                if not alias.asname and "." in alias.name:
                    top = self.find_module(alias.name.split(".")[0])
                    value = self.load(top, alias.name.split(".")[0]) if top else value
            self.assign_name(alias.asname or alias.name.split(".")[0], value, module, scope)

    # -- statements --------------------------------------------------------------------

    def stmt(self, s: ast.stmt, module: Module, scope: dict | None) -> None:
        if isinstance(s, ast.Expr):
            self.expr(s.value, module, scope)
        elif isinstance(s, ast.Assign):
            value = self.expr(s.value, module, scope)
            for target in s.targets:
                self.assign(target, value, module, scope)
        elif isinstance(s, ast.AnnAssign) and s.value is not None:
            self.assign(s.target, self.expr(s.value, module, scope), module, scope)
        elif isinstance(s, ast.AugAssign) and isinstance(s.target, ast.Name):
            old = self.expr(s.target, module, scope)
            value = self.binop(s.op, old, self.expr(s.value, module, scope))
            self.assign(s.target, value, module, scope)
        elif isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef):
            self.assign_name(s.name, Func(s, module, scope), module, scope)
        elif isinstance(s, ast.ClassDef):
            self.classdef(s, module, scope)
        elif isinstance(s, ast.Return):
            raise Returned(None if s.value is None else self.expr(s.value, module, scope))
        elif isinstance(s, ast.If):
            self.if_(s, module, scope)
        elif isinstance(s, ast.For):
            self.for_(s, module, scope)
        elif isinstance(s, ast.With | ast.AsyncWith):
            self.block(s.body, module, scope)
        elif isinstance(s, ast.Try):
            self.block(s.body, module, scope)
            self.block(s.orelse, module, scope)
            self.block(s.finalbody, module, scope)
        elif isinstance(s, ast.Import):
            self.import_(s, module, scope)
        elif isinstance(s, ast.ImportFrom):
            self.import_from(s, module, scope)

    def if_(self, s: ast.If, module: Module, scope: dict | None) -> None:
        test = self.expr(s.test, module, scope)
        if concrete(test) and not isinstance(test, PurePosixPath):
            self.block(s.body if test else s.orelse, module, scope)
        else:  # either way may run: read both
            self.block(s.body, module, scope)
            self.block(s.orelse, module, scope)

    def for_(self, s: ast.For, module: Module, scope: dict | None) -> None:
        items = self.expr(s.iter, module, scope)
        if isinstance(items, dict):
            items = list(items)
        if not isinstance(items, list | tuple | range):
            items = [Unknown("an item of a computed collection")]
        for item in list(items)[:MAX_TEXT]:
            self.assign(s.target, item, module, scope)
            self.block(s.body, module, scope)

    def classdef(self, s: ast.ClassDef, module: Module, scope: dict | None) -> None:
        bases = [self.expr(b, module, scope) for b in s.bases]
        cls = Cls(s, module, bases, {})
        inner: dict[str, Any] = {}
        self.block(s.body, module, inner)
        cls.attrs = inner
        self.assign_name(s.name, cls, module, scope)

    def assign(self, target: ast.expr, value: Any, module: Module, scope: dict | None) -> None:
        if isinstance(target, ast.Name):
            self.assign_name(target.id, value, module, scope)
        elif isinstance(target, ast.Tuple | ast.List):
            items = list(value) if isinstance(value, list | tuple) else None
            for i, elt in enumerate(target.elts):
                item = items[i] if items is not None and i < len(items) else Unknown()
                self.assign(elt, item, module, scope)
        elif isinstance(target, ast.Attribute):
            owner = self.expr(target.value, module, scope)
            if isinstance(owner, Obj):
                owner.attrs[target.attr] = value
        elif isinstance(target, ast.Subscript):
            owner = self.expr(target.value, module, scope)
            key = self.expr(target.slice, module, scope)
            if isinstance(owner, dict) and concrete(key):
                owner[key] = value

    # -- expressions -------------------------------------------------------------------

    def lookup(self, name: str, module: Module, scope: dict | None) -> Any:
        if scope is not None and name in scope:
            return scope[name]
        closure = scope.get("<closure>") if scope is not None else None
        while closure is not None:
            if name in closure:
                return closure[name]
            closure = closure.get("<closure>")
        if name in module.names:
            return module.names[name]
        return Ext(f"builtins.{name}")

    def expr(self, e: ast.expr, module: Module, scope: dict | None) -> Any:
        if isinstance(e, ast.Constant):
            return e.value
        if isinstance(e, ast.Name):
            return self.lookup(e.id, module, scope)
        if isinstance(e, ast.Attribute):
            return self.attribute(self.expr(e.value, module, scope), e.attr)
        if isinstance(e, ast.Call):
            return self.call_expr(e, module, scope)
        if isinstance(e, ast.JoinedStr):
            parts = [self.expr(v.value if isinstance(v, ast.FormattedValue) else v, module,
                               scope) for v in e.values]
            if all(concrete(p) for p in parts):
                return "".join(str(p) for p in parts)
            return next((p for p in parts if isinstance(p, Unknown)), Unknown())
        if isinstance(e, ast.BinOp):
            return self.binop(e.op, self.expr(e.left, module, scope),
                              self.expr(e.right, module, scope))
        if isinstance(e, ast.List | ast.Tuple | ast.Set):
            items = self.elements(e.elts, module, scope)
            return tuple(items) if isinstance(e, ast.Tuple) else items
        if isinstance(e, ast.Dict):
            out: dict[Any, Any] = {}
            for k, v in zip(e.keys, e.values, strict=True):
                value = self.expr(v, module, scope)
                if k is None:
                    out.update(value if isinstance(value, dict) else {})
                else:
                    out[hashable(self.expr(k, module, scope))] = value
            return out
        return self.other_expr(e, module, scope)

    def elements(self, elts: list[ast.expr], module: Module, scope: dict | None) -> list[Any]:
        """The values of a display's items or a call's arguments, `*x` spread."""
        items: list[Any] = []
        for elt in elts:
            if isinstance(elt, ast.Starred):
                inner = self.expr(elt.value, module, scope)
                items.extend(inner if isinstance(inner, list | tuple) else [Unknown()])
            else:
                items.append(self.expr(elt, module, scope))
        return items

    def other_expr(self, e: ast.expr, module: Module, scope: dict | None) -> Any:
        if isinstance(e, ast.Subscript):
            owner = self.expr(e.value, module, scope)
            key = self.expr(e.slice, module, scope)
            if isinstance(owner, dict | list | tuple | str) and concrete(key):
                return owner[key]
            return Unknown("an item of a computed value")
        if isinstance(e, ast.IfExp):
            test = self.expr(e.test, module, scope)
            if concrete(test):
                return self.expr(e.body if test else e.orelse, module, scope)
            return Unknown("a conditional value")
        if isinstance(e, ast.Compare):
            return self.compare(e, module, scope)
        if isinstance(e, ast.BoolOp):
            values = [self.expr(v, module, scope) for v in e.values]
            if not all(concrete(v) for v in values):
                return Unknown("a condition on a computed value")
            result = values[0]
            for v in values[1:]:
                result = (result and v) if isinstance(e.op, ast.And) else (result or v)
            return result
        if isinstance(e, ast.UnaryOp):
            value = self.expr(e.operand, module, scope)
            if isinstance(e.op, ast.Not) and concrete(value):
                return not value
            return Unknown()
        if isinstance(e, ast.Lambda):
            return Func(e, module, scope)
        if isinstance(e, ast.ListComp):
            return self.comprehension(e, module, scope)
        if isinstance(e, ast.NamedExpr):
            value = self.expr(e.value, module, scope)
            self.assign(e.target, value, module, scope)
            return value
        return Unknown()

    def compare(self, e: ast.Compare, module: Module, scope: dict | None) -> Any:
        left = self.expr(e.left, module, scope)
        rights = [self.expr(c, module, scope) for c in e.comparators]
        if not concrete(left) or not all(concrete(r) for r in rights):
            return Unknown("a condition on a computed value")
        ops = {ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b,
               ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
               ast.Lt: lambda a, b: a < b, ast.Gt: lambda a, b: a > b,
               ast.LtE: lambda a, b: a <= b, ast.GtE: lambda a, b: a >= b,
               ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b}
        for op, right in zip(e.ops, rights, strict=True):
            if not ops[type(op)](left, right):
                return False
            left = right
        return True

    def comprehension(self, e: ast.ListComp, module: Module, scope: dict | None) -> Any:
        inner: dict[str, Any] = {"<closure>": scope} if scope is not None else {}
        out: list[Any] = []

        def walk(i: int) -> None:
            if i == len(e.generators):
                out.append(self.expr(e.elt, module, inner))
                return
            gen = e.generators[i]
            items = self.expr(gen.iter, module, inner)
            if not isinstance(items, list | tuple | dict | range):
                out.append(Unknown("an item of a computed collection"))
                return
            for item in list(items)[:MAX_TEXT]:
                self.assign(gen.target, item, module, inner)
                if all(self.expr(c, module, inner) is True for c in gen.ifs):
                    walk(i + 1)

        walk(0)
        return out

    def binop(self, op: ast.operator, left: Any, right: Any) -> Any:
        if isinstance(op, ast.Div) and isinstance(left, PurePosixPath) and \
                isinstance(right, str | PurePosixPath):
            return left / right
        if not (concrete(left) and concrete(right)):
            return left if isinstance(left, Unknown) else (
                right if isinstance(right, Unknown) else Unknown())
        if isinstance(op, ast.Add) and isinstance(left, str | list | tuple):
            result = left + right
        elif isinstance(op, ast.Mod) and isinstance(left, str):
            result = left % right
        elif isinstance(op, ast.Add | ast.Sub) and isinstance(left, int):
            result = left + right if isinstance(op, ast.Add) else left - right
        else:
            return Unknown()
        if isinstance(result, str | list | tuple) and len(result) > MAX_TEXT:
            return Unknown("too long")
        return result

    # -- attributes and calls ----------------------------------------------------------
