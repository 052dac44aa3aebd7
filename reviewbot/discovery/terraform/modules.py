"""Terraform modules as python-hcl2 8.x reads them, and module instances to evaluate in.

A module is one folder of `.tf` files. Root modules (folders no other module sources locally)
are evaluated with their variable defaults and `*.tfvars`, child modules with their caller's
inputs. An `Instance` is the `Namespace` the expression evaluator looks references up in.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from reviewbot.discovery.common import Found, read_text, skipped
from reviewbot.discovery.terraform.hcl import Budget, Each, Fail, Namespace, Ref, Scope, Unknown
from reviewbot.tree import Tree, join

TF_LAMBDA = re.compile(r"^(?!.*//modules/)(terraform-aws-modules/lambda/aws|(git::)?(https://|ssh://git@|git@)?github\.com[/:]terraform-aws-modules/terraform-aws-lambda)")
META_ARGS = {"source", "version", "for_each", "count", "providers", "depends_on", "lifecycle"}
MAX_NESTING = 10  # local child modules below a root


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
    locals: dict[str, Any] = field(default_factory=dict)  # name -> its hcl2 value
    archives: dict[str, Block] = field(default_factory=dict)  # "data.archive_file.x" / "archive_file.x"
    functions: dict[str, Block] = field(default_factory=dict)
    layers: dict[str, Block] = field(default_factory=dict)
    modules: dict[str, Block] = field(default_factory=dict)
    outputs: dict[str, Block] = field(default_factory=dict)
    tfvars: dict[str, Any] = field(default_factory=dict)

    def add(self, path: str, doc: dict, text: str) -> None:
        """Merge the blocks of one parsed `.tf` file."""
        def block(attrs: Any, kind: str, *labels: str) -> Block:
            return Block(attrs if isinstance(attrs, dict) else {}, path,
                         block_line(text, kind, *labels))

        for name, attrs in _labelled(doc, "variable"):
            self.variables[name] = block(attrs, "variable", name)
        for name, value in _labelled(doc, "locals"):
            if not name.startswith("__"):
                self.locals[name] = value
        for kind in ("resource", "data"):
            for item in doc.get(kind, []):
                for rtype, named in item.items():
                    for name, attrs in named.items():
                        slot = self._slot(kind, rtype, name)
                        if slot is not None:
                            table, key = slot
                            table[key] = block(attrs, kind, rtype, name)
        for kind, table in (("module", self.modules), ("output", self.outputs)):
            for name, attrs in _labelled(doc, kind):
                table[name] = block(attrs, kind, name)

    def _slot(self, kind: str, rtype: str, name: str) -> tuple[dict[str, Block], str] | None:
        """Where a resource or data block of this type is kept, and under which key."""
        if rtype == "archive_file":
            prefix = "data." if kind == "data" else ""
            return self.archives, f"{prefix}archive_file.{name}"
        if kind == "resource" and rtype == "aws_lambda_function":
            return self.functions, name
        if kind == "resource" and rtype == "aws_lambda_layer_version":
            return self.layers, name
        return None

    def is_tf_lambda_copy(self) -> bool:
        """Whether this folder is a copy of terraform-aws-modules/lambda (vendored, or the
        module's own repository used by path): its `aws_lambda_function.this` is read from the
        caller's arguments, as for the registry source."""
        return "this" in self.functions and {"source_path", "create_package",
                                             "create_layer"} <= self.variables.keys()

    def has_code(self) -> bool:
        return bool(self.functions or self.modules or self.variables or self.locals
                    or self.outputs)


def _labelled(doc: dict, kind: str) -> Iterator[tuple[str, Any]]:
    """(label, body) of every `kind` block with one label (and the entries of `locals`)."""
    for item in doc.get(kind, []):
        yield from item.items()


def block_line(text: str, kind: str, *labels: str) -> int:
    """1-based line of the block header `kind "label" ... {` (python-hcl2 8 gives no lines)."""
    label = r'\s+(?:"{}"|{})'
    pattern = r"^[ \t]*" + re.escape(kind) + "".join(
        label.format(re.escape(x), re.escape(x)) for x in labels) + r"\s*\{"
    m = re.search(pattern, text, re.MULTILINE)
    return text.count("\n", 0, m.start()) + 1 if m else 0


def local_source(module: Module, block: Block) -> str | None:
    """The folder a `module` block sources from this repository (`./`, `../`), or None."""
    source = block.attrs.get("source")
    if isinstance(source, str) and source.startswith(("./", "../")):
        return posixpath.normpath(join(module.dir, source))
    return None


def sources_tf_lambda(config: Configuration, module: Module, block: Block) -> bool:
    """Whether a `module` block calls terraform-aws-modules/lambda, by its registry or GitHub
    source or by the path of a copy in the repository."""
    source = block.attrs.get("source")
    if isinstance(source, str) and TF_LAMBDA.match(source):
        return True
    folder = local_source(module, block)
    target = config.modules.get(folder) if folder is not None else None
    return target is not None and target.is_tf_lambda_copy()


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


# -- reading the tree --------------------------------------------------------------------------

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


@dataclass
class Configuration:
    """Every Terraform module of a tree by folder, and the root module being evaluated."""

    modules: dict[str, Module] = field(default_factory=dict)
    root_dir: str = "."
    budget: Budget = field(default_factory=Budget)

    def load(self, tree: Tree, hcl2: Any, found: Found) -> None:
        """Parse every `.tf` and `.tfvars` file; what cannot be parsed is a warning."""
        paths = sorted(p for p in tree.blobs
                       if p.endswith((".tf", ".tfvars")) and not skipped(p))
        tree.prefetch(paths)
        for path in paths:
            text = read_text(tree, path, found)
            if text is None:
                continue
            try:
                doc = hcl2.loads(text, serialization_options=hcl2_options(hcl2))
            except Exception as exc:  # lark raises many kinds; all mean "cannot parse"
                found.warn(path, *hcl_error(exc))
                continue
            folder = posixpath.dirname(path) or "."
            module = self.modules.setdefault(folder, Module(folder))
            if not path.endswith(".tfvars"):
                module.add(path, doc, text)
            elif posixpath.basename(path) == "terraform.tfvars" or path.endswith(".auto.tfvars"):
                module.tfvars.update({k: v for k, v in doc.items() if not k.startswith("__")})
        tree.forget(paths)

    def roots(self) -> list[str]:
        """Folders with code that no other module sources locally."""
        used = set()
        for module in self.modules.values():
            for block in module.modules.values():
                target = local_source(module, block)
                if target is not None and target != module.dir:
                    used.add(target)
        return [d for d in sorted(self.modules)
                if d not in used and self.modules[d].has_code()]

    def root(self, folder: str) -> Instance:
        """The module of `folder` evaluated as the root: with its defaults and tfvars."""
        self.root_dir = folder
        return Instance(self, self.modules[folder], "", {}, True, ())


# -- module instances --------------------------------------------------------------------------

class Instance:
    """A module evaluated at `address` with the inputs its caller passed."""

    def __init__(self, config: Configuration, module: Module, address: str,
                 inputs: Mapping[str, Callable[[], Any]], root: bool, stack: tuple[str, ...]):
        self.config = config
        self.module = module
        self.address = address
        self.inputs = inputs
        self.root = root
        self.stack = stack  # the folders of the modules that called this one
        self.called_at = ""  # `file:line` of the module block that made this instance
        self.cache: dict[tuple[str, str], Any] = {}
        self.busy: set[tuple[str, str]] = set()
        self.children: dict[tuple[str, Any], Instance | Ref | None] = {}

    def __hash__(self) -> int:
        return id(self)

    @property
    def budget(self) -> Budget:
        return self.config.budget

    @property
    def module_dir(self) -> str:
        return self.module.dir

    @property
    def root_dir(self) -> str:
        return self.config.root_dir

    def _memo(self, kind: str, name: str, compute: Callable[[], Any]) -> Any:
        key = (kind, name)
        if key not in self.cache:
            if key in self.busy:
                raise Fail(name)
            self.busy.add(key)
            try:
                self.cache[key] = compute()
            finally:
                self.busy.discard(key)
        value = self.cache[key]
        if isinstance(value, Unknown):
            raise Fail(name)
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
            raise Fail(name)
        return self._memo("local", name, lambda: Scope(self).eval(self.module.locals[name]))

    def output(self, name: str) -> Any:
        block = self.module.outputs.get(name)
        if block is None:
            raise Fail(name)
        return self._memo("output", name, lambda: Scope(self).eval(block.attrs.get("value")))

    def child(self, name: str, key: Any) -> Instance | Ref | None:
        """The child module instance `module.<name>[key]` (a Ref for a tf-lambda module)."""
        if (name, key) not in self.children:
            self.children[(name, key)] = None  # while it is made: a cycle finds nothing
            self.children[(name, key)] = self._make_child(name, key)
        return self.children[(name, key)]

    def _make_child(self, name: str, key: Any) -> Instance | Ref | None:
        block = self.module.modules.get(name)
        if block is None:
            return None
        if sources_tf_lambda(self.config, self.module, block):
            return Ref("tfmodule", self, name, key)
        folder = local_source(self.module, block)
        if folder is None:
            return None
        each = self.each_for(block, key)
        module = self.config.modules.get(folder)
        if module is None or folder in (*self.stack, self.module.dir) \
                or len(self.stack) >= MAX_NESTING:
            return None
        scope = Scope(self, each)
        inputs = {k: (lambda v=v: scope.eval(v)) for k, v in block.attrs.items()
                  if k not in META_ARGS and not k.startswith("__")}
        suffix = "" if key is None else (f"[{key}]" if isinstance(key, int) else f'["{key}"]')
        child = Instance(self.config, module, f"{self.address}module.{name}{suffix}.", inputs,
                         False, (*self.stack, self.module.dir))
        child.called_at = f"{block.source}:{block.line}"
        return child

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

    def archive(self, ref: Ref) -> tuple[Scope, Block] | str:
        """The archive_file block `ref` names in this instance and the scope of the instance
        it picks, or why there is none."""
        block = self.module.archives.get(ref.address)
        if block is None:
            return f"{ref.address} is not defined"
        each = None
        if "for_each" in block.attrs or "count" in block.attrs:
            each = self.each_for(block, ref.key)
            if each is None:
                return f"cannot tell which instance of {ref.address} is used"
        return Scope(self, each), block

    def archive_attr(self, ref: Ref, name: str) -> Any:
        found = self.archive(ref)
        if isinstance(found, str):
            raise Fail(found)
        scope, block = found
        value = scope.eval(block.attrs.get(name))
        if isinstance(value, Unknown) or value is None:
            raise Fail(name)
        return value



def instance_of(names: Namespace) -> Instance:
    """The instance behind a namespace: every namespace of a `Configuration` is one."""
    assert isinstance(names, Instance)
    return names
