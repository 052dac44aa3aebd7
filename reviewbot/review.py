"""The review of one change: which handlers it reaches, and whether their imports hold.

Given the trees at the merge base and at the head, the changed files and the handlers,
this builds the `Report` every output speaks: affected handlers with their shortest import
chain, changed shared modules with the public names they lost and gained, and the import
check's findings for the affected handlers (or for every handler with `check_all`).
Pure: trees and caches in, data out.
"""

from __future__ import annotations

import bisect
import hashlib
from array import array
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path

from reviewbot.cache import SummaryCache
from reviewbot.config import Config
from reviewbot.forkshare import fork_share
from reviewbot.importcheck import HandlerResult, check_handler, gc_paused
from reviewbot.model import (
    Finding,
    Handler,
    HandlerStatus,
    Report,
    SharedModuleChange,
    Unresolved,
)
from reviewbot.resolve import ExtensionIndex, SearchPath
from reviewbot.summary import ModuleSummary
from reviewbot.thirdparty import requirement_modules
from reviewbot.tree import Tree


@dataclass
class HandlerSet:
    """The handlers of one tree, with what could not be resolved and discovery warnings."""

    handlers: tuple[Handler, ...]
    unresolved: tuple[Unresolved, ...] = ()
    warnings: tuple[str, ...] = ()


def find_handlers(tree: Tree, config: Config) -> HandlerSet:
    """Handlers discovered from deployment files, merged with the config's (config wins)."""
    found: dict[str, Handler] = {}
    unresolved: tuple[Unresolved, ...] = ()
    warnings: tuple[str, ...] = ()
    if config.discover:
        from reviewbot.discovery import discover

        discovery = discover(tree, config.layers)
        found = {h.name: h for h in discovery.handlers}
        unresolved = discovery.unresolved
        warnings = discovery.warnings
    for h in config.handlers:
        found[h.name] = h
    configured = {h.name for h in config.handlers}
    unresolved = tuple(u for u in unresolved if u.name not in configured)
    return HandlerSet(tuple(sorted(found.values(), key=lambda h: h.name)), unresolved, warnings)


def _engine_fingerprint() -> str:
    """A digest of the engine's own source: a recorded outcome is only trusted by the
    engine that recorded it, with no version number to forget to bump."""
    from reviewbot import importcheck, resolve, summary, thirdparty

    digest = hashlib.sha1()
    for module in (importcheck, resolve, summary, thirdparty):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


ENGINE = _engine_fingerprint()


SPLIT_WITH_CHANGES = 256  # cold checks of a PR split over the cores from this many


@dataclass(frozen=True)
class Closure:
    """What a check found, without the import graph: enough to tell whether a change
    reaches a handler, and its findings. Cached across runs (see Analysis.closure)."""

    files: frozenset[str]
    errors: tuple[Finding, ...]
    warnings: tuple[Finding, ...]

    @classmethod
    def of(cls, result: HandlerResult) -> Closure:
        return cls(result.files, tuple(result.errors), tuple(result.warnings))


@dataclass(frozen=True)
class _Outcome:
    """A check's closure and findings as stored; `result`, with the import graph, only
    when the check ran in this process."""

    # In load order, which is the same in every run over the same files: as stable a
    # variant key as a sorted order, without sorting hundreds of paths per handler.
    files: tuple[str, ...]
    digest: str | None  # of the files' blob ids (None: one is not in the tree)
    errors: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    result: HandlerResult | None = None


