"""What one wheel installs, read from the archive without running anything from it.

A build unzips each wheel into the package (`*.data/purelib` and `platlib` moved up), so the
files a function imports are the archive's paths. The import names are the top-level
entries of those paths (`RECORD` lists them; `top_level.txt`, where present, agrees). The
archive is untrusted: a path that leaves the package, an entry bigger than the cap, or a
total that inflates past it is refused with a reason, not extracted.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

MAX_UNPACKED = 256 * 1024 * 1024  # bytes read out of one wheel
MAX_RATIO = 200  # uncompressed / compressed, per entry: beyond this it is a zip bomb
_DATA = re.compile(r"^[^/]+\.data/(?:purelib|platlib)/")
_EXTENSION = re.compile(r"\.(?:so|pyd)$|\.abi3\.so$")


class WheelError(Exception):
    """The wheel cannot be read safely; the message says why."""


@dataclass(frozen=True)
class WheelContents:
    """The installed files of one wheel that an import check reads."""

    name: str  # the distribution, as its file name spells it
    top_level: frozenset[str]  # import names it installs (packages, modules, extensions)
    sources: dict[str, bytes] = field(repr=False)  # installed path -> .py source
    extensions: tuple[str, ...] = ()  # installed paths of compiled modules
    namespaces: frozenset[str] = frozenset()  # top-level folders with no __init__.py


def installed_path(member: str) -> str | None:
    """Where a wheel member lands in the package; None for metadata and scripts."""
    if _DATA.match(member):
        return _DATA.sub("", member)
    head = member.split("/", 1)[0]
    if head.endswith((".dist-info", ".data")):
        return None
    return member


def _safe(member: str) -> bool:
    if member.startswith("/") or "\\" in member or re.match(r"^[A-Za-z]:", member):
        return False
    norm = posixpath.normpath(member)
    return not (norm == ".." or norm.startswith("../"))


def _import_name(path: str) -> str | None:
    """The top-level import name a path installs (`pkg/x.py` -> pkg, `m.py` -> m)."""
    head, sep, _ = path.partition("/")
    if sep:
        return head if head.isidentifier() else None
    stem = head.split(".", 1)[0]
    if head.endswith(".py") or _EXTENSION.search(head):
        return stem if stem.isidentifier() else None
    return None


def read_wheel(path: Path, *, max_unpacked: int = MAX_UNPACKED) -> WheelContents:
    """Read the importable files of the wheel at `path`. Raises WheelError."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise WheelError(f"{path.name} is not a readable wheel ({exc})") from None
    with archive:
        infos = archive.infolist()
        total = 0
        for info in infos:
            if not _safe(info.filename):
                raise WheelError(f"{path.name} holds a path outside the package: "
                                 f"{info.filename!r}")
            total += info.file_size
            if info.compress_size and info.file_size > MAX_RATIO * info.compress_size \
                    and info.file_size > 1024 * 1024:
                raise WheelError(f"{path.name}: {info.filename} inflates {info.file_size} "
                                 f"bytes from {info.compress_size} (a zip bomb?)")
        if total > max_unpacked:
            raise WheelError(f"{path.name} unpacks to {total} bytes, over the "
                             f"{max_unpacked}-byte cap")
        sources: dict[str, bytes] = {}
        extensions: list[str] = []
        top: set[str] = set()
        packages: set[str] = set()
        for info in infos:
            if info.is_dir():
                continue
            target = installed_path(info.filename)
            if target is None:
                continue
            name = _import_name(target)
            if name is None:
                continue
            top.add(name)
            if target.endswith("/__init__.py") and target.count("/") == 1:
                packages.add(name)
            if target.endswith(".py"):
                sources[target] = _read(archive, info)
            elif _EXTENSION.search(target):
                extensions.append(target)
    folders = {t for t in top if any(p.startswith(t + "/") for p in (*sources, *extensions))}
    return WheelContents(path.name.split("-", 1)[0], frozenset(top), sources,
                         tuple(extensions), frozenset(folders - packages))


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    with archive.open(info) as handle:
        data = handle.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise WheelError(f"{info.filename}: size does not match the archive's directory")
    return data
