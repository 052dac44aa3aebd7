"""Replaying recorded loads across handlers gives exactly what simulating them gives.

Handlers that share a layer load the same packages again and again; `Analysis` replays
a load recorded for one handler in the next when it would come out the same. These
tests build layers full of the traps that make a load depend on its context and compare
every handler's result with a check that records and replays nothing.
"""

from __future__ import annotations

import pytest

from reviewbot.analysis import Analysis
from reviewbot.cache import SummaryCache
from reviewbot.importcheck import HandlerCheck, check_handler
from reviewbot.model import Handler
from reviewbot.replay import TraceStore
from reviewbot.tree import Tree

LAYER = {
    # a package whose __init__ imports its submodules (an internal cycle)
    "layer/common/__init__.py": "from .models import Model\nfrom .errors import Boom\n",
    "layer/common/models.py": "from common.errors import Boom\nclass Model: pass\n",
    "layer/common/errors.py": "class Boom(Exception): pass\n",
    # shared code that expects each function to provide `settings`
    "layer/uses_settings.py": "import settings\nfrom settings import TABLE\n",
    # a cycle whose outcome depends on which side is imported first
    "layer/cyc_a.py": "from cyc_b import B\nA = 1\n",
    "layer/cyc_b.py": "from cyc_a import A\nB = 2\n",
    # failures under guards
    "layer/optional.py": "try:\n    import not_installed\nexcept ImportError:\n"
                        "    not_installed = None\nX = 1\n",
    "layer/maybe_broken.py": "import os\nif os.environ.get('Z'):\n    import nowhere\nY = 1\n",
    "layer/uses_maybe.py": "import maybe_broken\nfrom maybe_broken import Y\n",
    "layer/stars.py": "from common.models import *\nfrom common import *\n",
    "layer/deep.py": "from common import Model\nimport uses_maybe\nimport optional\n",
    # a load whose module's package was already there when it was recorded
    "layer/es/__init__.py": "",
    "layer/es/models.py": "class M: pass\n",
    "layer/opensearch.py": "from es.models import M\n",
    # a failing module loaded under a guard, then imported again unguarded: the second
    # import must fail in every handler, whoever recorded the guarded load
    "layer/inner_broken.py": "import nowhere_pkg\n",
    "layer/outer_broken.py": "import inner_broken\n",
    # imports a module that, in one handler, failed under a guard before (and so fails
    # again here), and in another loaded with its failure reported and is fine here
    "layer/uses_inner.py": "import inner_broken\n",
    "layer/inner_broken2.py": "import nowhere_pkg2\n",
    "layer/uses_inner2.py": "import inner_broken2\n",
    # function-level imports of a package's own modules: most only bind what its
    # finished modules hold (settled when recorded); the others must still run on replay
    "layer/lazy/__init__.py": "import os\nif os.environ.get('Q'):\n    opt = None\n"
                              "from .core import Core\nfrom . import sub\n",
    "layer/lazy/core.py": (
        "import os\nif os.environ.get('Q'):\n    Maybe = 1\nclass Core: pass\n"
        "def use():\n    from lazy import Core, sub\n    import lazy.sub\n"
        "    from lazy.core import Maybe\n    from lazy import nothere\n"
        "    from lazy import later\n    from . import sub as again\n"
        "    from .core import __name__ as n\n    import inner_broken\n"
        "import lazy.opt\ndef use2():\n    from lazy import opt\n"),
    "layer/lazy/opt.py": "",
    "layer/lazy/sub.py": "S = 1\ndef late():\n    from lazy.core import Core, Gone\n",
    "layer/lazy/later.py": "L = 1\n",
    # a load recorded where what it imports was loaded first, refused where it is not
    "layer/v_base.py": "B = 1\n",
    "layer/v_user.py": "from v_base import B\n",
    # h_mid recorded loading h_leaf; replayed in part where h_leaf is loaded already, so
    # the load of h_top around it depends on h_leaf being there
    "layer/h_leaf.py": "X = 1\n",
    "layer/h_mid.py": "import h_leaf\n",
    "layer/h_top.py": "import h_mid\n",
    # cyclic loads: cyc_pkg is consulted while it runs (cyc_self_user imports it back);
    # cy_mid likewise, through cy_back
    "layer/cyc_pkg.py": "import cyc_leaf\nimport cyc_self_user\nC = 1\n",
    "layer/cyc_self_user.py": "import cyc_pkg\n",
    "layer/cyc_leaf.py": "L = 1\n",
    "layer/cy_top.py": "import cy_mid\n",
    "layer/cy_mid.py": "import cy_back\nM = 1\n",
    "layer/cy_back.py": "import cy_mid\n",
}