@dataclass
class Analysis:
    """Import checks over one tree, sharing module resolution and summaries.

    A handler's outcome depends only on its definition, the files it loads and which
    paths exist under its import roots. `closure()` keys outcomes by the definition and
    a signature of the paths under its roots, and trusts a recorded one only when every
    file it loaded still has the same content: a pull request that edits one module
    re-checks only the handlers that load it.
    """

    tree: Tree
    cache: SummaryCache
    third_party: tuple[str, ...] = ()
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
    _path_index: dict[str, int] | None = None

    def prefetch(self, handlers: Iterable[Handler]) -> None:
        """Summarise every Python file under the handlers' roots, in one batch per call;
        each root once."""
        by_version: dict[tuple[int, int], set[str]] = {}
        for h in handlers:
            version = h.python_version
            fresh = {r for r in h.roots if (version, r) not in self._prefetched}
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
        key = handler.roots
        sp = self._search.get(key)
        if sp is None:
            if self._extensions is None:
                self._extensions = ExtensionIndex(self.tree)
            third = requirement_modules(self.tree, handler.roots) | frozenset(self.third_party)
            sp = SearchPath(self.tree, handler.roots, third, self._extensions, self._probes,
                            self._submodules)
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
                    result = self._results[h] = self._run(h)
                out[h] = result
        self.cache.flush()
        return out

    def _run(self, handler: Handler) -> HandlerResult:
        result = self._check(handler)
        self._store(handler, self._outcome(result))
        return result

    def _outcome(self, result: HandlerResult, keep: AbstractSet[str] | None = None
                 ) -> _Outcome:
        """`keep`: keep `result` only if it loads one of these files (None: always)."""
        files = tuple(dict.fromkeys(result.paths.values()))
        kept = result if keep is None or not result.files.isdisjoint(keep) else None
        return _Outcome(files, self._files_digest(files), tuple(result.errors),
                        tuple(result.warnings), kept)

    def _check(self, handler: Handler) -> HandlerResult:
        self.prefetch([handler])
        traces = self._traces.setdefault(handler.python_version, {})
        return check_handler(handler, self.search(handler), self.cache.provider(self.tree),
                             traces)

    def closures(self, handlers: list[Handler],
                 changed: frozenset[str] | set[str] = frozenset(),
                 peer: Analysis | None = None) -> dict[Handler, Closure]:
        """Closures and findings of many handlers, from the result cache where it is valid.
        Full results (import graphs) are kept only for handlers that load a `changed` file:
        the others' are not needed again.

        `peer` is an analysis of another tree (a pull request's head, for its base): a
        closure it holds for the same handler, under the same key, holds here too when
        none of its files differs between the trees, with no cache read or hashing."""
        keys = {h: self._key(h) for h in handlers if h not in self._closures}
        if peer is not None:
            differing = _differing(self.tree.blobs, peer.tree.blobs)
            for h, key in list(keys.items()):
                theirs = peer._closures.get(h)
                if (theirs is not None and peer._key(h) == key
                        and theirs.files.isdisjoint(differing)):
                    self._closures[h] = theirs
                    del keys[h]
        found = self.cache.get_results(list(set(keys.values())))
        for h, key in keys.items():
            closure = self._valid(h, found.get(key))
            if closure is not None:
                self._closures[h] = closure
        # Summarise what the misses need in one batch (parsed in parallel when cold).
        misses = list(dict.fromkeys(h for h in handlers if h not in self._closures))
        self.prefetch(misses)
        for h in misses:
            if h in self._results:
                self._closures[h] = Closure.of(self._results[h])
        todo = [h for h in misses if h not in self._closures]
        with gc_paused():
            # Keep the import graph only for handlers that load a changed file (their
            # chain; when the check ran in the forked child, `check` runs it again).
            def run(h: Handler) -> _Outcome:
                return self._outcome(self._check(h), keep=changed)

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
                self._closures[h] = Closure(frozenset(outcome.files), outcome.errors,
                                            outcome.warnings)
                if outcome.result is not None:
                    self._results[h] = outcome.result
        self.cache.flush()  # the new outcomes, in one transaction
        return {h: self._closures[h] for h in handlers}

    def _in_child(self) -> None:
        self.cache.disk = None  # a SQLite connection must not be used across fork

    def _pack(self, outcome: _Outcome) -> tuple:
        """An outcome as the forked child sends it: files as indices into the tree's
        sorted paths (a few bytes each, not a string each)."""
        if self._path_index is None:
            self._path_index = {p: i for i, p in enumerate(self._under(""))}
        index = self._path_index
        files = array("I", [index[f] for f in outcome.files]).tobytes()
        return files, outcome.digest, outcome.errors, outcome.warnings

    def _unpack(self, packed: tuple) -> _Outcome:
        files, digest, errors, warnings = packed
        paths = self._under("")
        return _Outcome(tuple(paths[i] for i in array("I", files)), digest, errors, warnings)

    def _key(self, handler: Handler) -> str:
        key = self._keys.get(handler)
        if key is None:
            key = self._keys[handler] = self._make_key(handler)
        return key

    def _make_key(self, handler: Handler) -> str:
        roots = handler.roots
        parts = [
            ENGINE, handler.handler, repr(roots),
            handler.runtime, str(handler.complete), handler.source, str(handler.line),
            repr(sorted(self.third_party)),
            *(self._root_signature(r) for r in roots),
        ]
        return hashlib.sha1("\0".join(parts).encode()).hexdigest()

    def _root_signature(self, root: str) -> str:
        """A digest of every path under an import root: resolution can change only if it
        changes (a file added, removed or renamed), and requirements files with it."""
        sig = self._root_sigs.get(root)
        if sig is None:
            chosen = self._under(root)
            digest = hashlib.sha1("\n".join(chosen).encode())
            for p in chosen:
                if p.rpartition("/")[2].startswith("requirements") and p.endswith(".txt"):
                    digest.update(self.tree.blobs[p].encode())
            sig = self._root_sigs[root] = digest.hexdigest()
        return sig

    def _files_digest(self, files) -> str | None:
        try:
            joined = "".join(map(self.tree.blobs.__getitem__, files))
        except KeyError:
            return None
        return hashlib.sha1(joined.encode()).hexdigest()

    def _valid(self, handler: Handler, variants: dict[str, tuple] | None) -> Closure | None:
        for data in (variants or {}).values():
            try:
                files, digest, errors, warnings = data
                if self._files_digest(files) != digest:
                    continue
                return Closure(frozenset(files),
                               tuple(Finding(handler.name, *f) for f in errors),
                               tuple(Finding(handler.name, *f) for f in warnings))
            except (TypeError, ValueError):
                continue  # a malformed entry is a miss
        return None

    def _store(self, handler: Handler, outcome: _Outcome) -> None:
        digest = outcome.digest
        if digest is None:
            return
        plain = lambda fs: tuple((f.path, f.line, f.kind, f.message) for f in fs)  # noqa: E731
        self.cache.put_result(self._key(handler), digest, (outcome.files, digest,
                                                          plain(outcome.errors),
                                                          plain(outcome.warnings)))

    def summary(self, path: str, version: tuple[int, int]) -> ModuleSummary | None:
        if path not in self.tree.blobs or not path.endswith(".py"):
            return None
        return self.cache.get(self.tree, path, version)


