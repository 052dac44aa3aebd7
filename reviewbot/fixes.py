"""Fix suggestions for `from pkg import Name` when `pkg/__init__.py` does not export `Name`
but a submodule of `pkg` defines it.

Two small codemods, each the smallest format-preserving edit (libcst keeps every byte it
is not asked to change):

- `add_export`: add `Name` to the package's existing `from .sub import ...` (parentheses,
  trailing comma and wrapping kept; sorted position when the names are sorted, else last),
  or a new `from .sub import Name` after the last relative import; and to `__all__` when it
  is a list or tuple literal (quotes and layout kept).
- `import_from_submodule`: the consumer's alternative, `from pkg.sub import Name`.

Pure: sources in, `Fix` (whole-file before and after) out. libcst is used only here, on
the few files a fix touches, never for bulk parsing (the engine uses `ast`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from reviewbot.model import Finding
from reviewbot.summary import DEFINITE, summarize

_MISSING = re.compile(r"cannot import name '(?P<name>[A-Za-z_][A-Za-z0-9_]*)' from "
                      r"'(?P<package>[A-Za-z_][A-Za-z0-9_.]*)' \((?P<init>[^()]*/__init__\.py)\)")


@dataclass(frozen=True)
class Fix:
    """One file's edit: its whole text before and after."""

    path: str
    old_text: str
    new_text: str
    description: str

    def regions(self) -> list[tuple[int, int, list[str]]]:
        """The edit as (first line, last line, replacement lines) over the old text, one
        per changed block; 1-based and inclusive. A pure insertion is widened to the line
        above it (a suggestion must replace at least one existing line)."""
        old = self.old_text.splitlines()
        new = self.new_text.splitlines()
        out = []
        matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            if i1 == i2:  # insertion: anchor on the line above (or below, at the top)
                if i1 > 0:
                    out.append((i1, i1, [old[i1 - 1], *new[j1:j2]]))
                else:
                    out.append((1, 1, [*new[j1:j2], old[0]] if old else new[j1:j2]))
                continue
            out.append((i1 + 1, i2, new[j1:j2]))
        return out

    def diff(self) -> str:
        return "".join(difflib.unified_diff(
            self.old_text.splitlines(keepends=True), self.new_text.splitlines(keepends=True),
            f"a/{self.path}", f"b/{self.path}"))


@dataclass(frozen=True)
class Suggestion:
    """What to propose for one failing import: the export (preferred) and the alternative
    import for the consumer. Either may be None when it cannot be built."""

    finding: Finding
    package: str
    name: str
    submodule: str  # relative to the package, dotted ("errors")
    export: Fix | None
    alternative: Fix | None


@dataclass(frozen=True)
class MissingName:
    name: str
    package: str  # dotted, as the consumer imports it
    init_path: str  # repo path of the package's __init__.py


def missing_name(finding: Finding) -> MissingName | None:
    """The (name, package, __init__.py) of a `missing-name` finding, read from its message."""
    if finding.kind != "missing-name":
        return None
    m = _MISSING.search(finding.message)
    if m is None:
        return None
    return MissingName(m["name"], m["package"], m["init"])


# -- which submodule defines the name -------------------------------------------------------

def defining_submodule(files: dict[str, bytes] | Callable[[], dict[str, bytes]],
                       init_path: str, init_source: str, name: str,
                       version: tuple[int, int] = (3, 12)) -> str | None:
    """The direct submodule of the package (`errors` for `pkg/errors.py`, `sub` for
    `pkg/sub/__init__.py`) that binds `name` for certain. Preferred: one that defines it
    (rather than importing it), then one `__init__.py` already imports from; then by path.
    `files` maps the package's candidate paths to their contents."""
    if callable(files):
        files = files()
    folder = init_path.rpartition("/")[0]
    already = set(_relative_modules(init_source))
    ranked = []
    for path, source in files.items():
        sub = _submodule_of(folder, path)
        if sub is None:
            continue
        summary = summarize(source, path, version)
        if summary.error is not None:
            continue
        bound = summary.names.get(name)
        if bound is None or bound[0] != DEFINITE:
            continue
        imported = any(name in imp.names for imp in summary.imports if imp.is_from)
        ranked.append((imported, sub not in already, path, sub))
    ranked.sort()
    return ranked[0][3] if ranked else None


def candidate_paths(paths, init_path: str) -> list[str]:
    """The paths among `paths` that `defining_submodule` looks at."""
    folder = init_path.rpartition("/")[0]
    return sorted(p for p in paths if _submodule_of(folder, p) is not None)


def _submodule_of(folder: str, path: str) -> str | None:
    if not path.startswith(folder + "/"):
        return None
    rest = path[len(folder) + 1:]
    if rest.count("/") == 0 and rest.endswith(".py") and rest != "__init__.py":
        stem = rest[:-3]
        return stem if stem.isidentifier() else None
    if rest.count("/") == 1 and rest.endswith("/__init__.py"):
        stem = rest.split("/")[0]
        return stem if stem.isidentifier() else None
    return None


