"""A handler check's outcome as the result cache stores it, and when a stored one is trusted.

An outcome depends only on the handler's definition, the files it loads and which paths
exist under its import roots. It is stored under a key made of the engine's fingerprint,
the definition and a signature of the paths under each root, in one variant per digest of
the loaded files' contents; a variant is trusted only while every file it loaded still has
the same content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reviewbot.checkresult import HandlerResult
from reviewbot.fileset import FileSet, PathIndex
from reviewbot.model import Finding, Handler

# The code that decides an outcome: modules and packages of reviewbot.
# Every module the check imports, directly or not (tests/test_outcomes.py keeps it so).
ENGINE_SOURCES = (
    "checkresult.py",
    "importcheck.py",
    "localproject.py",
    "lockfiles.py",
    "model.py",
    "modulestate.py",
    "package.py",
    "replay.py",
    "requirements.py",
    "resolve.py",
    "stdlib.py",
    "data/stdlib.json.gz",  # the tables decide verdicts too
    "summary",
    "thirdparty.py",
    "tree.py",
    "wording.py",
)


def _engine_fingerprint() -> str:
    """A digest of the engine's own source: a recorded outcome is only trusted by the
    engine that recorded it, with no version number to forget to bump."""
    here = Path(__file__).parent
    digest = hashlib.sha1()
    for name in ENGINE_SOURCES:
        path = here / name
        for file in sorted(path.glob("*.py")) if path.is_dir() else (path,):
            digest.update(file.read_bytes())
    return digest.hexdigest()


ENGINE = _engine_fingerprint()


@dataclass(frozen=True)
class Closure:
    """What a check found, without the import graph: enough to tell whether a change
    reaches a handler, and its findings. Cached across runs (see Analysis.closures)."""

    files: FileSet | frozenset[str]
    errors: tuple[Finding, ...]
    warnings: tuple[Finding, ...]

    @classmethod
    def of(cls, result: HandlerResult) -> Closure:
        return cls(result.files, tuple(result.errors), tuple(result.warnings))


@dataclass(frozen=True)
class Outcome:
    """A check's closure and findings as stored; `result`, with the import graph, only
    when the check ran in this process."""

    files: FileSet
    digest: str | None  # of the files' blob ids, in the set's order (None: one is not in the tree)
    errors: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    result: HandlerResult | None = None

    @classmethod
    def of(cls, result: HandlerResult, blobs: Mapping[str, str], keep: bool,
           roots: Sequence[PathIndex]) -> Outcome:
        """`keep`: whether to keep the import graph with it; `roots`: the handler's
        import roots' paths."""
        files = FileSet.of(result.paths.values(), roots)
        return cls(files, files_digest(blobs, files), tuple(result.errors),
                   tuple(result.warnings), result if keep else None)

    def closure(self) -> Closure:
        return Closure(self.files, self.errors, self.warnings)

    def record(self) -> tuple:
        """The plain tuple the cache stores (findings without their handler's name)."""
        def plain(findings: tuple[Finding, ...]) -> tuple:
            return tuple((f.path, f.line, f.kind, f.message) for f in findings)
        return self.files.packed(), self.digest, plain(self.errors), plain(self.warnings)

    def pack(self) -> tuple:
        """The outcome as a forked child sends it (its files as masks, not strings)."""
        return self.files.packed(), self.digest, self.errors, self.warnings

    @classmethod
    def unpack(cls, packed: tuple, root: Callable[[str], PathIndex]) -> Outcome:
        files, digest, errors, warnings = packed
        return cls(FileSet.unpacked(files, root), digest, errors, warnings)


def outcome_key(handler: Handler, third_party: Iterable[str],
                root_signatures: Iterable[str]) -> str:
    """The cache key of a handler's outcomes: the engine, the definition, the configured
    third-party modules and the signatures of its import roots."""
    parts = [
        ENGINE, handler.handler, repr(handler.roots),
        handler.runtime, str(handler.complete), handler.source, str(handler.line),
        repr(sorted(third_party)), repr(handler.layer_modules), repr(handler.unknown_layers),
        *root_signatures,
    ]
    return hashlib.sha1("\0".join(parts).encode()).hexdigest()


def root_signature(paths: list[str], blobs: Mapping[str, str]) -> str:
    """A digest of every path under an import root: resolution can change only if it
    changes (a file added, removed or renamed), and requirements files with it."""
    digest = hashlib.sha1("\n".join(paths).encode())
    for p in paths:
        if p.rpartition("/")[2].startswith("requirements") and p.endswith(".txt"):
            digest.update(blobs[p].encode())
    return digest.hexdigest()


def files_digest(blobs: Mapping[str, str], files: Iterable[str]) -> str | None:
    """A digest of the files' blob ids, or None when one of them is not in the tree."""
    try:
        joined = "".join(map(blobs.__getitem__, files))
    except KeyError:
        return None
    return hashlib.sha1(joined.encode()).hexdigest()


def valid_closure(handler: Handler, variants: dict[str, tuple] | None,
                  blobs: Mapping[str, str], root: Callable[[str], PathIndex]) -> Closure | None:
    """The closure of the stored variant whose files still have their recorded content.
    `root`: the paths under an import root of the handler, by its name."""
    for record in (variants or {}).values():
        try:
            packed, digest, errors, warnings = record
            files = FileSet.unpacked(packed, root)
            if files_digest(blobs, files) != digest:
                continue
            return Closure(files,
                           tuple(Finding(handler.name, *f) for f in errors),
                           tuple(Finding(handler.name, *f) for f in warnings))
        except (TypeError, ValueError):
            continue  # a malformed entry is a miss
    return None
