"""The pre-commit hook (`.pre-commit-hooks.yaml`) run by `pre-commit try-repo` on a
staged change: the incident's breaking change fails it with Lambda's text at the line,
the fix passes. The `language: system` hook is run (the `language: python` one installs
reviewbot from the package index, which tests never use); both are validated."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reviewbot.demo import write_incident_repo

ROOT = Path(__file__).resolve().parents[1]
PRE_COMMIT = shutil.which("pre-commit") or str(Path(sys.executable).parent / "pre-commit")

pytestmark = pytest.mark.skipif(not Path(PRE_COMMIT).exists(),
                                reason="pre-commit is not installed (test extra)")


def _env(tmp: Path) -> dict:
    return {**os.environ, "PRE_COMMIT_HOME": str(tmp / "pre-commit-home"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def test_the_manifest_is_valid():
    done = subprocess.run([PRE_COMMIT, "validate-manifest", ".pre-commit-hooks.yaml"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_try_repo_fails_the_breaking_change_and_passes_the_fix(tmp_path):
    repo = tmp_path / "goals"
    commits = write_incident_repo(repo)

    def git(*args):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)

    def hook() -> subprocess.CompletedProcess:
        # try-repo copies this checkout, uncommitted changes included, as the hook repo
        return subprocess.run([PRE_COMMIT, "try-repo", str(ROOT), "reviewbot-check-system"],
                              cwd=repo, env=_env(tmp_path), capture_output=True, text=True,
                              timeout=300)

    git("checkout", "-q", "-b", "feature", "main")
    git("checkout", commits["pr"], "--", ".")  # the breaking change, staged
    done = hook()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "backend/handlers/auth/main.py:3: [auth] Unable to import module 'main': " \
           "cannot import name 'GoalValidationError'" in done.stdout
    git("checkout", commits["fix"], "--", ".")
    done = hook()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Passed" in done.stdout