REIMPORT = ("import os\nif os.environ.get('X'):\n    import outer_broken\nimport inner_broken\n"
            "def handler(e, c): pass\n")

HANDLERS = {
    "plain": "from common import Model\nimport deep\ndef handler(e, c): pass\n",
    "with_settings": "import uses_settings\ndef handler(e, c): pass\n",
    "no_settings": "import uses_settings\ndef handler(e, c): pass\n",
    "a_first": "import cyc_a\ndef handler(e, c): pass\n",
    "b_first": "import cyc_b\ndef handler(e, c): pass\n",
    "shadowing": "from common import Model\ndef handler(e, c): pass\n",
    "stars": "import deep\nfrom stars import Model, Boom\ndef handler(e, c): pass\n",
    "guarded": "try:\n    import cyc_b\nexcept ImportError:\n    pass\nimport deep\n"
               "def handler(e, c): pass\n",
    "lazy": "def handler(e, c):\n    from common import Missing\n    import deep\n",
    "es_first": "import es\nimport opensearch\ndef handler(e, c): pass\n",
    "opensearch_only": "import opensearch\ndef handler(e, c): pass\n",
    "reimport_1": REIMPORT,
    "reimport_2": REIMPORT,
    "v_base_first": "import v_base\nimport v_user\ndef handler(e, c): pass\n",
    "v_user_only_1": "import v_user\ndef handler(e, c): pass\n",
    "v_user_only_2": "import v_user\ndef handler(e, c): pass\n",
    "caught_then_user": "try:\n    import inner_broken\nexcept ImportError:\n    pass\n"
                        "import uses_inner\ndef handler(e, c): pass\n",
    "plain_then_user": "import outer_broken\nimport uses_inner\ndef handler(e, c): pass\n",
    "plain_then_user2": "import inner_broken2\nimport uses_inner2\ndef handler(e, c): pass\n",
    "caught_then_user2": "try:\n    import inner_broken2\nexcept ImportError:\n    pass\n"
                         "import uses_inner2\ndef handler(e, c): pass\n",
    "hole_mid": "import h_mid\ndef handler(e, c): pass\n",
    "hole_leaf_then_top": "import h_leaf\nimport h_top\ndef handler(e, c): pass\n",
    "hole_top": "import h_top\ndef handler(e, c): pass\n",
    "lazy_first": "import lazy\ndef handler(e, c): pass\n",
    "lazy_again": "import lazy\ndef handler(e, c): pass\n",
    "lazy_after_broken": "try:\n    import inner_broken\nexcept ImportError:\n    pass\n"
                         "import lazy\ndef handler(e, c): pass\n",
    "cyc_pkg_only": "import cyc_pkg\ndef handler(e, c): pass\n",
    "cyc_leaf_first": "import cyc_leaf\nimport cyc_pkg\ndef handler(e, c): pass\n",
    "cy_top_only": "import cy_top\ndef handler(e, c): pass\n",
    "cy_mid_first": "import cy_mid\nimport cy_top\ndef handler(e, c): pass\n",
}