def _relative_modules(source: str) -> list[str]:
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        return []
    out = []
    for stmt in module.body:
        for small in _small_statements(stmt):
            if isinstance(small, cst.ImportFrom) and len(small.relative) == 1 \
                    and small.module is not None:
                out.append(_dotted(small.module))
    return out


# -- codemod 1: export the name from the package --------------------------------------------

def add_export(source: str, submodule: str, name: str) -> str:
    """`source` (a package's `__init__.py`) with `name` imported from `.submodule` and
    listed in `__all__` when `__all__` is a list or tuple literal. Unchanged if both are
    already there. Raises `cst.ParserSyntaxError` for unparsable source."""
    module = cst.parse_module(source)
    imported = _binds(module, name)
    target = _last_import_from(module, submodule) if not imported else None
    new_body = list(module.body)
    if not imported:
        if target is not None:
            i, j = target
            line = new_body[i]
            stmts = list(line.body)
            stmts[j] = _with_name(stmts[j], name)
            new_body[i] = line.with_changes(body=stmts)
        else:
            new_body.insert(_insert_at(module), cst.parse_statement(
                f"from .{submodule} import {name}\n", config=module.config_for_parsing))
    module = module.with_changes(body=new_body)
    if not source.strip():  # an empty file has no final newline to keep
        module = module.with_changes(has_trailing_newline=True)
    module = module.visit(_AllAdder(name))
    return module.code


def _small_statements(stmt: cst.CSTNode) -> list[cst.BaseSmallStatement]:
    return list(stmt.body) if isinstance(stmt, cst.SimpleStatementLine) else []


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def _binds(module: cst.Module, name: str) -> bool:
    """A top-level import already binds `name` (unaliased or aliased to it)."""
    for stmt in module.body:
        for small in _small_statements(stmt):
            if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
                for alias in small.names:
                    bound = (alias.asname.name.value if alias.asname is not None
                             and isinstance(alias.asname.name, cst.Name)
                             else _dotted(alias.name))
                    if bound == name:
                        return True
    return False


def _last_import_from(module: cst.Module, submodule: str) -> tuple[int, int] | None:
    found = None
    for i, stmt in enumerate(module.body):
        for j, small in enumerate(_small_statements(stmt)):
            if (isinstance(small, cst.ImportFrom) and len(small.relative) == 1
                    and small.module is not None and _dotted(small.module) == submodule
                    and not isinstance(small.names, cst.ImportStar)):
                found = (i, j)
    return found


def _insert_at(module: cst.Module) -> int:
    """After the last top-level relative import; else after the last import; else after
    the docstring; else at the top."""
    last_rel = last_any = None
    for i, stmt in enumerate(module.body):
        for small in _small_statements(stmt):
            if isinstance(small, cst.ImportFrom) and len(small.relative) > 0:
                last_rel = i
            if isinstance(small, cst.Import | cst.ImportFrom):
                last_any = i
    if last_rel is not None:
        return last_rel + 1
    if last_any is not None:
        return last_any + 1
    if module.body:
        first = _small_statements(module.body[0])
        if first and isinstance(first[0], cst.Expr) and isinstance(
                first[0].value, cst.SimpleString | cst.ConcatenatedString):
            return 1
    return 0


def _sorted_index(values: list[str], value: str) -> int:
    """Where `value` goes: its sorted place when `values` are sorted, else at the end."""
    if values == sorted(values):
        return next((k for k, v in enumerate(values) if v > value), len(values))
    return len(values)


def _insert(items: list, index: int, new, between: cst.Comma, keep_single_trailing: bool):
    """Insert `new` into a comma-separated sequence (import names, list/tuple elements),
    keeping its separators: a new item takes the separator that follows its neighbour, the
    last item keeps the trailing comma (or its absence)."""
    items = list(items)
    n = len(items)
    sep_of = [it.comma for it in items]
    if index < n:
        # Before item `index`: the new item takes the separator of the one before it (or
        # of the first, at the front); everything after is unchanged.
        sep = sep_of[index - 1] if index > 0 else (sep_of[0] if n > 1 else between)
        if isinstance(sep, cst.MaybeSentinel):
            sep = between
        items.insert(index, new.with_changes(comma=sep))
        return items
    trailing = sep_of[-1]
    prev = sep_of[-2] if n > 1 else between
    if isinstance(prev, cst.MaybeSentinel):
        prev = between
    items[-1] = items[-1].with_changes(comma=prev)
    if n == 1 and not keep_single_trailing:
        trailing = cst.MaybeSentinel.DEFAULT
    items.append(new.with_changes(comma=trailing))
    return items


