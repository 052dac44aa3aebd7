"""A TypeScript CDK app read without running it, over tree-sitter's TypeScript grammar.

The same evaluator as the Python reader (pycalls.Calls: construct calls, paths, the app's
functions and classes), over a TypeScript syntax tree: `bin/app.ts` and the modules it
imports by relative path (`../lib/stack`), `const`/`let`, object and array literals with
spreads, template strings, `for ... of` over literal arrays, arrow functions, classes with
`constructor` and `super(...)`. Module names map to the Python ones the evaluator knows:
`aws-cdk-lib/aws-lambda` is `aws_cdk.aws_lambda`, `path` is `os.path` (`path.join`,
`path.resolve`), `__dirname` is the module's folder and `process.cwd()` the cdk.json
folder. Nothing of the repository runs.
"""

from __future__ import annotations

import posixpath
from functools import cache
from typing import Any

from reviewbot.discovery.cdk.constructs import REPO, Unknown
from reviewbot.discovery.cdk.pycalls import Calls
from reviewbot.discovery.cdk.pyvalues import (
    MAX_TEXT,
    Cls,
    Ext,
    Func,
    Module,
    Obj,
    Returned,
    Super,
    concrete,
    hashable,
)
from reviewbot.tree import join

EXTENSIONS = (".ts", ".tsx", "/index.ts")
UNWRAP = frozenset({"parenthesized_expression", "as_expression", "non_null_expression",
                    "satisfies_expression", "type_assertion", "await_expression"})


@cache
def _parser():
    """tree-sitter's TypeScript parser (loaded once: the grammar is a compiled library)."""
    import tree_sitter_typescript
    from tree_sitter import Language, Parser

    return Parser(Language(tree_sitter_typescript.language_typescript()))


def module_name(spec: str) -> str:
    """An npm module specifier as the dotted name the evaluator knows."""
    if spec in ("path", "node:path"):
        return "os.path"
    spec = spec.removeprefix("@aws-cdk/").removeprefix("aws-cdk-lib/").removeprefix("aws-cdk-lib")
    name = spec.replace("-", "_").replace("/", ".").strip(".")
    return f"aws_cdk.{name}" if name else "aws_cdk"


def _string(node) -> str:
    return "".join(c.text.decode("utf-8", "replace") for c in node.named_children
                   if c.type in ("string_fragment", "escape_sequence"))


