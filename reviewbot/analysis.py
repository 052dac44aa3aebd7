"""Import checks over one tree, sharing module resolution, summaries and recorded outcomes.

Not pure: a large cold batch is checked over the cores in forked copies of this process
(`forkshare`), and new outcomes and summaries are written to the SQLite cache through
`SummaryCache`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reviewbot.cache import SummaryCache
from reviewbot.checkresult import HandlerResult
from reviewbot.fileset import PathIndex
from reviewbot.forkshare import fork_share
from reviewbot.importcheck import check_handler, gc_paused
from reviewbot.memory import MemoryBudget
from reviewbot.model import Finding, Handler
from reviewbot.outcomes import (
    Closure,
    Outcome,
    outcome_key,
    root_signature,
    valid_closure,
)
from reviewbot.package import (
    DeploymentPackage,
    Installed,
    PackageNote,
    Packages,
    Requirements,
    Site,
    SiteKey,
    target_label,
)
from reviewbot.replay import TraceStore
from reviewbot.resolve import ExtensionIndex, SearchPath
from reviewbot.stdlib import stdlib_for
from reviewbot.summary import ModuleSummary
from reviewbot.thirdparty import of_distributions
from reviewbot.tree import Tree, join

SPLIT_WITH_CHANGES = 256  # cold checks of a PR split over the cores from this many


@dataclass
class Analysis:
    """Import checks over one tree, sharing module resolution and summaries.

    `closures()` takes a handler's outcome from the result cache when a recorded one
    still holds (see `reviewbot.outcomes`): a pull request that edits one module
    re-checks only the handlers that load it.
    """

    tree: Tree
    cache: SummaryCache
    third_party: tuple[str, ...] = ()
    # the wheels each resolution installs, placed in `tree` (see reviewbot.dependencies);
    # a function with requirements but no site here keeps the names-only rules
    sites: Mapping[SiteKey, Site] = field(default_factory=dict)
    packages: Packages | None = None  # shared with the installer, which read them first
    memory: MemoryBudget = field(default_factory=MemoryBudget)  # asked before each check
    _search: dict[tuple, SearchPath] = field(default_factory=dict)
    _results: dict[Handler, HandlerResult] = field(default_factory=dict)
    _closures: dict[Handler, Closure] = field(default_factory=dict)
    _traces: dict = field(default_factory=dict)
    _extensions: ExtensionIndex | None = None
    _sorted_paths: list[str] | None = None
    _root_sigs: dict[str, str] = field(default_factory=dict)
    _prefetched: set = field(default_factory=set)  # (version, root) already summarised
    _probes: dict = field(default_factory=dict)
    _submodules: dict = field(default_factory=dict)
    _keys: dict[Handler, str] = field(default_factory=dict)
    _path_indexes_by_root: dict[str, PathIndex] = field(default_factory=dict)

    def package(self, handler: Handler) -> DeploymentPackage:
        """What the build installs into the handler's import roots."""
        if self.packages is None:
            self.packages = Packages(self.tree)
        return self.packages.of(handler)

    def placed(self, handler: Handler) -> tuple[tuple[Requirements, Site], ...] | None:
        """The sites installed into the handler's roots, or None when a root's
        requirements have none (not resolved): then names are only counted present."""
        requirements = self.package(handler).requirements
        if not requirements:
            return None
        out = []
        for req in requirements:
            site = self.sites.get(SiteKey(req.specs, req.constraints, handler.python_version,
                                          handler.arch))
            if site is None or site.unsatisfiable:
                return None
            out.append((req, site))
        return tuple(out)

    def unsatisfiable(self, handler: Handler) -> list[str]:
        """Why the handler's requirements cannot be installed, where the resolver said so."""
        sites = (self.sites.get(SiteKey(req.specs, req.constraints, handler.python_version,
                                        handler.arch))
                 for req in self.package(handler).requirements)
        return [site.unsatisfiable for site in sites if site is not None and site.unsatisfiable]

    def import_roots(self, handler: Handler) -> tuple[str, ...]:
        """The folders whose files the handler may load: its roots and installed folders."""
        return tuple(dict.fromkeys((*handler.roots, *self.package(handler).folders)))

    def prefetch(self, handlers: Iterable[Handler]) -> None:
        """Summarise every Python file under the handlers' roots, in one batch per call;
        each root once."""
        by_version: dict[tuple[int, int], set[str]] = {}
        for h in handlers:
            version = h.python_version
            fresh = {r for r in self.import_roots(h) if (version, r) not in self._prefetched}
            if fresh:
                by_version.setdefault(version, set()).update(fresh)
                self._prefetched.update((version, r) for r in fresh)
        for version, roots in by_version.items():
            paths = [p for root in sorted(roots) for p in self._under(root) if p.endswith(".py")]
            self.cache.prefetch(self.tree, dict.fromkeys(paths), version)

    def _under(self, root: str) -> list[str]:
        """Every path below an import root (all of them for the repository root)."""
        if self._sorted_paths is None:
            self._sorted_paths = sorted(self.tree.blobs)
        paths = self._sorted_paths
        if root in ("", "."):
            return paths
        lo = bisect.bisect_left(paths, root + "/")
        hi = bisect.bisect_left(paths, root + "0")  # "0" sorts right after "/"
        return paths[lo:hi]

    def search(self, handler: Handler) -> SearchPath:
        key = (handler.roots, handler.layer_modules, handler.vendor, handler.exports,
               handler.installs, handler.python_version)
        sp = self._search.get(key)
        if sp is None:
            if self._extensions is None:
                self._extensions = ExtensionIndex(self.tree)
            pkg = self.package(handler)
            third, installed = pkg.third_party, pkg.installed
            placed = self.placed(handler)
            unread = pkg.unreadable + (() if placed is not None else tuple(
                spec for req in pkg.requirements for spec in req.specs))
            if placed is not None:  # the wheels' own files, and names only where none
                third = of_distributions(d for req, site in placed
                                         for d in (*site.no_wheel, *req.unresolvable))
                installed += tuple(Installed(req.into, site.folder, site.names, site.folder)
                                   for req, site in placed)
            third = third | frozenset(self.third_party) | frozenset(handler.layer_modules)
            sp = SearchPath(self.tree, handler.roots, third, self._extensions, self._probes,
                            self._submodules, installed, stdlib_for(handler.python_version),
                            unread)
            self._search[key] = sp
        return sp

    def check(self, handler: Handler) -> HandlerResult:
        """The full check of one handler, import graph included."""
        return self.checks([handler])[handler]

    def checks(self, handlers: Iterable[Handler]) -> dict[Handler, HandlerResult]:
        """Full checks of many handlers; their new outcomes are written in one
        transaction."""
        out = {}
        with gc_paused():
            for h in handlers:
                result = self._results.get(h)
                if result is None:
                    self.memory.check(f"checking {h.name}")
                    result = self._results[h] = self._check(h)
                    self._store(h, Outcome.of(result, self.tree.blobs, keep=True,
                                              roots=self._path_indexes(h)))
                out[h] = result
        self.cache.flush()
        return out

    def _check(self, handler: Handler) -> HandlerResult:
        self.prefetch([handler])
        traces = self._traces.get(handler.python_version)
        if traces is None:
            traces = self._traces[handler.python_version] = TraceStore()
        result = check_handler(handler, self.search(handler), self.cache.provider(self.tree),
                               traces)
        result.warnings.extend(Finding(handler.name, note.path, note.line, "unknown", note.message)
                               for note in (*self.package(handler).notes,
                                            *self._site_notes(handler)))
        return result

    def _site_notes(self, handler: Handler) -> list[PackageNote]:
        placed = self.placed(handler) or ()
        pkg = self.package(handler)
        source = pkg.files[0] if pkg.files else handler.source
        label = target_label(handler.python_version, handler.arch)
        notes = [PackageNote(source, 1, f"no wheel of {dist} for {label}: the build must "
                                        f"compile it, and its names are not checked")
                 for _, site in placed for dist in site.no_wheel]
        notes += [PackageNote(source, 1, f"{dist} is a URL requirement: reviewbot reads "
                                         f"packages only from the configured index, so its "
                                         f"names are not checked")
                  for req, _ in placed for dist in req.unresolvable]
        notes += [PackageNote(source, 1, f"the requirements cannot be installed for {label}, "
                                         f"so the build fails: {why}")
                  for why in self.unsatisfiable(handler)]
        return notes

    def closures(self, handlers: list[Handler],
                 changed: frozenset[str] | set[str] = frozenset(),
                 peer: Analysis | None = None) -> dict[Handler, Closure]:
        """Closures and findings of many handlers, from the result cache where it is valid.
        Full results (import graphs) are kept only for handlers that load a `changed` file:
        the others' are not needed again.

        `peer` is an analysis of another tree (a pull request's head, for its base): a
        closure it holds for the same handler, under the same key, holds here too when
        none of its files differs between the trees, with no cache read or hashing."""
        self._prefetch_manifests(h for h in handlers if h not in self._closures)
        keys = {h: self._key(h) for h in handlers if h not in self._closures}
        if peer is not None:
            keys = self._take_from_peer(keys, peer)
        self._take_recorded(keys)
        # Summarise what the misses need in one batch (parsed in parallel when cold).
        misses = list(dict.fromkeys(h for h in handlers if h not in self._closures))
        self.prefetch(misses)
        for h in misses:
            if h in self._results:
                self._closures[h] = Closure.of(self._results[h])
        self._check_misses([h for h in misses if h not in self._closures], changed)
        self.cache.flush()  # the new outcomes, in one transaction
        return {h: self._closures[h] for h in handlers}

    def _take_from_peer(self, keys: dict[Handler, str], peer: Analysis) -> dict[Handler, str]:
        """Take the peer's closures that hold here; the keys of the rest."""
        differing = _differing(self.tree.blobs, peer.tree.blobs)
        rest = {}
        for h, key in keys.items():
            theirs = peer._closures.get(h)
            if theirs is not None and peer._key(h) == key and theirs.files.isdisjoint(differing):
                self._closures[h] = theirs
            else:
                rest[h] = key
        return rest

    def _take_recorded(self, keys: dict[Handler, str]) -> None:
        """Take the recorded closures that still hold, in one cache read."""
        found = self.cache.get_results(list(set(keys.values())))
        for h, key in keys.items():
            closure = valid_closure(h, found.get(key), self.tree.blobs, self._path_index)
            if closure is not None:
                self._closures[h] = closure

    def _check_misses(self, todo: list[Handler], changed: frozenset[str] | set[str]) -> None:
        """Check the handlers no recorded outcome holds for, over the cores when many."""
        with gc_paused():
            # Keep the import graph only for handlers that load a changed file (their
            # chain; when the check ran in the forked child, `check` runs it again).
            def run(h: Handler) -> Outcome:
                self.memory.check(f"checking {h.name}")
                result = self._check(h)
                return Outcome.of(result, self.tree.blobs,
                                  keep=not result.files.isdisjoint(changed),
                                  roots=self._path_indexes(h))

            # A threaded server never forks. In a warm pull request the misses are the
            # handlers that load a changed file, whose graphs are needed here: a child's
            # share would be checked twice, so a small batch with changes stays here.
            if self.cache.resident or (changed and len(todo) < SPLIT_WITH_CHANGES):
                outcomes = [run(h) for h in todo]
            else:  # many cold checks: over the cores (see forkshare)
                outcomes = fork_share(todo, run, self._pack, self._unpack,
                                      in_child=self._in_child)
            for h, outcome in zip(todo, outcomes, strict=True):
                self._store(h, outcome)
                self._closures[h] = outcome.closure()
                if outcome.result is not None:
                    self._results[h] = outcome.result

    def _in_child(self) -> None:
        self.cache.disk = None  # a SQLite connection must not be used across fork

    def _pack(self, outcome: Outcome) -> tuple:
        return outcome.pack()

    def _unpack(self, packed: tuple) -> Outcome:
        return Outcome.unpack(packed, self._path_index)

    def _path_indexes(self, handler: Handler) -> tuple[PathIndex, ...]:
        return tuple(map(self._path_index, self.import_roots(handler)))

    def _path_index(self, root: str) -> PathIndex:
        """The paths under an import root, held once for every handler's closure."""
        index = self._path_indexes_by_root.get(root)
        if index is None:
            index = self._path_indexes_by_root[root] = PathIndex(root, self._under(root))
        return index

    def _prefetch_manifests(self, handlers: Iterable[Handler]) -> None:
        """Read the dependency files in the handlers' roots in one batch (one git call,
        not one per function): their packages are in the outcome keys."""
        paths = {join(root, name) for h in handlers for root in h.roots
                 for name in ("requirements.txt", "pyproject.toml", "Pipfile")}
        self.tree.prefetch(p for p in paths if p in self.tree.blobs)

    def _key(self, handler: Handler) -> str:
        key = self._keys.get(handler)
        if key is None:
            pkg = self.package(handler)
            signatures = [self._root_signature(r) for r in self.import_roots(handler)]
            # the build files read decide what is installed: their contents are in the key
            signatures += [self.tree.blobs.get(p, "") for p in pkg.files]
            signatures.append(repr(pkg.installed))
            # the sites by their folders (named by their wheels' hashes): a frozenset's
            # repr changes from one process to the next
            signatures.append(repr([(req, site.folder, site.no_wheel)
                                    for req, site in self.placed(handler) or ()]))
            signatures += self.unsatisfiable(handler)
            key = self._keys[handler] = outcome_key(handler, self.third_party, signatures)
        return key

    def _root_signature(self, root: str) -> str:
        sig = self._root_sigs.get(root)
        if sig is None:
            sig = self._root_sigs[root] = root_signature(self._under(root), self.tree.blobs)
        return sig

    def _store(self, handler: Handler, outcome: Outcome) -> None:
        if outcome.digest is not None:
            self.cache.put_result(self._key(handler), outcome.digest, outcome.record())

    def summary(self, path: str, version: tuple[int, int]) -> ModuleSummary | None:
        if path not in self.tree.blobs or not path.endswith(".py"):
            return None
        return self.cache.get(self.tree, path, version)


def _differing(a: Mapping[str, str], b: Mapping[str, str]) -> set[str]:
    """Paths whose content differs between two trees' blob maps, or that only one has."""
    out = {p for p, blob in a.items() if b.get(p) != blob}
    out.update(p for p in b if p not in a)
    return out
