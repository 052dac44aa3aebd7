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
from reviewbot.package import SITE_ROOT, Site, SiteKey, deployment_package
from reviewbot.tree import Tree, overlay


@dataclass
class Installer:
    """Resolves, fetches and reads wheels for the handlers of a tree."""

    resolver: Resolver
    store: WheelStore
    notes: list[str] = field(default_factory=list)  # what kept names unchecked, once each
    _contents: LRUCache = field(default_factory=lambda: LRUCache(maxsize=512))
    _sites: dict[SiteKey, tuple[Site, dict[str, bytes]] | None] = field(default_factory=dict)

    def install(self, tree: Tree, handlers: Iterable[Handler]) -> tuple[Tree, dict[SiteKey, Site]]:
        """The tree with the handlers' wheels added, and where each resolution lies."""
        projects: dict = {}
        keys: dict[SiteKey, None] = {}
        for h in handlers:
            pkg = deployment_package(tree, h.roots, projects, vendor=h.vendor, exports=h.exports)
            for req in pkg.requirements:
                keys[SiteKey(req.specs, req.constraints, h.python_version, h.arch)] = None
        files: dict[str, bytes] = {}
        sites: dict[SiteKey, Site] = {}
        for key in keys:
            if key not in self._sites:  # a base and a head mostly share them
                self._sites[key] = self._site(key)
            placed = self._sites[key]
            if placed is not None:
                sites[key] = placed[0]
                files.update(placed[1])
        return overlay(tree, files), sites

    def _note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)

    def _site(self, key: SiteKey) -> tuple[Site, dict[str, bytes]] | None:
        target = Target(key.python, key.arch)
        resolution = self.resolver.resolve(key.specs, target, key.constraints)
        if resolution.error is not None:
            self._note(f"third-party names were not checked for some functions: "
                       f"resolving {', '.join(key.specs)[:200]} for {target.label} failed: "
                       f"{resolution.error}")
            return None
        contents: list[WheelContents] = []
        for wheel in resolution.wheels:
            try:
                contents.append(self._read(self.store.get(wheel)))
            except (FetchError, WheelError) as exc:
                self._note(f"third-party names were not checked for some functions: {exc}")
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
