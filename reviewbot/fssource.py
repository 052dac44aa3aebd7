"""Trees from a plain folder on disk (an installed package, an unpacked archive).

Content ids are git blob ids computed from the bytes, so summaries cached from a git
checkout of the same files are reused.
"""

from __future__ import annotations

import os
from pathlib import Path

from reviewbot.tree import Tree, blob_id

SKIP_DIRS = frozenset({".git", "__pycache__", "node_modules", ".venv", ".tox", ".mypy_cache"})


def directory_tree(root: str | Path, *, only: tuple[str, ...] = (),
                   suffixes: tuple[str, ...] = (".py", ".txt", ".so", ".pyd"),
                   max_bytes: int = 10 * 1024 * 1024) -> Tree:
    """Every file under `root` (or under its sub-folders `only`) with one of `suffixes`."""
    root = Path(root)
    blobs: dict[str, str] = {}
    starts = [root / o for o in only] if only else [root]
    for start in starts:
        for folder, dirs, files in os.walk(start):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
            for name in files:
                if not name.endswith(suffixes):
                    continue
                full = Path(folder) / name
                if full.is_symlink() or full.stat().st_size > max_bytes:
                    continue
                rel = full.relative_to(root).as_posix()
                blobs[rel] = blob_id(full.read_bytes()) if name.endswith(".py") else "file:" + rel

    def read(paths):
        return {p: (root / p).read_bytes() for p in paths}

    return Tree(blobs, read, name=str(root))
