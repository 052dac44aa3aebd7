"""`reviewbot` run as a user runs it: a subprocess of the installed entry point, on a
repository whose change is not committed yet (the default: the files on disk)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reviewbot.demo import write_incident_repo

AUTH = "backend/handlers/auth/main.py"
MISSING = "cannot import name 'GoalValidationError' from 'goals_common'"


def reviewbot(repo: Path, *args: str, **options) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "reviewbot"
    return subprocess.run([str(exe), *args], cwd=repo, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "REVIEWBOT_OFFLINE": "1"},
                          **options)


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
