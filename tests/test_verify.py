"""`reviewbot verify-imports`: real imports in fresh processes, on git repositories built here."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from reviewbot.cli import main
from reviewbot.demo import git, write_incident_repo
from reviewbot.model import Handler
from reviewbot.verify import child_environment, verify

AUTH_ERROR = ("Unable to import module 'main': cannot import name 'GoalValidationError' "
              "from 'goals_common' (backend/src/goals_common/__init__.py)")


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def config(*handlers: dict) -> str:
    lines = ["discover: false", "handlers:"]
    for h in handlers:
        lines.append(f"  - name: {h['name']}")
        lines.append(f"    handler: {h['handler']}")
        lines.append(f"    root: {h.get('root', '.')}")
        if h.get("paths"):
            lines.append(f"    paths: [{', '.join(h['paths'])}]")
        if h.get("environment"):
            lines.append("    environment:")
            lines.extend(f"      {k}: {v!r}" for k, v in h["environment"].items())
    return "\n".join(lines) + "\n"


def results_by_name(out: str) -> dict[str, dict]:
    return {r["handler"]: r for r in json.loads(out)["results"]}


# -- the incident ------------------------------------------------------------------------


@pytest.fixture
def incident(tmp_path):
    repo = tmp_path / "goals"
    return repo, write_incident_repo(repo)


def test_incident_pr_head_fails_auth_only(incident, capsys):
    repo, commits = incident
    code, out, _ = run(capsys, "verify-imports", "--repo", str(repo), "--ref", commits["pr"],
                       "--format", "json")
    assert code == 1
    results = results_by_name(out)
    assert sorted(results) == ["auth", "create_goal", "health", "list_goals"]
    assert results["auth"]["ok"] is False
    assert results["auth"]["error"] == AUTH_ERROR
    assert results["auth"]["kind"] == "import-error"
    assert results["auth"]["where"] == "backend/handlers/auth/main.py:3"
    for name in ("create_goal", "health", "list_goals"):
        assert results[name]["ok"] is True, results[name]
        assert results[name]["error"] == ""
    assert all(isinstance(r["seconds"], float) for r in results.values())


def test_incident_fix_passes(incident, capsys):
    repo, commits = incident
    code, out, _ = run(capsys, "verify-imports", "--repo", str(repo), "--ref", commits["fix"],
                       "--format", "json")
    assert code == 0
    assert all(r["ok"] for r in results_by_name(out).values())


def test_incident_diff_verifies_only_affected_handlers(incident, capsys):
    repo, commits = incident
    code, out, _ = run(capsys, "verify-imports", "--repo", str(repo), "--base", "main",
                       "--head", commits["pr"], "--compare-static", "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert [r["handler"] for r in data["results"]] == ["auth", "create_goal", "list_goals"]
    assert data["disagreements"] == []
    assert data["commit"] == commits["pr"]


def test_incident_text_output(incident, capsys):
    repo, commits = incident
    code, out, _ = run(capsys, "verify-imports", "--repo", str(repo), "--ref", commits["pr"],
                       "--handler", "auth", "health")
    assert code == 1
    assert "FAIL auth" in out and AUTH_ERROR in out
    assert "ok   health" in out
    assert "create_goal" not in out
    assert "1 passed, 1 failed" in out


def test_verifies_the_files_on_disk_or_the_commit_asked_for(incident, capsys):
    repo, commits = incident  # the work tree is at the fix; break it without committing
    (repo / "backend/src/goals_common/__init__.py").write_text("raise RuntimeError('dirty')\n")
    code, out, _ = run(capsys, "verify-imports", "--repo", str(repo))
    assert code == 1 and "RuntimeError: dirty" in out  # the default: the files on disk
    code, _, _ = run(capsys, "verify-imports", "--repo", str(repo), "--ref", "HEAD")
    assert code == 0  # the commit, as committed
    code, out, _ = run(capsys, "verify-imports", "--repo", str(repo), "--ref", commits["pr"],
                       "--handler", "auth", "--format", "json")
    assert code == 1
    assert results_by_name(out)["auth"]["error"] == AUTH_ERROR


def test_usage_errors_exit_2(incident, capsys):
    repo, _ = incident
    assert run(capsys, "verify-imports", "--repo", str(repo), "--handler", "nope")[0] == 2
    code, _, err = run(capsys, "verify-imports", "--repo", str(repo), "--ref", "HEAD",
                       "--base", "main")
    assert code == 2 and "--ref" in err
    code, _, err = run(capsys, "verify-imports", "--repo", str(repo), "--python",
                       "/nonexistent/python")
    assert code == 2 and "--python" in err
    assert run(capsys, "verify-imports", "--repo", str(repo), "--timeout", "0")[0] == 2
    assert run(capsys, "verify-imports", "--repo", str(repo), "--format", "xml")[0] == 2


# -- processes that misbehave ------------------------------------------------------------


def test_loop_exit_and_segfault_are_reported_and_others_still_run(make_repo, capsys):
    repo = make_repo()
    repo.commit({
        ".github/reviewbot.yml": config(
            {"name": "loops", "handler": "main.handler", "root": "loops"},
            {"name": "exits", "handler": "main.handler", "root": "exits"},
            {"name": "crashes", "handler": "main.handler", "root": "crashes"},
            {"name": "raises", "handler": "main.handler", "root": "raises"},
            {"name": "fine", "handler": "main.handler", "root": "fine"},
        ),
        "loops/main.py": "while True:\n    pass\n",
        "exits/main.py": "import sys\nsys.exit(3)\n",
        "crashes/main.py": "import ctypes\nctypes.string_at(0)\n",
        "raises/main.py": "import helper\n",
        "raises/helper.py": "X = 1\n\nraise ValueError('bad config')\n",
        "fine/main.py": "print('{\"ok\": false}')\n\ndef handler(e, c):\n    return 1\n",
    })
    code, out, _ = run(capsys, "verify-imports", "--repo", str(repo.path), "--timeout", "2",
                       "--format", "json")
    assert code == 1
    r = results_by_name(out)
    assert r["loops"]["ok"] is False and r["loops"]["kind"] == "timeout"
    assert "killed" in r["loops"]["error"]
    assert 1.5 < r["loops"]["seconds"] < 10
    assert r["exits"] == {**r["exits"], "ok": False, "kind": "exit", "error": "SystemExit: 3"}
    assert r["crashes"]["ok"] is False and r["crashes"]["kind"] == "signal"
    assert r["crashes"]["error"].startswith("process died with signal SIGSEGV")
    assert r["raises"]["error"] == "ValueError: bad config"
    assert r["raises"]["kind"] == "exception"
    assert r["raises"]["where"] == "raises/helper.py:3"
    assert r["fine"]["ok"] is True  # what the module prints does not corrupt the result


def test_os_exit_at_import_is_reported(make_repo, capsys):
    repo = make_repo()
    repo.commit({
        ".github/reviewbot.yml": config({"name": "quits", "handler": "main.handler"}),
        "main.py": "import os\nos._exit(0)\n",
    })
    code, out, _ = run(capsys, "verify-imports", "--repo", str(repo.path), "--format", "json")
    assert code == 1
    r = results_by_name(out)["quits"]
    assert r["ok"] is False
    assert r["error"] == "process exited with code 0 before the import finished"


# -- Lambda's sys.path, cwd and environment ------------------------------------------------


def test_sys_path_is_root_then_layers_and_nothing_else_from_the_repo(make_repo, capsys):
    repo = make_repo()
    probe = textwrap.dedent("""\
        import os, sys
        ROOTS = [p for p in sys.path if p.startswith(os.environ["LAMBDA_TASK_ROOT"].rsplit(
            "/fn", 1)[0])]
        CWD = os.getcwd()
        def handler(event, context):
            return None
        """)
    repo.commit({
        ".github/reviewbot.yml": config(
            {"name": "probe", "handler": "main.handler", "root": "fn",
             "paths": ["layer/python"]},
            {"name": "toplevel", "handler": "uses_top.handler", "root": "fn"},
            {"name": "sibling", "handler": "src/handlers/auth.handler", "root": "fn"},
        ),
        "toplevel_helper.py": "X = 1\n",
        "fn/main.py": probe + "import shared\nassert ROOTS[:2] == [CWD, CWD[:-3] + "
                      "'/layer/python'], (ROOTS, CWD)\nassert len(ROOTS) == 2, ROOTS\n",
        "fn/uses_top.py": "import toplevel_helper\n",
        "fn/src/handlers/auth.py": "import common\n",
        "fn/src/handlers/common.py": "X = 1\n",
        "layer/python/shared.py": "X = 1\n",
    })
    code, out, _ = run(capsys, "verify-imports", "--repo", str(repo.path), "--format", "json",
                       "--compare-static")
    r = results_by_name(out)
    assert r["probe"]["ok"] is True, r["probe"]
    assert r["toplevel"]["error"] == ("Unable to import module 'uses_top': No module named "
                                      "'toplevel_helper'")
    assert r["sibling"]["error"] == ("Unable to import module 'src/handlers/auth': No module "
                                     "named 'common'")
    assert json.loads(out)["disagreements"] == []
    assert code == 1


def test_environment_from_config_and_lambda_defaults(make_repo, capsys, monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    repo = make_repo()
    check = textwrap.dedent("""\
        import os
        assert os.environ["STAGE"] == "prod", os.environ.get("STAGE")
        assert os.environ["AWS_LAMBDA_FUNCTION_NAME"] == "envy"
        assert os.environ["AWS_REGION"] == "us-east-1"
        assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
        assert os.environ["LAMBDA_TASK_ROOT"] == os.getcwd()
        assert "PYTHONPATH" not in os.environ
        def handler(event, context):
            return None
        """)
    repo.commit({
        ".github/reviewbot.yml": config(
            {"name": "envy", "handler": "main.handler", "environment": {"STAGE": "prod"}},
            {"name": "noenv", "handler": "main.handler"},
        ),
        "main.py": check,
    })
    code, out, _ = run(capsys, "verify-imports", "--repo", str(repo.path), "--format", "json")
    r = results_by_name(out)
    assert r["envy"]["ok"] is True, r["envy"]
    assert r["noenv"]["ok"] is False
    assert r["noenv"]["error"].startswith("KeyError: 'STAGE'")
    assert r["noenv"]["where"] == "main.py:2"
    assert code == 1


def test_child_environment_keeps_a_configured_region(tmp_path):
    h = Handler("f", "main.handler", environment=(("AWS_REGION", "eu-west-1"),))
    env = child_environment(h, tmp_path, {"PYTHONHOME": "/x", "HOME": "/home/u"})
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert "PYTHONHOME" not in env and env["HOME"] == "/home/u"
    assert env["LAMBDA_TASK_ROOT"] == str(tmp_path)


def test_python_option_runs_the_given_interpreter(make_repo, tmp_path, capsys):
    marker = tmp_path / "used"
    wrapper = tmp_path / "python-wrapper"
    wrapper.write_text(f"#!/bin/sh\necho yes > {marker}\nexec {sys.executable} \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    repo = make_repo()
    repo.commit({
        ".github/reviewbot.yml": config({"name": "f", "handler": "main.handler"}),
        "main.py": "def handler(e, c):\n    return 1\n",
    })
    code, _, _ = run(capsys, "verify-imports", "--repo", str(repo.path), "--python",
                     str(wrapper))
    assert code == 0
    assert marker.read_text().strip() == "yes"


def test_python_in_a_virtualenv_given_as_a_relative_path(make_repo, tmp_path, capsys,
                                                        monkeypatch):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")],
                   check=True)
    python = tmp_path / "venv" / "bin" / "python"
    site_dir = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                              capture_output=True, text=True, check=True).stdout.strip()
    (Path(site_dir) / "venv_only_mod.py").write_text("X = 1\n")
    repo = make_repo()
    repo.commit({
        ".github/reviewbot.yml": config({"name": "f", "handler": "main.handler"}),
        "main.py": "from venv_only_mod import X\n\ndef handler(e, c):\n    return X\n",
    })
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "verify-imports", "--repo", str(repo.path), "--format", "json")
    assert code == 1
    assert results_by_name(out)["f"]["error"] == ("Unable to import module 'main': No module "
                                                  "named 'venv_only_mod'")
    code, out, _ = run(capsys, "verify-imports", "--repo", str(repo.path), "--format", "json",
                       "--python", "venv/bin/python")
    assert code == 0, out


def test_affected_handlers_only_with_base_and_head(make_repo):
    repo = make_repo()
    repo.commit({
        ".github/reviewbot.yml": config(
            {"name": "a", "handler": "main.handler", "root": "a", "paths": ["lib"]},
            {"name": "b", "handler": "main.handler", "root": "b", "paths": ["lib"]},
        ),
        "lib/util_a.py": "X = 1\n",
        "a/main.py": "from util_a import X\n\ndef handler(e, c):\n    return X\n",
        "b/main.py": "def handler(e, c):\n    return 2\n",
    })
    repo.branch("pr")
    head = repo.commit({"lib/util_a.py": "Y = 1\n"})
    outcome = verify(str(repo.path), base="main", head=head)
    assert [r.handler for r in outcome.results] == ["a"]
    assert outcome.results[0].error == ("Unable to import module 'main': cannot import name "
                                        "'X' from 'util_a' (lib/util_a.py)")
    assert not outcome.ok


# -- static and dynamic verdicts agree (the CPython-judged fixtures) -----------------------

FIXTURES = {
    "missing-name": (
        {"main.py": "from pkg import nope\n\ndef handler(e, c):\n    pass\n",
         "pkg/__init__.py": "present = 1\n"},
        {}, "Unable to import module 'main': cannot import name 'nope' from 'pkg' "
            "(pkg/__init__.py)"),
    "submodule-fallback": (
        {"main.py": "from pkg import sub\n\ndef handler(e, c):\n    return sub.X\n",
         "pkg/__init__.py": "", "pkg/sub.py": "X = 1\n"},
        {}, ""),
    "namespace-package": (
        {"main.py": "from ns.inner.mod import f\n\ndef handler(e, c):\n    return f()\n",
         "ns/inner/mod.py": "def f():\n    return 1\n"},
        {}, ""),
    "type-checking-only": (
        {"main.py": "from pkg import Thing\n\ndef handler(e, c):\n    pass\n",
         "pkg/__init__.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                            "    from pkg.types import Thing\n",
         "pkg/types.py": "class Thing:\n    pass\n"},
        {}, "Unable to import module 'main': cannot import name 'Thing' from 'pkg' "
            "(pkg/__init__.py)"),
    "circular": (
        {"main.py": "import a\n\ndef handler(e, c):\n    pass\n",
         "a.py": "from b import B\n\nA = 1\n", "b.py": "from a import A\n\nB = 1\n"},
        {}, "Unable to import module 'main': cannot import name 'A' from partially "
            "initialized module 'a' (most likely due to a circular import) (a.py)"),
    "try-except-fallback": (
        {"main.py": "try:\n    import ujson_not_here as json\nexcept ImportError:\n"
                    "    import json\n\ndef handler(e, c):\n    return json.dumps(1)\n"},
        {}, ""),
    "missing-handler-function": (
        {"main.py": "def other(e, c):\n    pass\n"},
        {}, "Handler 'handler' missing on module 'main'"),
    "syntax-error": (
        {"main.py": "import helper\n\ndef handler(e, c):\n    pass\n",
         "helper.py": "def broken(:\n    pass\n"},
        {}, "Syntax error in module 'main': invalid syntax (helper.py, line 1)"),
    "relative-import": (
        {"pkg/__init__.py": "", "pkg/helpers.py": "X = 1\n",
         "pkg/handler.py": "from . import helpers\nfrom .helpers import X\n\n"
                           "def handler(e, c):\n    return X\n"},
        {"handler": "pkg/handler.handler"}, ""),
    "relative-import-missing": (
        {"pkg/__init__.py": "",
         "pkg/handler.py": "from .gone import X\n\ndef handler(e, c):\n    return X\n"},
        {"handler": "pkg/handler.handler"},
        "Unable to import module 'pkg/handler': No module named 'pkg.gone'"),
    "layer-path-root": (
        {"fn/main.py": "from common_lib.util import f\n\ndef handler(e, c):\n    return f()\n",
         "layer/python/common_lib/__init__.py": "",
         "layer/python/common_lib/util.py": "def f():\n    return 1\n"},
        {"root": "fn", "paths": ["layer/python"]}, ""),
    "stale-all-star": (  # AttributeError, which Lambda does not wrap: "Type: message"
        {"main.py": "from m import *\n\ndef handler(e, c):\n    pass\n",
         "m.py": "__all__ = ['Ghost', 'Real']\nReal = 1\n"},
        {}, "AttributeError: module 'm' has no attribute 'Ghost'"),
    "missing-third-party": (
        {"main.py": "import not_installed_anywhere_xyz\n\ndef handler(e, c):\n    pass\n"},
        {}, "Unable to import module 'main': No module named 'not_installed_anywhere_xyz'"),
}


@pytest.fixture(scope="module")
def fixture_repos(tmp_path_factory):
    from tests.conftest import Repo

    base = tmp_path_factory.mktemp("fixtures")
    repos = {}
    for name, (files, fields, _) in FIXTURES.items():
        repo = Repo(base / name)
        entry = {"name": name, "handler": "main.handler", **fields}
        repo.commit({".github/reviewbot.yml": config(entry), **files})
        repos[name] = repo
    return repos


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_compare_static_agrees_on_fixture(name, fixture_repos, capsys):
    expected = FIXTURES[name][2]
    code, out, _ = run(capsys, "verify-imports", "--repo", str(fixture_repos[name].path),
                       "--compare-static", "--format", "json")
    data = json.loads(out)
    assert data["disagreements"] == []
    [result] = data["results"]
    assert result["error"] == expected
    assert result["ok"] is (expected == "")
    assert code == (0 if expected == "" else 1)


def test_compare_static_reports_a_disagreement(make_repo, capsys):
    # A module that fails at import for a reason no import analysis can see: the static
    # check passes, the import fails, and the comparison says so (exit 1).
    repo = make_repo()
    repo.commit({
        ".github/reviewbot.yml": config({"name": "dyn", "handler": "main.handler"}),
        "main.py": "import importlib\nimportlib.import_module('gone_' + 'module')\n\n"
                   "def handler(e, c):\n    pass\n",
    })
    code, out, _ = run(capsys, "verify-imports", "--repo", str(repo.path), "--compare-static")
    assert code == 1
    assert "DISAGREEMENT dyn: static check passes, import fails" in out
    assert "No module named 'gone_module'" in out


def test_static_call_time_errors_are_not_a_disagreement(make_repo, capsys):
    repo = make_repo()
    repo.commit({
        ".github/reviewbot.yml": config({"name": "lazy", "handler": "main.handler"}),
        "main.py": "def handler(e, c):\n    import not_there_xyz\n    return 1\n",
    })
    code, out, _ = run(capsys, "verify-imports", "--repo", str(repo.path), "--compare-static",
                       "--format", "json")
    data = json.loads(out)
    assert code == 0, data
    assert data["disagreements"] == []
    assert any("inside functions" in n for n in data["notes"])


def test_export_leaves_the_repository_and_its_index_alone(incident, capsys):
    repo, commits = incident
    (repo / "notes.txt").write_text("untracked\n")
    before = git(repo, "status", "--porcelain")
    listing = sorted(os.listdir(repo))
    run(capsys, "verify-imports", "--repo", str(repo), "--ref", commits["base"])
    assert git(repo, "status", "--porcelain") == before == "?? notes.txt"
    assert sorted(os.listdir(repo)) == listing


def test_workflow_example_is_in_the_docs_and_runs_verify_imports():
    root = Path(__file__).parents[1]
    workflow = (root / "examples/github-actions/reviewbot-verify-imports.yml").read_text()
    assert f"```yaml\n{workflow}```" in (root / "docs/verify-imports.md").read_text()
    steps = yaml.safe_load(workflow)["jobs"]["verify-imports"]["steps"]
    assert steps[0]["with"]["fetch-depth"] == 0
    assert steps[-1]["run"] == ("reviewbot verify-imports --base origin/${{ github.base_ref }} "
                                "--head HEAD --python .venv/bin/python")


def test_same_failure_compares_the_exception_text():
    from reviewbot.verify import VerifyResult, _same_failure

    h = Handler("f", "src/app.handler")
    static = "AttributeError: module 'm' has no attribute 'G'"
    attr = VerifyResult("f", False, "AttributeError: module 'm' has no attribute 'G'",
                        kind="exception")
    assert _same_failure(h, static, attr)
    assert not _same_failure(h, "AttributeError: module 'm' has no attribute 'H'", attr)
    other = VerifyResult("f", False, "Unable to import module 'src/app': No module named 'm'",
                         kind="import-error")
    assert not _same_failure(h, static, other)
    assert _same_failure(h, "Unable to import module 'src/app': No module named 'm'", other)
    deep = VerifyResult("f", False, "RecursionError: maximum recursion depth exceeded during "
                        "compilation", kind="exception")
    assert _same_failure(h, "Syntax error in module 'src/app': too deeply nested to parse "
                         "(u.py)", deep)


# -- interpreters per runtime ------------------------------------------------------------


def test_each_handler_is_imported_under_its_runtime_s_interpreter(make_repo, capsys):
    from tests.runtimes import require

    py39, py312 = require("3.9"), require("3.12")
    repo = make_repo()
    repo.commit({
        ".github/reviewbot.yml": "discover: false\nhandlers:\n"
        "  - {name: old, handler: main.handler, root: old, runtime: python3.9}\n"
        "  - {name: new, handler: main.handler, root: new, runtime: python3.12}\n"
        "  - {name: odd, handler: main.handler, root: new, runtime: python3.14}\n",
        "old/main.py": "import tomllib\ndef handler(e, c): pass\n",
        "new/main.py": "import tomllib\nimport requests_not_here\ndef handler(e, c): pass\n",
        "new/requirements.txt": "requests_not_here\n",
    })
    code, out, _ = run(capsys, "verify-imports", "--repo", str(repo.path), "--format", "json",
                       "--python", f"3.9={py39}", "--python", f"3.12={py312}")
    assert code == 1
    data = json.loads(out)
    results = {r["handler"]: r for r in data["results"]}
    # tomllib is new in 3.11: the python3.9 function fails under 3.9 only
    assert results["old"]["error"] == "Unable to import module 'main': No module named 'tomllib'"
    assert results["new"]["error"] == ("Unable to import module 'main': No module named "
                                       "'requests_not_here'")
    notes = "\n".join(data["notes"])
    assert "install new/requirements.txt into that interpreter" in notes
    assert f"{py312} -m pip install -r new/requirements.txt" in notes
    # no python3.14 here: it is imported under another version, and says so
    assert "odd imported under Python" in notes and "not its runtime python3.14" in notes


@pytest.mark.parametrize("value, message", [
    ("3.x=/bin/sh", "expected 3.X=PATH or PATH"),
    ("3.12=/no/such/python", "'/no/such/python' is not an executable"),
])
def test_bad_python_options_are_usage_errors(value, message, capsys):
    code, _, err = run(capsys, "verify-imports", "--python", value)
    assert code == 2 and message in err
