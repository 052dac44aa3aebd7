"""The incident reviewbot exists for, replayed as a small git repository.

Base: a shared `goals_common` package used by three of four Lambda handlers. The PR adds
`GoalValidationError` to `errors.py`, exports another new name from `__init__.py` but not
that one, and makes the auth handler import it on line 3: every login would fail at cold
start. A last commit fixes the export. Used by `reviewbot demo` and by the tests.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

CONFIG = """\
# reviewbot configuration (read from the base branch)
handlers:
  - name: auth
    handler: main.handler
    root: backend/handlers/auth
    paths: [backend/src]
  - name: create_goal
    handler: main.handler
    root: backend/handlers/create_goal
    paths: [backend/src]
  - name: list_goals
    handler: main.handler
    root: backend/handlers/list_goals
    paths: [backend/src]
  - name: health
    handler: main.handler
    root: backend/handlers/health
    paths: [backend/src]
shared:
  - backend/src/**
"""

INIT_BASE = '''\
"""Shared code for the goals Lambda functions."""

from .errors import GoalError, GoalNotFoundError

__all__ = ["GoalError", "GoalNotFoundError"]
'''

ERRORS_BASE = '''\
"""Errors raised by the goals service."""


class GoalError(Exception):
    """Base class for goal errors."""


class GoalNotFoundError(GoalError):
    """No goal with that id."""
'''

ERRORS_PR = ERRORS_BASE + '''

class GoalValidationError(GoalError):
    """A goal failed validation."""


class GoalQuotaError(GoalError):
    """Too many goals for this user."""
'''

INIT_PR = '''\
"""Shared code for the goals Lambda functions."""

from .errors import GoalError, GoalNotFoundError, GoalQuotaError

__all__ = ["GoalError", "GoalNotFoundError", "GoalQuotaError"]
'''

INIT_FIX = '''\
"""Shared code for the goals Lambda functions."""

from .errors import GoalError, GoalNotFoundError, GoalQuotaError, GoalValidationError

__all__ = ["GoalError", "GoalNotFoundError", "GoalQuotaError", "GoalValidationError"]
'''

MODELS = '''\
"""Goal records."""

from dataclasses import dataclass

from .errors import GoalError


@dataclass
class Goal:
    id: str
    title: str

    def check(self) -> None:
        if not self.title:
            raise GoalError("a goal needs a title")
'''

AUTH_BASE = '''\
import json


def handler(event, context):
    token = (event.get("headers") or {}).get("authorization")
    if not token:
        return {"statusCode": 401, "body": json.dumps({"error": "missing token"})}
    return {"statusCode": 200, "body": json.dumps({"user": token[:8]})}
'''

AUTH_PR = '''\
import json

from goals_common import GoalValidationError


def handler(event, context):
    token = (event.get("headers") or {}).get("authorization")
    if not token:
        raise GoalValidationError("missing token")
    return {"statusCode": 200, "body": json.dumps({"user": token[:8]})}
'''

CREATE_GOAL = '''\
import json

from goals_common import GoalError


def handler(event, context):
    body = json.loads(event.get("body") or "{}")
    if "title" not in body:
        raise GoalError("title is required")
    return {"statusCode": 201, "body": json.dumps(body)}
'''

LIST_GOALS = '''\
import json

from goals_common.models import Goal


def handler(event, context):
    goals = [Goal(id="1", title="Run a marathon")]
    return {"statusCode": 200, "body": json.dumps([g.__dict__ for g in goals])}
'''

HEALTH = '''\
def handler(event, context):
    return {"statusCode": 200, "body": "ok"}
'''

BASE_FILES = {
    ".github/reviewbot.yml": CONFIG,
    "backend/src/goals_common/__init__.py": INIT_BASE,
    "backend/src/goals_common/errors.py": ERRORS_BASE,
    "backend/src/goals_common/models.py": MODELS,
    "backend/handlers/auth/main.py": AUTH_BASE,
    "backend/handlers/create_goal/main.py": CREATE_GOAL,
    "backend/handlers/list_goals/main.py": LIST_GOALS,
    "backend/handlers/health/main.py": HEALTH,
}

PR_CHANGES = {
    "backend/src/goals_common/errors.py": ERRORS_PR,
    "backend/src/goals_common/__init__.py": INIT_PR,
    "backend/handlers/auth/main.py": AUTH_PR,
}

FIX_CHANGES = {"backend/src/goals_common/__init__.py": INIT_FIX}


def incident_files(stage: str = "pr", *, with_config: bool = True) -> dict[str, str]:
    """The repository's files at `base`, `pr` or `fix`."""
    files = dict(BASE_FILES)
    if stage in ("pr", "fix"):
        files.update(PR_CHANGES)
    if stage == "fix":
        files.update(FIX_CHANGES)
    if not with_config:
        files.pop(".github/reviewbot.yml")
    return files


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com",
           "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(repo)}
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          env=env, check=True)
    return proc.stdout.strip()


def write_files(repo: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def write_incident_repo(repo: Path, *, with_config: bool = True,
                        extra: dict[str, str] | None = None) -> dict[str, str]:
    """Create the repository: `main` at the base, branch `goals-validation` with the PR
    commit and then the fix. Returns the commit ids by stage."""
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    write_files(repo, incident_files("base", with_config=with_config) | (extra or {}))
    base = commit_all(repo, "goals service with shared goals_common package")
    git(repo, "checkout", "-q", "-b", "goals-validation")
    write_files(repo, PR_CHANGES)
    pr = commit_all(repo, "auth: reject requests without a token with GoalValidationError")
    write_files(repo, FIX_CHANGES)
    fix = commit_all(repo, "goals_common: export GoalValidationError")
    return {"base": base, "pr": pr, "fix": fix}