def _between_from(open_ws) -> cst.Comma:
    """The separator to use when a sequence has one item: the layout after its opening
    bracket tells whether items sit one per line."""
    if isinstance(open_ws, cst.ParenthesizedWhitespace):
        return cst.Comma(whitespace_after=open_ws)
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def _with_name(imp: cst.ImportFrom, name: str) -> cst.ImportFrom:
    names = list(imp.names)
    values = [_dotted(a.name) for a in names]
    open_ws = imp.lpar.whitespace_after if imp.lpar is not None else None
    items = _insert(names, _sorted_index(values, name), cst.ImportAlias(cst.Name(name)),
                    _between_from(open_ws), keep_single_trailing=True)
    if imp.lpar is None:  # a trailing comma is only legal inside parentheses
        last = items[-1]
        if not isinstance(last.comma, cst.MaybeSentinel):
            items[-1] = last.with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return imp.with_changes(names=items)


class _AllAdder(cst.CSTTransformer):
    """Add the name to the first top-level `__all__ = [...]` or `(...)` literal."""

    def __init__(self, name: str):
        self.name = name
        self.done = False
        self.depth = 0

    def visit_FunctionDef(self, node) -> bool:
        return False

    def visit_ClassDef(self, node) -> bool:
        return False

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        if self.done or len(updated.targets) != 1:
            return updated
        target = updated.targets[0].target
        if not (isinstance(target, cst.Name) and target.value == "__all__"):
            return updated
        self.done = True
        value = updated.value
        if not isinstance(value, cst.List | cst.Tuple):
            return updated
        strings = []
        for el in value.elements:
            if not isinstance(el, cst.Element) or not isinstance(el.value, cst.SimpleString):
                return updated  # starred or computed: leave it alone
            strings.append(el.value)
        values = [s.evaluated_value for s in strings]
        if self.name in values:
            return updated
        quote = strings[0].quote if strings else '"'
        prefix = strings[0].prefix if strings else ""
        literal = cst.SimpleString(f"{prefix}{quote}{self.name}{quote}")
        if not value.elements:
            return updated.with_changes(value=value.with_changes(
                elements=[cst.Element(literal, comma=cst.Comma()
                                      if isinstance(value, cst.Tuple) else
                                      cst.MaybeSentinel.DEFAULT)]))
        if isinstance(value, cst.List):
            open_ws = value.lbracket.whitespace_after
        else:
            open_ws = value.lpar[0].whitespace_after if value.lpar else None
        single_line_tuple = isinstance(value, cst.Tuple) and len(value.elements) == 1 and \
            not isinstance(open_ws, cst.ParenthesizedWhitespace)
        items = _insert(list(value.elements), _sorted_index(values, self.name),
                        cst.Element(literal), _between_from(open_ws),
                        keep_single_trailing=not single_line_tuple)
        return updated.with_changes(value=value.with_changes(elements=items))


# -- codemod 2: the consumer imports from the submodule ---------------------------------------

def import_from_submodule(source: str, line: int, name: str, submodule: str) -> str | None:
    """`source` with the `from pkg import ..., name, ...` statement on `line` changed to
    take `name` from `pkg.submodule`: the module is rewritten when `name` is its only name,
    else `name` moves to a new statement right below. None when no such statement."""
    try:
        wrapper = MetadataWrapper(cst.parse_module(source), unsafe_skip_copy=True)
    except cst.ParserSyntaxError:
        return None
    positions = wrapper.resolve(PositionProvider)
    mover = _ConsumerRewrite(positions, line, name, submodule)
    new = wrapper.module.visit(mover)
    return new.code if mover.done else None


class _ConsumerRewrite(cst.CSTTransformer):
    def __init__(self, positions, line: int, name: str, submodule: str):
        self.positions = positions
        self.line = line
        self.name = name
        self.submodule = submodule
        self.done = False

    def _target(self, node: cst.BaseSmallStatement) -> bool:
        if self.done or not isinstance(node, cst.ImportFrom) or \
                isinstance(node.names, cst.ImportStar):
            return False
        if self.positions[node].start.line != self.line:
            return False
        return any(_dotted(a.name) == self.name for a in node.names)

    def _moved(self, node: cst.ImportFrom) -> cst.ImportFrom:
        base = _dotted(node.module) if node.module is not None else ""
        dotted = f"{base}.{self.submodule}" if base else self.submodule
        alias = next(a for a in node.names if _dotted(a.name) == self.name)
        return node.with_changes(
            module=cst.parse_expression(dotted), lpar=None, rpar=None,
            names=[alias.with_changes(comma=cst.MaybeSentinel.DEFAULT)],
            whitespace_before_import=cst.SimpleWhitespace(" "))

    def leave_SimpleStatementLine(self, original, updated):
        for k, small in enumerate(updated.body):
            if not self._target(original.body[k]):
                continue
            self.done = True
            moved = self._moved(small)
            rest = [a for a in small.names if _dotted(a.name) != self.name]
            if not rest:
                body = list(updated.body)
                body[k] = moved
                return updated.with_changes(body=body)
            removed = next(a for a in small.names if _dotted(a.name) == self.name)
            if _dotted(small.names[-1].name) == self.name:  # the last one: keep the end
                rest[-1] = rest[-1].with_changes(comma=removed.comma)
            last = rest[-1]
            if small.lpar is None and not isinstance(last.comma, cst.MaybeSentinel):
                rest[-1] = last.with_changes(comma=cst.MaybeSentinel.DEFAULT)
            body = list(updated.body)
            body[k] = small.with_changes(names=rest)
            extra = cst.SimpleStatementLine(body=[moved])
            return cst.FlattenSentinel([updated.with_changes(body=body), extra])
        return updated


