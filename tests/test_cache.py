"""The summary cache: parse once per content, survive a new process, never trust corruption."""

from __future__ import annotations

import os
import sqlite3
import sys

import pytest

from reviewbot.cache import SummaryCache
from reviewbot.summary import summarize
from reviewbot.tree import Tree

FILES = {
    "pkg/__init__.py": "from .a import A\n",
    "pkg/a.py": "A = 1\n",
    "pkg/v.py": "import sys\nif sys.version_info >= (3, 12):\n    NEW = 1\n",
}


def test_second_run_parses_nothing(tmp_path):
    tree = Tree.from_files(FILES)
    first = SummaryCache(tmp_path)
    first.prefetch(tree, list(FILES), (3, 12))
    assert first.parsed == 3
    second = SummaryCache(tmp_path)  # a new process: empty memory, same disk
    second.prefetch(tree, list(FILES), (3, 12))
    assert second.parsed == 0
    assert second.get(tree, "pkg/a.py", (3, 12)).names == summarize(b"A = 1\n", "a.py").names


def test_one_changed_file_is_the_only_one_parsed(tmp_path):
    cache = SummaryCache(tmp_path)
    cache.prefetch(Tree.from_files(FILES), list(FILES), (3, 12))
    changed = dict(FILES, **{"pkg/a.py": "A = 2\nB = 3\n"})
    again = SummaryCache(tmp_path)
    again.prefetch(Tree.from_files(changed), list(changed), (3, 12))
    assert again.parsed == 1


def test_version_dependent_summaries_are_kept_per_version(tmp_path):
    tree = Tree.from_files(FILES)
    cache = SummaryCache(tmp_path)
    assert "NEW" in cache.get(tree, "pkg/v.py", (3, 12)).names
    assert "NEW" not in cache.get(tree, "pkg/v.py", (3, 11)).names
    # the version-independent file is shared between versions
    cache.get(tree, "pkg/a.py", (3, 11))
    cache.get(tree, "pkg/a.py", (3, 12))
    assert cache.parsed == 3


def test_corrupt_entries_are_ignored_and_replaced(tmp_path):
    tree = Tree.from_files(FILES)
    SummaryCache(tmp_path).prefetch(tree, list(FILES), (3, 12))
    [db_path] = tmp_path.glob("*.sqlite")
    db = sqlite3.connect(db_path)
    rows = db.execute("SELECT key, data FROM summaries").fetchall()
    for i, (key, data) in enumerate(rows):
        bad = [b"", b"garbage", data[:-3], data[:16] + b"\x00" + data[17:]][i % 4]
        db.execute("UPDATE summaries SET data = ? WHERE key = ?", (bad, key))
    db.commit()
    db.close()
    cache = SummaryCache(tmp_path)
    cache.prefetch(tree, list(FILES), (3, 12))
    assert cache.parsed == 3  # nothing corrupt was trusted
    assert cache.get(tree, "pkg/__init__.py", (3, 12)).names["A"][0] == 2
    third = SummaryCache(tmp_path)
    third.prefetch(tree, list(FILES), (3, 12))
    assert third.parsed == 0  # and the good entries were written back


