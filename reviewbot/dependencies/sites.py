"""Placing each function's resolved wheels in the tree the import check reads.

For every distinct set of requirements (per import root, Python version and architecture)
the resolver pins wheels, the store fetches them, and their importable files are added to
the tree under `.reviewbot-site/<digest>/`, a folder per resolution that the check sees
installed into the import root, below the function's own files as the build leaves them.
What cannot be had (no uv, an unreachable index, a bad wheel) leaves that function on the
old rules, requirement names counted as present, and says so once per run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cachetools import LRUCache

from reviewbot.dependencies.lock import IndexConfig, Resolver, Target
from reviewbot.dependencies.wheelfiles import WheelContents, WheelError, read_wheel
from reviewbot.dependencies.wheelstore import FetchError, StoredWheel, WheelStore
from reviewbot.model import Handler
from reviewbot.package import SITE_ROOT, Packages, Site, SiteKey
from reviewbot.tree import Tree, join, overlay

MANIFESTS = ("requirements.txt", "pyproject.toml", "Pipfile")


@dataclass(frozen=True)
class Placed:
    """A tree with the functions' wheels in it, where each resolution lies, and what kept
    some functions' third-party names unchecked."""

    tree: Tree
    sites: dict[SiteKey, Site]
    notes: tuple[str, ...] = ()


@dataclass
class Installer:
    """Resolves, fetches and reads wheels for the handlers of a tree. Kept by a worker
    between jobs: the sites it placed (by what decides them) and the wheels it read are
    reused, a bounded number of each; failures are tried again next time."""

    resolver: Resolver
    store: WheelStore
    _contents: LRUCache = field(default_factory=lambda: LRUCache(maxsize=512))
    _sites: LRUCache = field(default_factory=lambda: LRUCache(maxsize=256))

    def install(self, tree: Tree, handlers: Iterable[Handler],
                packages: Packages | None = None) -> Placed:
        """The tree with the handlers' wheels added, and where each resolution lies.
        `packages`: the tree's deployment packages, to share with the analysis."""
        handlers = list(handlers)
        packages = packages if packages is not None else Packages(tree)
        # the manifests in one read (one git call), not one per function
        tree.prefetch(p for h in handlers for root in h.roots
                      for p in (join(root, n) for n in MANIFESTS) if p in tree.blobs)
        keys: dict[SiteKey, None] = {}
        for h in handlers:
            for req in packages.of(h).requirements:
                keys[SiteKey(req.specs, req.constraints, h.python_version, h.arch)] = None
        files: dict[str, bytes] = {}
        sites: dict[SiteKey, Site] = {}
        notes: dict[str, None] = {}
        for key in keys:
            placed = self._sites.get(key)  # a base and a head mostly share them
            if placed is None:
                placed = self._site(key, notes)
                if placed is not None:
                    self._sites[key] = placed
            if placed is not None:
                sites[key] = placed[0]
                files.update(placed[1])
        return Placed(overlay(tree, files), sites, tuple(notes))

    def _site(self, key: SiteKey, notes: dict[str, None]
              ) -> tuple[Site, dict[str, bytes]] | None:
        target = Target(key.python, key.arch)
        resolution = self.resolver.resolve(key.specs, target, key.constraints)
        if resolution.unsatisfiable:  # each function it fails says so
            return Site("", frozenset(), unsatisfiable=resolution.error or ""), {}
        if resolution.error is not None:
            notes[f"third-party names were not checked for some functions: resolving "
                  f"{', '.join(key.specs)[:200]} for {target.label} failed: "
                  f"{resolution.error}"] = None
            return None
        contents: list[WheelContents] = []
        for wheel in resolution.wheels:
            try:
                contents.append(self._read(self.store.get(wheel)))
            except (FetchError, WheelError) as exc:
                notes[f"third-party names were not checked for some functions: {exc}"] = None
                return None
        digest = hashlib.sha256("\n".join(sorted(w.sha256 for w in resolution.wheels))
                                .encode()).hexdigest()[:16]
        folder = f"{SITE_ROOT}/{digest}"
        names: set[str] = set()
        files: dict[str, bytes] = {}
        for wheel in contents:
            names |= wheel.top_level
            for path, data in wheel.sources.items():
                files.setdefault(f"{folder}/{path}", data)
            for path in wheel.extensions:
                files.setdefault(f"{folder}/{path}", b"")
        return Site(folder, frozenset(names), resolution.no_wheel), files

    def _read(self, stored: StoredWheel) -> WheelContents:
        found = self._contents.get(stored.wheel.sha256)
        if found is None:
            found = self._contents[stored.wheel.sha256] = read_wheel(stored.path)
        return found


def offline(env=os.environ) -> bool:
    return env.get("REVIEWBOT_OFFLINE", "").lower() in ("1", "true", "yes")


def default_installer(cache_dir: Path) -> Installer:
    """Resolutions and wheels kept under the summary cache's folder, from the index the
    environment names (REVIEWBOT_INDEX_URL, uv's and pip's variables)."""
    index = IndexConfig.from_env()
    return Installer(Resolver(cache_dir / "dependencies", index),
                     WheelStore(cache_dir / "dependencies" / "wheels", index))


OFFLINE_NOTE = ("third-party names were not checked: offline (--offline or REVIEWBOT_OFFLINE), "
                "so a module that a requirement may provide is only a warning")
