"""Terraform configurations, read with python-hcl2 8.x (reference section 7).

A module is one folder of `.tf` files. Root modules (folders no other module sources locally)
are evaluated with their variable defaults and `*.tfvars`, child modules with their caller's
inputs. A small evaluator follows `path.module`, `var.*`, `local.*`, `each.*`, `count.index`,
module outputs and a few pure functions, which is how real repos thread an `archive_file`'s
`output_path` into a function's `filename`. Anything else is unknown, never guessed.

Addresses follow Terraform's: `aws_lambda_function.auth`, `aws_lambda_function.fn["a"]`,
`module.api.module.auth`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reviewbot.discovery import cfnyaml
from reviewbot.discovery.common import Found, Layer, is_python, layer_paths, map_layer, skipped
from reviewbot.model import DEFAULT_RUNTIME, Handler
from reviewbot.tree import Tree, join

# Paths are evaluated in a virtual file system whose "/__repo__" is the repository top, so
# `${path.module}/../x` stays distinguishable from a path relative to where terraform runs.
REPO = "/__repo__"
TF_LAMBDA = re.compile(r"^(?!.*//modules/)(terraform-aws-modules/lambda/aws|(git::)?(https://|ssh://git@|git@)?github\.com[/:]terraform-aws-modules/terraform-aws-lambda)")
META_ARGS = {"source", "version", "for_each", "count", "providers", "depends_on", "lifecycle"}
MAX_DEPTH = 60


# -- parsed modules ----------------------------------------------------------------------------

@dataclass
class Block:
    attrs: dict
    source: str
    line: int


@dataclass
class Module:
    """The blocks of one folder of `.tf` files, merged."""

    dir: str
    variables: dict[str, Block] = field(default_factory=dict)
    locals: dict[str, tuple[Any, str, int]] = field(default_factory=dict)
    archives: dict[str, Block] = field(default_factory=dict)  # "data.archive_file.x" / "archive_file.x"
    functions: dict[str, Block] = field(default_factory=dict)
    layers: dict[str, Block] = field(default_factory=dict)
    modules: dict[str, Block] = field(default_factory=dict)
    outputs: dict[str, Block] = field(default_factory=dict)
    tfvars: dict[str, Any] = field(default_factory=dict)

    def add(self, path: str, doc: dict, text: str) -> None:
        def block(attrs: Any, kind: str, *labels: str) -> Block:
            return Block(attrs if isinstance(attrs, dict) else {}, path,
                         block_line(text, kind, *labels))

        for item in doc.get("variable", []):
            for name, attrs in item.items():
                self.variables[name] = block(attrs, "variable", name)
        for item in doc.get("locals", []):
            for name, value in item.items():
                if not name.startswith("__"):
                    self.locals[name] = (value, path, 0)
        for kind in ("resource", "data"):
            for item in doc.get(kind, []):
                for rtype, named in item.items():
                    for name, attrs in named.items():
                        if rtype == "archive_file":
                            prefix = "data." if kind == "data" else ""
                            self.archives[f"{prefix}archive_file.{name}"] = \
                                block(attrs, kind, rtype, name)
                        elif kind == "resource" and rtype == "aws_lambda_function":
                            self.functions[name] = block(attrs, kind, rtype, name)
                        elif kind == "resource" and rtype == "aws_lambda_layer_version":
                            self.layers[name] = block(attrs, kind, rtype, name)
        for kind, target in (("module", self.modules), ("output", self.outputs)):
            for item in doc.get(kind, []):
                for name, attrs in item.items():
                    target[name] = block(attrs, kind, name)


def block_line(text: str, kind: str, *labels: str) -> int:
    """1-based line of the block header `kind "label" ... {` (python-hcl2 8 gives no lines)."""
    label = r'\s+(?:"{}"|{})'
    pattern = r"^[ \t]*" + re.escape(kind) + "".join(
        label.format(re.escape(x), re.escape(x)) for x in labels) + r"\s*\{"
    m = re.search(pattern, text, re.MULTILINE)
    return text.count("\n", 0, m.start()) + 1 if m else 0


# -- values ------------------------------------------------------------------------------------

class Unknown:
    """A value that cannot be known statically; `text` is the expression, for messages."""

    def __init__(self, text: str = ""):
        self.text = text

    def __repr__(self) -> str:
        return f"Unknown({self.text!r})"


class _Fail(Exception):
    pass


@dataclass(frozen=True)
class Ref:
    """A reference to an archive, a layer resource or a terraform-aws-modules/lambda module.

    Attribute access keeps the reference (`.output_path`, `.arn`); an index picks an instance.
    """

    kind: str  # "archive" | "layer" | "tfmodule"
    inst: Instance
    address: str
    key: Any = None

    def step(self, step: tuple[str, Any]) -> Ref:
        if step[0] == "index" and self.key is None:
            return Ref(self.kind, self.inst, self.address, step[1])
        return self


@dataclass(frozen=True)
class Each:
    key: Any = None
    value: Any = None
    index: Any = None


def instances(scope: Scope, attrs: dict) -> list[tuple[str, Each | None]] | str:
    """Instance suffixes (`["a"]`, `[0]`, or "") of a block; a reason string if unknowable."""
    if "for_each" in attrs:
        value = scope.eval(attrs["for_each"])
        if isinstance(value, dict):
            return [(f'["{k}"]', Each(k, v)) for k, v in sorted(value.items())]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [(f'["{v}"]', Each(v, v)) for v in sorted(set(value))]
        return "for_each is computed"
    if "count" in attrs:
        value = scope.eval(attrs["count"])
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, int):
            return [(f"[{i}]", Each(index=i)) for i in range(value)]
        return "count is computed"
    return [("", None)]


# -- expression evaluation ---------------------------------------------------------------------

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
            raise _Fail(text)
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
            raise _Fail(text)  # template directives
        elif text.startswith("${", i):
            depth, j, quote = 1, i + 2, False
            while j < len(text) and depth:
                ch = text[j]
                if quote:
                    if ch == "\\":
                        j += 1
                    elif ch == '"':
                        quote = False
                elif ch == '"':
                    quote = True
                elif ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                j += 1
            if depth:
                raise _Fail(text)
            if buf:
                parts.append((False, buf))
                buf = ""
            parts.append((True, text[i + 2: j - 1].strip("~ ")))
            i = j
        else:
            buf += text[i]
            i += 1
    if buf or not parts:
        parts.append((False, buf))
    return parts


def unquote(token: str) -> str:
    body = token[1:-1]
    return re.sub(r'\\(["\\nrt])', lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m[1], m[1]), body)


class Scope:
    """Evaluates hcl2 values inside one module instance, with `each`/`count` bound."""

    def __init__(self, inst: Instance, each: Each | None = None):
        self.inst = inst
        self.each = each

    def eval(self, value: Any) -> Any:
        """Evaluate an hcl2 value; unknown parts become `Unknown`, never an exception."""
        if isinstance(value, str):
            try:
                return self.template(value)
            except (_Fail, RecursionError):
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
            value = self.inst.disc.archive_attr(value, "output_path")
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        raise _Fail(repr(value))

    def expression(self, text: str) -> Any:
        self.inst.disc.depth += 1
        try:
            if self.inst.disc.depth > MAX_DEPTH:
                raise _Fail(text)
            parser = Parser(tokenize(text), self)
            value = parser.expr()
            if parser.pos != len(parser.tokens):
                raise _Fail(text)
            if isinstance(value, Unknown):
                raise _Fail(text)
            return value
        finally:
            self.inst.disc.depth -= 1

    def reference(self, steps: list[tuple[str, Any]]) -> Any:
        head = steps[0][1]
        rest = steps[1:]

        def attr(i: int) -> str:
            if i >= len(rest) or rest[i][0] != "attr":
                raise _Fail(head)
            return rest[i][1]

        inst = self.inst
        if head == "path":
            name = attr(0)
            folder = inst.module.dir if name == "module" else inst.disc.root_dir
            if name not in ("module", "root", "cwd"):
                raise _Fail(name)
            return apply(to_virtual(folder), rest[1:])
        if head == "var":
            return apply(inst.var(attr(0)), rest[1:])
        if head == "local":
            return apply(inst.local(attr(0)), rest[1:])
        if head in ("each", "count"):
            if self.each is None:
                raise _Fail(head)
            name = attr(0)
            value = {"key": self.each.key, "value": self.each.value, "index": self.each.index}.get(name)
            if value is None:
                raise _Fail(name)
            return apply(value, rest[1:])
        if head == "data":
            if attr(0) != "archive_file":
                raise _Fail("data")
            return apply(Ref("archive", inst, f"data.archive_file.{attr(1)}"), rest[2:])
        if head == "archive_file":
            return apply(Ref("archive", inst, f"archive_file.{attr(0)}"), rest[1:])
        if head == "aws_lambda_layer_version":
            return apply(Ref("layer", inst, attr(0)), rest[1:])
        if head == "module":
            name = attr(0)
            more = rest[1:]
            key = None
            if more and more[0][0] == "index":
                key, more = more[0][1], more[1:]
            child = inst.child(name, key)
            if isinstance(child, Ref):
                return apply(child, more[1:])
            if child is None or not more or more[0][0] != "attr":
                raise _Fail(name)
            return apply(child.output(more[0][1]), more[1:])
        raise _Fail(head)


def apply(value: Any, steps: list[tuple[str, Any]]) -> Any:
    for step in steps:
        if isinstance(value, Ref):
            value = value.step(step)
        elif selectable(value, step):
            value = value[step[1]]
        else:
            raise _Fail(str(step[1]))
        if isinstance(value, Unknown):
            raise _Fail(value.text)
    return value


def selectable(value: Any, step: tuple[str, Any]) -> bool:
    key = step[1]
    if isinstance(value, dict):
        return isinstance(key, str | int) and key in value
    return isinstance(value, list) and step[0] == "index" and isinstance(key, int) \
        and not isinstance(key, bool) and 0 <= key < len(value)


def _format(fmt: Any, *args: Any) -> str:
    if not isinstance(fmt, str) or fmt.count("%s") != len(args) or "%" in fmt.replace("%s", ""):
        raise _Fail("format")
    return fmt % tuple(str(a) for a in args)


def _lookup(mapping: Any, key: Any, *default: Any) -> Any:
    if isinstance(mapping, dict) and key in mapping:
        return mapping[key]
    if default:
        return default[0]
    raise _Fail("lookup")


def _merge(*maps: Any) -> dict:
    out: dict = {}
    for m in maps:
        if not isinstance(m, dict):
            raise _Fail("merge")
        out.update(m)
    return out


def _concat(*lists: Any) -> list:
    if not all(isinstance(x, list) for x in lists):
        raise _Fail("concat")
    return [v for x in lists for v in x]


def _join(sep: Any, items: Any) -> str:
    if not isinstance(sep, str) or not isinstance(items, list) or \
            not all(isinstance(x, str) for x in items):
        raise _Fail("join")
    return sep.join(items)


def _to_list(value: Any) -> list:
    if not isinstance(value, list):
        raise _Fail("toset")
    return value


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "toset": lambda v: list(dict.fromkeys(_to_list(v))),
    "tolist": _to_list,
    "tomap": lambda v: v if isinstance(v, dict) else _Fail("tomap"),
    "abspath": lambda v: v,
    "format": _format,
    "lookup": _lookup,
    "merge": _merge,
    "concat": _concat,
    "join": _join,
}


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
            raise _Fail(value or "end")
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
            self.take("(")
            args = self.sequence(")")
            fn = FUNCTIONS.get(tok)
            if fn is None:
                raise _Fail(tok)
            try:
                value = fn(*args)
            except TypeError as exc:
                raise _Fail(tok) from exc
            if isinstance(value, _Fail):
                raise value
        elif kind == "ident":
            return self.scope.reference([("attr", tok), *self.steps()])
        else:
            raise _Fail(tok)
        return apply(value, self.steps())

    def steps(self) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        while True:
            if self.peek("."):
                self.take(".")
                kind, tok = self.take()
                if kind == "ident":
                    out.append(("attr", tok))
                elif kind == "num":
                    out.append(("index", int(tok)))
                else:
                    raise _Fail(tok)  # splat
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


# -- module instances --------------------------------------------------------------------------

class Instance:
    """A module evaluated at `address` with the inputs its caller passed."""

    def __init__(self, disc: Terraform, module: Module, address: str,
                 inputs: Mapping[str, Callable[[], Any]], root: bool, stack: tuple[str, ...]):
        self.disc = disc
        self.module = module
        self.address = address
        self.inputs = inputs
        self.root = root
        self.stack = stack
        self.cache: dict[tuple[str, str], Any] = {}
        self.busy: set[tuple[str, str]] = set()
        self.children: dict[tuple[str, Any], Instance | Ref | None] = {}

    def __hash__(self) -> int:
        return id(self)

    def _memo(self, kind: str, name: str, compute: Callable[[], Any]) -> Any:
        key = (kind, name)
        if key not in self.cache:
            if key in self.busy:
                raise _Fail(name)
            self.busy.add(key)
            try:
                self.cache[key] = compute()
            finally:
                self.busy.discard(key)
        value = self.cache[key]
        if isinstance(value, Unknown):
            raise _Fail(name)
        return value

    def var(self, name: str) -> Any:
        def compute() -> Any:
            if name in self.inputs:
                return self.inputs[name]()
            if self.root and name in self.module.tfvars:
                return self.module.tfvars[name]
            block = self.module.variables.get(name)
            if block is None or "default" not in block.attrs:
                return Unknown(f"var.{name}")
            return Scope(self).eval(block.attrs["default"])
        return self._memo("var", name, compute)

    def local(self, name: str) -> Any:
        if name not in self.module.locals:
            raise _Fail(name)
        return self._memo("local", name, lambda: Scope(self).eval(self.module.locals[name][0]))

    def output(self, name: str) -> Any:
        block = self.module.outputs.get(name)
        if block is None:
            raise _Fail(name)
        return self._memo("output", name, lambda: Scope(self).eval(block.attrs.get("value")))

    def child(self, name: str, key: Any) -> Instance | Ref | None:
        """The child module instance `module.<name>[key]` (a Ref for a tf-lambda module)."""
        if (name, key) in self.children:
            return self.children[(name, key)]
        self.children[(name, key)] = None
        block = self.module.modules.get(name)
        result: Instance | Ref | None = None
        if block is not None:
            source = block.attrs.get("source")
            suffix = "" if key is None else (f"[{key}]" if isinstance(key, int) else f'["{key}"]')
            address = f"{self.address}module.{name}{suffix}"
            if isinstance(source, str) and TF_LAMBDA.match(source):
                result = Ref("tfmodule", self, name, key)
            elif isinstance(source, str) and source.startswith(("./", "../")):
                each = self.each_for(block, key)
                folder = posixpath.normpath(join(self.module.dir, source))
                module = self.disc.modules.get(folder)
                if module is not None and folder not in (*self.stack, self.module.dir) \
                        and len(self.stack) < 10:
                    scope = Scope(self, each)
                    inputs = {k: (lambda v=v: scope.eval(v)) for k, v in block.attrs.items()
                              if k not in META_ARGS and not k.startswith("__")}
                    result = Instance(self.disc, module, address + ".", inputs, False,
                                      (*self.stack, self.module.dir))
        self.children[(name, key)] = result
        return result

    def each_for(self, block: Block, key: Any) -> Each | None:
        if key is None:
            return None
        found = instances(Scope(self), block.attrs)
        if isinstance(found, str):
            return None
        for _, each in found:
            if each is not None and key in (each.key, each.index):
                return each
        return None


class Terraform:
    """All Terraform modules of the tree and the functions they define."""

    def __init__(self, tree: Tree, layer_map: Mapping[str, str] | None, found: Found):
        self.tree = tree
        self.layer_map = layer_map
        self.found = found
        self.modules: dict[str, Module] = {}
        self.root_dir = "."
        self.depth = 0
        self.visited: set[str] = set()

    def load(self, hcl2: Any) -> None:
        paths = sorted(p for p in self.tree.blobs
                       if p.endswith((".tf", ".tfvars")) and not skipped(p))
        self.tree.prefetch(paths)
        for path in paths:
            folder = posixpath.dirname(path) or "."
            data = self.tree.read(path)
            if len(data) > cfnyaml.MAX_BYTES:
                self.found.warn(path, 0, "skipped: larger than 5 MB")
                continue
            try:
                text = cfnyaml.decode(data)
                doc = hcl2.loads(text, serialization_options=hcl2_options(hcl2))
            except Exception as exc:  # lark raises many kinds; all mean "cannot parse"
                self.found.warn(path, *hcl_error(exc))
                continue
            module = self.modules.setdefault(folder, Module(folder))
            if path.endswith(".tfvars"):
                if posixpath.basename(path) == "terraform.tfvars" or path.endswith(".auto.tfvars"):
                    module.tfvars.update({k: v for k, v in doc.items() if not k.startswith("__")})
            else:
                module.add(path, doc, text)
        self.tree.forget(paths)

    def roots(self) -> list[str]:
        used = set()
        for module in self.modules.values():
            for block in module.modules.values():
                source = block.attrs.get("source")
                if isinstance(source, str) and source.startswith(("./", "../")):
                    target = posixpath.normpath(join(module.dir, source))
                    if target != module.dir:
                        used.add(target)
        return [d for d in sorted(self.modules) if d not in used and self.has_code(d)]

    def has_code(self, folder: str) -> bool:
        m = self.modules[folder]
        return bool(m.functions or m.modules or m.variables or m.locals or m.outputs)

    def run(self) -> None:
        """Root modules first; then modules only reachable through a cycle or a computed
        `for_each`, evaluated on their own so their functions are still listed."""
        for folder in self.roots():
            self.root_dir = folder
            self.visit(Instance(self, self.modules[folder], "", {}, True, ()))
        for folder in sorted(self.modules):
            module = self.modules[folder]
            if folder not in self.visited and (module.functions or module.modules):
                self.root_dir = folder
                self.visit(Instance(self, module, "", {}, True, ()))

    def visit(self, inst: Instance) -> None:
        self.visited.add(inst.module.dir)
        for name, block in inst.module.functions.items():
            self.expand(inst, block, f"{inst.address}aws_lambda_function.{name}", self.function)
        for name, block in inst.module.modules.items():
            source = block.attrs.get("source")
            if isinstance(source, str) and TF_LAMBDA.match(source):
                self.expand(inst, block, f"{inst.address}module.{name}", self.tf_lambda)
            elif isinstance(source, str) and source.startswith(("./", "../")):
                found = instances(Scope(inst), block.attrs)
                if isinstance(found, str):
                    self.found.skip(f"{inst.address}module.{name}", block.source, block.line,
                                    found)
                    continue
                for _, each in found:
                    key = None if each is None else (each.index if each.key is None else each.key)
                    child = inst.child(name, key)
                    if isinstance(child, Instance):
                        self.visit(child)
            elif "handler" in block.attrs:
                self.found.skip(f"{inst.address}module.{name}", block.source, block.line,
                                f"module source {source} is not in the repository")

    def expand(self, inst: Instance, block: Block,
               address: str, build: Callable[[str, Block, Scope], None]) -> None:
        found = instances(Scope(inst), block.attrs)
        if isinstance(found, str):
            self.found.skip(address, block.source, block.line, found)
            return
        for suffix, each in found:
            self.depth = 0
            build(address + suffix, block, Scope(inst, each))

    # -- aws_lambda_function ---------------------------------------------------------------
    def common(self, address: str, block: Block, scope: Scope,
               handler_key: str = "handler") -> tuple[str, str] | None:
        """Handler and runtime, or None after reporting why the function is skipped."""
        attrs = block.attrs
        if scope.eval(attrs.get("package_type")) == "Image" or "image_uri" in attrs:
            self.found.skip(address, block.source, block.line,
                            "container image: the handler is set by the image")
            return None
        runtime = scope.eval(attrs.get("runtime", DEFAULT_RUNTIME))
        if not isinstance(runtime, str):
            self.found.skip(address, block.source, block.line, "runtime is computed")
            return None
        runtime = runtime or DEFAULT_RUNTIME
        if not is_python(runtime):
            self.found.skip(address, block.source, block.line, f"runtime {runtime} is not Python")
            return None
        handler = scope.eval(attrs.get(handler_key))
        if handler is None:
            self.found.skip(address, block.source, block.line, "no handler")
            return None
        if not isinstance(handler, str):
            self.found.skip(address, block.source, block.line,
                            f"handler is computed: {shown(attrs.get(handler_key))}")
            return None
        return handler, runtime

    def function(self, address: str, block: Block, scope: Scope) -> None:
        basics = self.common(address, block, scope)
        if basics is None:
            return
        handler, runtime = basics
        archive, reason = self.code_archive(scope, block.attrs)
        root = None
        if archive is not None:
            root, reason = self.archive_root(archive)
        if root is None:
            self.found.skip(address, block.source, block.line, reason)
            return
        layers = self.layer_list(scope, block.attrs.get("layers"), block)
        env = block.attrs.get("environment")
        variables = env[0].get("variables") if isinstance(env, list) and env and \
            isinstance(env[0], dict) else None
        self.add(address, block, handler, runtime, root, (), layers, True, scope.eval(variables))

    def add(self, address: str, block: Block, handler: str, runtime: str, root: str,
            extra: tuple[str, ...], layers: list[Layer | None], complete: bool,
            variables: Any) -> None:
        paths, known = layer_paths(self.tree, layers, runtime, self.found)
        environment = tuple(
            (str(k), v) for k, v in (variables.items() if isinstance(variables, dict) else [])
            if isinstance(v, str) and REPO not in v)
        self.found.handlers.append(Handler(
            name=address, handler=handler, root=root,
            paths=tuple(dict.fromkeys(p for p in (*extra, *paths) if p != root)),
            runtime=runtime, source=block.source, line=block.line,
            complete=complete and known, environment=environment))

    def code_archive(self, scope: Scope, attrs: dict) -> tuple[Ref | None, str]:
        """The archive a function or layer version is deployed from, or why there is none."""
        for key in ("filename", "source_code_hash"):
            if key not in attrs:
                continue
            value = scope.eval(attrs[key])
            if isinstance(value, Ref) and value.kind == "archive":
                return value, ""
            if key == "filename" and isinstance(value, str):
                match = self.archive_by_output(scope.inst, value)
                if match is not None:
                    return match, ""
        if "filename" in attrs:
            value = scope.eval(attrs["filename"])
            if isinstance(value, str):
                return None, f"filename {shown(value)} is not built by an archive_file of this module"
            return None, f"filename is computed: {shown(attrs['filename'])}"
        if "s3_bucket" in attrs or "s3_key" in attrs:
            return None, "code is an S3 artifact"
        return None, "no local code (filename, s3_key or image_uri)"

    def archive_by_output(self, inst: Instance, value: str) -> Ref | None:
        wanted = repo_path(value, self.root_dir)
        for address, block in inst.module.archives.items():
            found = instances(Scope(inst), block.attrs)
            for _, each in [] if isinstance(found, str) else found:
                out = Scope(inst, each).eval(block.attrs.get("output_path"))
                if isinstance(out, str) and repo_path(out, self.root_dir) == wanted:
                    return Ref("archive", inst, address, None if each is None else each.key)
        return None

    def archive_scope(self, ref: Ref) -> tuple[Scope, Block] | str:
        block = ref.inst.module.archives.get(ref.address)
        if block is None:
            return f"{ref.address} is not defined"
        each = None
        if "for_each" in block.attrs or "count" in block.attrs:
            each = ref.inst.each_for(block, ref.key)
            if each is None:
                return f"cannot tell which instance of {ref.address} is used"
        return Scope(ref.inst, each), block

    def archive_attr(self, ref: Ref, name: str) -> Any:
        found = self.archive_scope(ref)
        if isinstance(found, str):
            raise _Fail(found)
        scope, block = found
        value = scope.eval(block.attrs.get(name))
        if isinstance(value, Unknown) or value is None:
            raise _Fail(name)
        return value

    def archive_root(self, ref: Ref) -> tuple[str | None, str]:
        """The repo folder whose contents are the zip's root."""
        found = self.archive_scope(ref)
        if isinstance(found, str):
            return None, found
        scope, block = found
        attrs = block.attrs
        for key in ("source_dir", "source_file"):
            if key not in attrs:
                continue
            value = scope.eval(attrs[key])
            if not isinstance(value, str):
                return None, f"{ref.address}.{key} is computed: {shown(attrs[key])}"
            path = repo_path(value, self.root_dir)
            if path is None:
                return None, f"{ref.address}.{key} {shown(value)} is outside the repository"
            if key == "source_dir":
                if not self.tree.isdir(path):
                    return None, f"{ref.address}.source_dir {path} is not a folder of the repository"
                return path, ""
            if path not in self.tree:
                return None, f"{ref.address}.source_file {path} is not in the repository"
            return posixpath.dirname(path) or ".", ""
        if "source" in attrs:
            return None, f"{ref.address} is built from inline source blocks"
        return None, f"{ref.address} has no source_dir or source_file"

    # -- layers ----------------------------------------------------------------------------
    def layer_list(self, scope: Scope, raw: Any, block: Block) -> list[Layer | None]:
        if raw is None:
            return []
        items = raw if isinstance(raw, list) else scope.eval(raw)
        if not isinstance(items, list):
            return [map_layer(self.layer_map, shown(raw).removeprefix("${").removesuffix("}"))]
        out: list[Layer | None] = []
        for item in items:
            value = scope.eval(item) if isinstance(raw, list) else item
            text = item.removeprefix("${").removesuffix("}") if isinstance(item, str) else ""
            out += self.layer(value, text, block)
        return out

    def layer(self, value: Any, text: str, block: Block) -> list[Layer | None]:
        if isinstance(value, Ref) and value.kind == "layer":
            address = f"{value.inst.address}aws_lambda_layer_version.{value.address}"
            local = self.layer_version(value)
            return [local] if local is not None else [map_layer(self.layer_map, address, text)]
        if isinstance(value, Ref) and value.kind == "tfmodule":
            layers = self.module_layer(value)
            if layers:
                return layers
            return [map_layer(self.layer_map, f"{value.inst.address}module.{value.address}", text)]
        if isinstance(value, str):
            return [map_layer(self.layer_map, value, text)]
        return [map_layer(self.layer_map, text)]

    def layer_version(self, ref: Ref) -> Layer | None:
        block = ref.inst.module.layers.get(ref.address)
        if block is None:
            return None
        each = ref.inst.each_for(block, ref.key) if ref.key is not None else None
        archive, _ = self.code_archive(Scope(ref.inst, each), block.attrs)
        if archive is None:
            return None
        folder, _ = self.archive_root(archive)
        if folder is None:
            return None
        return Layer(folder, label=f"aws_lambda_layer_version.{ref.address}",
                     source=block.source, line=block.line)

    # -- terraform-aws-modules/lambda ------------------------------------------------------
    def module_layer(self, ref: Ref) -> list[Layer | None]:
        """The layers built by a terraform-aws-modules/lambda module with create_layer."""
        block = ref.inst.module.modules[ref.address]
        each = ref.inst.each_for(block, ref.key) if ref.key is not None else None
        scope = Scope(ref.inst, each)
        if scope.eval(block.attrs.get("create_layer")) is not True:
            return []
        if scope.eval(block.attrs.get("create_package", True)) is False:
            return [None]
        entries = self.source_entries(scope, block.attrs.get("source_path"))
        if entries is None:
            return [None]
        out: list[Layer | None] = []
        for path, prefix, built in entries:
            if path is None or not self.tree.isdir(path) or prefix not in ("", "python"):
                out.append(None)
            else:
                out.append(Layer(path, in_python=prefix == "python", known=not built,
                                 label=f"module.{ref.address}", source=block.source,
                                 line=block.line))
        return out

    def source_entries(self, scope: Scope, raw: Any) -> list[tuple[str | None, str, bool]] | None:
        """`source_path` as (repo path, prefix_in_zip, has build commands) entries."""
        value = scope.eval(raw)
        if value is None or isinstance(value, Unknown):
            return None
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            if isinstance(item, str):
                item = {"path": item}
            if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                out.append((None, "", False))
                continue
            prefix = item.get("prefix_in_zip") or ""
            prefix = prefix.strip("/") if isinstance(prefix, str) else "?"
            out.append((repo_path(item["path"], self.root_dir), prefix, bool(item.get("commands"))))
        return out

    def tf_lambda(self, address: str, block: Block, scope: Scope) -> None:
        attrs = block.attrs
        if scope.eval(attrs.get("create_layer")) is True or \
                scope.eval(attrs.get("create", True)) is False or \
                scope.eval(attrs.get("create_function", True)) is False:
            return
        basics = self.common(address, block, scope)
        if basics is None:
            return
        handler, runtime = basics
        if scope.eval(attrs.get("create_package", True)) is False:
            self.found.skip(address, block.source, block.line,
                            "create_package = false: the package is built elsewhere")
            return
        entries = self.source_entries(scope, attrs.get("source_path"))
        if not entries:
            self.found.skip(address, block.source, block.line,
                            "source_path is missing or computed")
            return
        roots: list[str] = []
        complete = True
        for path, prefix, built in entries:
            complete = complete and not built
            if path is None:
                complete = False
                continue
            folder = path if self.tree.isdir(path) else (
                posixpath.dirname(path) or "." if path in self.tree else None)
            if folder is None:
                complete = False
            elif not prefix:
                roots.append(folder)
            elif "/" not in prefix and posixpath.basename(folder) == prefix:
                roots.append(posixpath.dirname(folder) or ".")  # lands as the package `prefix`
            else:
                complete = False
        if not roots:
            self.found.skip(address, block.source, block.line,
                            "source_path has no folder of the repository at the zip root")
            return
        layers = self.layer_list(scope, attrs.get("layers"), block)
        self.add(address, block, handler, runtime, roots[0], tuple(roots[1:]), layers,
                 complete, scope.eval(attrs.get("environment_variables")))


