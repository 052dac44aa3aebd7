"""Fix suggestions: codemod before/after tests (byte for byte), the submodule that defines
the name, and the incident: apply the suggestion, re-run the check, it passes."""

from __future__ import annotations

import subprocess

import pytest

from reviewbot.cache import SummaryCache
from reviewbot.cli import main
from reviewbot.config import parse_config
from reviewbot.demo import (
    AUTH_PR,
    CONFIG,
    INIT_FIX,
    INIT_PR,
    git,
    incident_files,
    write_incident_repo,
)
from reviewbot.fixes import (
    Fix,
    add_export,
    defining_submodule,
    import_from_submodule,
    missing_name,
    suggest_all,
)
from reviewbot.localrun import check_repo
from reviewbot.model import Finding
from reviewbot.review import review
from reviewbot.tree import Tree

INIT = "backend/src/goals_common/__init__.py"
AUTH = "backend/handlers/auth/main.py"

# -- codemod: add the export ----------------------------------------------------------------

EXPORT_CASES = {
    "single line, list __all__ (the incident)": (INIT_PR, INIT_FIX),
    "parenthesised one per line, trailing comma; tuple __all__": (
        'from .errors import (\n    GoalError,\n    GoalNotFoundError,\n)\n\n'
        '__all__ = (\n    "GoalError",\n    "GoalNotFoundError",\n)\n',
        'from .errors import (\n    GoalError,\n    GoalNotFoundError,\n    GoalValidationError,\n)\n\n'
        '__all__ = (\n    "GoalError",\n    "GoalNotFoundError",\n    "GoalValidationError",\n)\n'),
    "parenthesised one per line, no trailing comma": (
        "from .errors import (\n    GoalError,\n    GoalNotFoundError\n)\n",
        "from .errors import (\n    GoalError,\n    GoalNotFoundError,\n    GoalValidationError\n)\n"),
    "hanging indent; single quotes; one-element tuple": (
        "from .errors import (GoalError,\n                     GoalNotFoundError)\n"
        "__all__ = ('GoalError',)\n",
        "from .errors import (GoalError,\n                     GoalNotFoundError,\n"
        "                     GoalValidationError)\n"
        "__all__ = ('GoalError', 'GoalValidationError')\n"),
    "sorted names: inserted in place": (
        "from .errors import AError, ZError\n__all__ = ['AError', 'ZError']\n",
        "from .errors import AError, GoalValidationError, ZError\n"
        "__all__ = ['AError', 'GoalValidationError', 'ZError']\n"),
    "unsorted names: appended": (
        "from .errors import ZError, AError\n",
        "from .errors import ZError, AError, GoalValidationError\n"),
    "aliases are kept": (
        "from .errors import GoalError as Error, Zeta\n__all__ = ['Error', 'Zeta']\n",
        "from .errors import GoalError as Error, GoalValidationError, Zeta\n"
        "__all__ = ['Error', 'GoalValidationError', 'Zeta']\n"),
    "no import from the submodule: a new one after the last relative import": (
        '"""Doc."""\n\nimport os\n\nfrom .models import Goal  # noqa\n\nVERSION = 1\n',
        '"""Doc."""\n\nimport os\n\nfrom .models import Goal  # noqa\n'
        "from .errors import GoalValidationError\n\nVERSION = 1\n"),
    "no __all__, comments kept": (
        "# header\nfrom .errors import GoalError  # the base class\n",
        "# header\nfrom .errors import GoalError, GoalValidationError  # the base class\n"),
    "empty package": ("", "from .errors import GoalValidationError\n"),
    "computed __all__ is left alone": (
        "from .errors import GoalError\n__all__ = [n for n in dir() if n[0] != '_']\n",
        "from .errors import GoalError, GoalValidationError\n"
        "__all__ = [n for n in dir() if n[0] != '_']\n"),
    "CRLF line endings": (
        "from .errors import GoalError\r\n__all__ = [\"GoalError\"]\r\n",
        "from .errors import GoalError, GoalValidationError\r\n"
        "__all__ = [\"GoalError\", \"GoalValidationError\"]\r\n"),
}


