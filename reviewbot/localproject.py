"""Which top-level modules a local project installs, read from its build files, never run.

A requirement that names a directory of the repository (`../shared/common`) makes the
build pip-install that project: what lands in the package is what its build backend
packages, not the folder as it is. This reads the build configuration of setuptools
(`pyproject.toml`, `setup.cfg`, or `setup.py` read with `ast`), hatchling, flit, poetry-core,
pdm-backend and uv_build, and falls back to each backend's default layout. A folder with no
build file at all cannot be installed by pip; its layout is guessed, with a note that says so.
"""

from __future__ import annotations

import ast
import configparser
import fnmatch
import posixpath
import re
import tomllib
from dataclasses import dataclass

from reviewbot.tree import Tree, join, normalize

# Top-level names setuptools' automatic discovery leaves out of a flat layout.
_FLAT_EXCLUDED = frozenset({
    "setup", "conftest", "test", "tests", "docs", "doc", "documentation", "example",
    "examples", "scripts", "tools", "benchmarks", "bin", "build", "dist", "venv", "site",
    "manage", "noxfile", "tasks", "fabfile", "changelog", "devtools", "env", "tox",
})


@dataclass(frozen=True)
class Project:
    """What installing one local project puts on the function's path."""

    folder: str
    modules: tuple[tuple[str, str], ...]  # (top-level name, repo folder that holds it)
    dependencies: tuple[str, ...] = ()  # its own requirement strings (PEP 508 or paths)
    note: str = ""  # how the modules were guessed, or why they could not be read
    source: str = ""  # the build file the modules were read from

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.modules)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


class _Reader:
    """One project folder: its files, and what its build configuration says."""

    def __init__(self, tree: Tree, folder: str):
        self.tree = tree
        self.folder = folder
        self.notes: list[str] = []

    def path(self, rel: str) -> str:
        return normalize(join(self.folder, rel))

    def text(self, rel: str) -> str | None:
        path = self.path(rel)
        if path not in self.tree:
            return None
        return self.tree.read(path).decode("utf-8", "replace")

    def top_level(self, where: str, namespaces: bool = False) -> list[tuple[str, bool]]:
        """(name, is_package) of the importable entries directly in a folder."""
        base = self.path(where)
        prefix = "" if base == "." else base + "/"
        out: dict[str, bool] = {}
        for p in self.tree.blobs:
            if not p.startswith(prefix):
                continue
            rest = p[len(prefix):].split("/")
            if len(rest) == 1 and rest[0].endswith(".py"):
                out.setdefault(rest[0][:-3], False)
            elif len(rest) > 1 and (rest[1:] == ["__init__.py"]
                                    or (namespaces and rest[-1].endswith(".py"))):
                out[rest[0]] = True
        return sorted((n, pkg) for n, pkg in out.items() if n.isidentifier())

    def exists(self, where: str, name: str) -> bool:
        base = self.path(join(where, name))
        return base + ".py" in self.tree or self.tree.isdir(base)


def _setup_py(source: str) -> dict | None:
    """The keywords of the `setup(...)` call whose values are literals, or names bound to
    literals at the module's top level (`PACKAGE = "x"`, `packages=[PACKAGE]`); None when
    there is no call. Other values are left out, with their key in `"?"`."""
    try:
        module = ast.parse(source)
    except SyntaxError:
        return None
    env: dict[str, object] = {}
    for stmt in module.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], ast.Name):
            value = _literal(stmt.value, env)
            if value is None:
                env.pop(stmt.targets[0].id, None)
            else:
                env[stmt.targets[0].id] = value
    for node in ast.walk(module):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) \
                == "setup":
            out: dict = {"?": []}
            for kw in node.keywords:
                if kw.arg is None:
                    continue
                value = _literal(kw.value, env)
                if value is None:
                    out["?"].append(kw.arg)
                else:
                    out[kw.arg] = value
            return out
    return None


