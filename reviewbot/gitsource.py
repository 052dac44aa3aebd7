"""Trees and diffs from a local git repository, read with plumbing commands only.

`git ls-tree` gives every path and blob id of a commit in one call and `git cat-file
--batch` streams the contents of only the blobs the caches do not already know, so a run
never checks anything out and never touches the working tree.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from reviewbot.tree import Tree, blob_id


class GitError(Exception):
    """A git command failed; the message says which and why."""


SHALLOW_HINT = ("this is a shallow clone: fetch the history the merge base needs "
                "(`reviewbot check --deepen`, or `git fetch --unshallow`; in GitHub "
                "Actions, `fetch-depth: 0` on actions/checkout)")


HASHED_BYTES = 5 * 1024 * 1024  # files on disk up to this size are named by their blob id

# Names of the files that are not a commit, where a commit id may be given.
WORKTREE = "working tree"  # the files on disk: staged, unstaged and new untracked ones
INDEX = "index"  # the staged files


def uncommitted(name: str | None) -> bool:
    """Whether `name` is WORKTREE or INDEX: files of the checkout rather than a commit."""
    return name in (WORKTREE, INDEX)


class GitRepo:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self._ask("rev-parse", "--is-bare-repository") == "true":
            raise GitError(f"{self.path} is a bare repository: reviewbot reads a checkout "
                           f"(git clone {self.path} and run it there)")
        top = self._run("rev-parse", "--show-toplevel", check_repo=True).strip()
        self.top = Path(top)
        self._trees: dict[str, Tree] = {}  # by commit: a change's base is often its fork too
        self._snapshots: dict[str, Tree] = {}  # the index and the working tree, read once

    def _ask(self, *args: str) -> str | None:
        """A query's answer, or None when git refuses it."""
        try:
            return self._run(*args).strip()
        except GitError:
            return None

    @property
    def shallow(self) -> bool:
        return self._ask("rev-parse", "--is-shallow-repository") == "true"

    def _run(self, *args: str, check_repo: bool = False, input: bytes | None = None) -> str:
        return self._run_bytes(*args, check_repo=check_repo, input=input).decode("utf-8",
                                                                                 "replace")

    def _run_bytes(self, *args: str, check_repo: bool = False,
                   input: bytes | None = None) -> bytes:
        try:
            proc = subprocess.run(
                ["git", "-C", str(self.path), *args], input=input, capture_output=True,
                check=False,
            )
        except FileNotFoundError as exc:
            raise GitError("git is not installed or not on PATH") from exc
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip()
            if check_repo:
                raise GitError(f"{self.path} is not a git repository ({err})")
            raise GitError(f"git {' '.join(args)} failed: {err}")
        return proc.stdout

    def resolve(self, ref: str) -> str:
        """A commit id for `ref`, or GitError naming the ref."""
        try:
            return self._run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
        except GitError:
            hint = f" ({SHALLOW_HINT})" if self.shallow else ""
            raise GitError(f"unknown revision '{ref}'{hint}") from None

    def merge_base(self, a: str, b: str) -> str:
        try:
            return self._run("merge-base", a, b).strip()
        except GitError:
            hint = f": {SHALLOW_HINT}" if self.shallow else ""
            raise GitError(f"'{a}' and '{b}' have no common ancestor{hint}") from None

    def deepen(self, base: str, head: str, *, remote: str = "origin", first: int = 50,
               tries: int = 6) -> str:
        """In a shallow clone, fetch from `remote` until `base` and `head` have their
        merge base here: a commit or branch missing here is fetched first (a branch as
        `<remote>/<name>`), then both histories are deepened by `first` commits, doubling,
        and after `tries` rounds unshallowed. Returns the name `base` has now."""
        if not self.shallow:
            return base
        base, head = self._fetched(base, remote, first), self._fetched(head, remote, first)
        tips = list(dict.fromkeys([self.resolve(head), self.resolve(base)]))
        step, rounds = first, 0
        while self.shallow and not self._has_merge_base(tips[0], tips[-1]):
            rounds += 1
            how = "--unshallow" if rounds > tries else f"--deepen={step}"
            self._run("fetch", "--no-tags", "--quiet", how, remote, *tips)
            if how == "--unshallow":
                break
            step *= 2
        return base

    def _fetched(self, ref: str, remote: str, depth: int) -> str:
        """`ref`, fetched from `remote` when it is not here; its name afterwards."""
        if self._ask("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") is not None:
            return ref
        if re.fullmatch(r"[0-9a-f]{40}", ref):
            self._run("fetch", "--no-tags", "--quiet", f"--depth={depth}", remote, ref)
            return ref
        name = ref.removeprefix(f"{remote}/")
        self._run("fetch", "--no-tags", "--quiet", f"--depth={depth}", remote,
                  f"+refs/heads/{name}:refs/remotes/{remote}/{name}")
        return f"{remote}/{name}"

    def _has_merge_base(self, a: str, b: str) -> bool:
        return self._ask("merge-base", a, b) is not None

    def default_branch(self) -> str | None:
        """The branch a PR would target: origin's HEAD, else main or master."""
        try:
            ref = self._run("symbolic-ref", "--quiet", "refs/remotes/origin/HEAD").strip()
            return ref.removeprefix("refs/remotes/")
        except GitError:
            pass
        for name in ("main", "master", "origin/main", "origin/master"):
            try:
                self.resolve(name)
                return name
            except GitError:
                continue
        return None

    def tree(self, commit: str) -> Tree:
        """Every regular file of `commit` (symlinks and submodules are not Lambda code),
        listed once per commit."""
        if commit not in self._trees:
            self._trees[commit] = self._list_tree(commit)
        return self._trees[commit]

    def _list_tree(self, commit: str) -> Tree:
        out = self._run_bytes("ls-tree", "-r", "-z", "--full-tree", commit)
        blobs: dict[str, str] = {}
        for (mode, kind, oid), path in _listing(out):
            if kind == b"blob" and mode != b"120000":
                blobs[path] = oid.decode()
        return Tree(blobs, lambda paths: self.read_blobs({p: blobs[p] for p in paths}),
                    name=commit)

    def files(self, name: str) -> Tree:
        """The files of a commit (any name git resolves), of the index (INDEX) or on
        disk (WORKTREE); the last two are read once per GitRepo, so one run sees one
        version of them."""
        if not uncommitted(name):
            return self.tree(self.resolve(name))
        if name not in self._snapshots:  # one view of the files for the whole run
            self._snapshots[name] = (self.worktree_tree() if name == WORKTREE
                                     else self.index_tree())
        return self._snapshots[name]

    def index_tree(self) -> Tree:
        """The staged files: what `git commit` would record (a pre-commit hook's view)."""
        out = self._run_bytes("-C", str(self.top), "ls-files", "--stage", "-z")
        blobs: dict[str, str] = {}
        for (mode, oid, stage), path in _listing(out):
            if stage != b"0":
                raise GitError(f"{path} has unresolved merge conflicts: resolve them first")
            if mode not in (b"120000", b"160000"):  # symlinks and submodules are not code
                blobs[path] = oid.decode()
        return Tree(blobs, lambda paths: self.read_blobs({p: blobs[p] for p in paths}),
                    name=INDEX)

    def worktree_tree(self) -> Tree:
        """The files on disk: tracked ones as they are now (staged or not), and new ones
        git does not ignore. Content ids are git blob ids of the bytes on disk, so caches
        keyed by them stay right whatever changes between runs."""
        blobs = dict(self.index_tree().blobs)
        top = str(self.top)
        dirty = self._run_bytes("-C", top, "diff-files", "-z", "--name-only", "--no-renames")
        new = self._run_bytes("-C", top, "ls-files", "-z", "--others", "--exclude-standard")
        on_disk: set[str] = set()
        for raw in (*dirty.split(b"\0"), *new.split(b"\0")):
            if not raw:
                continue
            path = raw.decode("utf-8", "surrogateescape")
            full = self.top / path
            if full.is_symlink() or not full.is_file():
                blobs.pop(path, None)  # deleted, or no longer a regular file
                continue
            size = full.stat()
            # a big file (data, a build output git does not ignore) is not read to be
            # named: its size and time say when it changed, and no source is that big
            blobs[path] = blob_id(full.read_bytes()) if size.st_size <= HASHED_BYTES \
                else f"stat:{size.st_size}:{size.st_mtime_ns}"
            on_disk.add(path)

        def read(paths):
            from_git = {p: blobs[p] for p in paths if p not in on_disk}
            return {**self.read_blobs(from_git),
                    **{p: (self.top / p).read_bytes() for p in paths if p in on_disk}}

        return Tree(blobs, read, name=WORKTREE)

    def read_blobs(self, wanted: dict[str, str]) -> dict[str, bytes]:
        """Contents of many blobs in one `git cat-file --batch` call."""
        if not wanted:
            return {}
        oids = list(dict.fromkeys(wanted.values()))
        out = self._run_bytes("cat-file", "--batch", input="\n".join(oids).encode() + b"\n")
        by_oid: dict[str, bytes] = {}
        pos = 0
        for oid in oids:
            end = out.index(b"\n", pos)
            header = out[pos:end].split(b" ")
            if len(header) < 3 or header[1] == b"missing":
                raise GitError(f"blob {oid} is missing from the repository")
            size = int(header[2])
            by_oid[oid] = out[end + 1 : end + 1 + size]
            pos = end + 1 + size + 1
        return {path: by_oid[oid] for path, oid in wanted.items()}

    def tree_after(self, base: Tree, a: str, b: str) -> tuple[Tree, dict[str, str]]:
        """The tree of commit `b` and path -> status letter (A, M, D, T) of the files
        that differ from commit `a`, from `a`'s listed tree and one `git diff-tree`:
        listing a second whole tree costs more than applying a pull request's diff."""
        out = self._run_bytes("diff-tree", "-r", "-z", "--no-renames", "--no-abbrev", a, b)
        blobs = dict(base.blobs)
        changed: dict[str, str] = {}
        parts = out.split(b"\0")
        for i in range(0, len(parts) - 1, 2):
            # ":<old mode> <new mode> <old id> <new id> <status>", then the path
            _, mode, _, oid, status = parts[i].decode().split(" ")
            path = parts[i + 1].decode("utf-8", "surrogateescape")
            changed[path] = status[:1]
            if mode in ("000000", "120000", "160000"):  # gone, a symlink, a submodule
                blobs.pop(path, None)
            else:
                blobs[path] = oid
        return Tree(blobs, lambda paths: self.read_blobs({p: blobs[p] for p in paths}),
                    name=b), changed


def _listing(out: bytes):
    """`ls-tree -z` / `ls-files --stage -z` lines: (the fields before the tab, the path)."""
    for entry in out.split(b"\0"):
        if entry:
            meta, _, path = entry.partition(b"\t")
            yield meta.split(b" "), path.decode("utf-8", "surrogateescape")


def tree_changes(a: Tree, b: Tree) -> dict[str, str]:
    """Path -> status letter (A, M, D) of the files that differ between two trees."""
    changed = {p: "A" if p not in a.blobs else "M" for p, oid in b.blobs.items()
               if a.blobs.get(p) != oid}
    changed.update({p: "D" for p in a.blobs if p not in b.blobs})
    return changed
