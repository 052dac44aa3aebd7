"""Reading commits with git plumbing: trees, blobs, diffs, refs."""

from __future__ import annotations

import pytest

from reviewbot.gitsource import GitError, GitRepo
from reviewbot.tree import blob_id


def test_tree_lists_files_with_blob_ids_and_reads_contents(make_repo):
    repo = make_repo()
    c1 = repo.commit({"a.py": "A = 1\n", "pkg/b.py": "B = 2\n", "bin.dat": "\x00\x01"})
    git = GitRepo(repo.path)
    tree = git.tree(c1)
    assert set(tree.blobs) == {"a.py", "pkg/b.py", "bin.dat"}
    assert tree.blobs["a.py"] == blob_id(b"A = 1\n")
    assert tree.read_many(["a.py", "pkg/b.py"]) == {"a.py": b"A = 1\n", "pkg/b.py": b"B = 2\n"}
    assert tree.isdir("pkg") and not tree.isdir("a.py")


def test_same_content_in_two_files_is_read_once(make_repo):
    repo = make_repo()
    c1 = repo.commit({"a/x.py": "same\n", "b/x.py": "same\n"})
    tree = GitRepo(repo.path).tree(c1)
    assert tree.read_many(["a/x.py", "b/x.py"]) == {"a/x.py": b"same\n", "b/x.py": b"same\n"}


def test_symlinks_are_not_code(make_repo):
    repo = make_repo()
    repo.write({"real.py": "X = 1\n"})
    (repo.path / "link.py").symlink_to("real.py")
    c1 = repo.commit()
    assert set(GitRepo(repo.path).tree(c1).blobs) == {"real.py"}


def test_changed_files_and_merge_base(make_repo):
    repo = make_repo()
    base = repo.commit({"a.py": "1\n", "b.py": "2\n"})
    repo.branch("pr")
    repo.remove("b.py")
    head = repo.commit({"a.py": "3\n", "c.py": "4\n"})
    repo.checkout("main")
    repo.commit({"other.py": "main moved on\n"})
    git = GitRepo(repo.path)
    assert git.merge_base("main", "pr") == base
    tree, changed = git.tree_after(git.tree(base), base, head)
    assert changed == {"a.py": "M", "b.py": "D", "c.py": "A"}
    assert tree.blobs == git.tree(head).blobs and tree.name == head
    assert tree.read_many(["a.py", "c.py"]) == {"a.py": b"3\n", "c.py": b"4\n"}


def test_tree_after_drops_what_becomes_a_symlink_and_takes_what_stops_being_one(make_repo):
    repo = make_repo()
    repo.write({"real.py": "X = 1\n", "was_file.py": "Y = 1\n"})
    (repo.path / "was_link.py").symlink_to("real.py")
    base = repo.commit()
    (repo.path / "was_file.py").unlink()
    (repo.path / "was_file.py").symlink_to("real.py")
    (repo.path / "was_link.py").unlink()
    head = repo.commit({"was_link.py": "Z = 1\n"})
    git = GitRepo(repo.path)
    tree, changed = git.tree_after(git.tree(base), base, head)
    assert changed == {"was_file.py": "T", "was_link.py": "T"}
    assert tree.blobs == git.tree(head).blobs
    assert set(tree.blobs) == {"real.py", "was_link.py"}


def test_unknown_ref_and_not_a_repo(make_repo, tmp_path):
    with pytest.raises(GitError, match="not a git repository"):
        GitRepo(tmp_path)
    repo = make_repo()
    repo.commit({"a.py": "1\n"})
    with pytest.raises(GitError, match="unknown revision 'nope'"):
        GitRepo(repo.path).resolve("nope")


def test_default_branch(make_repo):
    repo = make_repo()
    repo.commit({"a.py": "1\n"})
    assert GitRepo(repo.path).default_branch() == "main"


