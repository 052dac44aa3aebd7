"""The summary cache: parse once per content, survive a new process, never trust corruption."""

from __future__ import annotations

import sqlite3

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
