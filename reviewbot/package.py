"""What a function's build installs beside its code: distributions and local projects.

Every builder (SAM, the Serverless python-requirements plugin, terraform-aws-modules/lambda,
CDK's PythonFunction) pip-installs the `requirements.txt` of the code root into the root of
the package, `/var/task`, or of a layer's `python/` folder. A line that names a directory of
the repository installs that project's modules there, and its own dependencies with them;
the function's own files win over installed ones of the same name (SAM copies the source
last). docs/discovery.md says which file each builder reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from reviewbot.localproject import (
    Project,
    pipfile_dependencies,
    poetry_dependencies,
    read_project,
    top_level_names,
    uv_dependencies,
)
from reviewbot.lockfiles import lock_pins
from reviewbot.model import Handler
from reviewbot.requirements import RequirementLine, parse_requirements_file
from reviewbot.thirdparty import ThirdParty, of_distributions
from reviewbot.tree import Tree, join, normalize


@dataclass(frozen=True)
class Installed:
    """A local project's modules in one folder of the repository, installed into `into`
    (an import root of the function)."""

    into: str
    folder: str
    names: frozenset[str]
    project: str  # the project's folder


@dataclass(frozen=True)
class PackageNote:
    """Something about the package the reader could not settle: a warning at a line."""

    path: str
    line: int
    message: str


@dataclass(frozen=True)
class Requirements:
    """The distributions a build pip-installs into one import root, as a resolver reads
    them: requirement strings and the `-c` constraints that pin them."""

    into: str
    specs: tuple[str, ...]
    constraints: tuple[str, ...] = ()
    unresolvable: tuple[str, ...] = ()  # URL requirements: never sent to a resolver


MAX_REQUIREMENTS = 1024 * 1024  # bytes of one requirements file

# Where the check's tree holds the wheels of each resolution (see reviewbot.dependencies).
SITE_ROOT = ".reviewbot-site"


def target_label(python: tuple[int, int], arch: str) -> str:
    """`python3.12 / aarch64`: the runtime and machine a package is built for."""
    machine = "aarch64" if arch == "arm64" else "x86_64"
    return f"python{python[0]}.{python[1]} / {machine}"


@dataclass(frozen=True)
class SiteKey:
    """What decides the wheels a build installs into one import root."""

    specs: tuple[str, ...]
    constraints: tuple[str, ...]
    python: tuple[int, int]
    arch: str = "x86_64"


@dataclass(frozen=True)
class Site:
    """The wheels resolved for a SiteKey, their files placed in the tree at `folder`."""

    folder: str
    names: frozenset[str]  # the top-level import names the wheels install
    no_wheel: tuple[str, ...] = ()  # distributions with no wheel: present, names guessed
    unsatisfiable: str = ""  # why the requirements cannot be installed (then nothing is)


@dataclass(frozen=True)
class DeploymentPackage:
    """The installed contents of one function's import roots."""

    third_party: ThirdParty
    installed: tuple[Installed, ...] = ()
    notes: tuple[PackageNote, ...] = ()
    files: tuple[str, ...] = ()  # build files read: they change the package
    requirements: tuple[Requirements, ...] = ()
    unreadable: tuple[str, ...] = ()  # requirements files not read (too big)

    @property
    def folders(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i.folder for i in self.installed))


def _project_folder(tree: Tree, req: RequirementLine, anchors: tuple[str, ...]) -> str | None:
    """The directory a local requirement names: relative to the requirements file, as pip
    resolves `-r` and as most people write it, else to the folders the build may run in."""
    assert req.local is not None
    for anchor in anchors:
        folder = normalize(join(anchor, req.local))
        if folder != ".." and not folder.startswith("../") and tree.isdir(folder):
            return folder
    return None