def _run_git(cwd, *args):
    import subprocess

    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def _history(tmp_path, main_commits=60, branch_commits=3):
    """An origin whose main moved on `main_commits` commits since the branch forked, and a
    shallow one-commit clone of the branch, as actions/checkout makes."""
    origin = tmp_path / "origin"
    origin.mkdir()
    _run_git(origin, "init", "-q", "-b", "main")
    ident = ["-c", "user.email=a@b", "-c", "user.name=a"]

    def commit(n):
        (origin / f"f{n}.py").write_text(f"X = {n}\n")
        _run_git(origin, "add", ".")
        _run_git(origin, *ident, "commit", "-qm", f"c{n}")

    commit(0)
    _run_git(origin, "checkout", "-qb", "feature")
    for n in range(1, branch_commits + 1):
        commit(n)
    _run_git(origin, "checkout", "-q", "main")
    for n in range(100, 100 + main_commits):
        commit(n)
    clone = tmp_path / "clone"
    _run_git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "feature",
             f"file://{origin}", str(clone))
    return origin, clone


def test_a_shallow_clone_says_how_to_fix_it_and_deepen_does(tmp_path):
    origin, clone = _history(tmp_path)
    git = GitRepo(clone)
    assert git.shallow
    with pytest.raises(GitError, match=r"unknown revision 'main' \(this is a shallow clone"
                                       r".*--deepen.*fetch-depth: 0"):
        git.resolve("main")
    main = _run_git(origin, "rev-parse", "main")
    _run_git(clone, "fetch", "-q", "--depth=1", "origin", "main")  # the tip alone
    with pytest.raises(GitError, match="no common ancestor: this is a shallow clone"):
        git.merge_base(main, "HEAD")
    assert git.deepen("main", "HEAD") == "origin/main"
    fork = _run_git(origin, "merge-base", "main", "feature")
    assert git.merge_base("origin/main", "HEAD") == fork


def test_deepen_leaves_a_full_clone_alone(make_repo):
    repo = make_repo()
    repo.commit({"a.py": "1\n"})
    assert GitRepo(repo.path).deepen("main", "HEAD") == "main"


def test_a_bare_repository_is_named(make_repo, tmp_path):
    repo = make_repo()
    repo.commit({"a.py": "1\n"})
    _run_git(tmp_path, "clone", "-q", "--bare", str(repo.path), "bare.git")
    with pytest.raises(GitError, match=r"bare\.git is a bare repository: .*git clone"):
        GitRepo(tmp_path / "bare.git")


def test_the_index_and_the_working_tree(make_repo):
    from reviewbot.gitsource import tree_changes
    from reviewbot.tree import blob_id

    repo = make_repo()
    head = repo.commit({"a.py": "A = 1\n", "gone.py": "G = 1\n", ".gitignore": "ignored.py\n"})
    root = repo.path
    (root / "a.py").write_text("A = 2\n")  # changed, not staged
    (root / "b.py").write_text("B = 1\n")
    _run_git(root, "add", "b.py")  # new, staged
    (root / "c.py").write_text("C = 1\n")  # new, untracked
    (root / "ignored.py").write_text("I = 1\n")
    (root / "gone.py").unlink()  # deleted, not staged
    git = GitRepo(root)
    index = git.index_tree()
    assert set(index.blobs) == {"a.py", "b.py", "gone.py", ".gitignore"}
    assert index.read("a.py") == b"A = 1\n"  # the staged content
    work = git.worktree_tree()
    assert set(work.blobs) == {"a.py", "b.py", "c.py", ".gitignore"}
    assert work.read("a.py") == b"A = 2\n" and work.read("b.py") == b"B = 1\n"
    assert work.blobs["a.py"] == blob_id(b"A = 2\n")  # cache keys follow the bytes
    assert tree_changes(git.tree(head), work) == {"a.py": "M", "b.py": "A", "c.py": "A",
                                                  "gone.py": "D"}
    assert tree_changes(git.tree(head), index) == {"b.py": "A"}


def test_a_big_untracked_file_is_not_read_to_be_named(make_repo):
    from reviewbot.gitsource import HASHED_BYTES

    repo = make_repo()
    repo.commit({"a.py": "A = 1\n"})
    big = repo.path / "data.bin"
    big.write_bytes(b"\0" * (HASHED_BYTES + 1))
    work = GitRepo(repo.path).worktree_tree()
    assert work.blobs["data.bin"].startswith(f"stat:{HASHED_BYTES + 1}:")
    assert len(work.read("data.bin")) == HASHED_BYTES + 1  # still readable when asked
