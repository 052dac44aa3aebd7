"""Serverless Framework configs, `serverless.yml|yaml|json` (reference section 6).

The code root is the service folder (where the config is), except with
serverless-python-requirements' `module:` under `package.individually`, where only that
sub-folder is deployed. Function `layers` replace provider `layers`. Variables are resolved
only where the answer is in the repo: `${self:...}`, `${file(...):...}`, `${sls:stage}` and
literal fallbacks such as `${opt:stage, 'dev'}`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reviewbot.discovery import cfnyaml
from reviewbot.discovery.common import (
    Found,
    Layer,
    architecture,
    dirname,
    is_python,
    layer_paths,
    local_path,
    map_layer,
    read_text,
    skipped,
)
from reviewbot.globs import glob_regex
from reviewbot.model import DEFAULT_RUNTIME, Handler
from reviewbot.tree import Tree, join

NAMES = ("serverless.yml", "serverless.yaml", "serverless.json")
INNERMOST = re.compile(r"\$\{([^${}]*)\}")
PYREQ = "serverless-python-requirements"
WSGI = "serverless-wsgi"
MAX_DEPTH = 20


class Unknown:
    """A value whose variables cannot be resolved from the repo; keeps the original text."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"Unknown({self.text!r})"


class _Unresolvable(Exception):
    pass


def split_args(text: str) -> list[str]:
    """Split `a, 'b, c'` at top-level commas."""
    out, buf, quote = [], "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == ",":
            out.append(buf.strip())
            buf = ""
            continue
        buf += ch
    out.append(buf.strip())
    return out


@dataclass(frozen=True)
class FunctionSpec:
    """One entry of `functions`, before its variables are resolved, and where it is written."""

    name: str
    spec: Any
    source: str
    line: int