class _Collector:
    def __init__(self, tree: Tree, projects: dict[str, Project]):
        self.tree = tree
        self.projects = projects  # by folder, shared over the functions of one tree
        self.dists: dict[str, None] = {}  # distributions installed by name
        self.installed: list[Installed] = []
        self.notes: list[PackageNote] = []
        self.files: list[str] = []
        self.seen: set[str] = set()
        self.specs: dict[str, dict[str, None]] = {}  # into -> requirement strings
        self.constraints: dict[str, dict[str, None]] = {}
        self.unresolvable: dict[str, dict[str, None]] = {}
        self.unreadable: list[str] = []  # requirements files too big to read

    def spec(self, req: RequirementLine, into: str) -> None:
        if req.spec:
            self.specs.setdefault(into, {})[req.spec] = None
        elif req.dist:
            self.unresolvable.setdefault(into, {})[req.dist] = None

    def constraint_file(self, path: str, into: str) -> None:
        """`-c`: only its distribution pins count (its paths install nothing)."""
        if path not in self.tree:
            return
        self.files.append(path)
        parsed = parse_requirements_file(path, self.tree.read(path).decode("utf-8", "replace"))
        for req in parsed.requirements:
            if req.spec:
                self.constraints.setdefault(into, {})[req.spec] = None

    def requirements(self) -> tuple[Requirements, ...]:
        return tuple(Requirements(into, tuple(specs), tuple(self.constraints.get(into, ())),
                                  tuple(self.unresolvable.get(into, ())))
                     for into, specs in self.specs.items())

    def dist(self, name: str) -> None:
        self.dists[name] = None

    def requirements_file(self, path: str, into: str) -> None:
        if path in self.seen or path not in self.tree:
            return
        self.seen.add(path)
        self.files.append(path)
        data = self.tree.read(path)
        if len(data) > MAX_REQUIREMENTS:
            self.notes.append(PackageNote(path, 1, (
                f"{len(data)} bytes, over the {MAX_REQUIREMENTS}-byte limit for a "
                f"requirements file: not read, so what it installs is unknown")))
            self.unreadable.append(path)
            return
        parsed = parse_requirements_file(path, data.decode("utf-8", "replace"))
        folder = path.rpartition("/")[0] or "."
        for inc in parsed.includes:
            self.requirements_file(normalize(join(folder, inc)), into)
        for con in parsed.constraints:
            self.constraint_file(normalize(join(folder, con)), into)
        for req in parsed.requirements:
            if req.local is None:
                if req.dist:
                    self.dist(req.dist)
                    self.spec(req, into)
                continue
            target = _project_folder(self.tree, req, (folder, into, "."))
            if target is None:
                self.notes.append(PackageNote(path, req.line, (
                    f"'{req.local}' is not a folder of the repository: what it installs "
                    f"is unknown")))
                if req.dist:
                    self.dist(req.dist)
                continue
            if req.editable:
                self.editable(req, path, req.line)
                continue
            self.project(target, into, path, req.line)

    def editable(self, req: RequirementLine, path: str, line: int) -> None:
        """`-e` installs a finder that points at the build machine's folder (a `.pth` file
        and a hook in the package root, which Lambda never runs): the code does not ship."""
        self.notes.append(PackageNote(path, line, (
            f"'-e {req.local}' installs a link to the build machine's folder, not the code: "
            f"on Lambda its modules are missing; drop '-e'")))

    def project(self, folder: str, into: str, path: str, line: int) -> None:
        """Install the project in `folder`, named at `path:line`, and what it depends on."""
        key = f"{into}\0{folder}"
        if key in self.seen:
            return
        self.seen.add(key)
        project = self.projects.get(folder)
        if project is None:
            project = self.projects[folder] = read_project(self.tree, folder)
        if project.source:
            self.files.append(project.source)
        if project.note:
            self.notes.append(PackageNote(path, line,
                                          f"local package {folder}: {project.note}"))
        by_folder: dict[str, set[str]] = {}
        for name, holder in project.modules:
            by_folder.setdefault(holder, set()).add(name)
        for holder, names in by_folder.items():
            self.installed.append(Installed(into, holder, frozenset(names), folder))
        self.dependencies(project.dependencies, folder, into, path, line)

    def dependencies(self, specs: Iterable[str], folder: str, into: str, path: str,
                     line: int) -> None:
        """Install requirement strings of the project in `folder`: distributions, and local
        projects relative to it."""
        for spec in specs:
            for req in parse_requirements_file(path, spec).requirements:
                if req.local is not None and req.editable:
                    self.editable(req, path, line)
                    continue
                if req.local is not None:
                    target = _project_folder(self.tree, req, (folder,))
                    if target is not None:
                        self.project(target, into, path, line)
                        continue
                if req.dist:
                    self.dist(req.dist)
                    self.spec(req, into)

    def vendor(self, folder: str, into: str) -> None:
        """A folder whose contents the build copies into `into` as they are."""
        names = top_level_names(self.tree, folder)
        if names:
            self.installed.append(Installed(into, folder, names, folder))


