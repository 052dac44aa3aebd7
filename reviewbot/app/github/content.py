"""Repository content at exact SHAs, with as few requests as work on large repositories.

- Paths and blob ids come from `git/trees/{sha}?recursive=1` (one call; when GitHub
  truncates the listing, the subtrees are walked instead).
- File contents are read lazily by the analysis through `Tree`'s batch reader, served from
  a content-addressed blob store; misses are fetched with `git/blobs/{sha}` concurrently.
- When many of the files the analysis needs are missing (a cold store), the tarball of the
  head commit is downloaded once and extracted in memory, safely: no absolute or `..`
  paths, no links or devices, caps per file and in total, and only the kinds of files the
  analysis reads. Every extracted file is stored under its computed blob id, so content
  from the tarball can never be mistaken for another version.
- Changed files come from comparing the blob maps of the merge base and the head, so a
  pull request with more than the 3,000 files the PR files API lists is still complete.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import posixpath
import tarfile
import threading
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from cachetools import LRUCache
from gidgethub import BadRequest

from reviewbot.tree import Tree, blob_id

log = logging.getLogger("reviewbot.content")

# Bounds against abuse, not sizes a real repository meets (docs/github-app.md, "Size
# bounds"): the files a 50,000-module monorepo's check reads are about 330 MB.
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_TARBALL_BYTES = 1024 * 1024 * 1024  # compressed download
MAX_EXTRACT_BYTES = 1024 * 1024 * 1024  # extracted files kept, in total
MAX_JOB_FETCH_BYTES = 1024 * 1024 * 1024
TARBALL_THRESHOLD = 40  # more missing blobs than this: one tarball instead
BLOB_CONCURRENCY = 8

WANTED_SUFFIXES = (".py", ".pyi", ".yml", ".yaml", ".json", ".template", ".tf", ".tfvars",
                   ".toml", ".cfg")


class ContentError(Exception):
    """Content needed for the analysis cannot be read; the message says which and why."""


def wanted(path: str) -> bool:
    """The files the analysis reads: Python, requirements, deployment files, the config."""
    name = posixpath.basename(path).lower()
    if name.startswith("requirements") and name.endswith((".txt", ".in")):
        return True
    return name.endswith(WANTED_SUFFIXES)


class BlobStore:
    """Contents by git blob id, bounded by total bytes (LRU). Thread-safe."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024):
        self._data: LRUCache = LRUCache(maxsize=max_bytes, getsizeof=lambda b: max(len(b), 1))
        self._lock = threading.Lock()

    def get(self, sha: str) -> bytes | None:
        with self._lock:
            return self._data.get(sha)

    def __contains__(self, sha: str) -> bool:
        with self._lock:
            return sha in self._data

    def put(self, data: bytes, sha: str | None = None) -> str:
        computed = blob_id(data)
        if sha is not None and sha != computed:
            raise ContentError(f"blob {sha} has content of blob {computed}")
        if len(data) < self._data.maxsize:
            with self._lock:
                self._data[computed] = data
        return computed


# -- tarballs -----------------------------------------------------------------------------

@dataclass
class Extracted:
    files: dict[str, bytes] = field(default_factory=dict)  # repo path -> content
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (member name, reason)
    total: int = 0


def extract_tarball(data: bytes, *, only=wanted, max_file: int = MAX_FILE_BYTES,
                    max_total: int = MAX_EXTRACT_BYTES) -> Extracted:
    """Read a GitHub tarball in memory (nothing is written to disk). The archive's single
    top folder (`owner-repo-sha/`) is stripped."""
    out = Extracted()
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            for member in archive:
                _take(archive, member, out, only, max_file, max_total)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ContentError(f"unreadable tarball: {exc}") from None
    return out


