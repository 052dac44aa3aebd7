"""SAM and plain CloudFormation templates (reference section 5).

Functions come from `AWS::Serverless::Function` (after the Globals merge) and
`AWS::Lambda::Function` with a local `Code` path; layers from local `LayerVersion` resources or
`layer_map`; nested templates from local `AWS::Serverless::Application` / `AWS::CloudFormation::Stack`
locations. Paths are relative to the folder of the template that holds them.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
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
from reviewbot.discovery.dockerimage import read_image
from reviewbot.model import DEFAULT_RUNTIME, Handler
from reviewbot.tree import Tree, join

EXTENSIONS = (".yaml", ".yml", ".json", ".template")
# Text that makes a file worth parsing: it may define functions, layers or nested stacks.
MARKERS = re.compile(r"AWSTemplateFormatVersion|AWS::Serverless|AWS::Lambda::|AWS::CloudFormation::Stack")
# Text by which a file says it is a template, so breaking it deserves a warning.
DECLARED = re.compile(
    r'^(?:AWSTemplateFormatVersion|Transform|Resources)\s*:|"(?:AWSTemplateFormatVersion|Transform|Resources)"\s*:',
    re.MULTILINE,
)
TEMPLATE_NAME = re.compile(r"(^|/)(template\.(ya?ml|json)|[^/]+\.template(\.(ya?ml|json))?|[^/]+\.cfn\.(ya?ml|json))$")
NESTED_TYPES = {"AWS::Serverless::Application": "Location", "AWS::CloudFormation::Stack": "TemplateURL"}
MAX_NESTING = 10


def candidates(tree: Tree) -> list[str]:
    return sorted(
        p for p in tree.blobs
        if p.lower().endswith(EXTENSIONS) and not skipped(p)
        and not posixpath.basename(p).startswith("serverless.")
    )


def is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and (
        "Ref" in value or next(iter(value)).startswith("Fn::") or "Condition" in value)


def merge_globals(glob: Any, local: Any) -> Any:
    """SAM's Globals rule: maps merge recursively, lists concatenate (globals first), else local wins."""
    if isinstance(glob, dict) and isinstance(local, dict) and not is_intrinsic(glob) \
            and not is_intrinsic(local):
        out = dict(glob)
        for key, value in local.items():
            out[key] = merge_globals(glob[key], value) if key in glob else value
        return out
    if isinstance(glob, list) and isinstance(local, list):
        return glob + local
    return local


