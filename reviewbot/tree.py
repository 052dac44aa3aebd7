"""A read-only view of the files of one commit, wherever they come from.

The analysis core only ever sees a `Tree`: a map of repo-relative POSIX paths to content
ids (git blob ids, so caches keyed by them never go stale) plus a way to read contents.
Adapters build trees from a local git repository, a GitHub tarball, or plain dicts in tests.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property

Reader = Callable[[list[str]], Mapping[str, bytes]]


def blob_id(content: bytes) -> str:
    """The git blob id of `content`, so in-memory trees share cache keys with git ones."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def join(root: str, rel: str) -> str:
    """Join a repo-relative folder ("." for the top) and a relative path."""
    if root in ("", "."):
        return rel
    return f"{root}/{rel}" if rel else root


def normalize(path: str) -> str:
    """A repo-relative POSIX path with no `./`, `..` resolved, "." for the top."""
    norm = posixpath.normpath(path.replace("\\", "/")).lstrip("/")
    return "." if norm in ("", ".") else norm


class Tree:
    """Files of one commit: `blobs` maps path to content id; `reader` fetches contents."""

    def __init__(self, blobs: Mapping[str, str], reader: Reader, *, name: str = ""):
        self.blobs = blobs
        self._reader = reader
        self.name = name
        self._contents: dict[str, bytes] = {}

    @classmethod
    def from_files(cls, files: Mapping[str, bytes | str], *, name: str = "") -> Tree:
        data = {p: c.encode() if isinstance(c, str) else c for p, c in files.items()}
        return cls({p: blob_id(c) for p, c in data.items()}, lambda ps: {p: data[p] for p in ps},
                   name=name)

    def __contains__(self, path: str) -> bool:
        return path in self.blobs

    def __iter__(self):
        return iter(self.blobs)

    def __len__(self) -> int:
        return len(self.blobs)

    @cached_property
    def dirs(self) -> frozenset[str]:
        """Every folder that holds at least one file, "." included."""
        out = {"."}
        for path in self.blobs:
            head = path.rpartition("/")[0]
            while head and head not in out:
                out.add(head)
                head = head.rpartition("/")[0]
        return frozenset(out)

    def isdir(self, path: str) -> bool:
        return path in self.dirs

    def read(self, path: str) -> bytes:
        if path not in self._contents:
            self.prefetch([path])
        return self._contents[path]

    def read_many(self, paths: Iterable[str]) -> dict[str, bytes]:
        paths = list(paths)
        self.prefetch(paths)
        return {p: self._contents[p] for p in paths}

    def prefetch(self, paths: Iterable[str]) -> None:
        """Read the given files in one batch (one `git cat-file` or one HTTP round)."""
        missing = [p for p in paths if p not in self._contents]
        if not missing:
            return
        unknown = [p for p in missing if p not in self.blobs]
        if unknown:
            raise KeyError(unknown[0])
        self._contents.update(self._reader(missing))

    def forget(self, paths: Iterable[str]) -> None:
        """Drop read contents (they are only needed until summarised)."""
        for p in paths:
            self._contents.pop(p, None)


def overlay(base: Tree, files: Mapping[str, bytes]) -> Tree:
    """`base` with more files: paths of `files` not in `base` (installed packages, placed
    in folders of their own)."""
    if not files:
        return base
    blobs = dict(base.blobs)
    blobs.update((p, blob_id(c)) for p, c in files.items())

    def reader(paths: list[str]) -> Mapping[str, bytes]:
        mine = [p for p in paths if p not in files]
        out = dict(base.read_many(mine)) if mine else {}
        out.update((p, files[p]) for p in paths if p in files)
        return out

    return Tree(blobs, reader, name=base.name)
