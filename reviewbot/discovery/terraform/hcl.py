"""HCL expressions as python-hcl2 leaves them ("${...}" strings), evaluated statically.

A small evaluator follows `path.*`, `var.*`, `local.*`, `each.*`, `count.index`, module
outputs and a few pure functions. Anything else is `Unknown`, never guessed.

What a reference names is looked up in a `Namespace`, the module instance the expression is
evaluated in; this module knows nothing else of modules or of Lambda functions.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

# Paths are evaluated in a virtual file system whose "/__repo__" is the repository top, so
# `${path.module}/../x` stays distinguishable from a path relative to where terraform runs.
REPO = "/__repo__"
MAX_DEPTH = 60

Step = tuple[str, Any]  # ("attr", name) or ("index", key)


# -- values ------------------------------------------------------------------------------------

class Unknown:
    """A value that cannot be known statically; `text` is the expression, for messages."""

    def __init__(self, text: str = ""):
        self.text = text

    def __repr__(self) -> str:
        return f"Unknown({self.text!r})"


class Fail(Exception):
    """An expression cannot be evaluated; `Scope.eval` turns it into `Unknown`."""


@dataclass(frozen=True)
class Ref:
    """A reference to an archive, a layer resource or a terraform-aws-modules/lambda module
    declared in `names`.

    Attribute access keeps the reference (`.output_path`, `.arn`); an index picks an instance.
    """

    kind: str  # "archive" | "layer" | "tfmodule"
    names: Namespace
    address: str
    key: Any = None

    def step(self, step: Step) -> Ref:
        if step[0] == "index" and self.key is None:
            return Ref(self.kind, self.names, self.address, step[1])
        return self


@dataclass(frozen=True)
class Each:
    """What `each.key`, `each.value` and `count.index` are in one instance of a block."""

    key: Any = None
    value: Any = None
    index: Any = None


@dataclass
class Budget:
    """How deeply expressions nest through variables, locals and outputs: one per run,
    shared by every scope, so a reference chain between modules ends."""

    depth: int = 0


class Namespace(Protocol):
    """The module instance an expression is evaluated in, as the evaluator sees it.

    Lookups raise `Fail` for a name that is not there or whose value is unknown."""

    budget: Budget

    @property
    def module_dir(self) -> str:  # `path.module`, a repo folder
        ...

    @property
    def root_dir(self) -> str:  # `path.root` and `path.cwd`
        ...

    def var(self, name: str) -> Any: ...

    def local(self, name: str) -> Any: ...

    def output(self, name: str) -> Any: ...

    def child(self, name: str, key: Any) -> Namespace | Ref | None:
        """`module.<name>[key]`: its namespace, a Ref for a module read as a resource, or
        None when it is not evaluated."""

    def archive_attr(self, ref: Ref, name: str) -> Any:
        """An attribute of an archive this namespace declares (`output_path` in text)."""


# -- templates and tokens ----------------------------------------------------------------------

TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<punct>[.\[\](),{}=:*])
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)


def tokenize(text: str) -> list[tuple[str, str]]:
    out = []
    for m in TOKEN.finditer(text):
        kind = m.lastgroup or "other"
        if kind == "other":
            raise Fail(text)
        if kind != "ws":
            out.append((kind, m.group()))
    return out


def split_template(text: str) -> list[tuple[bool, str]]:
    """`a${x}b` -> [(False, "a"), (True, "x"), (False, "b")]; `$${` is a literal `${`."""
    parts: list[tuple[bool, str]] = []
    buf = ""
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            buf += "${"
            i += 3
        elif text.startswith("%{", i) and not text.startswith("%%{", i):
            raise Fail(text)  # template directives
        elif text.startswith("${", i):
            end = _interpolation_end(text, i + 2)
            if buf:
                parts.append((False, buf))
                buf = ""
            parts.append((True, text[i + 2: end - 1].strip("~ ")))
            i = end
        else:
            buf += text[i]
            i += 1
    if buf or not parts:
        parts.append((False, buf))
    return parts


def _interpolation_end(text: str, start: int) -> int:
    """The index just past the `}` closing the `${` before `start` (braces in strings
    do not count)."""
    depth, j, quote = 1, start, False
    while j < len(text) and depth:
        ch = text[j]
        if quote:
            if ch == "\\":
                j += 1
            elif ch == '"':
                quote = False
        elif ch == '"':
            quote = True
        elif ch in "{}":
            depth += 1 if ch == "{" else -1
        j += 1
    if depth:
        raise Fail(text)
    return j


def unquote(token: str) -> str:
    body = token[1:-1]
    return re.sub(r'\\(["\\nrt])', lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m[1], m[1]), body)


# -- scopes and references ---------------------------------------------------------------------

class Scope:
    """Evaluates hcl2 values in one namespace, with `each`/`count` bound."""

    def __init__(self, names: Namespace, each: Each | None = None):
        self.names = names
        self.each = each

    def eval(self, value: Any) -> Any:
        """Evaluate an hcl2 value; unknown parts become `Unknown`, never an exception."""
        if isinstance(value, str):
            try:
                return self.template(value)
            except (Fail, RecursionError):
                return Unknown(value)
        if isinstance(value, dict):
            return {k: self.eval(v) for k, v in value.items() if not str(k).startswith("__")}
        if isinstance(value, list):
            return [self.eval(v) for v in value]
        return value

    def template(self, text: str) -> Any:
        parts = split_template(text)
        if len(parts) == 1 and parts[0][0]:
            return self.expression(parts[0][1])
        out = ""
        for is_expr, part in parts:
            out += self.text(self.expression(part)) if is_expr else part
        return out

    def text(self, value: Any) -> str:
        if isinstance(value, Ref) and value.kind == "archive":
            value = value.names.archive_attr(value, "output_path")
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        raise Fail(repr(value))

    def expression(self, text: str) -> Any:
        budget = self.names.budget
        budget.depth += 1
        try:
            if budget.depth > MAX_DEPTH:
                raise Fail(text)
            parser = Parser(tokenize(text), self)
            value = parser.expr()
            if parser.pos != len(parser.tokens):
                raise Fail(text)
            if isinstance(value, Unknown):
                raise Fail(text)
            return value
        finally:
            budget.depth -= 1

    def reference(self, steps: list[Step]) -> Any:
        """The value of `head.rest...`, looked up by the reference's first name."""
        head = steps[0][1]
        lookup = _REFERENCES.get(head)
        if lookup is None:
            raise Fail(head)
        value, rest = lookup(self, head, steps[1:])
        return apply(value, rest)

    # Each lookup takes the steps after the head and gives the value they name and the
    # steps still to apply to it.
    def _path(self, head: str, rest: list[Step]) -> tuple[Any, list[Step]]:
        name = _attr(rest, 0, head)
        if name not in ("module", "root", "cwd"):
            raise Fail(name)
        folder = self.names.module_dir if name == "module" else self.names.root_dir
        return to_virtual(folder), rest[1:]

    def _var(self, head: str, rest: list[Step]) -> tuple[Any, list[Step]]:
        return self.names.var(_attr(rest, 0, head)), rest[1:]

    def _local(self, head: str, rest: list[Step]) -> tuple[Any, list[Step]]:
        return self.names.local(_attr(rest, 0, head)), rest[1:]

    def _each(self, head: str, rest: list[Step]) -> tuple[Any, list[Step]]:
        if self.each is None:
            raise Fail(head)
        name = _attr(rest, 0, head)
        value = {"key": self.each.key, "value": self.each.value, "index": self.each.index}.get(name)
        if value is None:
            raise Fail(name)
        return value, rest[1:]

    def _data(self, head: str, rest: list[Step]) -> tuple[Any, list[Step]]:
        if _attr(rest, 0, head) != "archive_file":
            raise Fail("data")
        return Ref("archive", self.names, f"data.archive_file.{_attr(rest, 1, head)}"), rest[2:]

    def _archive(self, head: str, rest: list[Step]) -> tuple[Any, list[Step]]:
        return Ref("archive", self.names, f"archive_file.{_attr(rest, 0, head)}"), rest[1:]

    def _layer(self, head: str, rest: list[Step]) -> tuple[Any, list[Step]]:
        return Ref("layer", self.names, _attr(rest, 0, head)), rest[1:]

    def _module(self, head: str, rest: list[Step]) -> tuple[Any, list[Step]]:
        name = _attr(rest, 0, head)
        more = rest[1:]
        key = None
        if more and more[0][0] == "index":
            key, more = more[0][1], more[1:]
        child = self.names.child(name, key)
        if isinstance(child, Ref):
            return child, more[1:]
        if child is None or not more or more[0][0] != "attr":
            raise Fail(name)
        return child.output(more[0][1]), more[1:]


