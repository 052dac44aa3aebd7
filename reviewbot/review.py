"""The review of one change: which handlers it reaches, and whether their imports hold.

Given the trees at the merge base and at the head, the changed files and the handlers,
this builds the `Report` every output speaks: affected handlers with their shortest import
chain, changed shared modules with the public names they lost and gained, and the import
check's findings for the affected handlers (or for every handler with `check_all`).
Pure: trees and caches in, data out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reviewbot.cache import SummaryCache
from reviewbot.config import Config
from reviewbot.importcheck import HandlerResult, check_handler
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


@dataclass
class Analysis:
    """Import checks over one tree, sharing module resolution and summaries."""

    tree: Tree
    cache: SummaryCache
    third_party: tuple[str, ...] = ()
    _search: dict[tuple, SearchPath] = field(default_factory=dict)
    _results: dict[Handler, HandlerResult] = field(default_factory=dict)
    _traces: dict = field(default_factory=dict)
    _extensions: ExtensionIndex | None = None

    def prefetch(self, handlers: Iterable[Handler]) -> None:
        """Summarise every Python file under the handlers' roots in one batch."""
        by_version: dict[tuple[int, int], set[str]] = {}
        for h in handlers:
            by_version.setdefault(h.python_version, set()).update(h.roots)
        for version, roots in by_version.items():
            if "." in roots:
                paths = [p for p in self.tree.blobs if p.endswith(".py")]
            else:
                prefixes = tuple(r + "/" for r in roots)
                paths = [p for p in self.tree.blobs if p.endswith(".py") and p.startswith(prefixes)]
            self.cache.prefetch(self.tree, paths, version)

    def search(self, handler: Handler) -> SearchPath:
        key = handler.roots
        sp = self._search.get(key)
        if sp is None:
            if self._extensions is None:
                self._extensions = ExtensionIndex(self.tree)
            third = requirement_modules(self.tree, handler.roots) | frozenset(self.third_party)
            sp = SearchPath(self.tree, handler.roots, third, self._extensions)
            self._search[key] = sp
        return sp

    def check(self, handler: Handler) -> HandlerResult:
        result = self._results.get(handler)
        if result is None:
            traces = self._traces.setdefault(handler.python_version, {})
            result = check_handler(handler, self.search(handler), self.cache.provider(self.tree),
                                   traces)
            self._results[handler] = result
        return result

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
    base_set = base_handlers or find_handlers(base, config)
    head_set = head_handlers or find_handlers(head, config)
    base_by_name = {h.name: h for h in base_set.handlers}
    changed_paths = set(changed)

    before = Analysis(base, cache, config.third_party)
    after = Analysis(head, cache, config.third_party)
    after.prefetch(head_set.handlers)
    base_needed = [base_by_name[h.name] for h in head_set.handlers if h.name in base_by_name]
    if changed_paths:
        before.prefetch(base_needed)

    loaders: dict[str, set[str]] = {}  # file -> handlers that load it, at base or head
    runs = []
    for h in head_set.handlers:
        head_result = after.check(h)
        old = base_by_name.get(h.name)
        base_result = before.check(old) if old is not None and changed_paths else None
        files = set(head_result.files)
        if base_result is not None:
            files |= base_result.files
        for f in files:
            loaders.setdefault(f, set()).add(h.name)
        runs.append((h, old, head_result, base_result, files & changed_paths))

    shared = _shared_changes(changed, config, loaders, before, after, head_set.handlers)
    shared_paths = {s.path for s in shared}
    statuses: list[HandlerStatus] = []
    errors: list[Finding] = []
    warnings: list[Finding] = []
    for h, old, head_result, base_result, reached in runs:
        affected = bool(reached) or (bool(changed_paths) and old != h)
        chain: tuple[str, ...] = ()
        if reached:
            # Point at a shared module when the change reaches one: that is the news.
            targets = (reached & shared_paths) or reached
            chain = head_result.chain_to(targets) or (
                base_result.chain_to(targets) if base_result else ())
        if affected or check_all:
            errors.extend(head_result.errors)
            warnings.extend(head_result.warnings)
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