def build() -> tuple[Tree, list[Handler]]:
    files = dict(LAYER)
    for name, source in HANDLERS.items():
        files[f"fn_{name}/main.py"] = source
    files["fn_with_settings/settings.py"] = "TABLE = 'goals'\n"
    files["fn_shadowing/common/__init__.py"] = "class Other: pass\n"
    handlers = [Handler(name=n, handler="main.handler", root=f"fn_{n}", paths=("layer",),
                        runtime="python3.11") for n in HANDLERS]
    return Tree.from_files(files), handlers


def outcome(result):
    return (sorted((f.path, f.line, f.kind, f.message) for f in result.errors),
            sorted((f.path, f.line, f.kind, f.message) for f in result.warnings),
            result.files, {k: set(v) for k, v in result.edges.items()})


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_replay_matches_fresh_simulation(order):
    tree, handlers = build()
    if order == "reverse":
        handlers.reverse()
    cache = SummaryCache(disk=False)
    shared = Analysis(tree, cache)
    for h in handlers:
        fresh = check_handler(h, shared.search(h), cache.provider(tree), traces=None)
        assert outcome(shared.check(h)) == outcome(fresh), h.name


@pytest.fixture
def replays(monkeypatch) -> list[tuple[str, str, bool]]:
    """(handler, module, replayed) for every replay tried."""
    seen = []
    original = HandlerCheck.replay

    def spy(self, trace):
        ok = original(self, trace)
        seen.append((self.handler.name, trace.first, ok))
        return ok

    monkeypatch.setattr(HandlerCheck, "replay", spy)
    return seen


def test_replays_happen_and_context_is_respected(replays):
    tree, handlers = build()
    analysis = Analysis(tree, SummaryCache(disk=False))
    results = {h.name: analysis.check(h) for h in handlers}
    assert any(ok for _, _, ok in replays), "nothing was replayed"
    # the layer's `common` is replayed for handlers that do not shadow it ...
    assert ("stars", "common", True) in replays or ("plain", "common", True) in replays
    # ... and the function that shadows it gets its own
    assert not [r for r in replays if r[0] == "shadowing" and r[1] == "common" and r[2]]
    assert [f.kind for f in results["with_settings"].errors] == []
    assert [(f.path, f.line, f.kind) for f in results["no_settings"].errors] == [
        ("layer/uses_settings.py", 1, "missing-module"),
        ("layer/uses_settings.py", 2, "missing-module")]
    assert [f.kind for f in results["b_first"].errors] == ["circular-import"]
    assert [f.path for f in results["a_first"].errors] == ["layer/cyc_b.py"]
    assert [f.path for f in results["b_first"].errors] == ["layer/cyc_a.py"]
    assert [f.kind for f in results["shadowing"].errors] == ["missing-name"]
    # recorded where `es` was loaded already, replayed where it is not: the package
    # is still part of the closure
    assert "layer/es/__init__.py" in results["opensearch_only"].files
    for name in ("reimport_1", "reimport_2"):
        assert [(f.path, f.kind) for f in results[name].errors] == [
            ("layer/inner_broken.py", "missing-module")], name


def test_a_refused_load_is_recorded_again_as_a_variant(replays):
    tree, handlers = build()
    by_name = {h.name: h for h in handlers}
    analysis = Analysis(tree, SummaryCache(disk=False))
    for name in ("v_base_first", "v_user_only_1", "v_user_only_2"):
        analysis.check(by_name[name])
    # recorded with v_base loaded before it; refused where v_base is not there yet ...
    assert [r for r in replays if r[1] == "v_user"] == [
        ("v_user_only_1", "v_user", False),
        ("v_user_only_2", "v_user", False), ("v_user_only_2", "v_user", True)]
    # ... so recorded again there, loading v_base itself, and replayed in the next one
    variants = analysis._traces[(3, 11)][("v_user", 0)]
    assert [tuple(t.by_name) for t in variants] == [("v_user",), ("v_user", "v_base")]