def _literal(node: ast.expr, env: dict[str, object]) -> object:
    """A literal (through names in `env`), or the find_packages()/find_namespace_packages()
    call as a dict; None when it is computed."""
    if isinstance(node, ast.Call):
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if name in ("find_packages", "find_namespace_packages"):
            args = {kw.arg: _literal(kw.value, env) for kw in node.keywords if kw.arg}
            if node.args:
                args.setdefault("where", _literal(node.args[0], env))
            return {"find": args, "namespaces": name == "find_namespace_packages"}
        return None
    if isinstance(node, ast.Name):
        return env.get(node.id)
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        items = [_literal(e, env) for e in node.elts]
        return None if any(i is None for i in items) else items
    if isinstance(node, ast.Dict):
        keys = [_literal(k, env) if k is not None else None for k in node.keys]
        values = [_literal(v, env) for v in node.values]
        if any(x is None for x in (*keys, *values)):
            return None
        return dict(zip(keys, values, strict=True))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal(node.left, env), _literal(node.right, env)
        if type(left) is type(right) and isinstance(left, list | str):
            return left + right
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return None


def _cfg_list(value: str) -> list[str]:
    return [v.strip() for v in re.split(r"[\n,]", value) if v.strip()]


def _setuptools(r: _Reader, pyproject: dict) -> tuple[dict, str]:
    """setuptools' options from pyproject.toml, setup.cfg or setup.py: packages,
    package_dir, py_modules, install_requires (the first file that sets any wins)."""
    tool = pyproject.get("tool", {}).get("setuptools", {})
    if any(k in tool for k in ("packages", "package-dir", "py-modules")):
        packages = tool.get("packages")
        if isinstance(packages, dict) and "find" in packages:
            packages = {"find": packages["find"], "namespaces": packages["find"].get("namespaces", True)}
        return {"packages": packages, "package_dir": tool.get("package-dir"),
                "py_modules": tool.get("py-modules")}, "pyproject.toml"
    cfg_text = r.text("setup.cfg")
    if cfg_text is not None:
        cfg = configparser.ConfigParser(interpolation=None)
        try:
            cfg.read_string(cfg_text)
        except configparser.Error as exc:
            r.notes.append(f"setup.cfg cannot be read: {exc.message.splitlines()[0]}")
            cfg = configparser.ConfigParser()
        if cfg.has_section("options"):
            opts = cfg["options"]
            out: dict = {"install_requires": _cfg_list(opts.get("install_requires", ""))}
            packages = opts.get("packages", "").strip()
            if packages in ("find:", "find_namespace:"):
                find = dict(cfg["options.packages.find"]) if cfg.has_section(
                    "options.packages.find") else {}
                out["packages"] = {"find": {k: _cfg_list(v) if k != "where" else v.strip()
                                            for k, v in find.items()},
                                   "namespaces": packages == "find_namespace:"}
            elif packages:
                out["packages"] = _cfg_list(packages)
            if "package_dir" in opts:
                pairs = [p.split("=", 1) for p in _cfg_list(opts["package_dir"]) if "=" in p]
                out["package_dir"] = {k.strip(): v.strip() for k, v in pairs}
            if "py_modules" in opts:
                out["py_modules"] = _cfg_list(opts["py_modules"])
            if any(out.get(k) for k in ("packages", "package_dir", "py_modules")):
                return out, "setup.cfg"
    setup_text = r.text("setup.py")
    if setup_text is not None:
        found = _setup_py(setup_text)
        if found is None:
            r.notes.append("setup.py has no setup() call that can be read without running it")
            return {}, "setup.py"
        unread = [k for k in found["?"] if k in ("packages", "package_dir", "py_modules")]
        if unread:
            r.notes.append(f"setup.py computes {', '.join(unread)}: the layout was guessed")
        return found, "setup.py"
    return {}, ""


