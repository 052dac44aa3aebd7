"""`reviewbot verify-imports`: import every handler for real, each in a fresh process.

The static check reasons about imports; this runs them. It executes the repository's code,
so it belongs in the user's own CI (a CLI command), never in the GitHub App's process.

What is imported is exactly one commit: the files of the handlers' roots at that commit
are exported into a temporary folder (through a throwaway git index, so the working tree
and the real index are never touched). Each handler then runs `verify_bootstrap.py` in its
own interpreter process, with sys.path laid out as Lambda lays it out: the function root
(which stands for /var/task, and is also the working directory), then the layers' import
folders, then the chosen interpreter's standard library and site-packages, and nothing
else (`-I`: no PYTHONPATH, no user site, no script folder). Environment: this process's,
minus PYTHONPATH/PYTHONHOME, plus the handler's literal `environment`, plus the variables
the runtime sets (`AWS_LAMBDA_FUNCTION_NAME`, `LAMBDA_TASK_ROOT`, a default region).

Messages are Lambda's own (`Unable to import module 'main': ...`); file paths in them are
made repository-relative, where Lambda would print `/var/task/...` or `/opt/python/...`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from reviewbot.errors import UsageError
from reviewbot.gitsource import WORKTREE, GitError, GitRepo, uncommitted
from reviewbot.model import Handler
from reviewbot.tree import Tree

BOOTSTRAP = Path(__file__).with_name("verify_bootstrap.py")
DEFAULT_TIMEOUT = 30.0
OUTPUT_TAIL = 2000  # characters of a failed child's stderr kept for the report
# Static findings for imports inside functions end like this: they fail on the first call,
# not at import time, so an import cannot confirm or refute them.
CALL_TIME_MARK = "() runs)"


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of importing one handler in a fresh process."""

    handler: str
    ok: bool
    error: str = ""
    seconds: float = 0.0
    kind: str = "ok"  # ok, import-error, syntax-error, handler-missing, exception, exit,
    # signal, timeout, crash, bad-handler, builtin-conflict
    where: str = ""  # repo-relative file:line for exceptions raised by module code
    output: str = ""  # tail of the child's stderr, for crashes

    def to_json(self) -> dict:
        data = {"handler": self.handler, "ok": self.ok, "error": self.error,
                "seconds": round(self.seconds, 3), "kind": self.kind}
        if self.where:
            data["where"] = self.where
        return data


@dataclass(frozen=True)
class Disagreement:
    """A handler the static check and the real import judge differently."""

    handler: str
    static_ok: bool
    dynamic_ok: bool
    static_error: str
    dynamic_error: str

    @property
    def reason(self) -> str:
        if self.static_ok != self.dynamic_ok:
            s = "passes" if self.static_ok else "fails"
            d = "passes" if self.dynamic_ok else "fails"
            return f"static check {s}, import {d}"
        return "both fail, with different messages"

    def to_json(self) -> dict:
        return {"handler": self.handler, "reason": self.reason, "static_ok": self.static_ok,
                "dynamic_ok": self.dynamic_ok, "static_error": self.static_error,
                "dynamic_error": self.dynamic_error}


@dataclass
class Verification:
    commit: str
    results: list[VerifyResult]
    disagreements: list[Disagreement] | None = None  # None: --compare-static not asked
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results) and not self.disagreements

    def to_json(self) -> dict:
        data: dict = {"commit": self.commit, "results": [r.to_json() for r in self.results]}
        if self.disagreements is not None:
            data["disagreements"] = [d.to_json() for d in self.disagreements]
        if self.notes:
            data["notes"] = list(self.notes)
        return data


# -- materialising a commit -------------------------------------------------------------


def export_commit(repo: GitRepo, commit: str, dest: Path, roots: Iterable[str]) -> None:
    """Write the files of `commit` under `roots` ("." = everything) into `dest`.

    Uses a temporary index (`read-tree` + `checkout-index --prefix`), so symlinks and
    executable bits come out as committed and neither the work tree nor the index moves.
    """
    roots = sorted(set(roots))
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="reviewbot-index-") as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        base = ["git", "-C", str(repo.top)]
        _git([*base, "read-tree", commit], env)
        pathspec = [] if "." in roots else ["--", *roots]
        listing = _git([*base, "ls-files", "-z", *pathspec], env)
        if not listing:
            return
        _git([*base, "checkout-index", "-f", "-z", "--stdin", f"--prefix={dest}/"], env,
             input=listing)


