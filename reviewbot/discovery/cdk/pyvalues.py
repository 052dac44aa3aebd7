"""The values a Python CDK app is evaluated into (see pyapp.py), and small helpers on them."""

from __future__ import annotations

import ast
import posixpath
from dataclasses import dataclass, field
from functools import cache
from pathlib import PurePosixPath
from typing import Any

from reviewbot.discovery.cdk.constructs import Construct, Unknown

MAX_STEPS = 200_000  # statements and calls evaluated per app
MAX_DEPTH = 40  # nested calls
MAX_TEXT = 10_000  # longest string or list the evaluator builds
SCOPE_KINDS = ("Stack", "Construct", "NestedStack", "Stage", "Resource")
LAMBDA_MODULES = ("aws_lambda", "aws_lambda_python_alpha", "aws_lambda_python")
LAMBDA_MODULES_SET = frozenset(LAMBDA_MODULES)
STR_METHODS = frozenset({"join", "format", "replace", "lower", "upper", "strip", "lstrip",
                         "rstrip", "split", "startswith", "endswith", "title", "capitalize",
                         "removeprefix", "removesuffix"})
PATH_METHODS = frozenset({"joinpath", "with_name", "with_suffix", "as_posix", "relative_to"})


class Budget(Exception):
    """The app is too large (or loops too long) to read statically."""


class Returned(Exception):
    """A function's `return`, carrying its value out of the statements."""

    def __init__(self, value: Any):
        self.value = value


@dataclass(frozen=True)
class Ext:
    """A name from outside the app (a CDK module, `os`, ...), as its dotted path."""

    name: str

    @property
    def last(self) -> str:
        return self.name.rpartition(".")[2]

    @property
    def is_lambda(self) -> bool:
        return _in_lambda_module(self.name)


@cache
def _in_lambda_module(name: str) -> bool:
    return not LAMBDA_MODULES_SET.isdisjoint(name.split("."))


@dataclass
class Node:
    """A construct that is no Lambda construct (the App, a stack, a bucket): its path."""

    path: str


@dataclass
class Module:
    path: str
    names: dict[str, Any]


@dataclass
class Func:
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
    module: Module
    closure: dict[str, Any] | None = None
    bound: Any = None  # `self` of a bound method


@dataclass
class Cls:
    node: ast.ClassDef
    module: Module
    bases: list[Any]
    attrs: dict[str, Any]


@dataclass
class Obj:
    cls: Cls
    attrs: dict[str, Any] = field(default_factory=dict)
    node: Node | None = None


@dataclass
class Super:
    obj: Obj
    cls: Cls


@dataclass
class Method:
    """A method of a value the evaluator models (`"a".join`, `path.resolve`,
    `super().__init__`, `fn.add_layers`), bound to it."""

    owner: Any
    name: str


def child(scope: Any, cid: Any) -> str | None:
    """The construct path of a child `cid` of `scope`, or None if scope is no construct."""
    node = scope.node if isinstance(scope, Obj) else scope
    if not isinstance(node, Construct | Node):
        return None
    base = node.path
    name = cid if isinstance(cid, str) else "<computed>"
    return f"{base}/{name}" if base else name


def concrete(value: Any) -> bool:
    if isinstance(value, str | int | float | bool | type(None) | PurePosixPath):
        return True
    if isinstance(value, list | tuple):
        return all(concrete(v) for v in value)
    if isinstance(value, dict):
        return all(concrete(k) and concrete(v) for k, v in value.items())
    return False


def text(value: Any) -> Any:
    return str(value) if isinstance(value, PurePosixPath) else value


def abspath(path: Any, cwd: str) -> Any:
    path = text(path)
    if not isinstance(path, str):
        return Unknown("a path computed at run time")
    return posixpath.normpath(path if path.startswith("/") else posixpath.join(cwd, path))


def hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def asset_path(value: Any, cwd: str) -> Any:
    """A path as the construct receives it: relative ones are relative to the cdk.json
    folder; absolute ones are kept absolute (under REPO when in the repository)."""
    value = text(value)
    if isinstance(value, str):
        return posixpath.normpath(value) if value.startswith("/") else value
    return value if isinstance(value, Unknown) else Unknown("a path computed at run time")


def external_reason(name: str) -> str:
    low = name.lower()
    if "context" in low:
        return "a value from the CDK context (try_get_context)"
    if "environ" in low or "getenv" in low:
        return "a value from the environment"
    if any(w in low for w in ("import_value", "from_lookup", "value_for", "ssm", "fn.")):
        return "a value from another stack or the account"
    return f"the result of {name}()"


def snake(name: Any) -> Any:
    """`layerVersionArn` -> `layer_version_arn`: TypeScript props by their Python names."""
    if not isinstance(name, str):
        return name
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def as_construct(value: Any) -> Any:
    """An instance of the app's subclass of a Lambda construct, as that construct."""
    return value.attrs.get("<construct>", value) if isinstance(value, Obj) else value