def review(
    *,
    base: Tree,
    head: Tree,
    changed: Mapping[str, str],
    config: Config,
    cache: SummaryCache,
    check_all: bool = False,
    base_handlers: HandlerSet | None = None,
    head_handlers: HandlerSet | None = None,
    base_name: str = "",
    head_name: str = "",
) -> Report:
    """Review the change from `base` (the merge base) to `head`."""
    head_set = head_handlers or find_handlers(head, config)
    # Discovery reads deployment files and which paths exist: when the change only edits
    # other files in place, the base has the same handlers; do not parse them twice.
    same_handlers = all(status == "M" and not p.lower().endswith(_DEPLOYMENT_SUFFIXES)
                        for p, status in changed.items())
    base_set = base_handlers or (head_set if same_handlers else find_handlers(base, config))
    base_by_name = {h.name: h for h in base_set.handlers}
    changed_paths = set(changed)

    before = Analysis(base, cache, config.third_party)
    after = Analysis(head, cache, config.third_party)
    head_closures = after.closures(list(head_set.handlers), changed_paths)
    base_closures: dict[Handler, Closure] = {}
    if changed_paths:
        base_closures = before.closures(
            [base_by_name[h.name] for h in head_set.handlers if h.name in base_by_name],
            changed_paths, peer=after)

    # A changed requirements file changes which third-party imports resolve.
    requirements = {p for p in changed_paths
                    if p.rpartition("/")[2].startswith("requirements") and p.endswith(".txt")}
    loaders: dict[str, set[str]] = {}  # changed file -> handlers that load it, base or head
    runs = []
    for h in head_set.handlers:
        old = base_by_name.get(h.name)
        reached = head_closures[h].files & changed_paths
        if old is not None and old in base_closures:
            reached |= base_closures[old].files & changed_paths
        reached |= {p for p in requirements if _under_any(p, h.roots)}
        for f in reached:
            loaders.setdefault(f, set()).add(h.name)
        runs.append((h, old, reached))

    shared = _shared_changes(changed, config, loaders, before, after, head_set.handlers)
    shared_paths = {s.path for s in shared}
    after.checks(h for h, _, reached in runs if reached)  # for their chains
    statuses: list[HandlerStatus] = []
    errors: list[Finding] = []
    warnings: list[Finding] = []
    for h, old, reached in runs:
        affected = bool(reached) or (bool(changed_paths) and old != h)
        chain: tuple[str, ...] = ()
        if reached:
            # Point at a shared module when the change reaches one: that is the news.
            targets = (reached & shared_paths) or reached
            chain = after.check(h).chain_to(targets)
            if not chain and old is not None:  # it no longer loads it at the head
                chain = before.check(old).chain_to(targets)
        if affected or check_all:
            errors.extend(head_closures[h].errors)
            warnings.extend(head_closures[h].warnings)
        statuses.append(HandlerStatus(h, affected, chain, checked=affected or check_all))

    notes = tuple(head_set.warnings)
    return Report(
        handlers=tuple(statuses),
        errors=tuple(errors),
        warnings=tuple(warnings),
        shared_modules=shared,
        changed_files=tuple(sorted(changed_paths)),
        unresolved=head_set.unresolved,
        checklist=config.checklist,
        base=base_name,
        head=head_name,
        notes=notes,
    )


