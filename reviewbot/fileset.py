"""A handler's import closure held compactly: one byte per path under each import root.

Every handler of a monorepo keeps its closure (to tell whether a change reaches it) and
the result cache stores it. Handlers that share a layer load most of the same files, so
a set of paths per handler grew with handlers x layer; here each handler holds a mask
over its roots' sorted paths, which a `PathIndex` holds once per tree for every handler.
A stored mask is read back over the same paths only: the cache key holds a signature of
every path under each root (see outcomes.root_signature).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress


class PathIndex:
    """The sorted paths under one import root, and each one's position."""

    __slots__ = ("paths", "position", "root")

    def __init__(self, root: str, paths: list[str]):
        self.root = root
        self.paths = paths
        self.position = {p: i for i, p in enumerate(paths)}


class FileSet:
    """A set of paths: a mask over each of some roots' paths (a path under two roots is
    in the first's), and the paths under none of them."""

    __slots__ = ("_parts", "_rest")

    def __init__(self, parts: tuple[tuple[PathIndex, bytes], ...], rest: frozenset[str]):
        self._parts = parts
        self._rest = rest

    @classmethod
    def of(cls, paths: Iterable[str], roots: Sequence[PathIndex]) -> FileSet:
        left = set(paths)
        parts = []
        for index in roots:  # (in C: a handler's closure is thousands of paths)
            mask = bytes(map(left.__contains__, index.paths))
            left.difference_update(compress(index.paths, mask))
            parts.append((index, mask))
        return cls(tuple(parts), frozenset(left))

    def __iter__(self) -> Iterator[str]:
        """Root by root, each root's paths in sorted order; then the others, sorted."""
        for index, mask in self._parts:
            yield from compress(index.paths, mask)
        yield from sorted(self._rest)

    def __contains__(self, path: object) -> bool:
        for index, mask in self._parts:
            at = index.position.get(path)  # type: ignore[call-overload]
            if at is not None:
                return bool(mask[at])
        return path in self._rest

    def __len__(self) -> int:
        return sum(mask.count(1) for _, mask in self._parts) + len(self._rest)

    def __and__(self, other: Iterable[str]) -> set[str]:
        return {p for p in other if p in self}

    def isdisjoint(self, other: Iterable[str]) -> bool:
        return not any(p in self for p in other)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FileSet | frozenset | set):
            return frozenset(self) == frozenset(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FileSet({sorted(self)!r})"

    def packed(self) -> tuple:
        """Plain values the cache and a forked child's pipe carry: each root's name and
        its mask (compressed: mostly runs of zeros), and the other paths."""
        return (tuple((index.root, zlib.compress(mask, 1)) for index, mask in self._parts),
                tuple(sorted(self._rest)))

    @classmethod
    def unpacked(cls, packed: tuple, root: Callable[[str], PathIndex]) -> FileSet:
        """The set `packed` describes, over the roots' paths here. ValueError when it
        does not fit them (a malformed or foreign record)."""
        parts, rest = packed
        out = []
        for name, data in parts:
            index = root(name)
            try:
                mask = zlib.decompress(data)
            except zlib.error as exc:
                raise ValueError(str(exc)) from None
            if len(mask) != len(index.paths) or mask.strip(b"\0\1"):
                raise ValueError(f"a mask of {len(mask)} paths for {len(index.paths)}")
            out.append((index, mask))
        return cls(tuple(out), frozenset(rest))