_REFERENCES: dict[str, Callable[[Scope, str, list[Step]], tuple[Any, list[Step]]]] = {
    "path": Scope._path,
    "var": Scope._var,
    "local": Scope._local,
    "each": Scope._each,
    "count": Scope._each,
    "data": Scope._data,
    "archive_file": Scope._archive,
    "aws_lambda_layer_version": Scope._layer,
    "module": Scope._module,
}


def _attr(rest: list[Step], i: int, head: str) -> str:
    """The name of the `i`th step, which must be an attribute."""
    if i >= len(rest) or rest[i][0] != "attr":
        raise Fail(head)
    return rest[i][1]


def apply(value: Any, steps: list[Step]) -> Any:
    for step in steps:
        if isinstance(value, Ref):
            value = value.step(step)
        elif selectable(value, step):
            value = value[step[1]]
        else:
            raise Fail(str(step[1]))
        if isinstance(value, Unknown):
            raise Fail(value.text)
    return value


def selectable(value: Any, step: Step) -> bool:
    key = step[1]
    if isinstance(value, dict):
        return isinstance(key, str | int) and key in value
    return isinstance(value, list) and step[0] == "index" and isinstance(key, int) \
        and not isinstance(key, bool) and 0 <= key < len(value)


# -- functions ---------------------------------------------------------------------------------