def _setuptools_modules(r: _Reader, opts: dict) -> list[tuple[str, str]]:
    package_dir = opts.get("package_dir") or {}
    base = package_dir.get("", ".") if isinstance(package_dir, dict) else "."
    packages = opts.get("packages")
    py_modules = opts.get("py_modules") or []
    out: list[tuple[str, str]] = []
    if isinstance(packages, dict):
        find = packages.get("find") or {}
        where = find.get("where") or base
        if isinstance(where, list):
            where = where[0] if where else "."
        include = find.get("include") or ["*"]
        exclude = find.get("exclude") or []
        include = [include] if isinstance(include, str) else include
        exclude = [exclude] if isinstance(exclude, str) else exclude
        for name, _pkg in r.top_level(where, namespaces=bool(packages.get("namespaces"))):
            if not _pkg:
                continue
            if any(fnmatch.fnmatchcase(name, p) for p in include) and not any(
                    fnmatch.fnmatchcase(name, p) for p in exclude):
                out.append((name, r.path(where)))
    elif isinstance(packages, list):
        for dotted in packages:
            top = str(dotted).split(".")[0]
            folder = package_dir.get(top) if isinstance(package_dir, dict) else None
            if folder is not None:
                out.append((top, r.path(folder.rpartition("/")[0] or ".")))
            else:
                out.append((top, r.path(base)))
    for module in py_modules:
        out.append((str(module).split(".")[0], r.path(base)))
    if packages is None and not py_modules:
        out = _auto_discovery(r)
    return list(dict.fromkeys(out))


def _auto_discovery(r: _Reader) -> list[tuple[str, str]]:
    """setuptools' automatic discovery: the src layout if there is `src/`, else the flat
    layout without the names it reserves for tests, docs and tools."""
    if r.tree.isdir(r.path("src")):
        return [(n, r.path("src")) for n, _ in r.top_level("src")]
    return [(n, r.path(".")) for n, _ in r.top_level(".")
            if n not in _FLAT_EXCLUDED and not n.startswith((".", "_", "test"))]


def _named(r: _Reader, name: str, roots: tuple[str, ...] = ("src", ".")) -> list[tuple[str, str]]:
    """The module or package `name` in the first of `roots` that has it."""
    for root in roots:
        if r.exists(root, name):
            return [(name, r.path(root))]
    r.notes.append(f"no module or package '{name}' where its build backend looks for it")
    return []


def _backend_modules(r: _Reader, backend: str, pyproject: dict) -> list[tuple[str, str]] | None:
    """The modules of the non-setuptools backends, or None for setuptools."""
    tool = pyproject.get("tool", {})
    project = pyproject.get("project", {})
    name = _norm(project.get("name") or tool.get("poetry", {}).get("name") or "")
    if backend.startswith("hatchling"):
        wheel = tool.get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {})
        paths = wheel.get("packages") or wheel.get("only-include")
        if paths:
            return [(p.rstrip("/").rpartition("/")[2].removesuffix(".py"),
                     r.path(p.rstrip("/").rpartition("/")[0] or ".")) for p in paths]
        return _named(r, name)
    if backend.startswith("flit_core"):
        module = tool.get("flit", {}).get("module", {}).get("name") or name
        return _named(r, module)
    if backend.startswith("poetry"):
        packages = tool.get("poetry", {}).get("packages")
        if packages:
            return [(str(p.get("include", "")).rstrip("/").split("/")[0].removesuffix(".py"),
                     r.path(p.get("from", "."))) for p in packages if isinstance(p, dict)]
        return _named(r, name, (".", "src"))
    if backend.startswith("pdm"):
        build = tool.get("pdm", {}).get("build", {})
        root = build.get("package-dir") or ("src" if r.tree.isdir(r.path("src")) else ".")
        includes = build.get("includes")
        if includes:
            return [(i.rstrip("/").split("/")[-1].removesuffix(".py"), r.path(root))
                    for i in includes]
        return [(n, r.path(root)) for n, pkg in r.top_level(root) if pkg]
    if backend.startswith("uv_build"):
        conf = tool.get("uv", {}).get("build-backend", {})
        modules = conf.get("module-name") or name
        root = conf.get("module-root", "src")
        modules = [modules] if isinstance(modules, str) else modules
        return [hit for m in modules for hit in _named(r, m.split(".")[0], (root,))]
    return None