def test_a_cyclic_load_is_replayed_in_part_unless_it_skips_a_module_seen_running(replays):
    """A load that consulted one of its own modules while it ran (a cycle) is replayed
    where others of its modules are loaded already, but not where one of those is a
    module it saw half-initialised: here it is finished. Both come out as simulating them
    does (test_replay_matches_fresh_simulation)."""
    tree, handlers = build()
    by_name = {h.name: h for h in handlers}
    analysis = Analysis(tree, SummaryCache(disk=False))
    for name in ("cyc_pkg_only", "cyc_leaf_first", "cy_top_only", "cy_mid_first"):
        analysis.check(by_name[name])
    assert ("cyc_leaf_first", "cyc_pkg", True) in replays  # cyc_leaf is skipped
    assert ("cy_mid_first", "cy_top", False) in replays  # cy_mid would be skipped
    assert not [r for r in replays if r[:2] == ("cy_mid_first", "cy_top") and r[2]]


def test_settled_function_level_imports_are_not_run_again_on_replay(monkeypatch):
    """A recorded load keeps, as still to run, only the function-level imports that could
    load, fail or warn; the others' edges are in the trace. Replays still find every
    function-level failure (compared with fresh simulations above)."""
    tree, handlers = build()
    by_name = {h.name: h for h in handlers}
    analysis = Analysis(tree, SummaryCache(disk=False))
    ran = []
    original = HandlerCheck.run_import

    def spy(self, owner, imp):
        if self.at_call is not None:
            ran.append((self.handler.name, owner.name, imp.line))
        return original(self, owner, imp)

    monkeypatch.setattr(HandlerCheck, "run_import", spy)
    first = analysis.check(by_name["lazy_first"])
    again = analysis.check(by_name["lazy_again"])
    [trace] = next(t for key, t in analysis._traces[(3, 11)].items() if key[0] == "lazy")
    settled = {imp.line for _, imp in trace.deferred} - {imp.line for _, imp in trace.pending}
    assert settled == {6, 7, 11, 12}  # Core and sub, lazy.sub, `. import sub`, __name__
    assert {line for name, owner, line in ran if name == "lazy_again"} == {8, 9, 10, 13, 16, 3}
    assert first.edges["lazy.core"] == again.edges["lazy.core"] >= {"lazy", "lazy.sub"}
    assert [(f.path, f.line, f.kind) for f in again.errors] == [
        (f.path, f.line, f.kind) for f in first.errors] == [
        ("layer/lazy/core.py", 9, "missing-name"), ("layer/inner_broken.py", 1, "missing-module"),
        ("layer/lazy/sub.py", 3, "missing-name")]


def test_a_finished_check_is_freed_without_the_cyclic_gc():
    """Failures are kept on broken modules and in traces; if they held their tracebacks,
    every check that saw one would live on in a reference cycle (its frames) until a full
    collection, which on large packages cost a third of the check time."""
    import gc
    import weakref

    tree, handlers = build()
    cache = SummaryCache(disk=False)
    analysis = Analysis(tree, cache)
    traces = TraceStore()
    gc.collect()
    gc.disable()
    try:
        refs = []
        for h in handlers:
            check = HandlerCheck(h, analysis.search(h), cache.provider(tree), traces)
            result = check.run()
            refs.append((h.name, bool(result.errors or result.warnings), weakref.ref(check)))
            del check, result
        assert any(failed for _, failed, _ in refs)
        assert [name for name, _, ref in refs if ref() is not None] == []
    finally:
        gc.enable()


def test_the_gc_is_paused_during_a_check_and_restored_after(monkeypatch):
    import gc

    tree, handlers = build()
    cache = SummaryCache(disk=False)
    analysis = Analysis(tree, cache)
    seen = []
    original = HandlerCheck.run

    def spy(self):
        seen.append(gc.isenabled())
        return original(self)

    monkeypatch.setattr(HandlerCheck, "run", spy)
    assert gc.isenabled()
    check_handler(handlers[0], analysis.search(handlers[0]), cache.provider(tree))
    assert gc.isenabled()
    gc.disable()
    try:
        check_handler(handlers[1], analysis.search(handlers[1]), cache.provider(tree))
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
    assert seen == [False, False]
