"""The Action (`action.yml`), its steps run under bash with the environment GitHub Actions
sets, on a shallow checkout of the incident's merge ref, as actions/checkout makes it.
The `uses:` step (setup-python) is the runner's: here the test's own Python plays it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from reviewbot.demo import write_incident_repo
from tests.app.conftest import keypair, standin  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[1]
AUTH = "backend/handlers/auth/main.py"
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def git(cwd, *args) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


class Runner:
    """What the Actions runner does with a composite action's `run` steps."""

    def __init__(self, tmp: Path, workspace: Path, event: str, payload: dict,
                 inputs: dict[str, str] | None = None, extra_env: dict | None = None):
        self.action = yaml.safe_load((ROOT / "action.yml").read_text())
        self.tmp, self.workspace = tmp, workspace
        self.inputs = {name: str(spec.get("default", "")) for name, spec in
                       self.action["inputs"].items()}
        self.inputs["github-token"] = "ghs_test"
        self.inputs.update(inputs or {})
        self.outputs: dict[str, dict[str, str]] = {}
        event_path = tmp / "event.json"
        event_path.write_text(json.dumps(payload))
        self.summary = tmp / "summary.md"
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")},
                    "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": event,
                    "GITHUB_EVENT_PATH": str(event_path), "GITHUB_WORKSPACE": str(workspace),
                    "GITHUB_STEP_SUMMARY": str(self.summary), "GITHUB_REPOSITORY": "acme/goals",
                    "GITHUB_ACTION_PATH": str(ROOT), "REVIEWBOT_OFFLINE": "1",
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                    **(extra_env or {})}

    def _value(self, expression: str) -> str:
        if expression == "inputs.verify-imports == 'true' && !cancelled()":
            return str(self.inputs["verify-imports"] == "true").lower()
        if expression.startswith("inputs."):
            return self.inputs[expression[7:]]
        if expression == "github.action_path":
            return str(ROOT)
        if expression == "github.workspace":
            return str(self.workspace)
        m = re.fullmatch(r"steps\.(\w+)\.outputs\.(\w+)", expression)
        if m:
            return self.outputs.get(m.group(1), {}).get(m.group(2), "")
        raise AssertionError(f"expression the test runner does not know: {expression}")

    def expand(self, text: str) -> str:
        return EXPR.sub(lambda m: self._value(m.group(1)), text)

    def run(self) -> tuple[int, str]:
        """Each step in turn, as the runner runs them: after a failure, only the steps
        whose `if` does not ask for success (`!cancelled()`); the first failure's code."""
        out, failed = [], 0
        for step in self.action["runs"]["steps"]:
            if "uses" in step:
                continue
            condition = step.get("if", "")
            if failed and "cancelled()" not in condition:
                continue
            if condition and self.expand("${{ " + condition.strip("${} ") + " }}") != "true":
                continue
            assert step["shell"] == "bash"
            output = self.tmp / f"output-{step['id']}"
            output.write_text("")
            env = {**self.env, "GITHUB_OUTPUT": str(output),
                   **{k: self.expand(str(v)) for k, v in step.get("env", {}).items()}}
            script = self.tmp / f"step-{step['id']}.sh"
            script.write_text(self.expand(step["run"]))
            done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail",
                                   str(script)], cwd=self.workspace, env=env,
                                  capture_output=True, text=True, timeout=300)
            out.append(done.stdout + done.stderr)
            self.outputs[step["id"]] = dict(
                line.split("=", 1) for line in output.read_text().splitlines() if line)
            failed = failed or done.returncode
        return failed, "".join(out)


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """The incident's origin with the refs GitHub makes for PR #1: its merge ref at the
    PR commit, and later at the fix."""
    repo = tmp_path_factory.mktemp("origin") / "goals"
    commits = write_incident_repo(repo)
    ident = ["-c", "user.email=gh@example.com", "-c", "user.name=GitHub"]
    for name, commit in (("pr", commits["pr"]), ("fix", commits["fix"])):
        git(repo, "checkout", "-q", "--detach", "main")
        git(repo, *ident, "merge", "-q", "--no-ff", "-m", f"Merge {name} into main", commit)
        git(repo, "update-ref", f"refs/heads/merge-{name}", "HEAD")
    git(repo, "checkout", "-q", "main")
    return repo, commits


def checkout(origin: Path, ref: str, tmp: Path) -> Path:
    """actions/checkout's default: one commit, no tags."""
    work = tmp / "work"
    git(tmp, "clone", "-q", "--depth", "1", "--no-tags", "--branch", ref,
        f"file://{origin}", str(work))
    assert git(work, "rev-parse", "--is-shallow-repository") == "true"
    return work