def test_unwritable_cache_dir_degrades_to_memory(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    cache = SummaryCache(blocker / "sub")
    tree = Tree.from_files(FILES)
    assert cache.get(tree, "pkg/a.py", (3, 12)).names["A"][0] == 2
    assert "cache disabled" in capsys.readouterr().err


def test_parallel_parse_matches_serial(tmp_path, monkeypatch):
    import reviewbot.cache as cache_mod

    monkeypatch.setattr(cache_mod, "PARALLEL_MIN_BYTES", 0)
    files = {f"m{i}.py": f"import os\nX{i} = {i}\ndef f{i}():\n    from . import y\n"
             for i in range(40)}
    tree = Tree.from_files(files)
    parallel = SummaryCache(disk=False, workers=2)
    parallel.prefetch(tree, list(files), (3, 12))
    serial = SummaryCache(disk=False, workers=1)
    for path in files:
        assert parallel.get(tree, path, (3, 12)) == serial.get(tree, path, (3, 12))


def test_resident_pool_parses_from_a_thread_and_survives_a_dead_worker(monkeypatch):
    """The server's cache: its workers come from a forkserver (safe from a threaded
    process), stay between calls, and a killed worker costs one in-process parse."""
    import os
    import signal
    import threading

    import reviewbot.cache as cache_mod

    monkeypatch.setattr(cache_mod, "PARALLEL_MIN_BYTES", 0)

    def files(n: int) -> dict[str, str]:
        return {f"m{n}_{i}.py": f"import os\nX{i} = {n}\n" for i in range(16)}

    resident = SummaryCache(disk=False, workers=2, resident=True)
    serial = SummaryCache(disk=False, workers=1)
    seen = []

    def run(n: int) -> None:
        tree = Tree.from_files(files(n))
        resident.prefetch(tree, list(files(n)), (3, 12))
        seen.append((resident._pool, all(
            resident.get(tree, p, (3, 12)) == serial.get(tree, p, (3, 12))
            for p in files(n))))

    try:
        for n in range(2):
            thread = threading.Thread(target=run, args=(n,))
            thread.start()
            thread.join()
        (pool_a, same_a), (pool_b, same_b) = seen
        assert same_a and same_b and pool_a is pool_b is not None
        workers = list(pool_a._processes)
        assert workers and os.getpid() not in workers
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        run(2)  # the pool is broken: parsed here, correctly
        assert seen[-1][1] and resident._pool is None
        run(3)  # and a new pool next time
        assert seen[-1][1] and resident._pool is not None and resident._pool is not pool_a
        assert resident.parsed == 4 * 16
    finally:
        resident.close()


def test_outcomes_reach_disk_in_one_write_at_flush(tmp_path):
    first = SummaryCache(tmp_path)
    for i in range(3):
        first.put_result(f"k{i}", "v", (("a.py",), "d", (), ()))
    assert first.get_results(["k0"]) == {"k0": {"v": (("a.py",), "d", (), ())}}  # memory
    assert SummaryCache(tmp_path).get_results(["k0", "k2"]) == {"k0": {}, "k2": {}}
    first.flush()
    assert SummaryCache(tmp_path).get_results(["k0", "k2"]) == {
        "k0": {"v": (("a.py",), "d", (), ())}, "k2": {"v": (("a.py",), "d", (), ())}}
    first.flush()  # nothing left to write


CONFIG_TEXT = """\
discover: false
third_party: [requests]
layers: {shared: lib}
handlers:
  - {name: a, handler: main.handler, root: fa, paths: [lib], environment: {STAGE: dev}}
  - {name: b, handler: src/app.run, root: fb, runtime: python3.11}
"""


def test_a_configuration_is_parsed_once_per_content_and_comes_back_equal(tmp_path,
                                                                         monkeypatch):
    import reviewbot.cache as cache_mod
    from reviewbot.config import ConfigError, load_config, parse_config

    calls = []
    monkeypatch.setattr(cache_mod, "load_config",
                        lambda text, path: calls.append(path) or load_config(text, path))
    tree = Tree.from_files({".github/reviewbot.yml": CONFIG_TEXT})
    first = SummaryCache(tmp_path).config(tree, ".github/reviewbot.yml")
    again = SummaryCache(tmp_path).config(tree, ".github/reviewbot.yml")  # a new process
    assert again == first == parse_config(CONFIG_TEXT)
    assert again.handlers[0].environment == (("STAGE", "dev"),)
    assert len(calls) == 1
    # a corrupt entry is parsed again, not trusted
    [db_path] = tmp_path.glob("*.sqlite")
    db = sqlite3.connect(db_path)
    db.execute("UPDATE configs SET data = ?", (b"garbage",))
    db.commit()
    db.close()
    assert SummaryCache(tmp_path).config(tree, ".github/reviewbot.yml") == first
    assert len(calls) == 2
    # an invalid file raises every time: errors are not cached
    bad = Tree.from_files({".github/reviewbot.yml": "handlers: 3\n"})
    for _ in range(2):
        with pytest.raises(ConfigError, match="handlers"):
            SummaryCache(tmp_path).config(bad, ".github/reviewbot.yml")
    assert len(calls) == 4
    # no file: the defaults, nothing kept
    empty = SummaryCache(tmp_path)
    assert empty.config(Tree.from_files({})) == load_config(None)
    assert len(empty.configs) == 0


def test_summaries_are_keyed_by_the_host_parser_too(tmp_path):
    """A cache filled under one host Python is not read under another: its parser decided
    which files were syntax errors."""
    from reviewbot import cache as cache_module

    assert cache_module.summariser_id((3, 11)) != cache_module.summariser_id((3, 12))
    assert cache_module.summariser_id(sys.version_info[:2]) == cache_module._SUMMARISER


_FILL = """
import sys
from reviewbot.cache import SummaryCache
from reviewbot.tree import Tree
files = {"fn/shapes.py": sys.argv[2]}
cache = SummaryCache(__import__("pathlib").Path(sys.argv[1]))
summary = cache.get(Tree.from_files(files), "fn/shapes.py", (3, 12))
cache.flush()
print(summary.error[0] if summary.error else "ok")
"""


def _other_host() -> str:
    """Another CPython that can run reviewbot from this checkout: 3.11 unless the host is
    3.11, then 3.12 or 3.13 (the pair always straddles 3.12's new syntax)."""
    from tests.runtimes import interpreter, require

    if sys.version_info[:2] != (3, 11):
        return require("3.11")
    return interpreter("3.13") or require("3.12")


@pytest.mark.parametrize("filled_first_by", ["other host", "this host"])
def test_a_cache_filled_under_another_host_python_never_decides_a_verdict(tmp_path,
                                                                         filled_first_by):
    """`type X = int` on python3.12: a 3.11 host cannot parse it (a warning naming the
    Python needed), 3.12+ can (no finding). Whichever host fills the cache first, the other
    parses for itself and keeps its own verdict. The other host is a real interpreter
    running reviewbot from this checkout."""
    import site
    import subprocess
    from pathlib import Path

    other = _other_host()
    source = "type Point = tuple[int, int]\n"
    env = {"PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]),
                                          *site.getsitepackages()]),
           "PATH": os.environ.get("PATH", "")}

    def run_other() -> str:
        done = subprocess.run([other, "-c", _FILL, str(tmp_path), source], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def run_here() -> tuple[str, int]:
        cache = SummaryCache(tmp_path)
        summary = cache.get(Tree.from_files({"fn/shapes.py": source}), "fn/shapes.py", (3, 12))
        cache.flush()
        return (summary.error[0] if summary.error else "ok"), cache.parsed

    if filled_first_by == "other host":
        other_verdict = run_other()
        here_verdict, parsed = run_here()
    else:
        here_verdict, parsed = run_here()
        other_verdict = run_other()
    assert parsed == 1  # this host parsed the file itself, whatever the disk held
    by_version = {True: "ok", False: "unparsable-here"}
    assert here_verdict == by_version[sys.version_info >= (3, 12)]
    assert other_verdict == by_version[sys.version_info < (3, 12)]
    # and the other host's entry is still there for it: a second run parses nothing new
    assert run_other() == other_verdict
