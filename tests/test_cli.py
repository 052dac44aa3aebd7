"""`reviewbot check`, `handlers` and `demo` end to end on git repositories built here."""

from __future__ import annotations

import json

import pytest

from reviewbot.cli import main
from reviewbot.demo import write_incident_repo
from reviewbot.model import DEFAULT_RUNTIME

AUTH_ERROR = ("Unable to import module 'main': cannot import name 'GoalValidationError' "
              "from 'goals_common' (backend/src/goals_common/__init__.py)")


@pytest.fixture
def incident(tmp_path):
    repo = tmp_path / "goals"
    return repo, write_incident_repo(repo)


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_incident_pr_fails_at_auth_line_3(incident, capsys):
    repo, commits = incident
    code, out, _ = run(capsys, "check", "--repo", str(repo), "--base", "main",
                       "--head", commits["pr"], "--format", "json")
    assert code == 1
    report = json.loads(out)
    assert report["conclusion"] == "failure"
    assert report["errors"] == [{
        "handler": "auth", "path": "backend/handlers/auth/main.py", "line": 3,
        "kind": "missing-name", "message": AUTH_ERROR,
    }]
    affected = {h["name"]: h["affected"] for h in report["handlers"]}
    assert affected == {"auth": True, "create_goal": True, "list_goals": True, "health": False}
    chains = {h["name"]: h["chain"] for h in report["handlers"]}
    assert chains["auth"] == ["main", "goals_common"]
    assert chains["create_goal"] == ["main", "goals_common"]
    assert chains["list_goals"] == ["main", "goals_common.models", "goals_common"]
    assert chains["health"] == []
    init = next(s for s in report["shared_modules"]
                if s["path"] == "backend/src/goals_common/__init__.py")
    assert init == {"path": "backend/src/goals_common/__init__.py",
                    "handlers": ["auth", "create_goal", "list_goals"],
                    "removed_names": [], "added_names": ["GoalQuotaError"],
                    "syntax_error": None}