_DEPLOYMENT_SUFFIXES = (".yml", ".yaml", ".json", ".template", ".tf", ".tfvars")


def _differing(a: Mapping[str, str], b: Mapping[str, str]) -> set[str]:
    """Paths whose content differs between two trees' blob maps, or that only one has."""
    out = {p for p, blob in a.items() if b.get(p) != blob}
    out.update(p for p in b if p not in a)
    return out


def _under_any(path: str, roots: tuple[str, ...]) -> bool:
    return any(r in ("", ".") or path.startswith(r + "/") for r in roots)


def _shared_changes(changed: Mapping[str, str], config: Config, loaders: dict[str, set[str]],
                    before: Analysis, after: Analysis,
                    handlers: tuple[Handler, ...]) -> tuple[SharedModuleChange, ...]:
    version = handlers[0].python_version if handlers else (3, 12)
    out = []
    for path in sorted(changed):
        if not path.endswith(".py"):
            continue
        users = loaders.get(path, set())
        shared = config.is_shared(path)
        if shared is None:
            shared = len(users) >= 2
        if not shared:
            continue
        old = before.summary(path, version)
        new = after.summary(path, version)
        old_names = old.public_names() if old and old.error is None else frozenset()
        new_names = new.public_names() if new and new.error is None else frozenset()
        out.append(SharedModuleChange(
            path=path,
            handlers=tuple(sorted(users)),
            removed_names=tuple(sorted(old_names - new_names)),
            added_names=tuple(sorted(new_names - old_names)),
            status={"A": "added", "D": "deleted"}.get(changed[path], "modified"),
        ))
    return tuple(out)