def pull_request(origin: Path) -> dict:
    return {"action": "synchronize", "number": 1,
            "pull_request": {"number": 1, "base": {"sha": git(origin, "rev-parse", "main"),
                                                   "ref": "main"}}}


def on_pr(repo: Path, ref: str, tmp: Path, **options) -> Runner:
    """The Action on PR #1, its checkout at `ref` (the merge ref GitHub makes)."""
    return Runner(tmp, checkout(repo, ref, tmp), "pull_request", pull_request(repo), **options)


def test_the_incident_pr_fails_with_the_annotation_at_the_line(origin, tmp_path):
    repo, _ = origin
    runner = on_pr(repo, "merge-pr", tmp_path)
    code, out = runner.run()
    assert code == 1, out
    assert re.search(rf"^::error file={re.escape(AUTH)},line=3,.*GoalValidationError", out,
                     re.M), out
    assert "pip install" not in out  # this reviewbot was installed already
    summary = runner.summary.read_text()
    assert "GoalValidationError" in summary and f"`{AUTH}:3`" in summary
    assert runner.outputs["check"]["errors"] == "1"
    assert runner.outputs["check"]["conclusion"] == "failure"


def test_the_fix_passes_and_a_merge_group_too(origin, tmp_path):
    repo, _ = origin
    runner = on_pr(repo, "merge-fix", tmp_path)
    code, out = runner.run()
    assert code == 0, out
    assert "::error" not in out
    assert runner.outputs["check"]["errors"] == "0"
    queue = tmp_path / "queue"
    queue.mkdir()
    runner = Runner(queue, checkout(repo, "merge-fix", queue), "merge_group",
                    {"merge_group": {"base_sha": git(repo, "rev-parse", "main"),
                                     "head_sha": git(repo, "rev-parse", "merge-fix")}})
    assert runner.run()[0] == 0


def test_a_push_event_is_refused_with_a_reason(origin, tmp_path):
    repo, _ = origin
    code, out = Runner(tmp_path, checkout(repo, "merge-pr", tmp_path), "push",
                       {"ref": "refs/heads/main"}).run()
    assert code == 2
    assert "::error title=reviewbot::reviewbot's action checks pull requests" in out


def test_verify_imports_runs_after_the_check_whatever_it_said(origin, tmp_path):
    repo, _ = origin
    runner = on_pr(repo, "merge-fix", tmp_path, inputs={"verify-imports": "true"})
    code, out = runner.run()
    assert code == 0, out
    assert "3 passed, 0 failed" in out  # imported for real, in a subprocess each
    broken = tmp_path / "broken"
    broken.mkdir()
    runner = on_pr(repo, "merge-pr", broken, inputs={"verify-imports": "true"})
    code, out = runner.run()
    assert code == 1  # the check's failure; the import still ran after it
    assert "2 passed, 1 failed" in out and "GoalValidationError" in out


@pytest.mark.asyncio
async def test_the_sticky_comment_is_kept_with_the_workflow_token(
        origin, tmp_path, standin):  # noqa: F811 - the fixture imported above
    from reviewbot.app.demo.github import Token

    repo, _ = origin
    standin.slug = "github-actions"  # comments made with GITHUB_TOKEN are this bot's
    standin.create_repo("acme/goals")
    standin.commit("acme/goals", {"a.py": "1\n"}, branch="main")
    standin.open_pull("acme/goals", 1, standin.commit("acme/goals", {"a.py": "2\n"}))
    standin.tokens["ghs_test"] = Token(1, time.time() + 3600)
    for ref in ("merge-pr", "merge-fix"):
        work_tmp = tmp_path / ref
        work_tmp.mkdir()
        runner = Runner(work_tmp, checkout(repo, ref, work_tmp), "pull_request",
                        pull_request(repo), inputs={"comment": "true"},
                        extra_env={"GITHUB_API_URL": standin.base_url})
        code, out = await _in_thread(runner.run)
        assert code == (1 if ref == "merge-pr" else 0), out
        assert "sticky comment " + ("created" if ref == "merge-pr" else "updated") in out, out
    comments = standin.comments("acme/goals", 1)
    assert len(comments) == 1 and "✅" in comments[0]["body"]


async def _in_thread(fn):
    import asyncio

    return await asyncio.get_running_loop().run_in_executor(None, fn)