def _dependencies(pyproject: dict, opts: dict, folder: str,
                  tree: Tree | None = None) -> tuple[str, ...]:
    """Its requirement strings: PEP 621, Poetry (with `path =`), uv sources (paths, and
    workspace members when `tree` is given), setuptools."""
    deps = [str(d) for d in pyproject.get("project", {}).get("dependencies", [])]
    tool = pyproject.get("tool", {})
    sources = tool.get("uv", {}).get("sources", {})
    members: dict[str, str] | None = None
    for i, dep in enumerate(deps):
        key = _norm(re.split(r"[\s\[<>=!~;@]", dep, maxsplit=1)[0])
        source = next((v for k, v in sources.items() if _norm(k) == key), None)
        if not isinstance(source, dict):
            continue
        # uv installs workspace members editable unless told otherwise, paths not
        path, editable = source.get("path"), source.get("editable") is True
        if source.get("workspace") is True and tree is not None:
            members = _workspace_members(tree, folder) if members is None else members
            path, editable = members.get(key), source.get("editable") is not False
        if isinstance(path, str):
            deps[i] = f"-e {path}" if editable else f"{dep.split(';')[0].strip()} @ file:{path}"
    for dist, spec in tool.get("poetry", {}).get("dependencies", {}).items():
        if dist == "python":
            continue
        if isinstance(spec, dict) and "path" in spec:
            deps.append(f"{dist} @ file:{spec['path']}")
        else:
            deps.append(dist)
    deps.extend(str(d) for d in opts.get("install_requires") or [])
    return tuple(deps)


def _workspace_members(tree: Tree, folder: str) -> dict[str, str]:
    """The projects of the uv workspace `folder` belongs to, by normalised name, as paths
    relative to `folder`: the nearest `[tool.uv.workspace]` at or above it."""
    here = folder
    while True:
        text = _Reader(tree, here).text("pyproject.toml")
        workspace = None
        if text is not None:
            try:
                workspace = tomllib.loads(text).get("tool", {}).get("uv", {}).get("workspace")
            except tomllib.TOMLDecodeError:
                workspace = None
        if isinstance(workspace, dict):
            return _members(tree, here, workspace, folder)
        if here == ".":
            return {}
        here = posixpath.dirname(here) or "."


def _members(tree: Tree, root: str, workspace: dict, folder: str) -> dict[str, str]:
    prefix = "" if root == "." else root + "/"
    include = [str(m) for m in workspace.get("members", [])]
    exclude = [str(m) for m in workspace.get("exclude", [])]
    out: dict[str, str] = {}
    for d in sorted(tree.dirs | {root}):
        rel = "." if d == root else d[len(prefix):] if d.startswith(prefix) else None
        if rel is None or not (d == root or any(fnmatch.fnmatchcase(rel, m) for m in include)) \
                or any(fnmatch.fnmatchcase(rel, m) for m in exclude):
            continue
        text = _Reader(tree, d).text("pyproject.toml")
        try:
            name = tomllib.loads(text).get("project", {}).get("name") if text else None
        except tomllib.TOMLDecodeError:
            name = None
        if isinstance(name, str):
            out.setdefault(_norm(name), posixpath.relpath(d, folder))
    return out


def uv_dependencies(tree: Tree, folder: str) -> tuple[str, tuple[str, ...]] | None:
    """What `uv export --no-emit-project` writes for the project in `folder`: its PEP 621
    dependencies, with `[tool.uv.sources]` paths and workspace members as local projects;
    None without a `[project]` table."""
    r = _Reader(tree, folder)
    pyproject = _toml(r, "pyproject.toml")
    if pyproject is None or "project" not in pyproject:
        return None
    return r.path("pyproject.toml"), _dependencies(pyproject, {}, folder, tree)