def export_files(tree: Tree, dest: Path, roots: Iterable[str]) -> None:
    """Write the files of `tree` (the working tree or the index) under `roots` into
    `dest`, as export_commit does for a commit (symlinks are not in such a tree)."""
    under = sorted(set(roots))
    wanted = [p for p in tree.blobs
              if "." in under or any(p == r or p.startswith(r + "/") for r in under)]
    for path, content in tree.read_many(wanted).items():
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def _git(cmd: list[str], env: dict, input: bytes | None = None) -> bytes:
    proc = subprocess.run(cmd, env=env, input=input, capture_output=True, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise GitError(f"{' '.join(cmd[3:5])} failed: {err}")
    return proc.stdout


# -- running one handler ----------------------------------------------------------------


def child_environment(handler: Handler, root: Path,
                      base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH"):
        env.pop(name, None)
    env.update(dict(handler.environment))
    env["AWS_LAMBDA_FUNCTION_NAME"] = handler.name
    env["LAMBDA_TASK_ROOT"] = str(root)
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    env.setdefault("AWS_REGION", region)
    env.setdefault("AWS_DEFAULT_REGION", region)
    return env


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


class _Relativizer:
    """Turns absolute paths inside the export into repository-relative ones."""

    def __init__(self, export: Path):
        prefixes = {str(export), os.path.realpath(export)}
        self.prefixes = sorted((p.rstrip("/") + "/" for p in prefixes), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for p in self.prefixes:
            text = text.replace(p, "")
        return text


def run_one(handler: Handler, export: Path, python: str, timeout: float,
            work: Path) -> VerifyResult:
    """Import `handler` from the exported tree in a fresh interpreter process."""
    rel = _Relativizer(export)
    root = export / handler.root if handler.root != "." else export
    roots = [str(export / p) if p != "." else str(export) for p in handler.roots]
    own = Path(tempfile.mkdtemp(dir=work))
    spec_path = own / "spec.json"
    result_path = own / "result.json"
    spec_path.write_text(json.dumps({"handler": handler.handler, "roots": roots,
                                     "result": str(result_path)}))
    if not root.is_dir():
        return VerifyResult(handler.name, False, f"function root '{handler.root}' is not in "
                            f"the commit", kind="crash")
    cmd = [python, "-I", "-B", str(BOOTSTRAP), str(spec_path)]
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(cmd, cwd=root, env=child_environment(handler, root),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        return VerifyResult(handler.name, False, f"cannot run {python}: {exc}", kind="crash")
    timed_out = False
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = proc.poll() is None
        _kill_group(proc.pid)
        _, err = proc.communicate()
    _kill_group(proc.pid)  # whatever the module started in the background
    wall = time.perf_counter() - start
    stderr = rel(err.decode("utf-8", "replace"))[-OUTPUT_TAIL:]
    if timed_out:
        return VerifyResult(handler.name, False, f"still importing after {timeout:g} s: "
                            f"killed", wall, "timeout",
                            output=stderr)
    if result_path.exists():
        data = json.loads(result_path.read_text())
        return VerifyResult(handler.name, bool(data["ok"]), rel(data["error"]),
                            float(data.get("seconds", wall)), data["kind"],
                            rel(data.get("where", "")), "" if data["ok"] else stderr)
    code = proc.returncode
    if code < 0:
        message = f"process died with signal {_signal_name(-code)}"
        kind = "signal"
    else:
        message = f"process exited with code {code} before the import finished"
        kind = "crash" if code else "exit"
    last = stderr.strip().splitlines()[-1:] if stderr.strip() else []
    if last:
        message += f" ({last[0].strip()})"
    return VerifyResult(handler.name, False, message, wall, kind, output=stderr)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run_all(handlers: Sequence[Handler], export: Path, *,
            python: str | Mapping[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT,
            jobs: int | None = None) -> list[VerifyResult]:
    """Import every handler, in parallel across cores; results in the handlers' order.
    `python` is one interpreter for all, or one per handler name."""
    def absolute(exe: str | None) -> str:
        # Absolute (the child's cwd is the function root), but symlinks kept: a
        # virtualenv's python finds its site-packages through the path it was started by.
        exe = exe or sys.executable
        return os.path.abspath(shutil.which(exe) or exe)

    chosen = {h.name: absolute(python.get(h.name) if isinstance(python, Mapping) else python)
              for h in handlers}
    with tempfile.TemporaryDirectory(prefix="reviewbot-verify-run-") as tmp:
        work = Path(tmp)
        workers = max(1, min(jobs or os.cpu_count() or 1, len(handlers) or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(run_one, h, export, chosen[h.name], timeout, work)
                       for h in handlers]
            return [f.result() for f in futures]


def interpreter_version(python: str) -> tuple[int, int] | None:
    """The `(major, minor)` of an interpreter, or None when it does not run."""
    try:
        out = subprocess.run([python, "-I", "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        major, minor = out.split()
        return int(major), int(minor)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def match_interpreters(handlers: Sequence[Handler], pythons: Mapping[str, str],
                       default: str | None) -> tuple[dict[str, str], list[str]]:
    """The interpreter for each handler: `pythons["3.12"]` for a python3.12 function, else
    `default` (one --python for all), else `python3.12` on PATH, else this one. A note
    for every handler imported under another version than its runtime's."""
    chosen: dict[str, str] = {}
    notes: list[str] = []
    versions: dict[str, tuple[int, int] | None] = {}
    def version(python: str) -> tuple[int, int] | None:
        if python not in versions:
            versions[python] = interpreter_version(python)
        return versions[python]

    for h in handlers:
        want = "{}.{}".format(*h.python_version)
        python = pythons.get(want) or default
        if python is None:
            # one on PATH, if it runs (a pyenv shim for a version not enabled does not)
            found = shutil.which(f"python{want}")
            python = found if found and version(found) == h.python_version else sys.executable
        chosen[h.name] = python
        got = version(python)
        if got is not None and got != h.python_version:
            notes.append(f"{h.name} imported under Python {got[0]}.{got[1]}, not its runtime "
                         f"{h.runtime}: give --python {want}=/path/to/python{want}")
    return chosen, notes


def install_hints(repo: GitRepo, commit: str, handlers: Sequence[Handler],
                  results: Sequence[VerifyResult], pythons: Mapping[str, str]) -> list[str]:
    """For imports that failed on a module the repository does not hold: which
    requirements file to install, into which interpreter."""
    by_name = {h.name: h for h in handlers}
    hints: list[str] = []
    files: Iterable[str] | None = None
    for r in results:
        h = by_name.get(r.handler)
        if r.ok or h is None or "No module named" not in r.error:
            continue
        files = repo.files(commit).blobs if files is None else files
        wanted = [f"{root}/requirements.txt".removeprefix("./") for root in h.roots]
        present = [p for p in wanted if p in files]
        python = pythons.get(r.handler, sys.executable)
        if present:
            hints.append(f"{r.handler}: {r.error.rpartition(': ')[2]} may be a third-party "
                         f"module: install {', '.join(present)} into that interpreter "
                         f"({python} -m pip install -r {present[0]})")
    return hints


# -- the command ------------------------------------------------------------------------


def select_handlers(repo: GitRepo, *, ref: str | None = None, base: str | None = None,
                    head: str | None = None,
                    names: Sequence[str] = ()) -> tuple[str, list[Handler], list[str]]:
    """The commit to verify, the handlers to import there, and notes for the user."""
    from reviewbot.localrun import check_repo, list_handlers

    notes: list[str] = []
    if base is not None or head is not None:
        report = check_repo(repo, base, head or WORKTREE)
        commit = report.head
        every = [s.handler for s in report.handlers]
        chosen = [s.handler for s in report.handlers if s.affected]
        if not names:
            notes.append(f"{len(chosen)} of {len(every)} handlers affected by the change")
    else:
        commit = repo.resolve(ref) if ref else WORKTREE  # default: the files on disk
        found, _ = list_handlers(repo, commit, base="HEAD" if uncommitted(commit)
                                 else commit)  # the configuration of what is verified
        every = list(found.handlers)
        chosen = every
        for u in found.unresolved:
            notes.append(f"{u.name} not verified: {u.reason} [{u.source}:{u.line}]")
    if names:
        by_name = {h.name: h for h in every}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise UsageError(f"unknown handler {', '.join(repr(n) for n in unknown)} "
                             f"(known: {', '.join(sorted(by_name)) or 'none'})")
        chosen = [by_name[n] for n in dict.fromkeys(names)]
    return commit, sorted(chosen, key=lambda h: h.name), notes


def verify(repo_path: str, *, ref: str | None = None, base: str | None = None,
           head: str | None = None, names: Sequence[str] = (), python: str | None = None,
           timeout: float = DEFAULT_TIMEOUT, compare_static: bool = False,
           jobs: int | None = None, pythons: Mapping[str, str] | None = None) -> Verification:
    repo = GitRepo(repo_path)
    commit, handlers, notes = select_handlers(repo, ref=ref, base=base, head=head,
                                              names=names)
    roots = {r for h in handlers for r in h.roots}
    chosen, version_notes = match_interpreters(handlers, pythons or {}, python)
    notes.extend(version_notes)
    with tempfile.TemporaryDirectory(prefix="reviewbot-verify-") as tmp:
        export = Path(tmp) / "tree"
        if handlers and uncommitted(commit):
            export_files(repo.files(commit), export, roots)
        elif handlers:
            export_commit(repo, commit, export, roots)
        results = run_all(handlers, export, python=chosen, timeout=timeout, jobs=jobs)
    notes.extend(install_hints(repo, commit, handlers, results, chosen))
    outcome = Verification(commit, results, notes=notes)
    if compare_static:
        outcome.disagreements = compare_with_static(repo, commit, handlers, results,
                                                    outcome.notes)
    return outcome


def compare_with_static(repo: GitRepo, commit: str, handlers: Sequence[Handler],
                        results: Sequence[VerifyResult],
                        notes: list[str]) -> list[Disagreement]:
    """Run the static check on the same handlers at the same commit; list disagreements.

    Static verdict: the handler has an import-time error (warnings, which say "cannot
    tell", and errors in imports inside functions, which only fail on the first call, are
    not verdicts). When both fail, the first static error must say what the real one says
    (see `_same_failure`).
    """
    from reviewbot.analysis import Analysis
    from reviewbot.cache import SummaryCache

    tree = repo.files(commit)
    cache = SummaryCache()
    config = cache.config(tree)
    analysis = Analysis(tree, cache, config.third_party)
    analysis.prefetch(handlers)
    by_name = {r.handler: r for r in results}
    out = []
    for h in handlers:
        res = analysis.check(h)
        errors = [f.message for f in res.errors if not f.message.endswith(CALL_TIME_MARK)]
        later = len(res.errors) - len(errors)
        if later:
            notes.append(f"{h.name}: {later} static error(s) in imports inside functions "
                         f"(they fail on the first call; an import does not run them)")
        dyn = by_name[h.name]
        static_ok = not errors
        static_error = errors[0] if errors else ""
        if static_ok != dyn.ok or (not dyn.ok and not _same_failure(h, static_error, dyn)):
            out.append(Disagreement(h.name, static_ok, dyn.ok, static_error, dyn.error))
    return out


# The interpreter gives up on these while compiling; the static check reports its own
# "too deeply nested" / "too large" text, so only the verdicts can be compared.
_VERDICT_ONLY = ("RecursionError: ", "MemoryError")


def _same_failure(handler: Handler, static_error: str, dyn: VerifyResult) -> bool:
    """Do both say the same after Lambda's "Unable to import module 'm': " prefix?

    Both word failures as Lambda does: ImportError as an ImportModuleError, any other
    exception at import (an AttributeError from `from m import *` with a stale
    `__all__`, say) as `Type: message`.
    """
    prefix = f"Unable to import module '{handler.module_path}': "
    if dyn.kind == "exception" and dyn.error.startswith(_VERDICT_ONLY):
        return True
    return static_error.removeprefix(prefix) == dyn.error.removeprefix(prefix)


def to_text(outcome: Verification) -> str:
    lines = [f"verify-imports at {outcome.commit[:12]}"]
    width = max((len(r.handler) for r in outcome.results), default=0)
    for r in outcome.results:
        mark = "ok  " if r.ok else "FAIL"
        lines.append(f"  {mark} {r.handler:<{width}} {r.seconds:6.2f}s"
                     + (f"  {r.error}" if r.error else ""))
        if not r.ok and r.where:
            lines.append(f"       at {r.where}")
    if not outcome.results:
        lines.append("  no handlers to verify")
    failed = sum(not r.ok for r in outcome.results)
    lines.append(f"{len(outcome.results) - failed} passed, {failed} failed")
    if outcome.disagreements is not None:
        if not outcome.disagreements:
            lines.append("static check and import agree on every handler")
        for d in outcome.disagreements:
            lines.append(f"DISAGREEMENT {d.handler}: {d.reason}")
            lines.append(f"    static: {d.static_error or 'no error'}")
            lines.append(f"    import: {d.dynamic_error or 'no error'}")
    lines.extend(f"note: {n}" for n in outcome.notes)
    return "\n".join(lines) + "\n"