def hcl2_options(hcl2: Any) -> Any:
    """python-hcl2 8.x options giving the 7.x shape: bare strings, no block markers."""
    return hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False,
                                     with_comments=False, preserve_heredocs=False)


def hcl_error(exc: Exception) -> tuple[int, str]:
    """Line and a one-line message for a python-hcl2 (lark) parse error."""
    line = getattr(exc, "line", 0)
    line = line if isinstance(line, int) and line > 0 else 0
    token = getattr(exc, "token", None)
    token = token if token is not None else getattr(exc, "char", None)
    if getattr(token, "type", "") == "$END":
        detail = "unexpected end of file"
    elif token is not None and str(token).strip():
        detail = f"unexpected {str(token).strip().splitlines()[0][:30]!r}"
        column = getattr(exc, "column", 0)
        detail += f" at column {column}" if isinstance(column, int) and column > 0 else ""
    else:
        text = str(exc).strip()
        detail = text.splitlines()[0][:200] if text else type(exc).__name__
    return line, f"invalid HCL: {detail}"


def discover(tree: Tree, layer_map: Mapping[str, str] | None = None) -> Found:
    found = Found()
    if not any(p.endswith(".tf") and not skipped(p) for p in tree.blobs):
        return found
    try:
        import hcl2
    except ImportError:
        first = min(p for p in tree.blobs if p.endswith(".tf"))
        found.warn(first, 0, "python-hcl2 is not installed; Terraform files skipped")
        return found
    terraform = Terraform(tree, layer_map, found)
    terraform.load(hcl2)
    terraform.run()
    return found