@pytest.mark.parametrize("before,after", EXPORT_CASES.values(), ids=EXPORT_CASES.keys())
def test_add_export(before, after):
    assert add_export(before, "errors", "GoalValidationError") == after


def test_add_export_is_idempotent():
    assert add_export(INIT_FIX, "errors", "GoalValidationError") == INIT_FIX


def test_add_export_into_star_import_package_adds_explicit_import():
    before = "from .errors import *\n"
    assert add_export(before, "errors", "GoalValidationError") == (
        "from .errors import *\nfrom .errors import GoalValidationError\n")


# -- codemod: the consumer's alternative import ----------------------------------------------

CONSUMER_CASES = {
    "only name: the module changes": (
        AUTH_PR, 3, AUTH_PR.replace("from goals_common import GoalValidationError",
                                    "from goals_common.errors import GoalValidationError")),
    "one of several: moved to its own line": (
        "from goals_common import GoalError, GoalValidationError\nx = 1\n", 1,
        "from goals_common import GoalError\n"
        "from goals_common.errors import GoalValidationError\nx = 1\n"),
    "inside a function, parenthesised": (
        "def f():\n    from goals_common import (\n        GoalValidationError,\n"
        "        GoalError,\n    )\n", 2,
        "def f():\n    from goals_common import (\n        GoalError,\n    )\n"
        "    from goals_common.errors import GoalValidationError\n"),
    "relative consumer": (
        "from .pkg import GoalValidationError\n", 1,
        "from .pkg.errors import GoalValidationError\n"),
}


@pytest.mark.parametrize("before,line,after", CONSUMER_CASES.values(),
                         ids=CONSUMER_CASES.keys())
def test_import_from_submodule(before, line, after):
    assert import_from_submodule(before, line, "GoalValidationError", "errors") == after


def test_import_from_submodule_needs_the_statement_on_that_line():
    assert import_from_submodule(AUTH_PR, 1, "GoalValidationError", "errors") is None


# -- finding the submodule ---------------------------------------------------------------------

def test_missing_name_is_read_from_the_message():
    f = Finding("auth", AUTH, 3, "missing-name",
                "Unable to import module 'main': cannot import name 'GoalValidationError' "
                "from 'goals_common' (backend/src/goals_common/__init__.py)")
    m = missing_name(f)
    assert (m.name, m.package, m.init_path) == ("GoalValidationError", "goals_common", INIT)
    assert missing_name(Finding("a", "x.py", 1, "missing-module", f.message)) is None
    plain = Finding("a", "x.py", 1, "missing-name", "cannot import name 'X' from 'm' (m.py)")
    assert missing_name(plain) is None  # not a package: nothing to export from


def test_defining_submodule_prefers_a_definition_over_a_reexport():
    files = {
        "pkg/a.py": b"from pkg.b import Name\n",
        "pkg/b.py": b"class Name: pass\n",
        "pkg/c/__init__.py": b"Other = 1\n",
        "pkg/c/deep.py": b"class Name: pass\n",
        "pkg/d.py": b"if x:\n    Name = 1\n",  # only maybe
    }
    assert defining_submodule(files, "pkg/__init__.py", "", "Name") == "b"
    assert defining_submodule({"pkg/c/__init__.py": b"class Name: pass\n"},
                              "pkg/__init__.py", "", "Name") == "c"
    assert defining_submodule(files, "pkg/__init__.py", "", "Missing") is None


def test_fix_regions_anchor_insertions_on_an_existing_line():
    fix = Fix("p.py", "a\nb\n", "a\nnew\nb\n", "")
    assert fix.regions() == [(1, 1, ["a", "new"])]
    fix = Fix("p.py", "a\nb\nc\nd\ne\n", "A\nb\nc\nd\nE\n", "")
    assert fix.regions() == [(1, 1, ["A"]), (5, 5, ["E"])]


# -- the incident: apply the suggestion, re-run, it passes ------------------------------------