_EXPORTERS = {"poetry": poetry_dependencies, "pipenv": pipfile_dependencies,
              "uv": uv_dependencies}
# SAM's python-uv workflow reads the first of these, and exports pyproject.toml only without.
UV_REQUIREMENTS = ("requirements.txt", "requirements-dev.txt", "requirements-test.txt",
                   "requirements-prod.txt")


def _code_requirements(tree: Tree, code: str, exports: tuple[str, ...]) -> str | None:
    """The requirements file the build reads for the code root."""
    if "uv" not in exports:
        return join(code, "requirements.txt")
    return next((join(code, n) for n in UV_REQUIREMENTS if join(code, n) in tree), None)


def _exported(tree: Tree, folder: str, exports: tuple[str, ...]
              ) -> tuple[str, tuple[str, ...], str] | None:
    """The manifest and requirement strings the first applicable exporter writes, and
    which exporter that is."""
    for name in exports:
        found = _EXPORTERS[name](tree, folder)
        if found is not None:
            return (*found, name)
    return None


def deployment_package(tree: Tree, roots: tuple[str, ...],
                       projects: dict[str, Project] | None = None, *,
                       vendor: tuple[str, ...] = (),
                       exports: tuple[str, ...] = (),
                       installs: bool = True) -> DeploymentPackage:
    """What the builds install into these import roots: their requirements.txt, and for
    the code root (the first) the `vendor` folders, and in place of its requirements.txt
    the first of the `exports` manifests it has (Poetry's pyproject.toml, a Pipfile, or
    with "uv", SAM's python-uv, the pyproject.toml when no requirements file is there).
    Without `installs` the build installs nothing into the code root (CDK's Function zips
    its folder as it is)."""
    collector = _Collector(tree, projects if projects is not None else {})
    code = roots[0] if roots else "."
    manifest = _code_requirements(tree, code, exports) if installs else None
    exported = None if ("uv" in exports and manifest) or not installs \
        else _exported(tree, code, exports)
    for root in roots:
        path = manifest if root == code else join(root, "requirements.txt")
        if path is not None and (root != code or exported is None):
            collector.requirements_file(path, root)
    for folder in vendor:
        collector.vendor(folder, code)
    if exported is not None:
        manifest, specs, exporter = exported
        pinned = lock_pins(tree, code, exporter)
        if pinned is not None:  # the export writes the lock's versions
            collector.files.append(pinned[0])
            for pin in pinned[1]:
                collector.constraints.setdefault(code, {})[pin] = None
        collector.files.append(manifest)
        collector.dependencies(specs, code, code, manifest, 0)
    return DeploymentPackage(
        of_distributions(collector.dists),
        tuple(collector.installed), tuple(collector.notes), tuple(dict.fromkeys(collector.files)),
        collector.requirements(), tuple(collector.unreadable))


@dataclass
class Packages:
    """Each handler's deployment package over one tree, computed once per (roots, vendor,
    exports): the installer reads them to resolve, the analysis to check. Only files in
    the roots decide a package, so the tree with the wheels overlaid under SITE_ROOT has
    the same ones."""

    tree: Tree
    _by_key: dict[tuple, DeploymentPackage] = field(default_factory=dict)
    _projects: dict[str, Project] = field(default_factory=dict)  # local projects read

    def of(self, handler: Handler) -> DeploymentPackage:
        key = (handler.roots, handler.vendor, handler.exports, handler.installs)
        pkg = self._by_key.get(key)
        if pkg is None:
            pkg = self._by_key[key] = deployment_package(
                self.tree, handler.roots, self._projects, vendor=handler.vendor,
                exports=handler.exports, installs=handler.installs)
        return pkg
