"""What a CDK app's Lambda constructs mean for the runtime, whatever language built them.

The app readers (pyapp.py for Python, tsapp.py for TypeScript) evaluate the app's code
statically into the values below and record one `Construct` per Lambda construct; this
module turns them into handlers, layers and unresolved entries by the rules of
reference/lambda-runtime.md section 8 and deployment-package.md section 1.4: a path is
relative to the folder of `cdk.json` (where `cdk` runs); `Function` zips its asset as it
is (nothing installed); `PythonFunction` installs its entry's requirements beside the code;
`LayerVersion`'s asset lands in /opt, `PythonLayerVersion`'s entry in /opt/python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reviewbot.discovery.common import (
    Found,
    Layer,
    architecture,
    is_python,
    layer_paths,
    local_path,
    map_layer,
)
from reviewbot.discovery.dockerimage import read_image
from reviewbot.model import DEFAULT_RUNTIME, Handler
from reviewbot.tree import Tree, join, normalize

# The repository's root in the absolute paths an app computes (`__file__`, `os.getcwd()`)
REPO = "/__repo__"
FUNCTIONS = frozenset({"Function", "SingletonFunction", "PythonFunction", "CfnFunction",
                       "DockerImageFunction"})
LAYERS = frozenset({"LayerVersion", "PythonLayerVersion"})


@dataclass(frozen=True)
class Unknown:
    """A value the app computes in a way that cannot be read without running it."""

    reason: str = "computed"


@dataclass(frozen=True)
class Asset:
    """`Code.from_asset(path)`: a path as written, relative to the cdk.json folder."""

    path: Any
    # DockerImageCode.from_image_asset(directory, file=..., cmd=[...])
    image: bool = False
    file: Any = "Dockerfile"
    cmd: Any = None
    exclude: Any = None  # `exclude=[...]`: files of the folder left out of the zip


@dataclass(frozen=True)
class RuntimeRef:
    """`Runtime.PYTHON_3_12` (python3.12), `Runtime.NODEJS_20_X` (nodejs20.x), ..."""

    name: str


@dataclass(frozen=True)
class ArchRef:
    name: str  # x86_64 or arm64


@dataclass(frozen=True)
class ExternalLayer:
    """`LayerVersion.from_layer_version_arn(self, "Id", arn)`: a layer not built here."""

    arn: Any


@dataclass
class Construct:
    """One construct call: its class (`Function`, `LayerVersion`, ...), construct path,
    properties by snake_case name, and where it is written."""

    kind: str
    path: str
    props: dict[str, Any]
    source: str
    line: int
    layers: list[Any] = field(default_factory=list)  # add_layers(...) after creation


def runtime_name(member: str) -> str:
    """`PYTHON_3_12` -> python3.12, `NODEJS_20_X` -> nodejs20.x, `PROVIDED_AL2023` ->
    provided.al2023 (the CloudFormation names)."""
    m = member.lower()
    if m.startswith("python_"):
        return "python" + m.removeprefix("python_").replace("_", ".")
    if m.startswith("nodejs_"):
        return "nodejs" + m.removeprefix("nodejs_").replace("_", ".")
    return m.replace("_", ".", 1)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _why(value: Any, what: str) -> str:
    reason = value.reason if isinstance(value, Unknown) else "not a literal"
    return f"{what} cannot be read statically: {reason}"


class Builder:
    """Turns one app's constructs into handlers; `app_dir` is the cdk.json folder."""

    def __init__(self, tree: Tree, app_dir: str, layer_map: Mapping[str, Any] | None,
                 found: Found):
        self.tree, self.app_dir, self.layer_map, self.found = tree, app_dir, layer_map, found

    def folder(self, value: Any) -> str | None:
        """A path the app gives a construct as a repository folder (None outside it)."""
        path = _text(value)
        if path is None or not path.startswith("/"):
            return None if path is None else local_path(self.app_dir, path)
        if path == REPO or path.startswith(REPO + "/"):
            return normalize(path[len(REPO) + 1:]) or "."
        return None

    def layer(self, value: Any, c: Construct) -> Layer | None:
        if isinstance(value, Construct) and value.kind in LAYERS:
            key = "entry" if value.kind == "PythonLayerVersion" else "code"
            where = value.props.get(key)
            where = where.path if isinstance(where, Asset) else where
            folder = self.folder(where)
            if folder is None:
                self.found.warn(c.source, c.line, f"layer {value.path}: "
                                + _why(where, "its folder"))
                return None
            return Layer(folder, in_python=value.kind == "PythonLayerVersion",
                         label=value.path, source=value.source, line=value.line)
        if isinstance(value, ExternalLayer):
            return map_layer(self.layer_map, _text(value.arn) or "")
        return None

    def add(self, c: Construct) -> None:
        if c.kind not in FUNCTIONS:
            return
        reason = self._handler(c)
        if reason:
            self.found.skip(c.path, c.source, c.line, reason)

    def _handler(self, c: Construct) -> str:
        """Add the handler; the reason it cannot be read otherwise."""
        p = c.props
        if c.kind == "DockerImageFunction" or (isinstance(p.get("code"), Asset)
                                               and p["code"].image):
            return self._image(c)
        runtime = p.get("runtime")
        if isinstance(runtime, RuntimeRef):
            runtime = runtime.name
        default = runtime is None and c.kind == "PythonFunction"
        runtime = DEFAULT_RUNTIME if default else runtime
        if not isinstance(runtime, str):
            return _why(runtime, "runtime") if runtime is not None else "no runtime"
        if not is_python(runtime):
            return f"runtime {runtime} is not Python"
        if c.kind == "PythonFunction":
            entry, index = p.get("entry"), p.get("index", "index.py")
            function = p.get("handler", "handler")
            if not isinstance(index, str) or not isinstance(function, str):
                return _why(index if not isinstance(index, str) else function, "handler")
            handler: Any = f"{index.removesuffix('.py').replace('/', '.')}.{function}"
            code: Any = entry
        else:
            handler, code = p.get("handler"), p.get("code")
            if isinstance(code, Asset):
                if code.exclude is not None:
                    self.found.warn(c.source, c.line, f"{c.path}: its code asset excludes "
                                    "files (exclude=); the whole folder is checked, so an "
                                    "import of an excluded file is not caught")
                code = code.path
            elif c.kind == "CfnFunction" or (code is not None and not isinstance(code, Unknown)):
                return "code is inline or an S3 artifact: only Code.from_asset is read"
            elif isinstance(code, Unknown) and code.reason.startswith(("inline", "code built")):
                return f"the code is {code.reason}"
        if not isinstance(handler, str):
            return _why(handler, "handler") if handler is not None else "no handler"
        root = self.folder(code)
        if root is None:
            return _why(code, "the code folder") if not isinstance(code, str) \
                else f"code {code} is outside the repository"
        if root in self.tree:
            return f"code {code} is a prebuilt artifact"
        if not self.tree.isdir(root):
            return f"code {code} is not a folder of the repository"
        layers = [self.layer(v, c) for v in (*(_list(p.get("layers"))), *c.layers)]
        lr = layer_paths(self.tree, layers, runtime, self.found)
        self.found.handlers.append(Handler(
            name=c.path, handler=handler, root=root, paths=lr.paths, runtime=runtime,
            source=c.source, line=c.line, complete=lr.complete, layer_modules=lr.modules,
            unknown_layers=lr.unknown, runtime_default=default,
            environment=_environment(p.get("environment")),
            exports=("pipenv", "poetry") if c.kind == "PythonFunction" else (),
            installs=c.kind == "PythonFunction",
            arch=architecture(p["architecture"].name
                              if isinstance(p.get("architecture"), ArchRef) else None)))
        return ""

    def _image(self, c: Construct) -> str:
        code = c.props.get("code")
        if not isinstance(code, Asset) or not code.image:
            return "container image: only DockerImageCode.from_image_asset is read"
        folder = self.folder(code.path)
        if folder is None or not isinstance(code.file, str):
            return _why(code.path if folder is None else code.file, "the image's folder")
        image = read_image(self.tree, join(folder, code.file), folder)
        if isinstance(image, str):
            return image
        cmd = code.cmd
        handler = cmd[0] if isinstance(cmd, list) and len(cmd) == 1 else image.handler
        if not isinstance(handler, str):
            return "container image: no CMD names the handler"
        self.found.handlers.append(Handler(
            name=c.path, handler=handler, root=image.roots[0], paths=image.roots[1:],
            runtime=image.runtime, source=c.source, line=c.line, complete=image.complete))
        return ""


def _list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    return [] if value is None else [value]


def _environment(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        return ()
    return tuple((k, v) for k, v in value.items() if isinstance(k, str) and isinstance(v, str))
