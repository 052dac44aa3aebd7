"""Which handlers a change affects, by which chain, and what shared modules gained or lost."""

from __future__ import annotations

import pytest

from reviewbot.cache import SummaryCache
from reviewbot.config import parse_config
from reviewbot.model import DEFAULT_RUNTIME
from reviewbot.review import review
from reviewbot.tree import Tree

CONFIG = """\
discover: false
handlers:
  - {name: a, handler: main.handler, root: fa, paths: [lib]}
  - {name: b, handler: main.handler, root: fb, paths: [lib]}
  - {name: c, handler: main.handler, root: fc, paths: [lib]}
"""

BASE = {
    "lib/common/__init__.py": "from .core import Core, helper\n",
    "lib/common/core.py": "class Core: pass\ndef helper(): pass\n_private = 1\n",
    "lib/common/extra.py": "from common.core import Core\nEXTRA = 1\n",
    "lib/solo.py": "SOLO = 1\n",
    "fa/main.py": "from common import Core\ndef handler(e, c): pass\n",
    "fb/main.py": "from common.extra import EXTRA\ndef handler(e, c): pass\n",
    "fc/main.py": "import solo\ndef handler(e, c): pass\n",
}


def run(base_files, head_files, config=CONFIG, **kw):
    base, head = Tree.from_files(base_files), Tree.from_files(head_files)
    changed = {}
    for p in set(base_files) | set(head_files):
        if p not in head_files:
            changed[p] = "D"
        elif p not in base_files:
            changed[p] = "A"
        elif base_files[p] != head_files[p]:
            changed[p] = "M"
    return review(base=base, head=head, changed=changed, config=parse_config(config),
                  cache=SummaryCache(disk=False), **kw)


def status(report):
    return {s.handler.name: (s.affected, s.chain) for s in report.handlers}


def test_editing_a_module_affects_handlers_through_ancestors():
    head = dict(BASE, **{"lib/common/core.py": "class Core: pass\ndef helper(): pass\n"
                                              "def more(): pass\n"})
    report = run(BASE, head)
    assert status(report) == {
        "a": (True, ("main", "common", "common.core")),
        "b": (True, ("main", "common.extra", "common.core")),
        "c": (False, ()),
    }
    [shared] = report.shared_modules
    assert shared.path == "lib/common/core.py"
    assert shared.handlers == ("a", "b")
    assert shared.added_names == ("more",) and shared.removed_names == ()
    assert report.conclusion == "success"


def test_editing_a_package_init_affects_importers_of_its_submodules():
    head = dict(BASE, **{"lib/common/__init__.py": "from .core import Core, helper\nX = 1\n"})
    report = run(BASE, head)
    assert status(report)["b"] == (True, ("main", "common.extra", "common"))
    assert status(report)["c"] == (False, ())


def test_removed_names_and_the_break_they_cause():
    head = dict(BASE, **{"lib/common/__init__.py": "from .core import helper\n"})
    report = run(BASE, head)
    [shared] = report.shared_modules
    assert shared.removed_names == ("Core",)
    assert report.conclusion == "failure"
    [error] = report.errors
    assert (error.handler, error.path, error.line, error.kind) == ("a", "fa/main.py", 1,
                                                                   "missing-name")


def test_handler_that_dropped_an_import_is_still_affected_by_base_closure():
    head = dict(BASE, **{"fc/main.py": "def handler(e, c): pass\n",
                         "lib/solo.py": "SOLO = 2\n"})
    report = run(BASE, head)
    assert status(report)["c"][0] is True


def test_deleting_an_imported_module_affects_its_importer_and_breaks_it():
    """At the head the handler no longer loads the deleted file, and nothing it loads
    there changed: only its base closure says it is affected, and the base's closure must
    come from the base, not from the head's."""
    head = {p: t for p, t in BASE.items() if p != "lib/common/extra.py"}
    report = run(BASE, head)
    assert status(report) == {"a": (False, ()), "b": (True, ("main", "common.extra")),
                              "c": (False, ())}
    assert [(e.handler, e.kind) for e in report.errors] == [("b", "missing-module")]


