"""Checks over one tree: recorded outcomes reused, cold batches split over the cores."""

from __future__ import annotations

import pytest

import reviewbot.analysis as analysis_mod
from reviewbot import forkshare
from reviewbot.analysis import Analysis
from reviewbot.cache import SummaryCache
from reviewbot.config import parse_config
from reviewbot.tree import Tree
from tests.test_review import BASE


def test_many_cold_checks_split_with_a_forked_child_match_one_process(tmp_path, monkeypatch):
    """`closures` checks every other chunk of a large cold batch in a forked child; the
    outcomes are the same as in one process, and only this process writes them."""
    if not forkshare.available():
        pytest.skip("needs Linux and 2 CPUs")
    files = dict(BASE)
    imports = ["from common import Core", "import common.extra", "import solo",
               "from common.core import helper", "from common import Missing", "import nowhere"]
    lines = [f"  - {{name: f{i}, handler: main.handler, root: f{i}, paths: [lib]}}"
             for i in range(80)]
    for i in range(80):
        files[f"f{i}/main.py"] = f"{imports[i % len(imports)]}\ndef handler(e, c): pass\n"
    config = parse_config("discover: false\nhandlers:\n" + "\n".join(lines) + "\n")
    tree = Tree.from_files(files)

    def outcomes(analysis):
        got = analysis.closures(list(config.handlers))
        return {h.name: (c.files, c.errors, c.warnings) for h, c in got.items()}

    with monkeypatch.context() as mp:
        mp.setattr(forkshare, "available", lambda: False)
        alone = outcomes(Analysis(tree, SummaryCache(disk=False)))
    checked = []
    real = analysis_mod.check_handler
    monkeypatch.setattr(analysis_mod, "check_handler",
                        lambda h, *a, **k: checked.append(h.name) or real(h, *a, **k))
    split = outcomes(Analysis(tree, SummaryCache(tmp_path)))
    assert split == alone
    assert 0 < len(checked) < 80  # the child checked the rest (its calls are not seen here)
    assert sum(1 for _, (_, errors, _) in split.items() if errors) > 0
    checked.clear()
    again = outcomes(Analysis(tree, SummaryCache(tmp_path)))  # every outcome on disk
    assert again == alone and checked == []
    # a pull request's few misses stay here: their import graphs are needed here
    analysis = Analysis(tree, SummaryCache(disk=False))
    got = analysis.closures(list(config.handlers), {"lib/solo.py"})
    assert {h.name: (c.files, c.errors, c.warnings) for h, c in got.items()} == alone
    assert len(checked) == 80
    assert {h.name for h in analysis._results} == {f"f{i}" for i in range(2, 80, 6)}