class TypeScriptApp(Calls):
    """Evaluates one TypeScript CDK app; `constructs` holds the Lambda construct calls."""

    def load(self, path: str, name: str) -> Module:
        module = self.modules.get(path)
        if module is not None:
            return module
        folder = posixpath.join(REPO, posixpath.dirname(path))
        module = self.modules[path] = Module(path, {
            "__dirname": posixpath.normpath(folder), "__filename": posixpath.join(REPO, path),
            "process": Ext("process"), "__name__": name})
        root = _parser().parse(self.tree.read(path)).root_node
        self.block(root.named_children, module, None)
        return module

    def find_module(self, dotted: str, module: Module | None = None,
                    level: int = 0) -> str | None:
        return None  # a local module is found by its relative path (find_relative)

    def find_relative(self, spec: str, module: Module) -> str | None:
        base = posixpath.normpath(join(posixpath.dirname(module.path) or ".", spec))
        for ext in ("", *EXTENSIONS):
            if base + ext in self.tree and (base + ext).endswith((".ts", ".tsx")):
                return base + ext
        return None

    # -- statements --------------------------------------------------------------------

    def stmt(self, node, module: Module, scope: dict | None) -> None:
        kind = node.type
        if kind == "export_statement":
            self.block(node.named_children, module, scope)
        elif kind == "expression_statement":
            for child in node.named_children:
                self.expr(child, module, scope)
        elif kind in ("lexical_declaration", "variable_declaration"):
            for decl in node.named_children:
                if decl.type == "variable_declarator":
                    value = decl.child_by_field_name("value")
                    self.bind(decl.child_by_field_name("name"),
                              None if value is None else self.expr(value, module, scope),
                              module, scope)
        elif kind in ("function_declaration", "generator_function_declaration"):
            self.assign_name(node.child_by_field_name("name").text.decode(),
                        Func(node, module, scope), module, scope)
        elif kind in ("class_declaration", "abstract_class_declaration"):
            self.classdef(node, module, scope)
        elif kind == "return_statement":
            value = node.named_children[0] if node.named_children else None
            raise Returned(None if value is None else self.expr(value, module, scope))
        elif kind == "statement_block":
            self.block(node.named_children, module, scope)
        elif kind == "if_statement":
            self.if_(node, module, scope)
        elif kind == "for_in_statement":
            self.for_(node, module, scope)
        elif kind == "import_statement":
            self.import_(node, module, scope)
        elif kind == "try_statement":
            self.block([node.child_by_field_name("body")], module, scope)

    def if_(self, node, module: Module, scope: dict | None) -> None:
        test = self.expr(node.child_by_field_name("condition"), module, scope)
        branches = [node.child_by_field_name("consequence"), node.child_by_field_name(
            "alternative")]
        branches = [b for b in branches if b is not None]
        if concrete(test):
            chosen = branches[0] if test else (branches[1] if len(branches) > 1 else None)
            branches = [chosen] if chosen is not None else []
        for branch in branches:
            self.block(branch.named_children if branch.type == "else_clause" else [branch],
                       module, scope)

    def for_(self, node, module: Module, scope: dict | None) -> None:
        items = self.expr(node.child_by_field_name("right"), module, scope)
        is_of = any(c.type == "of" for c in node.children)
        if isinstance(items, dict):
            items = list(items) if not is_of else Unknown()
        if not isinstance(items, list | tuple):
            items = [Unknown("an item of a computed collection")]
        for item in list(items)[:MAX_TEXT]:
            self.bind(node.child_by_field_name("left"), item, module, scope)
            self.block([node.child_by_field_name("body")], module, scope)

    def import_(self, node, module: Module, scope: dict | None) -> None:
        source = node.child_by_field_name("source")
        clause = next((c for c in node.named_children
                       if c.type in ("import_clause", "import_require_clause")), None)
        if clause is None:
            return
        if source is None:  # `import x = require('m')`
            source = next(c for c in clause.named_children if c.type == "string")
        spec = _string(source)
        local = self.find_relative(spec, module) if spec.startswith(".") else None
        target: Any = self.load(local, spec) if local else Ext(module_name(spec))
        for part in clause.named_children:
            if part.type == "identifier":  # default import, or `import x = require()`
                self.assign_name(part.text.decode(), target, module, scope)
            elif part.type == "namespace_import":
                self.assign_name(part.named_children[0].text.decode(), target, module, scope)
            elif part.type == "named_imports":
                for spec_node in part.named_children:
                    name = spec_node.child_by_field_name("name").text.decode()
                    alias = spec_node.child_by_field_name("alias")
                    self.assign_name(alias.text.decode() if alias else name,
                                self.attribute(target, name), module, scope)

    def classdef(self, node, module: Module, scope: dict | None) -> None:
        heritage = next((c for c in node.named_children if c.type == "class_heritage"), None)
        bases = []
        for clause in heritage.named_children if heritage else ():
            if clause.type == "extends_clause" and clause.named_children:
                bases.append(self.expr(clause.named_children[0], module, scope))
        attrs: dict[str, Any] = {"<fields>": []}
        for member in node.child_by_field_name("body").named_children:
            value = member.child_by_field_name("value")
            if member.type == "public_field_definition" and value is not None:
                attrs["<fields>"].append((member.child_by_field_name("name").text.decode(),
                                          value))
            elif member.type == "method_definition":
                name = member.child_by_field_name("name").text.decode()
                attrs["__init__" if name == "constructor" else name] = Func(member, module,
                                                                              scope)
        cls = Cls(node, module, bases, attrs)
        self.assign_name(node.child_by_field_name("name").text.decode(), cls, module, scope)

    def bind(self, target, value: Any, module: Module, scope: dict | None) -> None:
        """A declaration's or parameter's pattern: a name, `{a, b: c}` or `[a, b]`."""
        if target is None:
            return
        if target.type in ("identifier", "shorthand_property_identifier_pattern"):
            self.assign_name(target.text.decode(), value, module, scope)
        elif target.type == "object_pattern":
            for part in target.named_children:
                if part.type == "shorthand_property_identifier_pattern":
                    key, inner = part.text.decode(), part
                elif part.type == "pair_pattern":
                    key = part.child_by_field_name("key").text.decode().strip("'\"")
                    inner = part.child_by_field_name("value")
                else:
                    continue
                item = value.get(key, Unknown()) if isinstance(value, dict) else Unknown()
                self.bind(inner, item, module, scope)
        elif target.type == "array_pattern":
            for i, part in enumerate(target.named_children):
                item = value[i] if isinstance(value, list | tuple) and i < len(value) \
                    else Unknown()
                self.bind(part, item, module, scope)

    # -- expressions -------------------------------------------------------------------

    def lookup(self, name: str, module: Module, scope: dict | None) -> Any:
        frame = scope
        while frame is not None:
            if name in frame:
                return frame[name]
            frame = frame.get("<closure>")
        if name in module.names:
            return module.names[name]
        if name in ("undefined",):
            return None
        return Ext(f"builtins.{name}")

    def expr(self, node, module: Module, scope: dict | None) -> Any:
        kind = node.type
        if kind in UNWRAP:  # `<T>x` has its type first, `x as T` after
            inner = node.named_children[-1 if kind == "type_assertion" else 0]
            return self.expr(inner, module, scope)
        if kind == "string":
            return _string(node)
        if kind == "template_string":
            return self.template(node, module, scope)
        if kind == "number":
            text = node.text.decode()
            return float(text) if "." in text else int(text, 0)
        if kind in ("true", "false", "null", "undefined"):
            return {"true": True, "false": False}.get(kind)
        if kind == "identifier":
            return self.lookup(node.text.decode(), module, scope)
        if kind == "this":
            return self.lookup("this", module, scope)
        if kind == "member_expression":
            owner = self.expr(node.child_by_field_name("object"), module, scope)
            return self.attribute(owner, node.child_by_field_name("property").text.decode())
        if kind == "assignment_expression":
            value = self.expr(node.child_by_field_name("right"), module, scope)
            self.store(node.child_by_field_name("left"), value, module, scope)
            return value
        if kind in ("call_expression", "new_expression"):
            return self.call_node(node, module, scope)
        if kind == "object":
            return self.object(node, module, scope)
        if kind == "array":
            return self.elements(node.named_children, module, scope)
        if kind == "binary_expression":
            return self.binary(node, module, scope)
        if kind in ("arrow_function", "function_expression", "function"):
            return Func(node, module, scope)
        if kind == "ternary_expression":
            test = self.expr(node.child_by_field_name("condition"), module, scope)
            if concrete(test):
                return self.expr(node.child_by_field_name("consequence" if test else
                                                          "alternative"), module, scope)
            return Unknown("a conditional value")
        if kind == "subscript_expression":
            owner = self.expr(node.child_by_field_name("object"), module, scope)
            key = self.expr(node.child_by_field_name("index"), module, scope)
            if isinstance(owner, dict | list | tuple) and concrete(key):
                return owner[key] if not isinstance(owner, dict) else owner.get(key)
            return Unknown("an item of a computed value")
        return Unknown()

    def store(self, target, value: Any, module: Module, scope: dict | None) -> None:
        """`x = v`, `this.fn = v`, `props.x = v`."""
        if target.type == "member_expression":
            owner = self.expr(target.child_by_field_name("object"), module, scope)
            name = target.child_by_field_name("property").text.decode()
            if isinstance(owner, Obj):
                owner.attrs[name] = value
            elif isinstance(owner, dict):
                owner[name] = value
        elif target.type == "identifier":
            frame = scope
            while frame is not None and target.text.decode() not in frame:
                frame = frame.get("<closure>")
            self.assign_name(target.text.decode(), value, module, frame if frame is not None
                        else scope)

    def attribute(self, owner: Any, attr: str) -> Any:
        if isinstance(owner, dict) and attr in owner:  # an object literal's property
            return owner[attr]
        if isinstance(owner, list | tuple | str) and attr == "length":
            return len(owner)
        return super().attribute(owner, attr)

    def template(self, node, module: Module, scope: dict | None) -> Any:
        parts: list[Any] = []
        for child in node.named_children:
            if child.type == "template_substitution":
                parts.append(self.expr(child.named_children[0], module, scope))
            else:
                parts.append(child.text.decode())
        if all(concrete(p) for p in parts):
            return "".join(str(p) for p in parts)
        return next((p for p in parts if isinstance(p, Unknown)), Unknown())

    def object(self, node, module: Module, scope: dict | None) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for part in node.named_children:
            if part.type == "pair":
                key_node = part.child_by_field_name("key")
                key = _string(key_node) if key_node.type == "string" else key_node.text.decode()
                out[key] = self.expr(part.child_by_field_name("value"), module, scope)
            elif part.type == "shorthand_property_identifier":
                out[part.text.decode()] = self.lookup(part.text.decode(), module, scope)
            elif part.type == "spread_element":
                spread = self.expr(part.named_children[0], module, scope)
                out.update(spread if isinstance(spread, dict) else {})
        return out

    def elements(self, nodes, module: Module, scope: dict | None) -> list[Any]:
        items: list[Any] = []
        for node in nodes:
            if node.type == "spread_element":
                inner = self.expr(node.named_children[0], module, scope)
                items.extend(inner if isinstance(inner, list | tuple) else [Unknown()])
            else:
                items.append(self.expr(node, module, scope))
        return items

    def binary(self, node, module: Module, scope: dict | None) -> Any:
        left = self.expr(node.child_by_field_name("left"), module, scope)
        right = self.expr(node.child_by_field_name("right"), module, scope)
        op = node.child_by_field_name("operator").type
        if not (concrete(left) and concrete(right)):
            return Unknown("a value computed from another")
        if op == "+" and (isinstance(left, str) or isinstance(right, str)):
            result = f"{left}{right}"
            return result if len(result) <= MAX_TEXT else Unknown("too long")
        ops = {"===": lambda a, b: a == b, "==": lambda a, b: a == b,
               "!==": lambda a, b: a != b, "!=": lambda a, b: a != b,
               "&&": lambda a, b: a and b, "||": lambda a, b: a or b,
               "??": lambda a, b: b if a is None else a}
        return ops[op](left, right) if op in ops else Unknown()

    def call_node(self, node, module: Module, scope: dict | None) -> Any:
        fn_node = node.child_by_field_name("function" if node.type == "call_expression"
                                           else "constructor")
        arg_node = node.child_by_field_name("arguments")
        args = self.elements(arg_node.named_children, module, scope) if arg_node else []
        if fn_node.type == "super":
            this, cls = self.lookup("this", module, scope), self.lookup("<class>", module,
                                                                         scope)
            if isinstance(this, Obj) and isinstance(cls, Cls):
                self.super_init(Super(this, cls), args, {})
            return None
        func = self.expr(fn_node, module, scope)
        line = node.start_point[0] + 1
        return self.call(func, args, {}, module.path, line)

    # -- the app's functions, run ------------------------------------------------------

    def init(self, cls: Cls, obj: Obj, args: list[Any], kwargs: dict[str, Any]) -> None:
        """Property initialisers (`readonly PREFIX = 'x'`) first, then the constructor."""
        for name, value in cls.attrs.get("<fields>", ()):
            obj.attrs[name] = self.expr(value, cls.module, {"this": obj})
        super().init(cls, obj, args, kwargs)

    def bind_arguments(self, func: Func, args: list[Any], kwargs: dict[str, Any],
                       scope: dict[str, Any]) -> None:
        """TypeScript's parameters: patterns with defaults; `this` for a method."""
        node = func.node
        if func.bound is not None:
            scope["this"] = func.bound
        params = node.child_by_field_name("parameters") or node.child_by_field_name(
            "parameter")
        plist = [params] if params is not None and params.type == "identifier" else (
            params.named_children if params is not None else [])
        for i, param in enumerate(plist):
            pattern = param if param.type == "identifier" else param.child_by_field_name(
                "pattern")
            default = param.child_by_field_name("value") if param.type != "identifier" \
                else None
            if i < len(args) and args[i] is not None:
                value = args[i]
            elif default is not None:
                value = self.expr(default, func.module, scope)
            else:
                value = Unknown("argument not given")
            self.bind(pattern, value, func.module, scope)

    def run_body(self, func: Func, scope: dict[str, Any]) -> Any:
        body = func.node.child_by_field_name("body")
        if body.type != "statement_block":  # an arrow function's expression
            return self.expr(body, func.module, scope)
        self.block(body.named_children, func.module, scope)
        return None

    def method(self, owner: Any, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if isinstance(owner, list) and name == "push":
            owner.extend(args)
            return len(owner)
        if isinstance(owner, list) and name in ("map", "forEach") and args and isinstance(
                args[0], Func):
            out = [self.invoke(args[0], [item], {}) for item in owner[:MAX_TEXT]]
            return out if name == "map" else None
        if isinstance(owner, dict) and name in ("get",):
            return owner.get(hashable(args[0])) if args else None
        return super().method(owner, name, args, kwargs)