def test_base_outcomes_are_taken_from_the_head_only_where_no_loaded_file_differs(
        monkeypatch):
    import reviewbot.analysis as analysis_mod

    checked = []
    real = analysis_mod.check_handler
    monkeypatch.setattr(analysis_mod, "check_handler",
                        lambda h, *a, **k: checked.append(h.name) or real(h, *a, **k))
    head = dict(BASE, **{"lib/solo.py": "SOLO = 2\n"})
    report = run(BASE, head)
    # a and b are checked once, at the head; c loads the edited file, so twice
    assert sorted(checked) == ["a", "b", "c", "c"]
    assert status(report)["c"] == (True, ("main", "solo"))


def test_module_used_by_one_handler_is_not_shared_without_globs():
    head = dict(BASE, **{"lib/solo.py": "SOLO = 2\n"})
    report = run(BASE, head)
    assert report.shared_modules == ()
    assert status(report)["c"] == (True, ("main", "solo"))


def test_shared_globs_decide_when_given():
    head = dict(BASE, **{"lib/solo.py": "SOLO = 2\n"})
    report = run(BASE, head, CONFIG + "shared: ['lib/**']\n")
    assert [s.path for s in report.shared_modules] == ["lib/solo.py"]
    assert report.shared_modules[0].handlers == ("c",)


def test_errors_of_unaffected_handlers_only_with_check_all():
    base = dict(BASE, **{"fc/main.py": "import missing\ndef handler(e, c): pass\n"})
    head = dict(base, **{"fa/main.py": "from common import Core\ndef handler(e, c): return 1\n"})
    assert run(base, head).errors == ()
    report = run(base, head, check_all=True)
    assert [(e.handler, e.kind) for e in report.errors] == [("c", "missing-module")]


def test_new_handler_is_affected():
    config = CONFIG + "  - {name: d, handler: main.handler, root: fd}\n"
    head = dict(BASE, **{"fd/main.py": "def handler(e, c): pass\n"})
    base_cfg = parse_config(config)
    report = review(base=Tree.from_files(BASE), head=Tree.from_files(head),
                    changed={"fd/main.py": "A"}, config=base_cfg,
                    cache=SummaryCache(disk=False))
    assert status(report)["d"][0] is True


def test_no_change_nothing_affected():
    report = run(BASE, BASE)
    assert not report.affected and report.conclusion == "success"


def test_recorded_outcomes_are_reused_and_invalidated(tmp_path):
    """A second run re-checks only handlers whose loaded files or import roots changed."""
    import reviewbot.analysis as analysis_mod

    config = parse_config(CONFIG)
    checked = []
    original = analysis_mod.check_handler

    def counting(handler, *args, **kwargs):
        checked.append(handler.name)
        return original(handler, *args, **kwargs)

    def run_once(base_files, head_files, changed):
        checked.clear()
        report = review(base=Tree.from_files(base_files), head=Tree.from_files(head_files),
                        changed=changed, config=config, cache=SummaryCache(tmp_path),
                        check_all=True)
        return report, sorted(set(checked))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(analysis_mod, "check_handler", counting)
        _, first = run_once(BASE, BASE, {})
        assert first == ["a", "b", "c"]
        _, again = run_once(BASE, BASE, {})
        assert again == []  # every outcome came from the disk cache
        head = dict(BASE, **{"lib/solo.py": "SOLO = 2\n"})
        report, pr = run_once(BASE, head, {"lib/solo.py": "M"})
        assert pr == ["c"]  # only the handler that loads the edited module
        assert status(report)["c"][0] is True
        # a new file under the layer can change what resolves: every handler re-checked
        shadow = dict(BASE, **{"lib/common.py": "Core = 1\n"})
        report, added = run_once(BASE, shadow, {"lib/common.py": "A"})
        assert added == ["a", "b", "c"]
        # the package still wins over the new module, so nothing breaks
        assert report.errors == ()
        broken = dict(BASE, **{"fa/common.py": "X = 1\n"})  # shadows the layer for a
        report, _ = run_once(BASE, broken, {"fa/common.py": "A"})
        assert [(e.handler, e.kind) for e in report.errors] == [("a", "missing-name")]


