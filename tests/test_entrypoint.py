"""`reviewbot` run as a user runs it: a subprocess of the installed entry point, on a
repository whose change is not committed yet (the default: the files on disk)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reviewbot.demo import write_incident_repo

AUTH = "backend/handlers/auth/main.py"
MISSING = "cannot import name 'GoalValidationError' from 'goals_common'"


def reviewbot(repo: Path, *args: str, env: dict | None = None
              ) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "reviewbot"
    return subprocess.run([str(exe), *args], cwd=repo, capture_output=True, text=True,
                          timeout=120, env={**(env or os.environ), "REVIEWBOT_OFFLINE": "1"})


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def clean(tmp_path) -> Path:
    """The incident repository on a new branch from main: nothing changed yet."""
    repo = tmp_path / "goals"
    write_incident_repo(repo)
    git(repo, "checkout", "-q", "-b", "feature", "main")
    return repo


def _break_auth(repo: Path) -> None:
    main = repo / AUTH
    main.write_text(main.read_text().replace(
        "def handler", "from goals_common import GoalValidationError\n\n\ndef handler"))


def test_a_dirty_tree_is_checked(clean):
    assert reviewbot(clean, "check").returncode == 0
    _break_auth(clean)  # saved, not staged, not committed
    done = reviewbot(clean, "check")
    assert done.returncode == 1, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("Checking the files on disk (the working tree")
    assert f"{AUTH}:" in done.stdout and MISSING in done.stdout
    assert reviewbot(clean, "check", "--staged").returncode == 0  # nothing staged yet


def test_a_staged_only_change_is_checked(clean):
    _break_auth(clean)
    git(clean, "add", AUTH)
    main = clean / AUTH
    staged = main.read_text()
    main.write_text(staged.replace("from goals_common import GoalValidationError\n", ""))
    # on disk the import is gone again; the index still has it
    assert reviewbot(clean, "check").returncode == 0
    done = reviewbot(clean, "check", "--staged")
    assert done.returncode == 1 and MISSING in done.stdout
    assert done.stdout.startswith("Checking the staged files")


def test_an_untracked_new_module_is_read(clean):
    main = clean / AUTH
    main.write_text("from helpers import token_of\n\n" + main.read_text())
    (clean / "backend/handlers/auth/helpers.py").write_text("def token(event):\n    pass\n")
    done = reviewbot(clean, "check")
    assert done.returncode == 1
    # read from disk: the module is found, the name is not (not "No module named")
    assert "cannot import name 'token_of' from 'helpers'" in done.stdout, done.stdout
    (clean / "backend/handlers/auth/helpers.py").write_text("def token_of(event):\n    pass\n")
    assert reviewbot(clean, "check").returncode == 0


# -- exit codes: 0, 1, 2 and nothing else a user must read a traceback for ----------------

WITHOUT = """
import sys