class Templates:
    """Loads templates once and walks them, nested templates included."""

    def __init__(self, tree: Tree, layer_map: Mapping[str, str] | None, found: Found):
        self.tree = tree
        self.layer_map = layer_map
        self.found = found
        self.docs: dict[str, dict | None] = {}
        self.walked: set[str] = set()

    def load(self, path: str, *, required: bool = False) -> dict | None:
        """The template at `path`, or None (with a warning when it meant to be one)."""
        if path in self.docs:
            return self.docs[path]
        self.docs[path] = None
        text = read_text(self.tree, path, self.found)
        if text is None:
            return None
        declared = required or bool(TEMPLATE_NAME.search(path)) or bool(DECLARED.search(text))
        if not declared and not MARKERS.search(text):
            return None
        try:
            doc = cfnyaml.load(path, text)
        except cfnyaml.LoadError as exc:
            if declared:
                self.found.warn(path, exc.line, exc.message)
            return None
        is_template = isinstance(doc, dict) and (
            isinstance(doc.get("Resources"), dict)
            or "AWSTemplateFormatVersion" in doc or "Transform" in doc)
        if not is_template:
            if declared:
                self.found.warn(path, 1, "not a CloudFormation template: no Resources mapping")
            return None
        if not isinstance(doc.get("Resources"), dict):
            self.found.warn(path, cfnyaml.line_of(doc, "Resources", 1),
                            "Resources is not a mapping; template skipped")
            return None
        self.docs[path] = doc
        return doc

    def nested_refs(self, path: str, doc: dict) -> list[tuple[str, str, int, dict]]:
        """(logical id, nested template path, line, parameters) of local nested templates."""
        out = []
        resources = doc["Resources"]
        for lid, res in resources.items():
            if not isinstance(res, dict) or res.get("Type") not in NESTED_TYPES:
                continue
            props = res.get("Properties") if isinstance(res.get("Properties"), dict) else {}
            location = props.get(NESTED_TYPES[res["Type"]])
            if not isinstance(location, str) or re.match(r"^[a-z0-9]+://", location):
                continue  # a published application or an uploaded template: no functions to see
            line = cfnyaml.line_of(resources, lid)
            target = local_path(dirname(path), location)
            if target is None or target not in self.tree:
                self.found.warn(path, line, f"{lid}: nested template {location} not found")
                continue
            params = props.get("Parameters") if isinstance(props.get("Parameters"), dict) else {}
            out.append((str(lid), target, line, params))
        return out

    def walk(self, path: str, prefix: str = "", params: Mapping[str, Any] | None = None,
             stack: tuple[str, ...] = ()) -> None:
        """Report the functions of template `path` and of its nested templates."""
        doc = self.load(path, required=bool(stack))
        if doc is None:
            return
        if path in stack or len(stack) > MAX_NESTING:
            self.found.warn(path, 0, "nested templates form a cycle; stopped here")
            return
        self.walked.add(path)
        Template(self, path, doc, prefix, params or {}).functions()
        for lid, target, _line, nested_params in self.nested_refs(path, doc):
            self.walk(target, f"{prefix}{lid}/", nested_params, (*stack, path))


