"""Pieces every format needs: where a layer's content lands, the import paths it gives a
function, the `layer_map` lookup, and the lists a format reader fills in.

Kept apart from the format modules so the runtime's layer rules (reference section 1 and 3)
are written once.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from reviewbot.config import LayerSource
from reviewbot.discovery import cfnyaml
from reviewbot.discovery.publiclayers import published_layer
from reviewbot.model import CONFIG_PATH, DEFAULT_RUNTIME, Handler, Unresolved, parse_runtime
from reviewbot.requirements import parse_requirements_file
from reviewbot.thirdparty import modules_of
from reviewbot.tree import Tree, join, normalize

SKIP_DIRS = frozenset({"node_modules", ".aws-sam", ".serverless", ".terraform", "cdk.out", ".git"})


def skipped(path: str) -> bool:
    """Build output and vendored folders hold copies of deployment files, not sources."""
    return any(part in SKIP_DIRS for part in path.split("/")[:-1])


def read_text(tree: Tree, path: str, found: Found) -> str | None:
    """A deployment file's text, or None after a warning when it is too large to parse."""
    data = tree.read(path)
    if len(data) > cfnyaml.MAX_BYTES:
        found.warn(path, 0, "skipped: larger than 5 MB")
        return None
    return cfnyaml.decode(data)


def dirname(path: str) -> str:
    return posixpath.dirname(path) or "."


def local_path(base: str, rel: str) -> str | None:
    """`rel` (relative to repo folder `base`) as a repo path, None if it leaves the repo."""
    path = normalize(join(base, rel)) if not rel.startswith("/") else normalize(rel)
    return None if path == ".." or path.startswith("../") else path


def architecture(value: object) -> str:
    """x86_64 or arm64 from `Architectures` (a list; with Globals the function's own comes
    last), Serverless' `architecture` or Terraform's `architectures`; x86_64 by default."""
    if isinstance(value, list | tuple):
        value = value[-1] if value else None
    return "arm64" if isinstance(value, str) and value.strip().lower() == "arm64" else "x86_64"


def is_python(runtime: str) -> bool:
    return runtime.startswith("python")


@dataclass(frozen=True)
class Layer:
    """A layer whose content is the repo folder `folder`.

    The content lands in /opt (so only its `python/` subfolder is importable), or straight in
    /opt/python when `in_python` (SAM python builds, `prefix_in_zip = "python"`, `layer_map`).
    `known` is False when a build step may add files we cannot see (makefile builds).
    """

    folder: str
    in_python: bool = False
    known: bool = True
    label: str = ""
    source: str = ""
    line: int = 0
    # A layer with no folder in the repository whose modules are known: a published
    # layer's, or what `.github/reviewbot.yml` says it provides (a list, a requirements file).
    modules: frozenset[str] | None = None
    requirements: str = ""


@dataclass(frozen=True)
class LayerRoots:
    """What a function's layers put on its path."""

    paths: tuple[str, ...]  # import folders in sys.path order
    complete: bool  # every layer's content is known
    modules: tuple[str, ...] = ()  # top-level modules of layers known without a folder
    unknown: tuple[str, ...] = ()  # the layers whose content is unknown, as written


@dataclass
class Found:
    """What a format reader collects; `warn` formats warnings as `path:line: message`."""

    handlers: list[Handler] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def warn(self, path: str, line: int, message: str) -> None:
        text = f"{path}:{line}: {message}"
        if text not in self.warnings:
            self.warnings.append(text)

    def skip(self, name: str, source: str, line: int, reason: str) -> None:
        self.unresolved.append(Unresolved(name=name, source=source, line=line, reason=reason))

    def extend(self, other: Found) -> None:
        self.handlers.extend(other.handlers)
        self.unresolved.extend(other.unresolved)
        for w in other.warnings:
            if w not in self.warnings:
                self.warnings.append(w)


def _configured(spec: str | LayerSource, label: str) -> Layer:
    if isinstance(spec, str):
        return Layer(normalize(spec), in_python=True, label=label, source=CONFIG_PATH)
    return Layer("", label=label, source=CONFIG_PATH, modules=frozenset(spec.modules),
                 requirements=spec.requirements)


