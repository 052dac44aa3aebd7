"""Finding a module on one Lambda function's `sys.path`, as CPython's path finder would.

A `SearchPath` is the list of import roots of one function (its code root, then its
layers' folders). For each top-level name the first root with a regular package or module
wins; folders without `__init__.py` are namespace portions, used only when no root has a
regular match, and merged across roots. Names that no root provides are looked up in the
standard library, the runtime's bundled SDK and the function's requirements.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Container, Iterable
from typing import NamedTuple

from reviewbot.package import SITE_ROOT, Installed
from reviewbot.stdlib import StdlibVersion, stdlib_for
from reviewbot.thirdparty import BUNDLED, STDLIB
from reviewbot.tree import Tree, join

SOURCE = "source"  # a .py module or a package with __init__.py
NAMESPACE = "namespace"  # folders without __init__.py
EXTENSION = "extension"  # a compiled module in the repo (.so/.pyd/.pyc): present, contents unknown
EXTERNAL = "external"  # stdlib, bundled SDK or an installed requirement


class ModuleRef(NamedTuple):
    name: str
    kind: str
    path: str | None  # the file that runs (module file or __init__.py); None for namespaces
    is_package: bool
    search: tuple[str, ...]  # folders searched for submodules
    shadows_stdlib: bool = False
    also_external: bool = False  # a namespace that installed packages may also extend
    stdlib: tuple[int, int] | None = None  # a stdlib module of this version's table


class NotFound(NamedTuple):
    message: str
    external: bool  # a top-level name that nothing provides (a missing third-party package)


_EXT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\.[^/]*)?\.(?:so|pyd)$")


class ExtensionIndex:
    """Compiled modules present in a tree, by (folder, module name)."""

    def __init__(self, tree: Tree):
        self.found: dict[tuple[str, str], str] = {}
        for path in tree.blobs:
            if path.endswith((".so", ".pyd", ".pyc")) and "__pycache__" not in path:
                folder, _, base = path.rpartition("/")
                if base.endswith(".pyc"):
                    name = base[:-4]
                else:
                    m = _EXT.match(base)
                    if not m:
                        continue
                    name = m.group(1)
                self.found.setdefault((folder or ".", name), path)


class SearchPath:
    """Module resolution for one ordered list of import roots."""

    def __init__(self, tree: Tree, roots: tuple[str, ...], third_party: Container[str],
                 extensions: ExtensionIndex, probes: dict | None = None,
                 submodules: dict | None = None, installed: tuple[Installed, ...] = (),
                 stdlib: StdlibVersion | None = None, unread: tuple[str, ...] = ()):
        self.tree = tree
        # requirements whose packages were not read (not resolved): a top-level module
        # nothing provides may be theirs, so its absence is only a warning
        self.unread = unread
        self.stdlib = stdlib  # the function's version's standard library, if known
        self.roots = tuple(r for r in roots if tree.isdir(r))
        # sys.path entries, each a group of folders merged into one directory, the first
        # folder of a group winning on the same file: the code root (/var/task) with the
        # local projects its build installs there, then the layers' site-packages
        # folders, then their python folders, each merged as Lambda extracts every layer
        # into /opt (a later layer overwrites an earlier).
        code, layers = roots[:1], roots[1:]
        site = [r for r in layers if r.endswith("site-packages")]
        python = [r for r in layers if not r.endswith("site-packages")]
        into: dict[str, list[str]] = {}
        # folders that hold installed modules among others: only those names are seen
        self._only: dict[str, frozenset[str]] = {}
        for inst in installed:
            into.setdefault(inst.into, []).append(inst.folder)
            if inst.folder not in roots:
                self._only[inst.folder] = self._only.get(inst.folder, frozenset()) | inst.names

        def group(folders: Iterable[str]) -> tuple[str, ...]:
            out = (f for r in folders for f in (r, *into.get(r, ())))
            return tuple(f for f in dict.fromkeys(out) if tree.isdir(f))

        self.entries = tuple(g for g in (group(code), group(reversed(site)),
                                         group(reversed(python))) if g)
        self.third_party = third_party
        self.extensions = extensions
        # (folder, name) -> what that folder holds, and (folders, name, dotted) -> their
        # merge: shared by search paths over one tree (handlers share their layers' and
        # sites' folders, so each looks a name up there once)
        self._probes: dict = probes if probes is not None else {}
        # (dotted, parent) -> a submodule's resolution, which depends on its parent alone
        # (not on the roots): shared the same way, so each handler does not search again.
        self._submodules: dict = submodules if submodules is not None else {}
        self._cache: dict[str, ModuleRef | NotFound] = {}
        # (top-level name, resolution) pairs recorded elsewhere that this path resolves the
        # same (see replay.reusable)
        self.agreed: set[tuple[str, ModuleRef | NotFound]] = set()

    def _probe(self, folder: str, name: str) -> tuple | str | None:
        """One folder's answer: (kind, path, is_package, search) for a regular module, the
        folder itself for a namespace portion, or None."""
        key = (folder, name)
        if key in self._probes:
            return self._probes[key]
        base = join(folder, name)
        init = base + "/__init__.py"
        blobs = self.tree.blobs
        ext = self.extensions.found.get(key)
        if init in blobs:
            hit = (SOURCE, init, True, (base,))
        elif ext is not None and not ext.endswith(".pyc") and not (
                ext.startswith(SITE_ROOT) and base + ".py" in blobs):
            # (an installed wheel's compiled module beside its own source, as Cython builds
            # pydantic 1, binds what that source binds: it is read)
            hit = (EXTENSION, ext, False, ())
        elif base + ".py" in blobs:
            hit = (SOURCE, base + ".py", False, ())
        elif ext is not None:
            hit = (EXTENSION, ext, False, ())
        elif self.tree.isdir(base):
            hit = base
        else:
            hit = None
        self._probes[key] = hit
        return hit

    def _merged(self, folders: tuple[str, ...], name: str,
                dotted: str) -> ModuleRef | tuple[str, ...] | None:
        """`name` in folders merged into one directory (the first wins on the same file):
        a regular module, the merged folders of a namespace portion, or None.
        As in CPython's finder, a package beats a module of the same name."""
        if self._only and "." not in dotted:
            folders = tuple(f for f in folders if name in self._only.get(f, (name,)))
        key = (folders, name, dotted)
        if key in self._probes:
            return self._probes[key]
        merged = self._probes[key] = self._merge(folders, name, dotted)
        return merged

    def _merge(self, folders: tuple[str, ...], name: str,
               dotted: str) -> ModuleRef | tuple[str, ...] | None:
        hits = [h for h in (self._probe(folder, name) for folder in folders) if h is not None]
        if not hits:
            return None
        dirs = tuple(dict.fromkeys(
            h[3][0] if isinstance(h, tuple) and h[2] else h
            for h in hits if isinstance(h, str) or (isinstance(h, tuple) and h[2])))
        for wanted in ((SOURCE, True), (EXTENSION, False), (SOURCE, False)):
            for h in hits:
                if isinstance(h, tuple) and (h[0], h[2]) == wanted:
                    kind, path, is_package, _search = h
                    return ModuleRef(dotted, kind, path, is_package,
                                     dirs if is_package else ())
        return dirs or None

    def _search(self, entries: tuple[tuple[str, ...], ...], name: str,
                dotted: str) -> ModuleRef | None:
        """The first sys.path entry with a regular module wins; namespace portions of
        every entry merge when none has one."""
        portions: list[str] = []
        for group in entries:
            hit = self._merged(group, name, dotted)
            if isinstance(hit, ModuleRef):
                return hit
            if hit:
                portions.extend(hit)
        if portions:
            return ModuleRef(dotted, NAMESPACE, None, True, tuple(portions))
        return None

    def find(self, dotted: str, parent: ModuleRef | None = None) -> ModuleRef | NotFound:
        cached = self._cache.get(dotted)
        if cached is not None:
            return cached
        if parent is None:
            result = self._find(dotted, parent)
        else:
            key = (dotted, parent)
            result = self._submodules.get(key)
            if result is None:
                result = self._submodules[key] = self._find(dotted, parent)
        self._cache[dotted] = result
        return result

    def _find(self, dotted: str, parent: ModuleRef | None) -> ModuleRef | NotFound:
        head, _, tail = dotted.rpartition(".")
        if not head:
            return self._find_top(dotted)
        assert parent is not None
        if parent.kind == EXTERNAL and parent.stdlib is not None:
            return _stdlib_submodule(dotted, parent)
        if parent.kind == EXTERNAL:
            return ModuleRef(dotted, EXTERNAL, None, True, ())
        if not parent.is_package:
            return NotFound(f"No module named '{dotted}'; '{head}' is not a package", False)
        # A package's folders are one merged directory (layers extracted into /opt).
        hit = self._search((parent.search,), tail, dotted)
        if hit is not None:
            return hit
        if parent.also_external:
            return ModuleRef(dotted, EXTERNAL, None, True, ())
        return NotFound(f"No module named '{dotted}'", False)

    def _find_top(self, name: str) -> ModuleRef | NotFound:
        std = self.stdlib
        builtins = std.builtins if std is not None else sys.builtin_module_names
        in_stdlib = name in (std.top if std is not None else STDLIB)
        version = std.version if std is not None else None
        if name in builtins:
            return ModuleRef(name, EXTERNAL, None, False, (), stdlib=version)
        hit = self._search(self.entries, name, name)
        provided = in_stdlib or name in BUNDLED or name in self.third_party
        if hit is not None:
            if hit.kind == NAMESPACE and provided:
                return hit._replace(also_external=True)
            return hit._replace(shadows_stdlib=in_stdlib)
        # A guessed import name never hides the stdlib: `json` is not fastjsonschema's.
        installed = getattr(self.third_party, "modules", self.third_party)
        if in_stdlib and std is not None and name not in installed:
            module = std.module(name)
            return ModuleRef(name, EXTERNAL, None, module.package if module else True, (),
                             stdlib=version)
        if provided:
            return ModuleRef(name, EXTERNAL, None, True, ())
        return NotFound(f"No module named '{name}'", True)


def _stdlib_submodule(dotted: str, parent: ModuleRef) -> ModuleRef | NotFound:
    """A submodule of a stdlib module, as the version's table has it (`os.path` too)."""
    assert parent.stdlib is not None
    table = stdlib_for(parent.stdlib)
    module = table.module(dotted) if table is not None else None
    if module is not None:
        return ModuleRef(dotted, EXTERNAL, None, module.package, (), stdlib=parent.stdlib)
    probed = table.module(parent.name) if table is not None else None
    if probed is None or probed.names is None or not table.exact:  # nothing sure to say
        return ModuleRef(dotted, EXTERNAL, None, True, (), stdlib=None)
    if not parent.is_package:
        return NotFound(f"No module named '{dotted}'; '{parent.name}' is not a package", False)
    return NotFound(f"No module named '{dotted}'", False)
