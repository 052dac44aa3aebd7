"""The review of one change: which handlers it reaches, and whether their imports hold.

Given the trees at the merge base and at the head, the changed files and the handlers,
this builds the `Report` every output speaks: affected handlers with their shortest import
chain, changed shared modules with the public names they lost and gained, and the import
check's findings for the affected handlers (or for every handler with `check_all`).
Trees, config and caches in, a `Report` out; the checks themselves (`Analysis`) may fork
over the cores and write their outcomes and summaries to the SQLite cache.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from reviewbot.analysis import Analysis
from reviewbot.cache import SummaryCache
from reviewbot.config import Config
from reviewbot.memory import MemoryBudget
from reviewbot.model import (
    Handler,
    HandlerStatus,
    Report,
    SharedModuleChange,
    Unresolved,
)
from reviewbot.outcomes import Closure
from reviewbot.package import Packages
from reviewbot.tree import Tree

if TYPE_CHECKING:  # an adapter: the review is given one, never builds it
    from reviewbot.dependencies.sites import Installer


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

        discovery = discover(tree, config.layers, cdk_out=config.cdk_out)
        found = {h.name: h for h in discovery.handlers}
        unresolved = discovery.unresolved
        warnings = discovery.warnings
    if config.runtime_set:  # the config's runtime is the default for what sets none
        found = {n: replace(h, runtime=config.runtime, runtime_default=False)
                 if h.runtime_default else h for n, h in found.items()}
    for h in config.handlers:
        found[h.name] = h
    configured = {h.name for h in config.handlers}
    unresolved = tuple(u for u in unresolved if u.name not in configured)
    return HandlerSet(tuple(sorted(found.values(), key=lambda h: h.name)), unresolved, warnings)


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
    installer: Installer | None = None,
    memory: MemoryBudget | None = None,
) -> Report:
    """Review the change from `base` (the merge base) to `head`. With an `installer`, the
    functions' third-party packages are resolved and read (see reviewbot.dependencies).
    With a `memory` budget, the checks stop with MemoryLimitExceeded at its limit."""
    head_set = head_handlers or find_handlers(head, config)
    base_set = base_handlers or _base_handlers(base, config, changed, head_set)
    base_by_name = {h.name: h for h in base_set.handlers}
    changed_paths = set(changed)

    base_sites, head_sites, notes = {}, {}, ()
    base_packages, head_packages = Packages(base), Packages(head)
    if installer is not None:
        placed_base = installer.install(base, base_set.handlers, base_packages)
        placed_head = installer.install(head, head_set.handlers, head_packages)
        base, base_sites = placed_base.tree, placed_base.sites
        head, head_sites = placed_head.tree, placed_head.sites
        notes = tuple(dict.fromkeys((*placed_base.notes, *placed_head.notes)))
    memory = memory or MemoryBudget()
    before = Analysis(base, cache, config.third_party, base_sites, base_packages, memory)
    after = Analysis(head, cache, config.third_party, head_sites, head_packages, memory)
    head_closures = after.closures(list(head_set.handlers), changed_paths)
    base_closures = _base_closures(before, after, head_set.handlers, base_by_name,
                                   changed_paths)

    reaches = _reaches(head_set.handlers, base_by_name, head_closures, base_closures,
                       changed_paths, after)
    shared = _shared_changes(changed, config, _loaders(reaches), before, after,
                             head_set.handlers)
    after.checks(r.handler for r in reaches if r.files)  # for their chains
    shared_paths = {s.path for s in shared}
    statuses = [_status(r, bool(changed_paths), check_all, shared_paths, before, after)
                for r in reaches]
    checked = [head_closures[s.handler] for s in statuses if s.checked]
    loaded = {f for r in reaches for f in r.files}
    return Report(
        handlers=tuple(statuses),
        errors=tuple(e for closure in checked for e in closure.errors),
        warnings=tuple(w for closure in checked for w in closure.warnings),
        shared_modules=shared,
        changed_files=tuple(sorted(changed_paths)),
        unresolved=head_set.unresolved,
        checklist=config.checklist,
        base=base_name,
        head=head_name,
        notes=(*head_set.warnings, *notes),
        unloaded=tuple(sorted(p for p in changed_paths
                              if p.endswith(".py") and p not in loaded)),
    )


_DEPLOYMENT_SUFFIXES = (".yml", ".yaml", ".json", ".template", ".tf", ".tfvars")


def _base_handlers(base: Tree, config: Config, changed: Mapping[str, str],
                   head_set: HandlerSet) -> HandlerSet:
    """Discovery reads deployment files and which paths exist: when the change only edits
    other files in place, the base has the same handlers; do not parse them twice. A CDK
    app's own modules (any file below a cdk.json) are deployment files too."""
    apps = [posixpath.dirname(p) for p in base.blobs if posixpath.basename(p) == "cdk.json"]
    same_handlers = all(status == "M" and not p.lower().endswith(_DEPLOYMENT_SUFFIXES)
                        and not any(a in ("", ".") or p.startswith(a + "/") for a in apps)
                        for p, status in changed.items())
    return head_set if same_handlers else find_handlers(base, config)