# -- putting it together --------------------------------------------------------------------

def suggest(finding: Finding, read: Callable[[str], str | None],
            paths, version: tuple[int, int] = (3, 12)) -> Suggestion | None:
    """The suggestion for one finding. `read(path)` returns a file's text (None when
    absent); `paths` are every path of the tree (to find the package's submodules)."""
    missing = missing_name(finding)
    if missing is None:
        return None
    init_source = read(missing.init_path)
    if init_source is None:
        return None
    candidates = candidate_paths(paths, missing.init_path)

    def load() -> dict[str, bytes]:
        out = {}
        for p in candidates:
            text = read(p)
            if text is not None:
                out[p] = text.encode()
        return out

    sub = defining_submodule(load, missing.init_path, init_source, missing.name, version)
    if sub is None:
        return None
    export = alternative = None
    try:
        new_init = add_export(init_source, sub, missing.name)
    except (cst.ParserSyntaxError, ValueError):
        new_init = init_source
    if new_init != init_source:
        export = Fix(missing.init_path, init_source, new_init,
                     f"export `{missing.name}` from `{missing.package}` (it is defined in "
                     f"`{missing.package}.{sub}`)")
    consumer = read(finding.path)
    if consumer is not None:
        new_consumer = import_from_submodule(consumer, finding.line, missing.name, sub)
        if new_consumer is not None and new_consumer != consumer:
            alternative = Fix(finding.path, consumer, new_consumer,
                              f"or import it from its module: `from {missing.package}.{sub} "
                              f"import {missing.name}`")
    if export is None and alternative is None:
        return None
    return Suggestion(finding, missing.package, missing.name, sub, export, alternative)


def suggest_all(findings, read: Callable[[str], str | None], paths,
                version: tuple[int, int] = (3, 12)) -> list[Suggestion]:
    """Suggestions for every fixable finding, one per (package, name) and consumer line.
    Several findings fixed by the same `__init__.py` edit share it (each file's fixes
    are merged so that applying them all gives one consistent file)."""
    out: list[Suggestion] = []
    seen: set[tuple] = set()
    for f in findings:
        key = (f.path, f.line, f.message)
        if key in seen:
            continue
        seen.add(key)
        s = suggest(f, read, paths, version)
        if s is not None:
            out.append(s)
    return merge_exports(out)


def merge_exports(suggestions: list[Suggestion]) -> list[Suggestion]:
    """Two names missing from the same `__init__.py`: the second export builds on the
    first, so the file's fix (kept on the first suggestion) adds both."""
    merged: dict[str, Fix] = {}
    owner: dict[str, int] = {}
    out = list(suggestions)
    for k, s in enumerate(out):
        if s.export is None:
            continue
        path = s.export.path
        if path not in merged:
            merged[path], owner[path] = s.export, k
            continue
        prev = merged[path]
        if s.name in prev.new_text and _exports(prev.new_text, s.name):
            out[k] = Suggestion(s.finding, s.package, s.name, s.submodule, None, s.alternative)
            continue
        try:
            text = add_export(prev.new_text, s.submodule, s.name)
        except (cst.ParserSyntaxError, ValueError):
            continue
        merged[path] = Fix(path, prev.old_text, text,
                           f"{prev.description}; export `{s.name}` too")
        first = out[owner[path]]
        out[owner[path]] = Suggestion(first.finding, first.package, first.name,
                                      first.submodule, merged[path], first.alternative)
        out[k] = Suggestion(s.finding, s.package, s.name, s.submodule, None, s.alternative)
    return out


def _exports(source: str, name: str) -> bool:
    try:
        return _binds(cst.parse_module(source), name)
    except cst.ParserSyntaxError:
        return False


def file_fixes(suggestions: list[Suggestion]) -> list[Fix]:
    """The `__init__.py` edits to apply (one per file)."""
    return [s.export for s in suggestions if s.export is not None]