def map_layer(layer_map: Mapping[str, str | LayerSource] | None, *refs: object) -> Layer:
    """A layer known only by ARN or name: what `.github/reviewbot.yml` maps it to (exact
    match, then glob), else what a published layer provides, else an unknown layer."""
    names = [r for r in refs if isinstance(r, str) and r]
    layer_map = layer_map or {}
    for ref in names:
        if ref in layer_map:
            return _configured(layer_map[ref], ref)
    for ref in names:
        for pattern, spec in layer_map.items():
            if "*" in pattern and fnmatch.fnmatchcase(ref, pattern):
                return _configured(spec, pattern)
    for ref in names:
        published = published_layer(ref)
        if published is not None:
            return Layer("", label=published.title, source=published.source,
                         modules=published.modules)
    return Layer("", known=False, label=names[0] if names else "")


def _listed_modules(tree: Tree, layer: Layer, found: Found) -> set[str]:
    """The modules of a layer known without a folder (its requirements file read)."""
    out = set(layer.modules or ())
    if layer.requirements:
        if layer.requirements not in tree:
            found.warn(layer.source, layer.line, f"layer {layer.label}: requirements file "
                       f"{layer.requirements} does not exist")
            return out
        text = tree.read(layer.requirements).decode("utf-8", "replace")
        for req in parse_requirements_file(layer.requirements, text).requirements:
            if req.dist:
                out.update(modules_of(req.dist))
    return out


def layer_paths(tree: Tree, layers: list[Layer | None], runtime: str, found: Found) -> LayerRoots:
    """Import roots of `layers` in sys.path order, whether all their content is known, the
    modules of those known without a folder, and the unknown ones.

    Lambda puts /opt/python/lib/python3.X/site-packages before /opt/python, each the merge of
    every layer in listed order, so all site-packages folders come first, then python folders.
    """
    major, minor = parse_runtime(runtime or DEFAULT_RUNTIME)
    site: list[str] = []
    plain: list[str] = []
    complete = True
    modules: set[str] = set()
    unknown: list[str] = []
    for layer in layers:
        if layer is None or (not layer.folder and layer.modules is None and not layer.requirements):
            complete = False
            unknown.append(layer.label if layer is not None and layer.label else "a layer")
            continue
        if not layer.folder:
            modules |= _listed_modules(tree, layer, found)
            continue
        complete = complete and layer.known
        python = layer.folder if layer.in_python else join(layer.folder, "python")
        packages = join(python, f"lib/python{major}.{minor}/site-packages")
        if tree.isdir(packages) and packages not in site:
            site.append(packages)
        if tree.isdir(python):
            if python not in plain:
                plain.append(python)
        elif layer.known and layer.source:
            what = f"{layer.folder} has no python/ folder" if not layer.in_python \
                else f"{python} does not exist"
            found.warn(layer.source, layer.line,
                       f"layer {layer.label or layer.folder}: {what}; nothing in it is importable")
    return LayerRoots((*site, *plain), complete, tuple(sorted(modules)),
                      tuple(dict.fromkeys(unknown)))


def not_python(tree: Tree, handler: Handler) -> str | None:
    """Why a function of a Python runtime runs no Python module, or None. `Handler: run.sh`
    names a file the function executes (the Lambda Web Adapter's wrapper, a custom
    `AWS_LAMBDA_EXEC_WRAPPER`): the runtime never imports it, so there is no import to check."""
    path = join(handler.root, handler.handler)
    if path in tree and not path.endswith(".py"):
        return f"handler {handler.handler} is a file the function runs, not a Python module"
    wrapper = dict(handler.environment).get("AWS_LAMBDA_EXEC_WRAPPER")
    module = join(handler.root, handler.module_path)
    if wrapper and f"{module}.py" not in tree and not tree.isdir(module):
        return (f"AWS_LAMBDA_EXEC_WRAPPER={wrapper} runs the function and handler "
                f"{handler.handler} is no Python module of it")
    return None


def unique_names(handlers: list[Handler]) -> list[Handler]:
    """Qualify clashing names with their source file (`template.yaml:AuthFunction`)."""
    counts: dict[str, int] = {}
    for h in handlers:
        counts[h.name] = counts.get(h.name, 0) + 1
    out = [replace(h, name=f"{h.source}:{h.name}") if counts[h.name] > 1 else h for h in handlers]
    seen: dict[str, int] = {}
    final = []
    for h in out:
        n = seen[h.name] = seen.get(h.name, 0) + 1
        final.append(replace(h, name=f"{h.name}#{n}") if n > 1 else h)
    return final