class Missing:  # these modules are not installed
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Missing)
sys.argv = ["reviewbot", *{args!r}]
from reviewbot.cli import run
run()
"""


def without(blocked: set[str], *args: str, env: dict | None = None):
    code = WITHOUT.format(blocked=sorted(blocked), args=list(args))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_serve_and_demo_serve_without_the_app_extra_name_it():
    for args in (["serve"], ["demo", "--serve"], ["worker"]):
        done = without({"aiohttp"}, *args)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"reviewbot: error: reviewbot {' '.join(args)} needs "
                                      "the app extra: pip install 'reviewbot[app]'")
        assert "Traceback" not in done.stderr


def test_a_pem_key_with_cryptography_missing_says_so(tmp_path):
    from reviewbot.app.demo.serve import generate_key
    from reviewbot.app.settings import Settings

    env = {"GITHUB_APP_ID": "1", "GITHUB_WEBHOOK_SECRET": "s",
           "GITHUB_PRIVATE_KEY": generate_key()[0]}
    assert Settings.from_env(env).app_id == "1"  # the key itself is fine
    # `serve` past its extra check (as when the extra is half installed)
    code = WITHOUT.format(blocked=["cryptography"], args=["serve"]).replace(
        "from reviewbot.cli import run\nrun()",
        "import reviewbot.cli as cli\ncli.need_app_extra = lambda *a, **k: None\ncli.run()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env}, cwd=tmp_path)
    assert done.returncode == 2
    assert "GITHUB_PRIVATE_KEY cannot be read: the cryptography library is not installed" \
        in done.stderr, done.stderr
    assert "not a PEM-encoded" not in done.stderr


@pytest.mark.parametrize(("key", "says"), [
    ("-----BEGIN RSA PRIVATE KEY-----\nnot base64\n-----END RSA PRIVATE KEY-----\n",
     "is not a PEM-encoded private key (malformed PEM"),
    ("ssh-rsa AAAAB3NzaC1yc2E", "is not a PEM-encoded private key (no PEM block found"),
])
def test_a_key_that_cannot_be_read_says_why(key, says):
    from reviewbot.app.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match=re.escape(says)):
        Settings.from_env({"GITHUB_APP_ID": "1", "GITHUB_WEBHOOK_SECRET": "s",
                           "GITHUB_PRIVATE_KEY": key})


def test_a_closed_pipe_ends_quietly(clean):
    # `reviewbot handlers | head -1`: the reader is gone before the output is written
    exe = Path(sys.executable).parent / "reviewbot"
    for args in (["handlers"], ["check", "--all", "--format", "json"]):
        proc = subprocess.Popen([str(exe), *args], cwd=clean, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "REVIEWBOT_OFFLINE": "1"})
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == 141, (args, err)  # as a Unix tool: never 1
        assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_an_internal_error_is_one_line_unless_debug(clean):
    code = ("import sys; sys.argv = ['reviewbot', *sys.argv[1:]]\n"
            "import reviewbot.localrun as lr\n"
            "def boom(*a, **k): raise KeyError('oops')\n"
            "lr.list_handlers = boom\n"
            "from reviewbot.cli import run\nrun()")
    done = subprocess.run([sys.executable, "-c", code, "handlers"], cwd=clean,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("reviewbot: error: internal error (KeyError: 'oops'); "
                                  "run it again with --debug")
    assert "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-c", code, "--debug", "handlers"], cwd=clean,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" in done.stderr  # asked for it


# -- output that reads -------------------------------------------------------------------

LONG = "payments-settlement-reconciliation-nightly-batch-exporter-v2"  # 60 characters


def test_a_60_character_handler_name_keeps_the_columns(tmp_path):
    assert len(LONG) == 60
    repo = tmp_path / "r"
    files = {
        ".github/reviewbot.yml": (
            "handlers:\n"
            f"  - {{name: {LONG}, handler: main.handler, root: fn_a, paths: [shared]}}\n"
            "  - {name: b, handler: app.lambda_handler, root: fn_b, paths: [shared]}\n"),
        "fn_a/main.py": "import common\n\ndef handler(e, c):\n    return common.X\n",
        "fn_b/app.py": "import common\n\ndef lambda_handler(e, c):\n    return common.X\n",
        "shared/common.py": "X = 1\n",
    }
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", ".")
    git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "base")
    (repo / "shared/common.py").write_text("X = 1\nY = 2\n")  # both handlers affected
    for args in (["handlers"], ["check"]):
        done = reviewbot(repo, *args)
        assert done.returncode == 0, done.stdout + done.stderr
        rows = [line for line in done.stdout.splitlines()
                if "main.handler" in line or "app.lambda_handler" in line]
        assert len(rows) == 2, done.stdout
        handler_columns = {row.index("main.handler") if LONG in row
                           else row.index("app.lambda_handler") for row in rows}
        assert len(handler_columns) == 1, rows  # the second column lines up
        assert min(handler_columns) > 60
        runtime_columns = {row.index("python3.14") for row in rows}
        assert len(runtime_columns) == 1, rows


def test_a_syntax_error_in_a_shared_module_is_one_error_not_every_name_removed(clean):
    init = clean / "backend/src/goals_common/__init__.py"
    init.write_text(init.read_text() + "\ndef broken(:\n")
    done = reviewbot(clean, "check")
    assert done.returncode == 1
    assert "removed:" not in done.stdout, done.stdout
    assert "backend/src/goals_common/__init__.py  (loaded by" in done.stdout
    assert "    does not parse: invalid syntax (__init__.py, line 7)\n" in done.stdout
    errors = done.stdout.split("\nErrors\n")[1]
    assert "__init__.py:7: [create_goal] Syntax error in module 'main': invalid syntax" \
        in errors


def test_a_lazy_imports_failure_is_an_error_headed_and_counted_apart(clean):
    main = clean / AUTH
    main.write_text(main.read_text() + "\n\ndef lazy():\n    from goals_common import Nope\n")
    done = reviewbot(clean, "check")
    assert done.returncode == 1  # every call of lazy() would fail: still an error
    verdict = done.stdout.splitlines()[1]
    assert verdict == ("FAIL 1 import error in 1 Lambda handler: 1 when `lazy()` runs "
                       "(every call would fail; cold start is fine)"), verdict
    assert "\nErrors when a function runs\n" in done.stdout
    _break_auth(clean)  # and one that fails at cold start
    done = reviewbot(clean, "check")
    verdict = done.stdout.splitlines()[1]
    assert verdict.endswith(": 1 fail at cold start, 1 when `lazy()` runs"), verdict
    cold, called = done.stdout.split("\nErrors at cold start\n")[1].split(
        "\nErrors when a function runs\n")
    assert "GoalValidationError" in cold and "Nope" in called


def test_demo_says_where_it_wrote_and_removes_it_unless_kept(tmp_path):
    for args, kept in (([], False), (["--keep"], True)):
        done = reviewbot(tmp_path, "demo", *args, env={**os.environ, "TMPDIR": str(tmp_path)})
        assert done.returncode == 0, done.stderr
        where = Path(re.search(r"^Wrote the incident repository to (\S+)$", done.stdout,
                               re.M).group(1))
        assert where.is_relative_to(tmp_path)
        assert where.exists() == kept
        assert ("Removed " in done.stdout) != kept


# -- config provenance -------------------------------------------------------------------

CONFIG = ".github/reviewbot.yml"


def test_a_broken_config_on_the_head_is_said_and_handlers_agrees_with_check(clean):
    import json

    done = reviewbot(clean, "check")
    assert f"config: {CONFIG} at the base (" in done.stdout  # read at the base, said so
    (clean / CONFIG).write_text((clean / CONFIG).read_text() + "handlers: [oops\n")
    git(clean, "commit", "-qam", "break the config")
    done = reviewbot(clean, "check")
    assert done.returncode == 0, done.stdout + done.stderr  # the base's config: still read
    line = next(x for x in done.stdout.splitlines() if x.startswith("config: "))
    assert "the head's version does not load (fix it before merging): " in line
    assert f"{CONFIG}:" in line and "invalid YAML" in line  # the error, at its line
    listed = reviewbot(clean, "handlers")
    assert listed.returncode == 0, listed.stderr  # the same config as check's
    assert "the head's version does not load" in listed.stderr
    report = json.loads(reviewbot(clean, "check", "--format", "json").stdout)
    assert report["config"]["head"] == "invalid" and report["config"]["read_at"] == "base"
    markdown = reviewbot(clean, "check", "--format", "markdown").stdout
    assert "Configuration: " in markdown and "does not load" in markdown


def test_a_config_change_on_the_head_says_what_it_would_change(clean):
    (clean / CONFIG).write_text((clean / CONFIG).read_text()
                                + "third_party: [requests]\n")
    done = reviewbot(clean, "check")
    line = next(x for x in done.stdout.splitlines() if x.startswith("config: "))
    assert line.endswith("; the head changes it (third_party), which takes effect after "
                         "the merge"), line
