"""Pinned wheels, fetched once, checked against their hash, kept on disk by hash.

The store is shared by every check on the machine (CLI runs, the App's workers): a wheel is
keyed by its sha256, so the same file is never fetched twice, and the least recently used
are evicted beyond a size cap. Downloads are bounded in time and size; a wheel over the cap
or whose bytes do not match the lock's hash is refused with a reason.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from reviewbot.dependencies.lock import IndexConfig, PinnedWheel

MAX_WHEEL = 200 * 1024 * 1024  # bytes of one wheel
STORE_CAP = 4 * 1024 * 1024 * 1024  # bytes kept on disk before the oldest are evicted
FETCH_TIMEOUT = 30  # seconds without data before a download is abandoned
_CHUNK = 1 << 20


class FetchError(Exception):
    """The wheel could not be had; the message says why."""


@dataclass(frozen=True)
class StoredWheel:
    wheel: PinnedWheel
    path: Path


def _authorization(url: str, index: IndexConfig) -> str | None:
    """Basic credentials of the configured index on the same host, if it has any (a
    private index such as CodeArtifact serves its files from its own host)."""
    host = urllib.parse.urlsplit(url).hostname
    for configured in (index.default, *index.extra):
        if not configured:
            continue
        parts = urllib.parse.urlsplit(configured)
        if parts.hostname == host and parts.username is not None:
            pair = f"{urllib.parse.unquote(parts.username)}:" \
                   f"{urllib.parse.unquote(parts.password or '')}"
            return "Basic " + base64.b64encode(pair.encode()).decode()
    return None


class WheelStore:
    def __init__(self, directory: Path, index: IndexConfig | None = None, *,
                 cap: int = STORE_CAP, max_wheel: int = MAX_WHEEL,
                 timeout: float = FETCH_TIMEOUT):
        self.directory = directory
        self.index = index if index is not None else IndexConfig.from_env()
        self.cap = cap
        self.max_wheel = max_wheel
        self.timeout = timeout
        self.fetched = 0  # downloads made (a warm store makes none)

    def path(self, wheel: PinnedWheel) -> Path:
        return self.directory / f"{wheel.sha256}.whl"

    def get(self, wheel: PinnedWheel) -> StoredWheel:
        """The wheel on disk, fetched if absent. Raises FetchError."""
        if len(wheel.sha256) != 64:
            raise FetchError(f"{wheel.filename}: the lock gives no sha256 to check it by")
        path = self.path(wheel)
        if path.exists():
            os.utime(path)  # recently used
            return StoredWheel(wheel, path)
        if wheel.size is not None and wheel.size > self.max_wheel:
            raise FetchError(f"{wheel.filename} is {wheel.size} bytes, over the "
                             f"{self.max_wheel}-byte cap")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._download(wheel, path)
        self.fetched += 1
        self._evict(keep=path)
        return StoredWheel(wheel, path)

    def _download(self, wheel: PinnedWheel, path: Path) -> None:
        request = urllib.request.Request(wheel.url, headers={"User-Agent": "reviewbot"})
        auth = _authorization(wheel.url, self.index)
        if auth:
            request.add_unredirected_header("Authorization", auth)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, \
                    urllib.request.urlopen(request, timeout=self.timeout) as response:
                while chunk := response.read(_CHUNK):
                    size += len(chunk)
                    if size > self.max_wheel:
                        raise FetchError(f"{wheel.filename} is over the {self.max_wheel}-byte "
                                         f"cap")
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != wheel.sha256:
                raise FetchError(f"{wheel.filename}: sha256 {digest.hexdigest()} is not the "
                                 f"locked {wheel.sha256}")
            os.replace(tmp, path)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise FetchError(f"{wheel.filename} could not be fetched ({exc})") from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _evict(self, keep: Path) -> None:
        entries = []
        for entry in self.directory.glob("*.whl"):
            try:
                stat = entry.stat()
            except OSError:
                continue
            entries.append((stat.st_mtime, stat.st_size, entry))
        total = sum(size for _, size, _ in entries)
        for _, size, entry in sorted(entries, key=lambda e: e[0]):
            if total <= self.cap:
                break
            if entry == keep:
                continue
            try:
                entry.unlink()
            except OSError:
                continue
            total -= size