def _base_closures(before: Analysis, after: Analysis, handlers: tuple[Handler, ...],
                   base_by_name: Mapping[str, Handler],
                   changed: set[str]) -> dict[Handler, Closure]:
    """The base closures of the head's handlers that exist at the base (none without a
    change), taken from the head's where no file they load differs."""
    if not changed:
        return {}
    return before.closures([base_by_name[h.name] for h in handlers if h.name in base_by_name],
                           changed, peer=after)


@dataclass(frozen=True)
class _Reach:
    """Which changed files reach one head handler."""

    handler: Handler
    base: Handler | None  # the handler of the same name at the base
    # changed files it loads at the base or the head, and changed requirements and build
    # files of what it installs (they change which imports resolve)
    files: frozenset[str]


def _reaches(handlers: tuple[Handler, ...], base_by_name: Mapping[str, Handler],
             head_closures: Mapping[Handler, Closure], base_closures: Mapping[Handler, Closure],
             changed: set[str], after: Analysis) -> list[_Reach]:
    requirements = {p for p in changed
                    if p.rpartition("/")[2].startswith("requirements") and p.endswith(".txt")}
    out = []
    for h in handlers:
        old = base_by_name.get(h.name)
        reached = head_closures[h].files & changed
        if old is not None and old in base_closures:
            reached |= base_closures[old].files & changed
        reached |= {p for p in requirements if _under_any(p, h.roots)}
        # the build files that decide what its build installs (local projects' too)
        reached |= changed.intersection(after.package(h).files)
        out.append(_Reach(h, old, frozenset(reached)))
    return out


def _loaders(reaches: list[_Reach]) -> dict[str, set[str]]:
    """Changed file -> names of the handlers it reaches."""
    out: dict[str, set[str]] = {}
    for r in reaches:
        for f in r.files:
            out.setdefault(f, set()).add(r.handler.name)
    return out


def _status(reach: _Reach, any_change: bool, check_all: bool, shared_paths: set[str],
            before: Analysis, after: Analysis) -> HandlerStatus:
    """Affected when a changed file reaches it or its definition changed; checked when
    affected or with `check_all`."""
    affected = bool(reach.files) or (any_change and reach.base != reach.handler)
    chain = _chain(reach, shared_paths, before, after) if reach.files else ()
    moved = reach.base is not None and reach.base.runtime != reach.handler.runtime
    return HandlerStatus(reach.handler, affected, chain, checked=affected or check_all,
                         previous_runtime=reach.base.runtime if moved and reach.base else "")


def _chain(reach: _Reach, shared_paths: set[str], before: Analysis,
           after: Analysis) -> tuple[str, ...]:
    """The shortest import chain to a reached file, pointing at a shared module when the
    change reaches one: that is the news."""
    targets = (reach.files & shared_paths) or reach.files
    chain = after.check(reach.handler).chain_to(targets)
    if not chain and reach.base is not None:  # it no longer loads it at the head
        chain = before.check(reach.base).chain_to(targets)
    return chain


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
        broken = _parse_error(after, path, version)
        old_names = frozenset() if broken else _bound_public(before, path, version)
        new_names = _bound_public(after, path, version)
        out.append(SharedModuleChange(
            syntax_error=broken,
            path=path,
            handlers=tuple(sorted(users)),
            removed_names=tuple(sorted(old_names - new_names)),
            added_names=tuple(sorted(new_names - old_names)),
            status={"A": "added", "D": "deleted"}.get(changed[path], "modified"),
        ))
    return tuple(out)


def _parse_error(analysis: Analysis, path: str, version: tuple[int, int]) -> str:
    """Why the module does not parse, or "": its names cannot be compared then (the
    import check reports the syntax error itself, once per importer)."""
    summary = analysis.summary(path, version)
    if summary is None or summary.error is None:
        return ""
    _, message, line = summary.error
    return message if f"line {line}" in message else f"{message} (line {line})"


def _bound_public(analysis: Analysis, path: str, version: tuple[int, int]) -> frozenset[str]:
    """The public names a module binds: `__all__`'s (else those without a leading
    underscore) that it really binds, or that are its package's submodules. A name
    `__all__` still lists after its binding is gone is removed: `from m import *` fails
    on it."""
    summary = analysis.summary(path, version)
    if summary is None or summary.error is not None:
        return frozenset()
    folder = path.rpartition("/")[0] if path.endswith("/__init__.py") else None
    tree = analysis.tree

    def present(name: str) -> bool:
        if name in summary.names or name in summary.served:
            return True
        return folder is not None and (f"{folder}/{name}.py" in tree.blobs
                                       or tree.isdir(f"{folder}/{name}"))
    return frozenset(n for n in summary.public_names() if present(n))
