"""Module summaries (and configuration files) cached by content id, in memory and on disk.

Blob ids name content, so an entry never goes stale: a second run over the same commit,
or a pull request that changes one file, re-parses only what it has not seen. Entries are
keyed by blob id, summary format version and (only for files that test
`sys.version_info`) the target Python version. The disk store is one SQLite file; every
entry carries a digest, and one that fails to verify or decode is dropped, never trusted.
Cold parsing of many files is spread over the CPU cores.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import multiprocessing
import os
import sqlite3
import sys
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from cachetools import LRUCache

from reviewbot import config as config_module
from reviewbot import forkshare
from reviewbot import model as model_module
from reviewbot.config import Config, config_from_plain, config_to_plain, load_config
from reviewbot.importcheck import gc_paused
from reviewbot.model import CONFIG_PATH
from reviewbot.summary import SOURCE_FILES, SUMMARY_VERSION, ModuleSummary, summarize
from reviewbot.tree import Tree

PARALLEL_MIN_BYTES = 1_500_000


def default_cache_dir() -> Path:
    env = os.environ.get("REVIEWBOT_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "reviewbot"


# Summaries are trusted only by the summariser that wrote them, configurations only by
# the parser (and the model) that wrote them.
def summariser_id(host: tuple[int, ...] = tuple(sys.version_info[:2])) -> str:
    """The summariser's code and the host's version: it is the parser, and what it accepts
    decides verdicts, so a cache filled under 3.11 is never read under 3.12."""
    return hashlib.sha1(b"".join(p.read_bytes() for p in SOURCE_FILES)
                        + repr(tuple(host)).encode()).hexdigest()[:12]


_SUMMARISER = summariser_id()
_CONFIG_PARSER = hashlib.sha1(b"".join(
    Path(m.__file__).read_bytes() for m in (config_module, model_module))).hexdigest()[:12]


def _key(blob: str, version: tuple[int, int] | None) -> str:
    suffix = f"{version[0]}.{version[1]}" if version else "*"
    return f"{blob}:{_SUMMARISER}:{suffix}"


def _encode(value) -> bytes:
    """marshal bytes behind a digest of them, so corruption is detected, not trusted."""
    payload = marshal.dumps(value)
    return hashlib.blake2b(payload, digest_size=16).digest() + payload


def _decode(data: bytes):
    try:
        digest, payload = data[:16], data[16:]
        if hashlib.blake2b(payload, digest_size=16).digest() != digest:
            return None
        return marshal.loads(payload)
    except Exception:  # any corruption means: not cached
        return None


def _decode_summary(data: bytes) -> ModuleSummary | None:
    plain = _decode(data)
    try:
        return None if plain is None else ModuleSummary.from_plain(plain)
    except Exception:  # a well-formed blob of the wrong shape is corruption too
        return None


class DiskStore:
    """A SQLite table of encoded summaries; every failure degrades to a cache miss."""

    def __init__(self, directory: Path):
        self.path = directory / f"summaries-v{SUMMARY_VERSION}.sqlite"
        self._db: sqlite3.Connection | None = None
        try:
            directory.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=5, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS summaries (key TEXT PRIMARY KEY, data BLOB)")
            db.execute("CREATE TABLE IF NOT EXISTS results "
                       "(key TEXT, variant TEXT, data BLOB, PRIMARY KEY (key, variant))")
            db.execute("CREATE TABLE IF NOT EXISTS configs (key TEXT PRIMARY KEY, data BLOB)")
            self._db = db
        except (OSError, sqlite3.Error) as exc:
            print(f"reviewbot: cache disabled ({self.path}: {exc})", file=sys.stderr)

    def get_many(self, keys: list[str]) -> dict[str, ModuleSummary]:
        if self._db is None or not keys:
            return {}
        out: dict[str, ModuleSummary] = {}
        bad: list[str] = []
        try:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, data FROM summaries WHERE key IN ({marks})", chunk
                )
                for key, data in rows:
                    value = _decode_summary(data) if isinstance(data, bytes) else None
                    if value is None:
                        bad.append(key)
                    else:
                        out[key] = value
            if bad:
                self._db.executemany("DELETE FROM summaries WHERE key = ?", [(k,) for k in bad])
        except sqlite3.Error:
            return out
        return out

    def put_many(self, items: dict[str, ModuleSummary]) -> None:
        if self._db is None or not items:
            return
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT OR REPLACE INTO summaries (key, data) VALUES (?, ?)",
                    [(k, _encode(v.to_plain())) for k, v in items.items()],
                )
        except sqlite3.Error:
            pass

    def get_config(self, key: str):
        """A configuration in plain form stored by `put_config`, or None."""
        if self._db is None:
            return None
        try:
            row = self._db.execute("SELECT data FROM configs WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error:
            return None
        return _decode(row[0]) if row and isinstance(row[0], bytes) else None

    def put_config(self, key: str, value: tuple) -> None:
        if self._db is None:
            return
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("INSERT OR REPLACE INTO configs (key, data) VALUES (?, ?)",
                             (key, _encode(value)))

    def get_variants(self, keys: list[str]) -> dict[str, dict[str, tuple]]:
        if self._db is None or not keys:
            return {}
        out: dict[str, dict[str, tuple]] = {}
        try:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, variant, data FROM results WHERE key IN ({marks})", chunk)
                for key, variant, data in rows:
                    value = _decode(data) if isinstance(data, bytes) else None
                    if value is not None:
                        out.setdefault(key, {})[variant] = value
        except sqlite3.Error:
            pass
        return out

    def put_variants(self, items: list[tuple[str, str, tuple]]) -> None:
        """(key, variant, value) rows in one transaction: one WAL commit, not one each."""
        if self._db is None or not items:
            return
        with contextlib.suppress(sqlite3.Error), self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO results (key, variant, data) "
                                 "VALUES (?, ?, ?)",
                                 [(k, v, _encode(value)) for k, v, value in items])


class SummaryCache:
    """Summaries for the files of any tree, parsed at most once per content."""

    def __init__(self, directory: Path | None = None, *, disk: bool = True,
                 memory_items: int = 50_000, workers: int | None = None,
                 resident: bool = False):
        """`resident=False` parses a bulk in this process and forked copies of it (the
        CLI: one run, one thread; a pool that ends with the parse where fork is not
        available). `resident=True` keeps one pool until `close`, its workers forked
        by a clean single-threaded server process ("forkserver"), never by this one: safe
        in a threaded program such as the webhook server, and started once."""
        self.memory: LRUCache = LRUCache(maxsize=memory_items)
        self.results: LRUCache = LRUCache(maxsize=20_000)
        self.configs: LRUCache = LRUCache(maxsize=256)  # configuration files, in plain form
        self.disk = DiskStore(directory or default_cache_dir()) if disk else None
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self.parsed = 0  # files parsed by this cache (for benchmarks and tests)
        self.resident = resident
        self._pool: ProcessPoolExecutor | None = None
        self._unwritten: list[tuple[str, str, tuple]] = []  # outcomes not on disk yet

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _resident_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["reviewbot.summary"])
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)
        return self._pool

    def _lookup_memory(self, blob: str, version: tuple[int, int]) -> ModuleSummary | None:
        hit = self.memory.get(_key(blob, None))
        if hit is None:
            hit = self.memory.get(_key(blob, version))
        return hit

    def prefetch(self, tree: Tree, paths: Iterable[str], version: tuple[int, int]) -> None:
        """Make sure the given files have summaries in memory, parsing misses in bulk."""
        wanted = {tree.blobs[p]: p for p in paths if p in tree.blobs}
        missing = [b for b in wanted if self._lookup_memory(b, version) is None]
        if not missing:
            return
        if self.disk is not None:
            keys = [_key(b, None) for b in missing] + [_key(b, version) for b in missing]
            found = self.disk.get_many(keys)
            for key, summary in found.items():
                self.memory[key] = summary
            missing = [b for b in missing if self._lookup_memory(b, version) is None]
        if not missing:
            return
        contents = tree.read_many(wanted[b] for b in missing)
        jobs = [(wanted[b], contents[wanted[b]]) for b in missing]
        summaries = self._summarize_all(jobs, version)
        fresh: dict[str, ModuleSummary] = {}
        for blob, summary in zip(missing, summaries, strict=True):
            key = _key(blob, version if summary.version_dependent else None)
            self.memory[key] = summary
            fresh[key] = summary
        self.parsed += len(fresh)
        tree.forget(wanted[b] for b in missing)
        if self.disk is not None:
            self.disk.put_many(fresh)

    def _summarize_all(self, jobs: list[tuple[str, bytes]],
                       version: tuple[int, int]) -> list[ModuleSummary]:
        total = sum(len(c) for _, c in jobs)
        if self.workers < 2 or total < PARALLEL_MIN_BYTES or len(jobs) < 8:
            return [summarize(content, path, version) for path, content in jobs]
        if not self.resident and forkshare.available():
            # The CLI: this process parses too, beside forked copies of it, and keeps its
            # share without sending it anywhere (less time than a pool: docs/performance.md).
            with gc_paused():
                return forkshare.fork_share(
                    jobs, lambda job: summarize(job[1], job[0], version),
                    ModuleSummary.to_plain, ModuleSummary.from_plain,
                    processes=self.workers)
        # Interleave by size so each worker gets a similar share of bytes.
        order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i][1]))
        shares: list[list[int]] = [[] for _ in range(self.workers)]
        loads = [0] * self.workers
        for i in order:
            w = loads.index(min(loads))
            shares[w].append(i)
            loads[w] += len(jobs[i][1])
        try:
            if self.resident:
                return _run_shares(self._resident_pool(), shares, jobs, version)
            ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
            with ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx) as pool:
                return _run_shares(pool, shares, jobs, version)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): parse here this time, and start a
            # new pool next time.
            self.close()
            return [summarize(content, path, version) for path, content in jobs]

    def get(self, tree: Tree, path: str, version: tuple[int, int]) -> ModuleSummary:
        blob = tree.blobs[path]
        hit = self._lookup_memory(blob, version)
        if hit is None:
            self.prefetch(tree, [path], version)
            hit = self._lookup_memory(blob, version)
        return hit

    def get_results(self, keys: list[str]) -> dict[str, dict[str, tuple]]:
        """Recorded handler outcomes by key, each as {variant: plain tuple}: one handler
        definition has one variant per content of the files it loads (base and head of a
        pull request side by side). See reviewbot.outcomes."""
        out = {k: self.results[k] for k in keys if k in self.results}
        missing = [k for k in keys if k not in out]
        if missing and self.disk is not None:
            found = self.disk.get_variants(missing)
            for key in missing:
                out[key] = self.results[key] = found.get(key, {})
        return out

    def put_result(self, key: str, variant: str, value: tuple) -> None:
        """Kept in memory now, on disk at the next `flush` (or every 500)."""
        variants = self.results.get(key)
        if variants is None:
            variants = self.results[key] = {}
        variants[variant] = value
        if self.disk is not None:
            self._unwritten.append((key, variant, value))
            if len(self._unwritten) >= 500:
                self.flush()

    def flush(self) -> None:
        """Write the outcomes kept since the last flush to disk."""
        rows, self._unwritten = self._unwritten, []
        if self.disk is not None:
            self.disk.put_variants(rows)

    def config(self, tree: Tree, path: str = CONFIG_PATH) -> Config:
        """`load_config` of the file `path` of `tree`, parsed and validated once per
        content: kept in plain form by blob id (and the parser's source, as summaries are)."""
        if path not in tree:
            return load_config(None, path)
        key = f"{tree.blobs[path]}:{_CONFIG_PARSER}:{path}"
        plain = self.configs.get(key)
        if plain is None and self.disk is not None:
            plain = self.disk.get_config(key)
        if plain is not None:
            try:
                config = config_from_plain(plain)
            except (TypeError, ValueError):
                pass  # the wrong shape is a miss, as corruption is
            else:
                self.configs[key] = plain
                return config
        config = load_config(tree.read(path), path)  # ConfigError is never cached
        plain = self.configs[key] = config_to_plain(config)
        if self.disk is not None:
            self.disk.put_config(key, plain)
        return config

    def provider(self, tree: Tree):
        """A `SummaryProvider` for the import check over one tree."""
        return lambda path, version: self.get(tree, path, version)


def _run_shares(pool: ProcessPoolExecutor, shares: list[list[int]],
                jobs: list[tuple[str, bytes]], version: tuple[int, int]) -> list[ModuleSummary]:
    futures = [(share, pool.submit(_summarize_batch, [jobs[i] for i in share], version))
               for share in shares if share]
    results: list[ModuleSummary | None] = [None] * len(jobs)
    for share, future in futures:
        for i, plain in zip(share, future.result(), strict=True):
            results[i] = ModuleSummary.from_plain(plain)
    return results  # type: ignore[return-value]


def _summarize_batch(jobs: list[tuple[str, bytes]], version: tuple[int, int]) -> list[tuple]:
    import gc

    gc.disable()
    return [summarize(content, path, version).to_plain() for path, content in jobs]