def _take(archive: tarfile.TarFile, member: tarfile.TarInfo, out: Extracted, only,
          max_file: int, max_total: int) -> None:
    name = member.name
    if member.isdir() or member.type in (tarfile.XGLTYPE, tarfile.XHDTYPE):
        return
    if member.issym() or member.islnk():
        out.skipped.append((name, "link"))
        return
    if not member.isreg():
        out.skipped.append((name, "not a regular file"))
        return
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        out.skipped.append((name, "absolute path"))
        return
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        out.skipped.append((name, "path escapes the archive (..)"))
        return
    rel = "/".join(p for p in parts[1:] if p not in ("", "."))
    if not rel:
        return
    if not only(rel):
        return
    if member.size > max_file:
        out.skipped.append((name, f"larger than {max_file} bytes"))
        return
    if out.total + member.size > max_total:
        out.skipped.append((name, "total size cap reached"))
        return
    handle = archive.extractfile(member)
    if handle is None:
        out.skipped.append((name, "unreadable"))
        return
    content = handle.read(max_file + 1)
    if len(content) > max_file:
        out.skipped.append((name, f"larger than {max_file} bytes"))
        return
    out.files[rel] = content
    out.total += len(content)


# -- trees ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    sha: str
    size: int


class RepoContent:
    """Trees and blobs of one repository for one job, through one GitHub client."""

    def __init__(self, gh, repo: str, store: BlobStore, *,
                 loop: asyncio.AbstractEventLoop | None = None,
                 threshold: int = TARBALL_THRESHOLD, metrics=None,
                 commits: LRUCache | None = None):
        self.gh = gh
        # Answers about commits never change: listings, merge bases and config files by
        # sha are kept across jobs (a push to a PR re-reads none of its base's).
        self.commits = commits if commits is not None else LRUCache(maxsize=1)
        self.repo = repo
        self.store = store
        self.loop = loop
        self.threshold = threshold
        self.fetched_bytes = 0
        self.blob_requests = 0
        self.tarballs = 0
        self.skipped: list[tuple[str, str]] = []
        self._sem = asyncio.Semaphore(BLOB_CONCURRENCY)

    async def listing(self, sha: str) -> dict[str, Entry]:
        """Every regular file of commit `sha`: path -> (blob id, size). Symlinks and
        submodules are left out (Lambda packages neither as Python files)."""
        key = ("listing", self.repo, sha)
        if key not in self.commits:
            self.commits[key] = await self._listing(sha)
        return self.commits[key]

    async def _listing(self, sha: str) -> dict[str, Entry]:
        data = await self.gh.getitem(f"/repos/{self.repo}/git/trees/{sha}?recursive=1")
        if not data.get("truncated"):
            return _files(data.get("tree", []), "")
        log.info("tree listing truncated, walking subtrees", extra={"repo": self.repo,
                                                                    "head_sha": sha})
        return await self._walk(sha, "")

    async def _walk(self, tree_sha: str, prefix: str) -> dict[str, Entry]:
        data = await self.gh.getitem(f"/repos/{self.repo}/git/trees/{tree_sha}")
        out = _files(data.get("tree", []), prefix)
        subtrees = [(e["sha"], f"{prefix}{e['path']}/") for e in data.get("tree", [])
                    if e.get("type") == "tree"]

        async def one(sub_sha: str, sub_prefix: str) -> dict[str, Entry]:
            listing = await self.gh.getitem(
                f"/repos/{self.repo}/git/trees/{sub_sha}?recursive=1")
            if listing.get("truncated"):
                return await self._walk(sub_sha, sub_prefix)
            return _files(listing.get("tree", []), sub_prefix)

        for part in await asyncio.gather(*(one(s, p) for s, p in subtrees)):
            out.update(part)
        return out

    async def merge_base(self, base: str, head: str) -> tuple[str, str]:
        """(merge base sha, resolved base sha) of `base...head`."""
        key = ("merge-base", self.repo, base, head)
        cacheable = _is_sha(base) and _is_sha(head)  # a branch name moves
        if cacheable and key in self.commits:
            return self.commits[key]
        data = await self.gh.getitem(
            f"/repos/{self.repo}/compare/{quote(base, safe='')}...{head}?per_page=1")
        answer = data["merge_base_commit"]["sha"], data["base_commit"]["sha"]
        if cacheable:
            self.commits[key] = answer
        return answer

    async def config(self, ref: str, path: str) -> bytes | None:
        """The config file at `ref`, or None when it does not exist."""
        key = ("config", self.repo, ref, path)
        if _is_sha(ref) and key in self.commits:
            return self.commits[key]
        raw = await self._config(ref, path)
        if _is_sha(ref):
            self.commits[key] = raw
        return raw

    async def _config(self, ref: str, path: str) -> bytes | None:
        try:
            data = await self.gh.getitem(
                f"/repos/{self.repo}/contents/{quote(path)}?ref={quote(ref, safe='')}")
        except BadRequest as exc:
            if exc.status_code == 404:
                return None
            raise
        if not isinstance(data, dict) or data.get("type") != "file":
            return None
        if data.get("encoding") == "base64" and data.get("content") is not None:
            return base64.b64decode(data["content"])
        return await self.blob(data["sha"])

    async def blob(self, sha: str) -> bytes:
        hit = self.store.get(sha)
        if hit is not None:
            return hit
        async with self._sem:
            data = await self.gh.getitem(f"/repos/{self.repo}/git/blobs/{sha}")
        self.blob_requests += 1
        if data.get("encoding") != "base64":
            raise ContentError(f"blob {sha}: unexpected encoding {data.get('encoding')!r}")
        content = base64.b64decode(data.get("content") or "")
        self.fetched_bytes += len(content)
        if self.fetched_bytes > MAX_JOB_FETCH_BYTES:
            raise ContentError(f"more than {MAX_JOB_FETCH_BYTES} bytes of files to read")
        self.store.put(content, sha)
        return content

    async def warm(self, listing: Mapping[str, Entry], sha: str) -> None:
        """Download the tarball of `sha` when many needed blobs are missing from the store."""
        missing = {e.sha for p, e in listing.items()
                   if wanted(p) and e.size <= MAX_FILE_BYTES and e.sha not in self.store}
        if len(missing) <= self.threshold:
            return
        log.info("blob store cold, downloading tarball", extra={
            "repo": self.repo, "head_sha": sha, "missing": len(missing)})
        try:
            data = await self.gh.get_bytes(f"/repos/{self.repo}/tarball/{sha}",
                                           max_bytes=MAX_TARBALL_BYTES)
        except Exception as exc:  # the per-blob path still works: degrade, do not fail
            log.warning("tarball download failed, reading blobs one by one", extra={
                "repo": self.repo, "head_sha": sha, "error": exc.__class__.__name__})
            return
        self.tarballs += 1
        loop = asyncio.get_running_loop()
        try:
            extracted = await loop.run_in_executor(None, extract_tarball, data)
        except ContentError as exc:
            log.warning("tarball unusable, reading blobs one by one", extra={
                "repo": self.repo, "head_sha": sha, "error": str(exc)})
            return
        for content in extracted.files.values():
            self.store.put(content)
        self.skipped.extend(extracted.skipped)
        if extracted.skipped:
            log.info("tarball entries skipped", extra={
                "repo": self.repo, "head_sha": sha, "skipped": len(extracted.skipped)})

    async def read(self, listing: Mapping[str, Entry], paths: Iterable[str]) -> dict[str, bytes]:
        paths = list(paths)
        for p in paths:
            if listing[p].size > MAX_FILE_BYTES:
                raise ContentError(f"{p} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB "
                                   "and cannot be analysed")
        contents = await asyncio.gather(*(self.blob(listing[p].sha) for p in paths))
        return dict(zip(paths, contents, strict=True))

    def tree(self, listing: Mapping[str, Entry], name: str) -> Tree:
        """A `Tree` whose reader runs on the event loop; call only from a worker thread."""
        loop = self.loop or asyncio.get_running_loop()

        def reader(paths: list[str]) -> dict[str, bytes]:
            future = asyncio.run_coroutine_threadsafe(self.read(listing, paths), loop)
            return future.result(timeout=600)

        return Tree({p: e.sha for p, e in listing.items()}, reader, name=name)


def _files(entries: list[dict], prefix: str) -> dict[str, Entry]:
    out = {}
    for e in entries:
        if e.get("type") != "blob" or e.get("mode") == "120000":
            continue
        out[prefix + e["path"]] = Entry(e["sha"], int(e.get("size") or 0))
    return out


def changed_files(base: Mapping[str, Entry], head: Mapping[str, Entry]) -> dict[str, str]:
    """path -> A/M/D between two listings, by blob id (complete for any number of files)."""
    out: dict[str, str] = {}
    for path, entry in head.items():
        old = base.get(path)
        if old is None:
            out[path] = "A"
        elif old.sha != entry.sha:
            out[path] = "M"
    for path in base:
        if path not in head:
            out[path] = "D"
    return out


def _is_sha(ref: str) -> bool:
    return len(ref) == 40 and all(c in "0123456789abcdef" for c in ref)
