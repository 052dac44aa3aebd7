"""The evaluator both CDK app readers share (see pyapp.py, tsapp.py): the app's state and
step budget, the statement loop, calls of the app's functions and classes, attributes,
CDK construct calls recorded, path and string helpers computed."""

from __future__ import annotations

import ast
import posixpath
from pathlib import PurePosixPath
from typing import Any

from reviewbot.discovery.cdk.constructs import (
    FUNCTIONS,
    LAYERS,
    REPO,
    ArchRef,
    Asset,
    Construct,
    ExternalLayer,
    RuntimeRef,
    Unknown,
    runtime_name,
)
from reviewbot.discovery.cdk.pyvalues import (
    MAX_DEPTH,
    MAX_STEPS,
    MAX_TEXT,
    PATH_METHODS,
    SCOPE_KINDS,
    STR_METHODS,
    Budget,
    Cls,
    Ext,
    Func,
    Method,
    Module,
    Node,
    Obj,
    Returned,
    Super,
    abspath,
    as_construct,
    asset_path,
    child,
    concrete,
    external_reason,
    hashable,
    snake,
    text,
)
from reviewbot.tree import Tree


class Calls:
    """What both app readers share: the app's state and step budget, the statement loop,
    the call frame, attributes and calls. Each reader adds its syntax: `load`, `stmt`,
    `expr`, and `bind_arguments` and `run_body` for a call of the app's own functions."""

    def __init__(self, tree: Tree, app_dir: str, entry: str):
        self.tree, self.app_dir, self.entry = tree, app_dir, entry
        self.cwd = posixpath.normpath(posixpath.join(REPO, app_dir))
        self.modules: dict[str, Module] = {}
        self.constructs: list[Construct] = []
        self.steps = 0
        self.depth = 0

    def run(self) -> None:
        self.load(self.entry, "__main__")

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise Budget(f"more than {MAX_STEPS} steps")

    def block(self, nodes, module: Module, scope: dict | None) -> None:
        for node in nodes:
            self.tick()
            try:
                self.stmt(node, module, scope)
            except (Returned, Budget):
                raise
            except Exception:  # a statement we cannot follow is skipped
                continue

    def assign_name(self, name: str, value: Any, module: Module, scope: dict | None) -> None:
        (scope if scope is not None else module.names)[name] = value

    def attribute(self, owner: Any, attr: str) -> Any:
        if isinstance(owner, str | list | dict | Super) or (
                isinstance(owner, Construct) and attr in ("add_layers", "addLayers")):
            return Method(owner, attr)
        if isinstance(owner, Module):
            if attr in owner.names:
                return owner.names[attr]
            sub = self.find_module(f"{owner.names.get('__name__', '')}.{attr}")
            return self.load(sub, attr) if sub else Unknown(f"{attr} of {owner.path}")
        if isinstance(owner, Ext):
            return self.ext_attribute(owner, attr)
        if isinstance(owner, Obj):
            if attr in owner.attrs:
                return owner.attrs[attr]
            found = self.class_attr(owner.cls, attr)
            if isinstance(found, Func):
                return Func(found.node, found.module, found.closure, owner)
            if found is not None:
                return found
            return Ext("construct.node") if attr == "node" else Unknown(f"attribute {attr}")
        if isinstance(owner, PurePosixPath):
            if attr == "parent":
                return owner.parent
            if attr in ("name", "stem", "suffix"):
                return getattr(owner, attr)
            return Method(owner, attr)
        if isinstance(owner, Construct):
            return Unknown(f"{attr} of {owner.path}")
        return Unknown(f"attribute {attr}")

    def ext_attribute(self, owner: Ext, attr: str) -> Any:
        if owner.is_lambda and owner.last == "Runtime" and attr.isupper():
            return RuntimeRef(runtime_name(attr))
        if owner.is_lambda and owner.last == "Architecture" and attr.isupper():
            return ArchRef("arm64" if "ARM" in attr else "x86_64")
        return Ext(f"{owner.name}.{attr}")

    def class_attr(self, cls: Cls, attr: str) -> Any:
        if attr in cls.attrs:
            return cls.attrs[attr]
        for base in cls.bases:
            if isinstance(base, Cls):
                found = self.class_attr(base, attr)
                if found is not None:
                    return found
        return None

    def call_expr(self, e: ast.Call, module: Module, scope: dict | None) -> Any:
        func = self.expr(e.func, module, scope)
        args = self.elements(e.args, module, scope)
        kwargs: dict[str, Any] = {}
        for kw in e.keywords:
            value = self.expr(kw.value, module, scope)
            if kw.arg is None:
                kwargs.update(value if isinstance(value, dict) else {})
            else:
                kwargs[kw.arg] = value
        if isinstance(e.func, ast.Name) and e.func.id == "super" and isinstance(func, Ext):
            return self.super_of(scope)
        return self.call(func, args, kwargs, module.path, e.lineno)

    def super_of(self, scope: dict | None) -> Any:
        obj = scope.get("self") if scope is not None else None
        cls = scope.get("<class>") if scope is not None else None
        return Super(obj, cls) if isinstance(obj, Obj) and isinstance(cls, Cls) else Unknown()

    def call(self, func: Any, args: list[Any], kwargs: dict[str, Any], source: str,
             line: int) -> Any:
        self.tick()
        if isinstance(func, Func):
            return self.invoke(func, args, kwargs)
        if isinstance(func, Cls):
            return self.instantiate(func, args, kwargs)
        if isinstance(func, Method):
            return self.method(func.owner, func.name, args, kwargs)
        if isinstance(func, Ext):
            return self.external(func, args, kwargs, source, line)
        if isinstance(func, Unknown):
            return func
        return Unknown("a call of a computed value")

    def frame(self, func: Func, cls: Cls | None) -> dict[str, Any]:
        """A call's local names: the enclosing function's, and the class whose method runs
        (for `super`)."""
        scope: dict[str, Any] = {"<closure>": func.closure} if func.closure is not None else {}
        if cls is not None:
            scope["<class>"] = cls
        return scope

    def invoke(self, func: Func, args: list[Any], kwargs: dict[str, Any],
               cls: Cls | None = None) -> Any:
        """Run one of the app's functions: its arguments bound, its body run, its
        `return` value back; bounded in depth."""
        if self.depth >= MAX_DEPTH:
            return Unknown("calls nested too deeply")
        scope = self.frame(func, cls)
        self.bind_arguments(func, args, kwargs, scope)
        self.depth += 1
        try:
            return self.run_body(func, scope)
        except Returned as r:
            return r.value
        finally:
            self.depth -= 1

    def bind_arguments(self, func: Func, args: list[Any], kwargs: dict[str, Any],
                       scope: dict[str, Any]) -> None:
        """Python's parameters: positional, keyword, defaults, `*args`, `**kwargs`."""
        node = func.node
        params = [*node.args.posonlyargs, *node.args.args]
        if func.bound is not None:
            args = [func.bound, *args]
        defaults = [None] * (len(params) - len(node.args.defaults)) + list(node.args.defaults)
        for i, p in enumerate(params):
            if i < len(args):
                scope[p.arg] = args[i]
            elif p.arg in kwargs:
                scope[p.arg] = kwargs.pop(p.arg)
            elif defaults[i] is not None:
                scope[p.arg] = self.expr(defaults[i], func.module, None)
            else:
                scope[p.arg] = Unknown(f"argument {p.arg} not given")
        for p, d in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True):
            scope[p.arg] = kwargs.pop(p.arg) if p.arg in kwargs else (
                self.expr(d, func.module, None) if d is not None else Unknown())
        if node.args.kwarg is not None:
            scope[node.args.kwarg.arg] = dict(kwargs)
        if node.args.vararg is not None:
            scope[node.args.vararg.arg] = tuple(args[len(params):])

    def run_body(self, func: Func, scope: dict[str, Any]) -> Any:
        if isinstance(func.node, ast.Lambda):
            return self.expr(func.node.body, func.module, scope)
        self.block(func.node.body, func.module, scope)
        return None

    def is_scope_class(self, cls: Any) -> bool:
        if isinstance(cls, Ext):
            return cls.last in SCOPE_KINDS or (cls.is_lambda and cls.last in FUNCTIONS | LAYERS)
        return isinstance(cls, Cls) and any(self.is_scope_class(b) for b in cls.bases)

    def instantiate(self, cls: Cls, args: list[Any], kwargs: dict[str, Any]) -> Obj:
        obj = Obj(cls)
        if self.is_scope_class(cls):
            scope, cid = [*args, kwargs.get("scope"), kwargs.get("id")][:2] \
                if len(args) < 2 else args[:2]
            path = child(scope, cid if cid is not None else kwargs.get("construct_id"))
            obj.node = Node(path) if path is not None else None
        self.init(cls, obj, args, kwargs)
        return obj

    def init(self, cls: Cls, obj: Obj, args: list[Any], kwargs: dict[str, Any]) -> None:
        """Run the nearest `__init__` of `cls`'s bases that the app defines (a dataclass's
        fields bound from the arguments when it defines none)."""
        owner = cls
        init = cls.attrs.get("__init__")
        while init is None:
            owner = next((b for b in owner.bases if isinstance(b, Cls)), None)
            if owner is None:
                break
            init = owner.attrs.get("__init__")
        if isinstance(init, Func) and owner is not None:
            self.invoke(Func(init.node, init.module, init.closure, obj), args, dict(kwargs),
                        owner)
            return
        fields = [s.target.id for s in getattr(cls.node, "body", ())
                  if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
        for i, name in enumerate(fields):
            if i < len(args):
                obj.attrs[name] = args[i]
            elif name in kwargs:
                obj.attrs[name] = kwargs[name]

    def super_init(self, sup: Super, args: list[Any], kwargs: dict[str, Any]) -> None:
        """The base's initialiser: the app's own, or, for a class that extends a Lambda
        construct (`class SharedLayer(LayerVersion)`), that construct, recorded."""
        base = next((b for b in sup.cls.bases if isinstance(b, Cls)), None)
        if base is not None:
            self.init(base, sup.obj, args, kwargs)
            return
        ext = next((b for b in sup.cls.bases if isinstance(b, Ext)), None)
        if ext is not None and ext.is_lambda and ext.last in FUNCTIONS | LAYERS:
            node = sup.cls.node
            line = getattr(node, "lineno", None) or node.start_point[0] + 1
            sup.obj.attrs["<construct>"] = self.lambda_call(ext, args, kwargs,
                                                            sup.cls.module.path, line)

    def external(self, func: Ext, args: list[Any], kwargs: dict[str, Any], source: str,
                 line: int) -> Any:
        last, parts = func.last, func.name.split(".")
        if func.is_lambda:
            found = self.lambda_call(func, args, kwargs, source, line)
            if found is not None:
                return found
        if func.name.startswith(("os.path.", "posixpath.")) or func.name in (
                "os.getcwd", "process.cwd", "builtins.str", "builtins.len", "builtins.list", "builtins.dict",
                "builtins.range", "builtins.enumerate", "builtins.zip", "builtins.tuple",
                "builtins.sorted", "builtins.print", "builtins.super"):
            return self.builtin(func.name, args, kwargs)
        if parts[0] == "pathlib" or (last in ("Path", "PurePath", "PosixPath")):
            return self.path_call(func, args)
        if last == "App":
            return Node("")
        scope_path = child(args[0], args[1]) if len(args) >= 2 else None
        if scope_path is not None and last[:1].isupper():
            return Node(scope_path)  # another construct: a bucket, a table, a stack
        return Unknown(external_reason(func.name))

    def lambda_call(self, func: Ext, args: list[Any], kwargs: dict[str, Any], source: str,
                    line: int) -> Any:
        last = func.last
        if last in ("from_asset", "fromAsset", "AssetCode", "from_image_asset",
                    "fromImageAsset", "from_asset_image", "fromAssetImage"):
            where = args[0] if args else kwargs.get("path", kwargs.get("directory"))
            options = args[1] if len(args) > 1 and isinstance(args[1], dict) else kwargs
            if options.get("bundling") is not None:  # its command writes the asset
                return Unknown("code built by a bundling command (bundling=)")
            return Asset(asset_path(where, self.cwd), image="image" in last.lower(),
                         file=options.get("file", "Dockerfile"), cmd=options.get("cmd"),
                         exclude=options.get("exclude"))
        if last in ("from_inline", "fromInline", "InlineCode"):
            return Unknown(f"inline code ({last})")
        if last in ("from_bucket", "fromBucket", "S3Code", "from_cfn_parameters",
                    "fromCfnParameters", "from_ecr_image", "fromEcrImage", "EcrImageCode"):
            return Unknown(f"code built elsewhere ({last})")
        if last in ("from_layer_version_arn", "fromLayerVersionArn"):
            return ExternalLayer(args[2] if len(args) > 2 else kwargs.get("layer_version_arn"))
        if last == "Runtime" and args and isinstance(args[0], str):
            return RuntimeRef(args[0])
        if last in FUNCTIONS | LAYERS:
            scope, cid = [*args, None, None][:2]
            props = dict(kwargs)
            scope = props.pop("scope", scope)
            path = child(scope, props.pop("id", props.pop("construct_id", cid)))
            if len(args) > 2 and isinstance(args[2], dict):  # TypeScript's props object
                props = {snake(k): v for k, v in args[2].items()} | props
            if "entry" in props:
                props["entry"] = asset_path(props["entry"], self.cwd)
            if isinstance(props.get("layers"), list | tuple):
                props["layers"] = [as_construct(layer) for layer in props["layers"]]
            c = Construct(last, path or "<unknown scope>", props, source, line)
            self.constructs.append(c)
            return c
        return None

    def builtin(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        fn = name.rpartition(".")[2]
        if name in ("os.getcwd", "process.cwd"):
            return self.cwd
        if fn == "resolve":  # node's path.resolve: joined, then made absolute from the cwd
            texts = [text(a) for a in args]
            if not all(isinstance(t, str) for t in texts):
                return Unknown("a path computed at run time")
            return abspath(posixpath.join(*texts) if texts else ".", self.cwd)
        if fn in ("abspath", "realpath"):
            return abspath(args[0] if args else "", self.cwd)
        if fn in ("exists", "isdir", "isfile"):
            path = abspath(args[0], self.cwd) if args else None
            if not isinstance(path, str) or not path.startswith(REPO + "/"):
                return Unknown("a file test outside the repository")
            rel = path[len(REPO) + 1:]
            return rel in self.tree if fn == "isfile" else (
                self.tree.isdir(rel) or (fn == "exists" and rel in self.tree))
        if fn == "dict" and all(isinstance(a, dict) for a in args):  # props objects
            return {k: v for a in args for k, v in a.items()} | kwargs
        if fn in ("list", "tuple") and len(args) == 1 and isinstance(args[0], list | tuple):
            return list(args[0]) if fn == "list" else tuple(args[0])
        if not all(concrete(a) for a in [*args, *kwargs.values()]):
            return next((a for a in args if isinstance(a, Unknown)), Unknown())
        args = [text(a) if name.startswith(("os.", "posixpath.")) else a for a in args]
        table = {"join": posixpath.join, "dirname": posixpath.dirname,
                 "basename": posixpath.basename, "normpath": posixpath.normpath,
                 "str": lambda *a: str(a[0]) if a else "", "len": len, "list": list,
                 "dict": dict, "range": range, "enumerate": lambda *a: list(enumerate(*a)),
                 "zip": lambda *a: list(zip(*a, strict=False)), "tuple": tuple,
                 "sorted": sorted, "print": lambda *a: None}
        if fn not in table:
            return Unknown()
        result = table[fn](*args, **kwargs)
        return result if not isinstance(result, range) or len(result) <= MAX_TEXT else Unknown()

    def path_call(self, func: Ext, args: list[Any]) -> Any:
        last = func.last
        if last in ("Path", "PurePath", "PosixPath", "PurePosixPath"):
            if not all(isinstance(text(a), str) for a in args):
                return Unknown("a path computed at run time")
            return PurePosixPath(*[text(a) for a in args]) if args else PurePosixPath(".")
        if last == "cwd":
            return PurePosixPath(self.cwd)
        return Unknown()

    def method(self, owner: Any, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Pure methods of str, list, dict and paths, on concrete values; the base's
        `__init__` through super(); a function's add_layers."""
        if isinstance(owner, Super):
            if name == "__init__":
                self.super_init(owner, args, kwargs)
            return None
        if isinstance(owner, Construct):
            owner.layers.extend(as_construct(a) for a in args)
            return None
        if isinstance(owner, PurePosixPath):
            if name in ("resolve", "absolute"):
                return PurePosixPath(abspath(owner, self.cwd))
            if name in PATH_METHODS and all(concrete(a) for a in args):
                return getattr(owner, name)(*[text(a) for a in args])
        if isinstance(owner, str) and name in STR_METHODS and all(concrete(a) for a in args):
            result = getattr(owner, name)(*args)
            return result if len(result) <= MAX_TEXT else Unknown("too long")
        if isinstance(owner, list) and name in ("append", "extend"):
            getattr(owner, name)(*args)
            return None
        if isinstance(owner, dict) and name in ("get", "items", "keys", "values"):
            result = getattr(owner, name)(*[hashable(a) for a in args])
            return list(result) if name != "get" else result
        return Unknown(f"{name}() of a computed value")
