"""The Lambda functions of a Terraform configuration: `aws_lambda_function` resources, their
layers, and the terraform-aws-modules/lambda module, as `Handler`s.

Real repos thread an `archive_file`'s `output_path` into a function's `filename`; the zip's
root is the archive's `source_dir` (or the folder of its `source_file`). Addresses follow
Terraform's: `aws_lambda_function.auth`, `aws_lambda_function.fn["a"]`,
`module.api.module.auth`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reviewbot.discovery.common import (
    Found,
    Layer,
    architecture,
    is_python,
    layer_paths,
    map_layer,
    skipped,
)
from reviewbot.discovery.terraform.hcl import REPO, Ref, Scope, Unknown, repo_path, shown
from reviewbot.discovery.terraform.modules import (
    Block,
    Configuration,
    Instance,
    instance_of,
    instances,
    local_source,
    sources_tf_lambda,
)
from reviewbot.model import DEFAULT_RUNTIME, Handler
from reviewbot.tree import Tree


@dataclass(frozen=True)
class SourceEntry:
    """One entry of a terraform-aws-modules/lambda `source_path`."""

    path: str | None  # the repo path, None when it is computed or outside the repository
    prefix: str  # `prefix_in_zip`, without slashes ("?" when computed)
    built: bool  # it has build `commands`, so what lands in the zip is not only its files


class Terraform:
    """The functions a loaded configuration defines, reported into `found`."""

    def __init__(self, tree: Tree, layer_map: Mapping[str, str] | None, found: Found,
                 config: Configuration):
        self.tree = tree
        self.layer_map = layer_map
        self.found = found
        self.config = config
        self.visited: set[str] = set()

    @property
    def root_dir(self) -> str:
        return self.config.root_dir

    def run(self) -> None:
        """Root modules first; then modules only reachable through a cycle or a computed
        `for_each`, evaluated on their own so their functions are still listed."""
        for folder in self.config.roots():
            if not self.config.modules[folder].is_tf_lambda_copy():
                self.visit(self.config.root(folder))
        for folder, module in sorted(self.config.modules.items()):
            if folder not in self.visited and (module.functions or module.modules) \
                    and not module.is_tf_lambda_copy():
                self.visit(self.config.root(folder))

    def visit(self, inst: Instance) -> None:
        self.visited.add(inst.module.dir)
        for name, block in inst.module.functions.items():
            self.expand(inst, block, f"{inst.address}aws_lambda_function.{name}", self.function)
        for name, block in inst.module.modules.items():
            source = block.attrs.get("source")
            address = f"{inst.address}module.{name}"
            if sources_tf_lambda(self.config, inst.module, block):
                self.expand(inst, block, address, self.tf_lambda)
            elif local_source(inst.module, block) is not None:
                self.visit_children(inst, name, block, address)
            elif "handler" in block.attrs:
                self.found.skip(address, block.source, block.line,
                                f"module source {source} is not in the repository")

    def visit_children(self, inst: Instance, name: str, block: Block, address: str) -> None:
        """Visit every instance of a local module call."""
        found = instances(Scope(inst), block.attrs)
        if isinstance(found, str):
            self.found.skip(address, block.source, block.line, found)
            return
        for _, each in found:
            key = None if each is None else (each.index if each.key is None else each.key)
            child = inst.child(name, key)
            if isinstance(child, Instance):
                self.visit(child)

    def skip(self, inst: Instance, address: str, block: Block, reason: str) -> None:
        """An unresolved function, with the module call that made it when it is in a
        child module (the module's file alone does not say which call is meant)."""
        if inst.called_at:
            reason = f"{reason} (in module {inst.module.dir} called at {inst.called_at})"
        self.found.skip(address, block.source, block.line, reason)

    def expand(self, inst: Instance, block: Block,
               address: str, build: Callable[[str, Block, Scope], None]) -> None:
        found = instances(Scope(inst), block.attrs)
        if isinstance(found, str):
            self.skip(inst, address, block, found)
            return
        for suffix, each in found:
            self.config.budget.depth = 0
            build(address + suffix, block, Scope(inst, each))

    # -- aws_lambda_function ---------------------------------------------------------------
    def function(self, address: str, block: Block, scope: Scope) -> None:
        inst = instance_of(scope.names)
        basics = handler_and_runtime(scope, block.attrs)
        if isinstance(basics, str):
            self.skip(inst, address, block, basics)
            return
        handler, runtime = basics
        archive, reason = self.code_archive(scope, block.attrs)
        root = None
        if archive is not None:
            root, reason = self.archive_root(archive)
        if root is None:
            self.skip(inst, address, block, reason)
            return
        layers = self.layer_list(scope, block.attrs.get("layers"), block)
        env = block.attrs.get("environment")
        variables = env[0].get("variables") if isinstance(env, list) and env and \
            isinstance(env[0], dict) else None
        self.add(address, block, handler, runtime, root, (), layers, True, scope.eval(variables),
                 scope.eval(block.attrs.get("architectures")))

    def add(self, address: str, block: Block, handler: str, runtime: str, root: str,
            extra: tuple[str, ...], layers: list[Layer | None], complete: bool,
            variables: Any, arch: Any = None) -> None:
        lr = layer_paths(self.tree, layers, runtime, self.found)
        environment = tuple(
            (str(k), v) for k, v in (variables.items() if isinstance(variables, dict) else [])
            if isinstance(v, str) and REPO not in v)
        self.found.handlers.append(Handler(
            name=address, handler=handler, root=root,
            paths=tuple(dict.fromkeys(p for p in (*extra, *lr.paths) if p != root)),
            runtime=runtime, source=block.source, line=block.line,
            complete=complete and lr.complete, environment=environment,
            layer_modules=lr.modules, unknown_layers=lr.unknown,
            runtime_default=not block.attrs.get("runtime"),
            arch=architecture(arch)))

    def code_archive(self, scope: Scope, attrs: dict) -> tuple[Ref | None, str]:
        """The archive a function or layer version is deployed from, or why there is none."""
        for key in ("filename", "source_code_hash"):
            if key not in attrs:
                continue
            value = scope.eval(attrs[key])
            if isinstance(value, Ref) and value.kind == "archive":
                return value, ""
            if key == "filename" and isinstance(value, str):
                match = self.archive_by_output(instance_of(scope.names), value)
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

    def archive_root(self, ref: Ref) -> tuple[str | None, str]:
        """The repo folder whose contents are the zip's root."""
        found = instance_of(ref.names).archive(ref)
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
            address = f"{instance_of(value.names).address}aws_lambda_layer_version.{value.address}"
            local = self.layer_version(value)
            return [local] if local is not None else [map_layer(self.layer_map, address, text)]
        if isinstance(value, Ref) and value.kind == "tfmodule":
            layers = self.module_layer(value)
            if layers:
                return layers
            return [map_layer(self.layer_map, f"{instance_of(value.names).address}module.{value.address}",
                              text)]
        if isinstance(value, str):
            return [map_layer(self.layer_map, value, text)]
        return [map_layer(self.layer_map, text)]

    def layer_version(self, ref: Ref) -> Layer | None:
        inst = instance_of(ref.names)
        block = inst.module.layers.get(ref.address)
        if block is None:
            return None
        each = inst.each_for(block, ref.key) if ref.key is not None else None
        archive, _ = self.code_archive(Scope(inst, each), block.attrs)
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
        inst = instance_of(ref.names)
        block = inst.module.modules[ref.address]
        each = inst.each_for(block, ref.key) if ref.key is not None else None
        scope = Scope(inst, each)
        if scope.eval(block.attrs.get("create_layer")) is not True:
            return []
        if scope.eval(block.attrs.get("create_package", True)) is False:
            return [None]
        entries = self.source_entries(scope, block.attrs.get("source_path"))
        if entries is None:
            return [None]
        out: list[Layer | None] = []
        for entry in entries:
            if entry.path is None or not self.tree.isdir(entry.path) \
                    or entry.prefix not in ("", "python"):
                out.append(None)
            else:
                out.append(Layer(entry.path, in_python=entry.prefix == "python",
                                 known=not entry.built, label=f"module.{ref.address}",
                                 source=block.source, line=block.line))
        return out

    def source_entries(self, scope: Scope, raw: Any) -> list[SourceEntry] | None:
        """`source_path` as entries; None when it is missing or computed."""
        value = scope.eval(raw)
        if value is None or isinstance(value, Unknown):
            return None
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            if isinstance(item, str):
                item = {"path": item}
            if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                out.append(SourceEntry(None, "", False))
                continue
            prefix = item.get("prefix_in_zip") or ""
            prefix = prefix.strip("/") if isinstance(prefix, str) else "?"
            out.append(SourceEntry(repo_path(item["path"], self.root_dir), prefix,
                                   bool(item.get("commands"))))
        return out

    def tf_lambda(self, address: str, block: Block, scope: Scope) -> None:
        attrs = block.attrs
        if not creates_function(scope, attrs):
            return
        basics = handler_and_runtime(scope, block.attrs)
        if isinstance(basics, str):
            self.found.skip(address, block.source, block.line, basics)
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
        roots, complete = self.zip_roots(entries)
        if not roots:
            self.found.skip(address, block.source, block.line,
                            "source_path has no folder of the repository at the zip root")
            return
        layers = self.layer_list(scope, attrs.get("layers"), block)
        self.add(address, block, handler, runtime, roots[0], tuple(roots[1:]), layers,
                 complete, scope.eval(attrs.get("environment_variables")),
                 scope.eval(attrs.get("architectures")))

    def zip_roots(self, entries: list[SourceEntry]) -> tuple[list[str], bool]:
        """The repo folders whose contents land at the zip's root, and whether they are all
        the zip holds (no build commands, nothing computed or elsewhere)."""
        roots: list[str] = []
        complete = True
        for entry in entries:
            complete = complete and not entry.built
            path, prefix = entry.path, entry.prefix
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
        return roots, complete


def handler_and_runtime(scope: Scope, attrs: dict) -> tuple[str, str] | str:
    """Handler and runtime of a Python function; why it is skipped otherwise."""
    if scope.eval(attrs.get("package_type")) == "Image" or "image_uri" in attrs:
        return "container image: the handler is set by the image"
    runtime = scope.eval(attrs.get("runtime", DEFAULT_RUNTIME))
    if not isinstance(runtime, str):
        return "runtime is computed"
    runtime = runtime or DEFAULT_RUNTIME
    if not is_python(runtime):
        return f"runtime {runtime} is not Python"
    handler = scope.eval(attrs.get("handler"))
    if handler is None:
        return "no handler"
    if not isinstance(handler, str):
        return f"handler is computed: {shown(attrs.get('handler'))}"
    return handler, runtime


def creates_function(scope: Scope, attrs: dict) -> bool:
    """Whether a terraform-aws-modules/lambda module call creates a function (not a layer,
    and not switched off)."""
    return not (scope.eval(attrs.get("create_layer")) is True
                or scope.eval(attrs.get("create", True)) is False
                or scope.eval(attrs.get("create_function", True)) is False)


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
    config = Configuration()
    config.load(tree, hcl2, found)
    Terraform(tree, layer_map, found, config).run()
    return found
