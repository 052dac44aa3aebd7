"""The value of an `if` test on the target runtime, where it can be known statically.

Lambda runs the module on Linux (`sys.platform` "linux", `os.name` "posix",
`platform.system()` "Linux") under one Python version, imported by the runtime rather than
run as a script (`__name__` is never "__main__"), and with `typing.TYPE_CHECKING` false.
Only the major and minor version are known, so `sys.version_info` is compared as far as
those two decide it.
"""

from __future__ import annotations

import ast
import functools


class _Unknown:
    pass


_UNKNOWN = _Unknown()  # a value that cannot be known statically
_MODULE_NAME = _Unknown()  # the module's own __name__: known only not to be "__main__"


class _Version:
    """sys.version_info on the target: (major, minor, <unknown micro>, ...)."""

    def __init__(self, version: tuple[int, int]):
        self.version = version


_TYPE_CHECKING = frozenset({"TYPE_CHECKING", "typing.TYPE_CHECKING", "t.TYPE_CHECKING",
                            "typing_extensions.TYPE_CHECKING"})
_VERSION_INFO = ("sys.version_info", "version_info")


@functools.cache
def _known_names(version: tuple[int, int]) -> dict[str, object]:
    """The dotted names whose value on the target runtime is known."""
    return {
        "sys.platform": "linux", "platform": "linux",
        "os.name": "posix",
        "__name__": _MODULE_NAME,
        "sys.version_info": _Version(version), "version_info": _Version(version),
        "sys.version_info.major": version[0], "version_info.major": version[0],
        "sys.version_info.minor": version[1], "version_info.minor": version[1],
    }


def dotted(node: ast.AST) -> str | None:
    """`a.b.c` for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def evaluate(test: ast.expr, version: tuple[int, int]) -> bool | None:
    """True/False when the test's value is known on the target runtime, else None."""
    if isinstance(test, ast.Constant):
        return bool(test.value)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        value = evaluate(test.operand, version)
        return None if value is None else not value
    if isinstance(test, ast.BoolOp):
        return _evaluate_bool_op(test, version)
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        return _compare(test.left, test.ops[0], test.comparators[0], version)
    if isinstance(test, ast.Call):
        return _platform_startswith(test)
    return False if dotted(test) in _TYPE_CHECKING else None


def _evaluate_bool_op(test: ast.BoolOp, version: tuple[int, int]) -> bool | None:
    """`and` is False once one operand is False, `or` True once one is True; otherwise
    the result is known only when every operand is."""
    values = [evaluate(v, version) for v in test.values]
    decisive = isinstance(test.op, ast.Or)
    if any(v is decisive for v in values):
        return decisive
    return (not decisive) if all(v is (not decisive) for v in values) else None


def _platform_startswith(call: ast.Call) -> bool | None:
    """`sys.platform.startswith(prefix or tuple of prefixes)`."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "startswith" and call.args
            and dotted(func.value) == "sys.platform"):
        return None
    prefix = _literal(call.args[0])
    if isinstance(prefix, str):
        return "linux".startswith(prefix)
    if isinstance(prefix, tuple):
        return any("linux".startswith(p) for p in prefix if isinstance(p, str))
    return None


def _compare(left: ast.expr, op: ast.cmpop, right: ast.expr,
             version: tuple[int, int]) -> bool | None:
    lhs = _known_value(left, version)
    rhs = _known_value(right, version)
    if lhs is _UNKNOWN or rhs is _UNKNOWN:
        return None
    if _MODULE_NAME in (lhs, rhs):
        # The module's name depends on the handler importing it; all we know is
        # that it is not "__main__" on Lambda.
        other = rhs if lhs is _MODULE_NAME else lhs
        if other == "__main__" and type(op) in (ast.Eq, ast.NotEq):
            return type(op) is ast.NotEq
        return None
    if isinstance(lhs, _Version) or isinstance(rhs, _Version):
        return _compare_version(lhs, op, rhs)
    try:
        return _apply(op, lhs, rhs)
    except TypeError:
        return None


def _known_value(node: ast.expr, version: tuple[int, int]):
    """The value of an operand of a comparison on the target runtime, or _UNKNOWN."""
    literal = _literal(node)
    if literal is not _UNKNOWN:
        return literal
    if isinstance(node, ast.Call):
        is_system = dotted(node.func) == "platform.system" and not node.args
        return "Linux" if is_system else _UNKNOWN
    if isinstance(node, ast.Subscript):
        return _version_item(node, version) if dotted(node.value) in _VERSION_INFO else _UNKNOWN
    return _known_names(version).get(dotted(node), _UNKNOWN)


def _version_item(node: ast.Subscript, version: tuple[int, int]):
    """`sys.version_info[0]`, `[1]`, `[:1]` or `[:2]`."""
    index = node.slice
    if isinstance(index, ast.Constant) and index.value in (0, 1):
        return version[index.value]
    if isinstance(index, ast.Slice) and index.lower is None and index.step is None:
        upper = _literal(index.upper) if index.upper is not None else _UNKNOWN
        if upper in (1, 2):
            return tuple(version[:upper])
    return _UNKNOWN


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