def _review(files: dict[str, str]):
    base = incident_files("base")
    changed = {p: "M" if p in base else "A" for p in files if base.get(p) != files[p]}
    return review(base=Tree.from_files(base), head=Tree.from_files(files), changed=changed,
                  config=parse_config(CONFIG), cache=SummaryCache(disk=False))


def _suggestions(files: dict[str, str], report):
    return suggest_all(report.errors, files.get, files)


def apply_regions(text: str, regions) -> str:
    """What GitHub's "Commit suggestion" does: replace the line range with the block."""
    lines = text.splitlines(keepends=True)
    for start, end, new in sorted(regions, reverse=True):
        lines[start - 1:end] = [line + "\n" for line in new]
    return "".join(lines)


def test_incident_suggestion_applied_makes_the_check_pass():
    files = incident_files("pr")
    report = _review(files)
    assert report.conclusion == "failure"
    [s] = _suggestions(files, report)
    assert (s.package, s.name, s.submodule) == ("goals_common", "GoalValidationError",
                                                "errors")
    assert s.export.path == INIT
    # Each region is a suggestion block; applying them all gives the fix commit's file,
    # byte for byte (only the name is added).
    regions = s.export.regions()
    assert [(a, b) for a, b, _ in regions] == [(3, 3), (5, 5)]
    fixed = apply_regions(files[INIT], regions)
    assert fixed == INIT_FIX == s.export.new_text
    after = _review({**files, INIT: fixed})
    assert after.conclusion == "success", after.errors


def test_incident_alternative_import_also_passes():
    files = incident_files("pr")
    [s] = _suggestions(files, _review(files))
    assert s.alternative.path == AUTH
    assert s.alternative.regions() == [
        (3, 3, ["from goals_common.errors import GoalValidationError"])]
    after = _review({**files, AUTH: s.alternative.new_text})
    assert after.conclusion == "success", after.errors


def test_check_fix_writes_the_working_tree_and_the_recheck_passes(tmp_path, capsys):
    repo = tmp_path / "goals"
    commits = write_incident_repo(repo)
    git(repo, "checkout", "-q", commits["pr"])
    code = main(["check", "--repo", str(repo), "--base", "main", "--fix"])
    out = capsys.readouterr().out
    assert code == 1  # the report is of the commit; nothing is re-run
    assert f"{INIT}: export `GoalValidationError` from `goals_common`" in out
    assert "from goals_common.errors import GoalValidationError" in out
    assert (repo / INIT).read_text() == INIT_FIX
    status = git(repo, "status", "--porcelain")
    assert status == f"M {INIT}"  # only that file, not staged, not committed
    git(repo, "commit", "-qam", "apply reviewbot's fix")
    assert check_repo(str(repo), "main").conclusion == "success"


def test_check_fix_leaves_a_locally_edited_file_alone(tmp_path, capsys):
    repo = tmp_path / "goals"
    commits = write_incident_repo(repo)
    git(repo, "checkout", "-q", commits["pr"])
    (repo / INIT).write_text(INIT_PR + "# local edit\n")
    # a commit checked while its file is edited on disk: the edit is left alone
    code = main(["check", "--repo", str(repo), "--base", "main", "--head", commits["pr"],
                 "--fix", "--format", "json"])
    err = capsys.readouterr().err
    assert code == 1
    assert "skipped: the working copy has other changes" in err
    assert (repo / INIT).read_text() == INIT_PR + "# local edit\n"
    # the files on disk checked (the default): the fix is made to the edited file
    assert main(["check", "--repo", str(repo), "--base", "main", "--fix"]) == 1
    fixed = (repo / INIT).read_text()
    assert fixed.endswith("# local edit\n") and "GoalValidationError" in fixed
    assert main(["check", "--repo", str(repo), "--base", "main"]) == 0  # no commit needed


def test_check_fix_with_nothing_to_fix(tmp_path, capsys):
    repo = tmp_path / "goals"
    commits = write_incident_repo(repo)
    assert main(["check", "--repo", str(repo), "--base", "main", "--head", commits["fix"],
                 "--fix"]) == 0
    assert "no fix to apply" in capsys.readouterr().out
    assert subprocess.run(["git", "-C", str(repo), "diff", "--quiet"]).returncode == 0