def test_a_changed_requirements_file_affects_the_handlers_of_its_root():
    """Dropping PyYAML from a function's requirements breaks its `import yaml`, though no
    Python file changed: the handler is affected and the break reported (a warning here,
    where no resolver reads what `requests` installs; tests/dependencies read it)."""
    config = ("discover: false\nhandlers:\n"
              "  - {name: a, handler: main.handler, root: fa}\n"
              "  - {name: b, handler: main.handler, root: fb}\n")
    base = {"fa/main.py": "import yaml\ndef handler(e, c): pass\n",
            "fa/requirements.txt": "PyYAML==6.0\n",
            "fb/main.py": "def handler(e, c): pass\n"}
    head = dict(base, **{"fa/requirements.txt": "requests\n"})
    report = run(base, head, config)
    assert status(report)["a"][0] is True and status(report)["b"][0] is False
    assert [(w.handler, w.kind, w.line) for w in report.warnings] == [("a", "missing-module", 1)]


def test_discovery_runs_once_when_no_deployment_file_or_path_changed(monkeypatch):
    import reviewbot.review as review_mod

    calls = []
    real = review_mod.find_handlers
    monkeypatch.setattr(review_mod, "find_handlers",
                        lambda tree, config: calls.append(tree) or real(tree, config))
    head = dict(BASE, **{"lib/solo.py": "SOLO = 2\n"})
    assert status(run(BASE, head))["c"][0] is True
    assert len(calls) == 1
    calls.clear()
    run(BASE, dict(head, **{"template.yaml": "Resources: {}\n"}))  # a new deployment file
    assert len(calls) == 2


SAM = ("Transform: AWS::Serverless-2016-10-31\nResources:\n"
       "  Api:\n    Type: AWS::Serverless::Function\n"
       "    Properties: {{Handler: app.handler, CodeUri: fn/{runtime}}}\n"
       "  Other:\n    Type: AWS::Serverless::Function\n"
       "    Properties: {{Handler: app.handler, CodeUri: other/}}\n")


def test_a_runtime_upgrade_affects_the_function_and_is_judged_by_the_new_version():
    from reviewbot.render import to_markdown, to_text

    code = {"fn/app.py": "import cgi\ndef handler(e, c): pass\n",
            "other/app.py": "def handler(e, c): pass\n"}
    base = {"template.yaml": SAM.format(runtime=", Runtime: python3.11"), **code}
    head = {"template.yaml": SAM.format(runtime=", Runtime: python3.13"), **code}
    report = run(base, head, config="")
    api = next(s for s in report.handlers if s.handler.name == "Api")
    assert api.affected and api.previous_runtime == "python3.11"
    assert api.runtime_label == "python3.11 → python3.13"
    assert [e.message for e in report.errors] == [
        "Unable to import module 'app': No module named 'cgi'"]  # gone in 3.13
    assert "| Api | `app.handler` in `fn` | python3.11 → python3.13 |" in to_markdown(report)
    # a function with no Runtime says it runs on the assumed default
    other = next(s for s in report.handlers if s.handler.name == "Other")
    assert other.handler.runtime_default
    assert other.runtime_label == f"{DEFAULT_RUNTIME} (default)"
    assert [h["runtime_default"] for h in report.to_json()["handlers"]] == [False, True]
    assert "python3.11 → python3.13" in to_text(report)


def test_the_config_runtime_is_the_default_for_functions_that_set_none():
    files = {"template.yaml": SAM.format(runtime=""), "fn/app.py": "import cgi\n"
             "def handler(e, c): pass\n", "other/app.py": "def handler(e, c): pass\n"}
    report = run(files, files, config="runtime: python3.13\n", check_all=True)
    runtimes = {s.handler.name: (s.handler.runtime, s.handler.runtime_default)
                for s in report.handlers}
    assert runtimes == {"Api": ("python3.13", False), "Other": ("python3.13", False)}
    assert [e.message for e in report.errors] == [
        "Unable to import module 'app': No module named 'cgi'"]


def test_a_re_export_deleted_but_still_in_all_is_removed():
    base = dict(BASE, **{"lib/common/__init__.py": "from .core import Core, helper\n"
                                                   "__all__ = ['Core', 'helper', 'core']\n"})
    head = dict(BASE, **{"lib/common/__init__.py": "from .core import helper\n"
                                                   "__all__ = ['Core', 'helper', 'core']\n"})
    [shared] = run(base, head).shared_modules
    # `Core` is gone though __all__ lists it; `core` is a submodule, present either way
    assert (shared.removed_names, shared.added_names) == (("Core",), ())