class Config:
    """One serverless config with its variable resolver."""

    def __init__(self, tree: Tree, path: str, doc: dict, found: Found):
        self.tree = tree
        self.path = path
        self.dir = dirname(path)
        self.doc = doc
        self.found = found
        self.files: dict[str, Any] = {}

    # -- variables --------------------------------------------------------------------------
    def value(self, v: Any, depth: int = 0) -> Any:
        """`v` with its `${...}` variables resolved; `Unknown` when some cannot be."""
        if not isinstance(v, str) or "${" not in v:
            return v
        try:
            return self._string(v, depth)
        except (_Unresolvable, RecursionError):
            return Unknown(v)

    def get(self, mapping: Any, key: str, default: Any = None) -> Any:
        if not isinstance(mapping, dict):
            return default
        return self.value(mapping.get(key, default))

    def _string(self, text: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise _Unresolvable(text)
        while True:
            m = INNERMOST.search(text)
            if not m:
                return text
            resolved = self._variable(m.group(1), depth + 1)
            if m.span() == (0, len(text)):
                return resolved
            if isinstance(resolved, dict | list):
                raise _Unresolvable(text)
            text = text[: m.start()] + str(resolved) + text[m.end():]

    def _variable(self, expr: str, depth: int) -> Any:
        for part in split_args(expr):
            if len(part) >= 2 and part[0] == part[-1] and part[0] in "'\"":
                return part[1:-1]
            if re.fullmatch(r"-?\d+(\.\d+)?", part):
                return part
            if part.startswith("self:"):
                found = self._lookup(self.doc, part[5:], depth)
            elif part == "sls:stage":
                found = self._lookup(self.doc, "provider.stage", depth)
                found = "dev" if found is None else found
            elif m := re.fullmatch(r"file\((.+?)\)(?::(.*))?", part):
                found = self._file(m.group(1).strip(), m.group(2) or "", depth)
            else:  # opt:, env:, ssm:, cf:, aws:, ... are not in the repo
                found = None
            if found is not None and not isinstance(found, Unknown):
                return found
        raise _Unresolvable(expr)

    def _lookup(self, doc: Any, dotted: str, depth: int) -> Any:
        node = doc
        for key in [k for k in dotted.strip().split(".") if k]:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
            if isinstance(node, str) and "${" in node:
                node = self._string(node, depth + 1)
        return node

    def _file(self, rel: str, key: str, depth: int) -> Any:
        path = local_path(self.dir, rel.strip("'\""))
        if path is None or path not in self.tree:
            return None
        if path not in self.files:
            try:
                self.files[path] = cfnyaml.load(path, cfnyaml.decode(self.tree.read(path)))
            except cfnyaml.LoadError as exc:
                self.found.warn(path, exc.line, exc.message)
                self.files[path] = None
        return self._lookup(self.files[path], key, depth) if key else self.files[path]

    # -- functions --------------------------------------------------------------------------
    def functions(self, layer_map: Mapping[str, str] | None) -> None:
        doc = self.doc
        provider = self.get(doc, "provider", {})
        if isinstance(provider, dict) and self.get(provider, "name", "aws") != "aws":
            return
        specs = self.function_specs()
        plugins = self.get(doc, "plugins", [])
        if isinstance(plugins, dict):
            plugins = self.get(plugins, "modules", [])
        plugins = [p for p in plugins if isinstance(p, str)] if isinstance(plugins, list) else []
        self.wsgi_app = None
        if WSGI in plugins:
            app = self.get(self.get(self.get(doc, "custom", {}), "wsgi", {}), "app")
            self.wsgi_app = app if isinstance(app, str) and "." in app else None
        for plugin in plugins:
            if plugin != PYREQ and "python" in plugin:
                self.found.warn(self.path, cfnyaml.line_of(doc, "plugins"),
                                f"plugin {plugin} changes packaging; code roots may differ")
        for item in specs:
            self.function(item, PYREQ in plugins, layer_map)

    def function_specs(self) -> list[FunctionSpec]:
        """Every function with the file and line it is declared at: `functions` is a mapping,
        a list of mappings, or either of them (or each list item) from `${file(...)}`."""
        raw = self.doc.get("functions")
        line = cfnyaml.line_of(self.doc, "functions")
        out: list[FunctionSpec] = []
        for part in raw if isinstance(raw, list) else [raw]:
            source = self.included(part) or self.path
            value = self.value(part)
            if value is None:
                continue
            if not isinstance(value, dict):
                shown = value.text if isinstance(value, Unknown) else part
                self.found.warn(self.path, line, f"functions could not be read: {shown}")
                continue
            fallback = line if source == self.path else 1
            for key, spec in value.items():
                out.append(FunctionSpec(str(key), spec, source,
                                        cfnyaml.line_of(value, key, fallback)))
        return out

    def included(self, raw: Any) -> str | None:
        """The file a value that is exactly `${file(path)}` (or `${file(path):key}`) reads."""
        m = re.fullmatch(r"\$\{file\(([^)]+)\)(?::[^}]*)?\}", raw.strip()) \
            if isinstance(raw, str) else None
        return local_path(self.dir, m.group(1).strip().strip("'\"")) if m else None

    def function(self, item: FunctionSpec, pyreq: bool,
                 layer_map: Mapping[str, str] | None) -> None:
        found, name, line, source = self.found, item.name, item.line, item.source
        spec = self.value(item.spec)
        if not isinstance(spec, dict):
            return found.skip(name, source, line, "function definition is not a mapping")
        if spec.get("image") is not None:
            return found.skip(name, source, line, "container image: the handler is set by the image")
        handler = self.get(spec, "handler")
        if handler is None:
            return found.skip(name, source, line, "no handler")
        if not isinstance(handler, str):
            return found.skip(name, source, line, "handler is computed")
        if handler.rpartition(".")[0] == "wsgi_handler" and self.wsgi_app is not None:
            # serverless-wsgi writes wsgi_handler.py into the package at deploy time; it
            # imports custom.wsgi.app, so that is what must import on Lambda.
            handler = self.wsgi_app
        top_package = self.get(self.doc, "package", {})
        package = self.get(spec, "package", {})
        individually = self.get(package, "individually") is True or \
            self.get(top_package, "individually") is True
        if self.get(package, "artifact") is not None or (
                not individually and self.get(top_package, "artifact") is not None):
            return found.skip(name, source, line, "package.artifact: a prebuilt zip")
        root = self.dir
        module = self.get(spec, "module")
        if pyreq and individually and isinstance(module, str) and module.strip("./"):
            sub = local_path(self.dir, module)
            if sub is None:
                return found.skip(name, source, line, f"module {module} is outside the repository")
            root = sub
        runtime = self.get(spec, "runtime")
        if runtime is None:
            runtime = self.get(self.get(self.doc, "provider", {}), "runtime")
        default = runtime is None
        if runtime is None:
            if not self.has_python_module(root, handler):
                return found.skip(name, source, line,
                                  "no runtime set (Serverless defaults to Node.js)")
            runtime = DEFAULT_RUNTIME
        if not isinstance(runtime, str):
            return found.skip(name, source, line, "runtime is computed")
        if not is_python(runtime):
            return found.skip(name, source, line, f"runtime {runtime} is not Python")
        self.check_patterns(name, root, handler, top_package, package, individually,
                            source, line)
        provider = self.get(self.doc, "provider", {})
        items = self.get(spec, "layers") if "layers" in spec else self.get(provider, "layers", [])
        items = items if isinstance(items, list) else [Unknown(str(items))]
        layers = [self.layer(self.value(item), layer_map) for item in items]
        lr = layer_paths(self.tree, layers, runtime, found)
        vendor, exports = self.requirements_options(pyreq)
        found.handlers.append(Handler(
            name=name, handler=handler, root=root, paths=lr.paths, runtime=runtime,
            source=source, line=line, complete=lr.complete,
            layer_modules=lr.modules, unknown_layers=lr.unknown,
            environment=self.environment(provider, spec), vendor=vendor, exports=exports,
            runtime_default=default,
            arch=architecture(self.get(spec, "architecture") or self.get(provider,
                                                                          "architecture")),
        ))

    def requirements_options(self, pyreq: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """What serverless-python-requirements adds to the code root: the `vendor` folder,
        copied as it is, and the manifests it exports in place of requirements.txt: Poetry's
        pyproject.toml (`usePoetry`), then the Pipfile (`usePipenv`), both on by default."""
        if not pyreq:
            return (), ()
        options = self.get(self.get(self.doc, "custom", {}), "pythonRequirements", {})
        options = options if isinstance(options, dict) else {}
        vendor = self.get(options, "vendor")
        folder = local_path(self.dir, vendor) if isinstance(vendor, str) and vendor else None
        exports = tuple(name for name, key in (("poetry", "usePoetry"), ("pipenv", "usePipenv"))
                        if self.get(options, key, True) is not False)
        return ((folder,) if folder else ()), exports

    def has_python_module(self, root: str, handler: str) -> bool:
        module = handler.rpartition(".")[0]
        return join(root, f"{module}.py") in self.tree or join(root, f"{module}/__init__.py") in self.tree

    def environment(self, provider: Any, spec: dict) -> tuple[tuple[str, str], ...]:
        env: dict[str, str] = {}
        for scope in (provider, spec):
            variables = self.get(scope, "environment", {})
            if not isinstance(variables, dict):
                continue
            for key in variables:
                value = self.get(variables, key)
                if isinstance(value, bool):
                    env[str(key)] = "true" if value else "false"
                elif isinstance(value, str | int | float):
                    env[str(key)] = str(value)
                else:
                    env.pop(str(key), None)
        return tuple(env.items())

    def layer(self, item: Any, layer_map: Mapping[str, str] | None) -> Layer | None:
        """A `layers` entry: `{Ref: <Name>LambdaLayer}` for a layer of this service, or an ARN."""
        if isinstance(item, dict) and set(item) == {"Ref"} and isinstance(item["Ref"], str):
            ref = item["Ref"]
            defined = self.get(self.doc, "layers", {})
            for name, spec in (defined.items() if isinstance(defined, dict) else []):
                if layer_logical_id(str(name)) == ref:
                    local = self.local_layer(str(name), spec, defined)
                    return local or map_layer(layer_map, ref, str(name))
            return map_layer(layer_map, ref)
        if isinstance(item, Unknown):
            return map_layer(layer_map, item.text)
        return map_layer(layer_map, item)

    def local_layer(self, name: str, spec: Any, defined: dict) -> Layer | None:
        path = self.get(spec, "path")
        if not isinstance(path, str) or self.get(self.get(spec, "package", {}), "artifact"):
            return None
        folder = local_path(self.dir, path)
        if folder is None or not self.tree.isdir(folder):
            return None
        return Layer(folder, label=name, source=self.path, line=cfnyaml.line_of(defined, name))

    def check_patterns(self, name: str, root: str, handler: str, top: Any, own: Any,
                       individually: bool, source: str, line: int) -> None:
        """Warn when `package.patterns` leave the handler's own file out of the zip."""
        patterns = package_patterns(self, top) + (package_patterns(self, own) if individually else [])
        if not patterns:
            return
        module = handler.rpartition(".")[0]
        for candidate in (f"{module}.py", f"{module}/__init__.py"):
            path = join(root, candidate)
            if path in self.tree:
                rel = path if self.dir == "." else posixpath.relpath(path, self.dir)
                if not packaged(rel, patterns):
                    self.found.warn(source, line,
                                    f"{name}: package.patterns leave out the handler file {path}")
                return


def package_patterns(config: Config, package: Any) -> list[str]:
    """Legacy `exclude` then `include`, then `patterns`, as one ordered pattern list."""

    def strings(key: str) -> list[str]:
        items = config.get(package, key, [])
        return [p for p in items if isinstance(p, str)] if isinstance(items, list) else []

    return ["!" + p for p in strings("exclude")] + strings("include") + strings("patterns")


def packaged(rel: str, patterns: list[str]) -> bool:
    """Serverless applies patterns in order over all files; `!` excludes, others re-include."""
    included = True
    for pattern in patterns:
        negate = pattern.startswith("!")
        if glob_regex(pattern.lstrip("!")).fullmatch(rel):
            included = not negate
    return included


def layer_logical_id(name: str) -> str:
    """Serverless' CloudFormation id for a layer: `common-libs` -> `CommonDashlibsLambdaLayer`."""
    normalized = name.replace("-", "Dash").replace("_", "Underscore")
    return normalized[:1].upper() + normalized[1:] + "LambdaLayer"


def discover(tree: Tree, layer_map: Mapping[str, str] | None = None) -> Found:
    found = Found()
    paths = sorted(p for p in tree.blobs
                   if posixpath.basename(p) in NAMES and not skipped(p))
    for path in paths:
        text = read_text(tree, path, found)
        if text is None:
            continue
        try:
            doc = cfnyaml.load(path, text)
        except cfnyaml.LoadError as exc:
            found.warn(path, exc.line, exc.message)
            continue
        if not isinstance(doc, dict):
            found.warn(path, 1, "not a Serverless Framework config: not a mapping")
            continue
        Config(tree, path, doc, found).functions(layer_map)
    return found