def top_level_names(tree: Tree, folder: str) -> frozenset[str]:
    """The importable names directly in a folder: its modules and (namespace) packages."""
    return frozenset(name for name, _ in _Reader(tree, folder).top_level(".", namespaces=True))


def _toml(r: _Reader, name: str) -> dict | None:
    """A TOML file of the project, or None when it is missing or unreadable."""
    text = r.text(name)
    try:
        return tomllib.loads(text) if text is not None else None
    except tomllib.TOMLDecodeError:
        return None


def poetry_dependencies(tree: Tree, folder: str) -> tuple[str, tuple[str, ...]] | None:
    """The main dependencies `poetry export` writes for the project in `folder` (its
    pyproject.toml and them), or None when that is not a Poetry project."""
    r = _Reader(tree, folder)
    pyproject = _toml(r, "pyproject.toml")
    if pyproject is None:
        return None
    requires = pyproject.get("build-system", {}).get("requires", [])
    if not any(str(req).startswith("poetry") for req in requires):
        return None
    return r.path("pyproject.toml"), _dependencies(pyproject, {}, folder)


def pipfile_dependencies(tree: Tree, folder: str) -> tuple[str, tuple[str, ...]] | None:
    """The `[packages]` of the Pipfile in `folder` as `pipenv requirements` writes them
    (path entries as `name @ file:<path>`, `-e` kept), or None without a Pipfile."""
    r = _Reader(tree, folder)
    pipfile = _toml(r, "Pipfile")
    if pipfile is None:
        return None
    deps = []
    packages = pipfile.get("packages", {})
    for dist, spec in (packages.items() if isinstance(packages, dict) else ()):
        if isinstance(spec, dict) and isinstance(spec.get("path"), str):
            editable = spec.get("editable") is True
            deps.append(f"-e {spec['path']}" if editable else f"{dist} @ file:{spec['path']}")
        else:
            deps.append(str(dist))
    return r.path("Pipfile"), tuple(deps)


def read_project(tree: Tree, folder: str) -> Project:
    """What `pip install <folder>` installs, read from its build files."""
    r = _Reader(tree, folder)
    pyproject: dict = {}
    text = r.text("pyproject.toml")
    if text is not None:
        try:
            pyproject = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            r.notes.append(f"pyproject.toml cannot be read: {exc}")
    backend = str(pyproject.get("build-system", {}).get("build-backend", ""))
    has_build_file = text is not None or r.text("setup.py") is not None
    modules = _backend_modules(r, backend, pyproject)
    opts: dict = {}
    source = "pyproject.toml" if modules is not None else ""
    if modules is None:
        opts, source = _setuptools(r, pyproject)
        if not has_build_file and not source:
            return _guessed(r)
        modules = _setuptools_modules(r, opts)
        source = source or "pyproject.toml"
    if not modules and not r.notes:
        r.notes.append("its build configuration installs no module")
    return Project(folder, tuple(modules), _dependencies(pyproject, opts, folder, tree),
                   "; ".join(r.notes), r.path(source))


def _guessed(r: _Reader) -> Project:
    """A folder pip cannot build (no pyproject.toml, setup.cfg or setup.py): the package
    it is, or the modules it holds, so that its code is still checked."""
    folder = r.folder
    if r.path("__init__.py") in r.tree:
        parent, _, name = folder.rpartition("/")
        modules = [(name, parent or ".")]
    else:
        modules = _auto_discovery(r)
    note = ("no pyproject.toml, setup.cfg or setup.py, which pip needs to install it: "
            "its modules were guessed from the folder layout")
    return Project(folder, tuple(modules), (), note, folder)