def test_incident_fix_passes(incident, capsys):
    repo, commits = incident
    code, out, _ = run(capsys, "check", "--repo", str(repo), "--base", "main",
                       "--head", commits["fix"], "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["conclusion"] == "success"
    assert report["errors"] == []
    assert sorted(h["name"] for h in report["handlers"] if h["affected"]) == [
        "auth", "create_goal", "list_goals"]


def test_json_contract_keys(incident, capsys):
    repo, commits = incident
    _, out, _ = run(capsys, "check", "--repo", str(repo), "--base", "main",
                    "--head", commits["pr"], "--format", "json")
    report = json.loads(out)
    assert {"conclusion", "handlers", "errors", "warnings", "shared_modules"} <= set(report)
    handler = report["handlers"][0]
    assert {"name", "handler", "root", "paths", "runtime", "source", "line", "affected",
            "chain"} <= set(handler)
    assert handler["source"] == ".github/reviewbot.yml"
    assert set(report["errors"][0]) == {"handler", "path", "line", "kind", "message"}
    assert set(report["shared_modules"][0]) == {"path", "handlers", "removed_names",
                                                "added_names", "syntax_error"}


def test_head_defaults_to_the_files_on_disk_and_base_to_default_branch(incident, capsys):
    repo, commits = incident  # HEAD is the fix commit on the PR branch, nothing edited
    code, out, _ = run(capsys, "check", "--repo", str(repo), "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["head"] == "working tree"
    assert report["base"] == commits["base"]  # the merge base of HEAD and main
    code, out, _ = run(capsys, "check", "--repo", str(repo), "--format", "json",
                       "--head", "HEAD")
    assert json.loads(out)["head"] == commits["fix"]


def test_markdown_is_the_pr_comment(incident, capsys):
    repo, commits = incident
    code, out, _ = run(capsys, "check", "--repo", str(repo), "--base", "main",
                       "--head", commits["pr"], "--format", "markdown")
    assert code == 1
    assert out.startswith("<!-- reviewbot:import-check -->\n### ❌")
    assert ("| `backend/src/goals_common/__init__.py` | auth, create\\_goal, list\\_goals |"
            in out)
    assert "`backend/handlers/auth/main.py:3`" in out and "GoalValidationError" in out
    assert "- ☐ Every import of the affected handlers resolves" in out
    assert "- [ ] Deployed to staging first" in out


def test_text_output(incident, capsys):
    repo, commits = incident
    code, out, _ = run(capsys, "check", "--repo", str(repo), "--base", "main",
                       "--head", commits["pr"])
    assert code == 1
    first, second = out.splitlines()[:2]
    assert first == (f"Checking commit {commits['pr'][:12]} against {commits['base'][:12]}, "
                     "its merge base with main")
    assert second.startswith("FAIL ")
    assert f"backend/handlers/auth/main.py:3: [auth] {AUTH_ERROR}" in out
    assert "\033[" not in out  # no colour when not a terminal


def test_all_checks_unaffected_handlers_too(make_repo, capsys):
    repo = make_repo()
    repo.commit({
        ".github/reviewbot.yml": "handlers:\n"
                                 "  - {name: a, handler: main.handler, root: a}\n"
                                 "  - {name: b, handler: main.handler, root: b}\n"
                                 "  - {name: c, handler: main.handler, root: c}\n",
        "a/main.py": "def handler(e, c): pass\n",
        "c/main.py": "def handler(e, c): pass\n",
        "b/main.py": "from missing_pkg import thing\ndef handler(e, c): pass\n",
    })
    repo.branch("pr")
    repo.commit({"a/main.py": "import json\ndef handler(e, c): pass\n"})
    code, out, _ = run(capsys, "check", "--repo", str(repo.path), "--base", "main",
                       "--format", "json")
    assert code == 0
    assert json.loads(out)["errors"] == []
    code, out, _ = run(capsys, "check", "--repo", str(repo.path), "--base", "main", "--all",
                       "--format", "json")
    assert code == 1
    errors = json.loads(out)["errors"]
    assert [(e["handler"], e["path"], e["line"], e["kind"]) for e in errors] == [
        ("b", "b/main.py", 1, "missing-module")]
    assert errors[0]["message"] == "Unable to import module 'main': No module named 'missing_pkg'"
    # The text lists what each checked handler got, never "not affected" above its errors,
    # and counts the clean ones.
    code, out, _ = run(capsys, "check", "--repo", str(repo.path), "--base", "main", "--all")
    assert code == 1
    rows = out.split("Handlers\n")[1].split("\n\n")[0].splitlines()
    assert [row.split() for row in rows] == [
        ["a", "main.handler", DEFAULT_RUNTIME, "(default)", "affected:", "ok", "via", "main"],
        ["b", "main.handler", DEFAULT_RUNTIME, "(default)", "1", "error"],
        ["1", "other", "handler", "checked:", "no", "import", "error"],
    ]


@pytest.mark.parametrize("text, expected", [
    ("handlers: [", ".github/reviewbot.yml:1: invalid YAML"),
    ("handlers:\n  - name: a\n    handler: main.handler\n    rooot: x\n",
     ".github/reviewbot.yml:4: handlers[0].rooot: unknown key"),
    ("shared: backend/src\n", ".github/reviewbot.yml:1: shared: expected a list of strings"),
])
def test_config_errors_exit_2_with_file_line_key(make_repo, capsys, text, expected):
    repo = make_repo()
    repo.commit({".github/reviewbot.yml": text, "main.py": "x = 1\n"})
    code, _, err = run(capsys, "check", "--repo", str(repo.path), "--base", "main")
    assert code == 2
    assert expected in err


def test_git_errors_exit_2(make_repo, tmp_path, capsys):
    code, _, err = run(capsys, "check", "--repo", str(tmp_path / "nowhere"))
    assert code == 2 and "not a git repository" in err
    repo = make_repo()
    repo.commit({"main.py": "x = 1\n"})
    code, _, err = run(capsys, "check", "--repo", str(repo.path), "--base", "no-such-branch")
    assert code == 2 and "unknown revision 'no-such-branch'" in err


def test_usage_error_exit_2(capsys):
    assert main(["check", "--format", "yaml"]) == 2
    assert main([]) == 2


def test_syntax_error_in_user_code_is_a_finding_not_a_crash(make_repo, capsys):
    repo = make_repo()
    repo.commit({
        ".github/reviewbot.yml": "handlers:\n  - {name: a, handler: main.handler, root: fn}\n",
        "fn/main.py": "import util\ndef handler(e, c): pass\n",
        "fn/util.py": "x = 1\n",
    })
    repo.branch("pr")
    repo.commit({"fn/util.py": "def broken(:\n    pass\n"})
    code, out, _ = run(capsys, "check", "--repo", str(repo.path), "--base", "main",
                       "--format", "json")
    assert code == 1
    [error] = json.loads(out)["errors"]
    assert error["kind"] == "syntax-error"
    assert error["path"] == "fn/util.py" and error["line"] == 1
    assert error["message"].startswith("Syntax error in module 'main': ")
    assert "(util.py, line 1)" in error["message"]


def test_handlers_command(incident, capsys):
    repo, _ = incident
    code, out, _ = run(capsys, "handlers", "--repo", str(repo), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [h["name"] for h in data["handlers"]] == ["auth", "create_goal", "health",
                                                      "list_goals"]
    assert data["handlers"][0]["root"] == "backend/handlers/auth"
    assert data["handlers"][0]["paths"] == ["backend/src"]
    assert data["unresolved"] == []


def test_demo_replays_the_incident(tmp_path, capsys):
    code, out, _ = run(capsys, "demo", "--dir", str(tmp_path / "demo"))
    assert code == 0
    assert AUTH_ERROR in out
    assert "<!-- reviewbot:import-check -->" in out
    assert out.rstrip().splitlines()[-1] != ""
    assert "OK 3 affected Lambda handlers import cleanly" in out


@pytest.mark.parametrize("command, gc_on", [("handlers", False), ("serve --help", True)])
def test_batch_commands_run_without_the_cyclic_gc_in_their_own_process(
        incident, command, gc_on, capsys):
    """`reviewbot check` and friends analyse once and exit: the cyclic GC stays off (checks
    leave no cycles). Called as a library, main() leaves the GC as it was."""
    import gc
    import subprocess
    import sys

    repo, _ = incident
    args = command.split() + (["--repo", str(repo)] if command == "handlers" else [])
    probe = ("import atexit, gc, sys; atexit.register(lambda: print('gc', gc.isenabled(), "
             "file=sys.stderr)); sys.argv[1:] = sys.argv[2:]; "
             "from reviewbot.cli import run; run()")
    proc = subprocess.run([sys.executable, "-c", probe, "-", *args],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"gc {gc_on}" in proc.stderr, proc.stderr
    assert run(capsys, "handlers", "--repo", str(repo))[0] == 0
    assert gc.isenabled()


NODE_AND_COMPUTED = (
    "Transform: AWS::Serverless-2016-10-31\nResources:\n"
    "  Web:\n    Type: AWS::Serverless::Function\n"
    "    Properties: {Runtime: nodejs20.x, Handler: index.handler, CodeUri: web}\n"
    "  Worker:\n    Type: AWS::Serverless::Function\n"
    "    Properties: {Runtime: python3.12, Handler: !Ref WorkerHandler, CodeUri: worker}\n")


def test_a_check_that_found_no_python_handler_is_nothing_checked_not_ok(make_repo, capsys):
    repo = make_repo()
    repo.commit({"template.yaml": NODE_AND_COMPUTED, "worker/app.py": "X = 1\n",
                 "web/index.js": "exports.handler = 1\n"})
    repo.branch("pr")
    repo.commit({"worker/app.py": "from gone import X\n"})
    code, out, _ = run(capsys, "check", "--repo", str(repo.path), "--base", "main",
                       "--format", "json")
    assert code == 3
    report = json.loads(out)
    assert report["conclusion"] == "neutral"
    # the nodejs function is no Python function to settle; the computed one is
    assert report["nothing_checked"] == "nothing checked: 1 deployment entry could not be " \
                                        "resolved"
    code, out, _ = run(capsys, "check", "--repo", str(repo.path), "--base", "main")
    assert code == 3
    assert out.splitlines()[1].startswith("NOTHING CHECKED nothing checked: 1 deployment entry")
    assert 'Worker (`template.yaml:6`): Handler is computed' in out
    assert '- name: "Worker"' in out  # the configuration that settles it
    # settled in the base's configuration, the function is checked and the break found
    repo.checkout("main")
    repo.commit({".github/reviewbot.yml": "handlers:\n"
                 "  - {name: Worker, handler: app.handler, root: worker, runtime: python3.12}\n"})
    repo.branch("pr2")
    repo.commit({"worker/app.py": "from gone import X\n"})
    code, out, _ = run(capsys, "check", "--repo", str(repo.path), "--base", "main",
                       "--head", "pr2", "--format", "json")
    assert code == 1 and json.loads(out)["conclusion"] == "failure"


def test_changed_python_that_no_handler_loads_with_unread_entries_is_nothing_checked(
        make_repo, capsys):
    repo = make_repo()
    repo.commit({"template.yaml": NODE_AND_COMPUTED + (
        "  Api:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {Runtime: python3.12, Handler: app.handler, CodeUri: api}\n"),
        "worker/app.py": "X = 1\n", "api/app.py": "def handler(e, c): pass\n"})
    repo.branch("pr")
    repo.commit({"worker/app.py": "X = 2\n"})
    code, out, _ = run(capsys, "check", "--repo", str(repo.path), "--base", "main",
                       "--format", "json")
    report = json.loads(out)
    assert (code, report["conclusion"], report["unloaded"]) == (3, "neutral", ["worker/app.py"])
    # a change the found handlers do load is theirs to judge
    repo.commit({"api/app.py": "def handler(e, c): return 1\n", "worker/app.py": "X = 1\n"})
    code, out, _ = run(capsys, "check", "--repo", str(repo.path), "--base", "main",
                       "--format", "json")
    assert (code, json.loads(out)["conclusion"]) == (0, "success")


def test_an_empty_repository_and_an_empty_handler_list_are_nothing_checked(make_repo, capsys):
    repo = make_repo()
    repo.commit({"README.md": "hello\n", ".github/reviewbot.yml": "handlers: []\n"})
    code, out, _ = run(capsys, "check", "--repo", str(repo.path), "--base", "HEAD", "--all")
    assert code == 3
    assert out.splitlines()[1].startswith("NOTHING CHECKED nothing checked: no Python Lambda handler was found")
    assert "List the handlers in `.github/reviewbot.yml`" in out


def test_github_format_writes_workflow_commands_at_the_failing_line(incident, capsys):
    repo, commits = incident
    code, out, _ = run(capsys, "check", "--repo", str(repo), "--base", "main",
                       "--head", commits["pr"], "--format", "github")
    assert code == 1
    assert out.splitlines() == [
        "::error file=backend/handlers/auth/main.py,line=3,title=reviewbot missing-name (auth)"
        "::" + AUTH_ERROR]


def test_github_format_escapes_what_the_runner_would_parse():
    from reviewbot.model import Finding, Report
    from reviewbot.render import to_github

    report = Report(handlers=(), errors=(Finding("a,b:c", "x,y.py", 2, "syntax-error",
                                                 "bad\nline 100%"),))
    assert to_github(report) == ("::error file=x%2Cy.py,line=2,title=reviewbot syntax-error "
                                 "(a%2Cb%3Ac)::bad%0Aline 100%25\n")


def test_a_shallow_checkout_gets_the_fix_and_deepen_applies_it(incident, tmp_path, capsys):
    import subprocess

    repo, commits = incident
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", "goals-validation",
                    f"file://{repo}", str(clone)], check=True)
    code, _, err = run(capsys, "check", "--repo", str(clone), "--base", "main", "--offline")
    assert code == 2
    assert "shallow clone" in err and "--deepen" in err and "Traceback" not in err
    code, out, _ = run(capsys, "check", "--repo", str(clone), "--base", "main", "--offline",
                       "--deepen", "--head", commits["pr"])
    assert code == 1 and "GoalValidationError" in out


def test_a_mistyped_check_flag_prints_checks_usage(capsys):
    assert main(["check", "--bsae", "main"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: reviewbot check ")
    assert "unrecognized arguments: --bsae main" in err


def test_staged_checks_what_the_commit_would_record(incident, capsys):
    import subprocess

    repo, commits = incident
    subprocess.run(["git", "checkout", "-q", "-b", "feature", "main"], cwd=repo, check=True)
    subprocess.run(["git", "checkout", commits["pr"], "--", "."], cwd=repo, check=True)
    code, out, _ = run(capsys, "check", "--repo", str(repo), "--staged", "--offline")
    assert code == 1 and "head index" in out and "GoalValidationError" in out
    # committed nothing: the same check of the commit (HEAD = main) finds nothing to say
    code, out, _ = run(capsys, "check", "--repo", str(repo), "--head", "HEAD", "--offline")
    assert code == 0
    code, _, err = run(capsys, "check", "--repo", str(repo), "--staged", "--head", "HEAD")
    assert code == 2 and "--staged" in err
