"""The names a module-level `__getattr__` (PEP 562) serves, when its code says exactly.

Most such functions serve a fixed list: `if name == "__version__": ...` or `if name in
_LAZY: ...`, then `raise AttributeError(name)`. MarkupSafe 3 is one: `from markupsafe
import soft_unicode` (Jinja2 2.x) fails at import although the module has a `__getattr__`.
Reading that list keeps the module closed, so a missing name is an error, not a maybe.
Anything else the function might do (compute a name, call out, fall through) leaves the
module open, as before.
"""

from __future__ import annotations

import ast

_CONTAINERS = (ast.Tuple, ast.List, ast.Set)


def _strings(node: ast.expr, consts: dict[str, frozenset[str]]) -> frozenset[str] | None:
    """The strings a literal container (or a module-level name bound to one) holds."""
    if isinstance(node, ast.Name):
        return consts.get(node.id)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1 \
            and node.func.id in ("frozenset", "set", "tuple") and not node.keywords:
        return _strings(node.args[0], consts)
    items = node.keys if isinstance(node, ast.Dict) else (
        node.elts if isinstance(node, _CONTAINERS) else None)
    if items is None or not all(isinstance(i, ast.Constant) and isinstance(i.value, str)
                                for i in items):
        return None
    return frozenset(i.value for i in items)  # type: ignore[union-attr]


def _constants(module: ast.Module) -> dict[str, frozenset[str]]:
    """Module-level names bound once, unconditionally, to a literal container of strings."""
    found: dict[str, frozenset[str] | None] = {}
    for stmt in module.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else (
            [stmt.target] if isinstance(stmt, ast.AnnAssign) and stmt.value else [])
        for target in targets:
            if isinstance(target, ast.Name):
                value = stmt.value  # type: ignore[union-attr]
                found[target.id] = None if target.id in found else _strings(value, {})
    return {k: v for k, v in found.items() if v is not None}


def _tested(test: ast.expr, param: str, consts: dict) -> tuple[bool, frozenset[str]] | None:
    """(negated, names) for `param == "x"`, `param in C`, `param not in C`, or an `or` of
    the positive forms; None for any other test."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
        parts = [_tested(v, param, consts) for v in test.values]
        if any(p is None or p[0] for p in parts):
            return None
        return False, frozenset().union(*(p[1] for p in parts))  # type: ignore[index]
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    left, op, right = test.left, test.ops[0], test.comparators[0]
    if isinstance(op, ast.Eq):
        if isinstance(right, ast.Name) and right.id == param:
            left, right = right, left
        if isinstance(left, ast.Name) and left.id == param and isinstance(right, ast.Constant) \
                and isinstance(right.value, str):
            return False, frozenset({right.value})
        return None
    if isinstance(op, (ast.In, ast.NotIn)) and isinstance(left, ast.Name) and left.id == param:
        names = _strings(right, consts)
        return None if names is None else (isinstance(op, ast.NotIn), names)
    return None


def _raises_attribute_error(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.Raise) or stmt.exc is None:
        return False
    exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
    return isinstance(exc, ast.Name) and exc.id == "AttributeError"


def served_names(module: ast.Module) -> tuple[str, ...] | None:
    """The names the module's `__getattr__` may return, or None when its code does not
    say exactly (or the module defines it more than once, or not at its top level)."""
    defs = [s for s in module.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
            and s.name == "__getattr__"]
    if len(defs) != 1 or isinstance(defs[0], ast.AsyncFunctionDef):
        return None
    func = defs[0]
    params = func.args.posonlyargs + func.args.args
    if len(params) != 1 or func.decorator_list:
        return None
    param, consts = params[0].arg, _constants(module)
    served: set[str] = set()
    for stmt in func.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # the docstring
        if _raises_attribute_error(stmt):
            return tuple(sorted(served))
        if not isinstance(stmt, ast.If) or stmt.orelse:
            return None
        tested = _tested(stmt.test, param, consts)
        if tested is None:
            return None
        negated, names = tested
        if negated:  # `if name not in C: raise AttributeError`: only C gets past
            only_raises = len(stmt.body) == 1 and _raises_attribute_error(stmt.body[0])
            return tuple(sorted(served | names)) if only_raises else None
        served |= names
    return None  # falls off the end: returns None for every other name