def _format(fmt: Any, *args: Any) -> str:
    if not isinstance(fmt, str) or fmt.count("%s") != len(args) or "%" in fmt.replace("%s", ""):
        raise Fail("format")
    return fmt % tuple(str(a) for a in args)


def _lookup(mapping: Any, key: Any, *default: Any) -> Any:
    if isinstance(mapping, dict) and key in mapping:
        return mapping[key]
    if default:
        return default[0]
    raise Fail("lookup")


def _merge(*maps: Any) -> dict:
    out: dict = {}
    for m in maps:
        if not isinstance(m, dict):
            raise Fail("merge")
        out.update(m)
    return out


def _concat(*lists: Any) -> list:
    if not all(isinstance(x, list) for x in lists):
        raise Fail("concat")
    return [v for x in lists for v in x]


def _join(sep: Any, items: Any) -> str:
    if not isinstance(sep, str) or not isinstance(items, list) or \
            not all(isinstance(x, str) for x in items):
        raise Fail("join")
    return sep.join(items)


def _to_list(value: Any) -> list:
    if not isinstance(value, list):
        raise Fail("toset")
    return value


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "toset": lambda v: list(dict.fromkeys(_to_list(v))),
    "tolist": _to_list,
    "tomap": lambda v: v if isinstance(v, dict) else Fail("tomap"),
    "abspath": lambda v: v,
    "format": _format,
    "lookup": _lookup,
    "merge": _merge,
    "concat": _concat,
    "join": _join,
}


# -- the parser --------------------------------------------------------------------------------

class Parser:
    """Recursive descent over the expression subset real Lambda configs use."""

    def __init__(self, tokens: list[tuple[str, str]], scope: Scope):
        self.tokens = tokens
        self.pos = 0
        self.scope = scope

    def peek(self, value: str | None = None) -> bool:
        if self.pos >= len(self.tokens):
            return False
        return value is None or self.tokens[self.pos][1] == value

    def take(self, value: str | None = None) -> tuple[str, str]:
        if not self.peek(value):
            raise Fail(value or "end")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def expr(self) -> Any:
        kind, tok = self.take()
        if kind == "str":
            value: Any = self.scope.template(unquote(tok))
        elif kind == "num":
            value = float(tok) if "." in tok else int(tok)
        elif tok == "[":
            value = self.sequence("]")
        elif tok == "{":
            value = self.object()
        elif tok == "(":
            value = self.expr()
            self.take(")")
        elif kind == "ident" and tok in ("true", "false", "null"):
            value = {"true": True, "false": False, "null": None}[tok]
        elif kind == "ident" and self.peek("("):
            value = self.call(tok)
        elif kind == "ident":
            return self.scope.reference([("attr", tok), *self.steps()])
        else:
            raise Fail(tok)
        return apply(value, self.steps())

    def call(self, name: str) -> Any:
        self.take("(")
        args = self.sequence(")")
        fn = FUNCTIONS.get(name)
        if fn is None:
            raise Fail(name)
        try:
            value = fn(*args)
        except TypeError as exc:
            raise Fail(name) from exc
        if isinstance(value, Fail):
            raise value
        return value

    def steps(self) -> list[Step]:
        out: list[Step] = []
        while True:
            if self.peek("."):
                self.take(".")
                kind, tok = self.take()
                if kind == "ident":
                    out.append(("attr", tok))
                elif kind == "num":
                    out.append(("index", int(tok)))
                else:
                    raise Fail(tok)  # splat
            elif self.peek("["):
                self.take("[")
                out.append(("index", self.expr()))
                self.take("]")
            else:
                return out

    def sequence(self, close: str) -> list:
        items = []
        while not self.peek(close):
            items.append(self.expr())
            if not self.peek(close):
                self.take(",")
        self.take(close)
        return items

    def object(self) -> dict:
        out = {}
        while not self.peek("}"):
            kind, tok = self.take()
            key = unquote(tok) if kind == "str" else tok
            if not self.peek("="):
                self.take(":")
            else:
                self.take("=")
            out[key] = self.expr()
            if self.peek(","):
                self.take(",")
        self.take("}")
        return out


# -- paths -------------------------------------------------------------------------------------

def to_virtual(folder: str) -> str:
    return REPO if folder == "." else f"{REPO}/{folder}"


def repo_path(path: str, cwd: str) -> str | None:
    """A path as terraform sees it (relative to `cwd`, the root module) -> repo path."""
    if not path.startswith("/"):
        path = f"{to_virtual(cwd)}/{path}"
    path = posixpath.normpath(path)
    if path == REPO:
        return "."
    if path.startswith(REPO + "/"):
        return path[len(REPO) + 1:]
    return None


def shown(path: Any) -> str:
    text = str(path)
    return text.replace(REPO + "/", "").replace(REPO, ".")