class Template:
    """One template instance: its parameters, Globals and resources."""

    def __init__(self, templates: Templates, path: str, doc: dict, prefix: str,
                 params: Mapping[str, Any]):
        self.t = templates
        self.path = path
        self.dir = dirname(path)
        self.doc = doc
        self.prefix = prefix
        self.resources: dict = doc["Resources"]
        declared = doc.get("Parameters") if isinstance(doc.get("Parameters"), dict) else {}
        self.params = {k: v.get("Default") for k, v in declared.items() if isinstance(v, dict)}
        self.params.update({k: v for k, v in params.items() if isinstance(v, str | int | float)})
        glob = doc.get("Globals")
        fn = glob.get("Function") if isinstance(glob, dict) else None
        self.globals = fn if isinstance(fn, dict) else {}

    def value(self, v: Any) -> Any:
        """`!Ref Param` with a literal default becomes that default; anything else unchanged."""
        if isinstance(v, dict) and set(v) == {"Ref"} and isinstance(v["Ref"], str):
            default = self.params.get(v["Ref"])
            if isinstance(default, str | int | float):
                return str(default)
        return v

    def functions(self) -> None:
        for lid, res in self.resources.items():
            line = cfnyaml.line_of(self.resources, lid)
            if not isinstance(res, dict) or "Type" not in res:
                self.t.found.warn(self.path, line, f"resource {lid} has no Type")
                continue
            props = res.get("Properties")
            props = props if isinstance(props, dict) else {}
            name = f"{self.prefix}{lid}"
            if res["Type"] == "AWS::Serverless::Function":
                self.serverless_function(name, line, self.with_globals(props), res)
            elif res["Type"] == "AWS::Lambda::Function":
                self.lambda_function(name, line, props)

    def with_globals(self, props: dict) -> dict:
        ignore = props.get("IgnoreGlobals")
        if ignore == "*":
            return props
        skip = set(ignore) if isinstance(ignore, list) else set()
        glob = {k: v for k, v in self.globals.items() if k not in skip}
        return merge_globals(glob, props)

    def skip(self, name: str, line: int, reason: str) -> None:
        self.t.found.skip(name, self.path, line, reason)

    def serverless_function(self, name: str, line: int, props: dict, res: dict) -> None:
        if props.get("PackageType") == "Image" or "ImageUri" in props:
            return self.image_function(name, line, props, res)
        if "InlineCode" in props:
            return self.skip(name, line, "InlineCode: the code is inline in the template")
        code = self.value(props.get("CodeUri", "."))
        if isinstance(code, dict) and not is_intrinsic(code):
            return self.skip(name, line, "CodeUri is an S3 location")
        if not isinstance(code, str):
            return self.skip(name, line, "CodeUri is computed")
        metadata = res.get("Metadata") if isinstance(res.get("Metadata"), dict) else {}
        method = str(metadata.get("BuildMethod", "")).lower()
        self.function(name, line, props, code, "CodeUri", complete=method != "makefile",
                      exports=("uv",) if method == "python-uv" else ())

    def image_function(self, name: str, line: int, props: dict, res: dict) -> None:
        """A container image `sam build` makes from `Metadata.Dockerfile` and `DockerContext`:
        checked when the Dockerfile lets the runtime, handler and task root be read."""
        metadata = res.get("Metadata") if isinstance(res.get("Metadata"), dict) else {}
        context = metadata.get("DockerContext")
        if not isinstance(context, str):
            return self.skip(name, line, "container image: the handler is set by the image")
        folder = local_path(self.dir, context)
        dockerfile = metadata.get("Dockerfile", "Dockerfile")
        if folder is None or not isinstance(dockerfile, str):
            return self.skip(name, line, f"container image: DockerContext {context} is "
                                         "outside the repository")
        image = read_image(self.t.tree, join(folder, dockerfile), folder)
        if isinstance(image, str):
            return self.skip(name, line, image)
        config = props.get("ImageConfig") if isinstance(props.get("ImageConfig"), dict) else {}
        command = config.get("Command")
        handler = command[0] if isinstance(command, list) and len(command) == 1 else image.handler
        if config.get("EntryPoint") is not None:
            return self.skip(name, line, "container image with its own ImageConfig.EntryPoint")
        if not isinstance(handler, str):
            return self.skip(name, line, "container image: no CMD names the handler")
        self.t.found.handlers.append(Handler(
            name=name, handler=handler, root=image.roots[0], paths=image.roots[1:],
            runtime=image.runtime, source=self.path, line=line, complete=image.complete,
            environment=self.environment(props)))

    def lambda_function(self, name: str, line: int, props: dict) -> None:
        code = self.value(props.get("Code"))
        if props.get("PackageType") == "Image" or (isinstance(code, dict) and "ImageUri" in code):
            return self.skip(name, line, "container image: the handler is set by the image")
        if isinstance(code, dict) and "ZipFile" in code:
            return self.skip(name, line, "Code.ZipFile: the code is inline in the template")
        if isinstance(code, dict) and ("S3Bucket" in code or "S3Key" in code):
            return self.skip(name, line, "Code is an S3 artifact")
        if not isinstance(code, str):
            return self.skip(name, line, "Code is missing or computed")
        self.function(name, line, props, code, "Code", complete=True, exports=())

    def function(self, name: str, line: int, props: dict, code: str, key: str,
                 complete: bool, exports: tuple[str, ...]) -> None:
        runtime = self.value(props.get("Runtime", DEFAULT_RUNTIME))
        default = "Runtime" not in props
        if not isinstance(runtime, str):
            return self.skip(name, line, "Runtime is computed")
        if not is_python(runtime):
            return self.skip(name, line, f"runtime {runtime} is not Python")
        handler = self.value(props.get("Handler"))
        if handler is None:
            return self.skip(name, line, "no Handler")
        if not isinstance(handler, str):
            return self.skip(name, line, "Handler is computed")
        if code.startswith("s3://"):
            return self.skip(name, line, f"{key} is an S3 artifact: {code}")
        root = local_path(self.dir, code)
        if root is None:
            return self.skip(name, line, f"{key} {code} is outside the repository")
        if root in self.t.tree:
            return self.skip(name, line, f"{key} {code} is a prebuilt artifact")
        if not self.t.tree.isdir(root):
            return self.skip(name, line, f"{key} {code} is not a folder of the repository")
        layers_value = self.value(props.get("Layers", []))
        items = layers_value if isinstance(layers_value, list) else [None]
        layers = [self.layer(item, line) for item in items]
        lr = layer_paths(self.t.tree, layers, runtime, self.t.found)
        self.t.found.handlers.append(Handler(
            name=name, handler=handler, root=root, paths=lr.paths, runtime=runtime,
            source=self.path, line=line, complete=complete and lr.complete,
            layer_modules=lr.modules, unknown_layers=lr.unknown,
            environment=self.environment(props), exports=exports, runtime_default=default,
            arch=architecture(self.value(props.get("Architectures"))),
        ))

    def environment(self, props: dict) -> tuple[tuple[str, str], ...]:
        env = props.get("Environment")
        variables = env.get("Variables") if isinstance(env, dict) else None
        if not isinstance(variables, dict):
            return ()
        return tuple((str(k), literal(v)) for k, v in variables.items() if literal(v) is not None)

    def layer(self, item: Any, line: int) -> Layer | None:
        """Where a `Layers` entry's content comes from, None when unknown."""
        refs: list[Any] = []
        if isinstance(item, dict) and set(item) == {"Ref"}:
            lid = item["Ref"]
            local = self.local_layer(lid)
            if local is not None:
                return local
            refs = [lid, self.value(item)]
        elif isinstance(item, str):
            refs = [item]
        elif isinstance(item, dict) and len(item) == 1:
            (fn, arg), = item.items()
            if fn == "Fn::Sub":
                refs = [arg[0] if isinstance(arg, list) and arg else arg]
            elif fn == "Fn::GetAtt" and isinstance(arg, list) and arg:
                refs = [arg[0]]
            elif fn == "Fn::ImportValue":
                refs = [arg]
        return map_layer(self.t.layer_map, *refs)

    def local_layer(self, lid: Any) -> Layer | None:
        res = self.resources.get(lid) if isinstance(lid, str) else None
        if not isinstance(res, dict):
            return None
        props = res.get("Properties") if isinstance(res.get("Properties"), dict) else {}
        line = cfnyaml.line_of(self.resources, lid)
        if res.get("Type") == "AWS::Serverless::LayerVersion":
            content = self.value(props.get("ContentUri"))
            metadata = res.get("Metadata") if isinstance(res.get("Metadata"), dict) else {}
            build = str(metadata.get("BuildMethod", "")).lower()
        elif res.get("Type") == "AWS::Lambda::LayerVersion":
            content, build = self.value(props.get("Content")), ""
        else:
            return None
        if not isinstance(content, str) or content.startswith("s3://"):
            return None
        folder = local_path(self.dir, content)
        if folder is None or not self.t.tree.isdir(folder):
            return None
        if build == "makefile":  # the Makefile decides the layout; guess the usual one
            in_python = not self.t.tree.isdir(f"{folder}/python")
            return Layer(folder, in_python=in_python, known=False, label=lid)
        return Layer(folder, in_python=build.startswith("python"), label=lid,
                     source=self.path, line=line)


def literal(value: Any) -> str | None:
    """A literal environment value as Lambda sees it (a string), None for intrinsics."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def discover(tree: Tree, layer_map: Mapping[str, str] | None = None) -> Found:
    """Functions of every top-level template; nested ones are reached through their parent."""
    found = Found()
    templates = Templates(tree, layer_map, found)
    paths = candidates(tree)
    tree.prefetch(paths)
    nested: set[str] = set()
    for path in paths:
        doc = templates.load(path)
        if doc is not None:
            nested.update(target for _, target, _, _ in templates.nested_refs(path, doc))
    tops = [p for p in paths if templates.docs.get(p) is not None and p not in nested]
    for path in tops:
        templates.walk(path)
    for path in paths:  # templates only reached through a cycle of nested templates
        if templates.docs.get(path) is not None and path not in templates.walked:
            templates.walk(path)
    tree.forget(paths)
    return found
