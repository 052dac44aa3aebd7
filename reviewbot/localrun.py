"""Running a review on a local git repository: the adapter behind `reviewbot check`."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reviewbot.cache import SummaryCache
from reviewbot.config import load_config
from reviewbot.configuse import ConfigUse, config_use
from reviewbot.gitsource import (
    WORKTREE,
    GitError,
    GitRepo,
    tree_changes,
    uncommitted,
)
from reviewbot.memory import MemoryBudget
from reviewbot.model import CONFIG_PATH, Report
from reviewbot.review import HandlerSet, find_handlers, review

if TYPE_CHECKING:  # libcst is imported only when fixes are asked for
    from reviewbot.dependencies.sites import Installer
    from reviewbot.fixes import Suggestion


@dataclass
class Refs:
    base: str  # the commit the config is read from (the base branch tip)
    merge_base: str
    head: str


def open_repo(path: str | GitRepo) -> GitRepo:
    """The repository at `path`, or `path` itself when it is one: a caller that has one
    passes it, so its trees and files on disk are read once (GitRepo keeps them)."""
    return path if isinstance(path, GitRepo) else GitRepo(path)


def resolve_refs(repo: GitRepo, base: str | None, head: str | None) -> Refs:
    """The commits of a change; a head of WORKTREE or INDEX stays that name, and the merge
    base is then HEAD's."""
    files = uncommitted(head)
    head_id = repo.resolve("HEAD" if files else head or "HEAD")
    if base is None:
        base = repo.default_branch()
        if base is None:
            raise GitError("no --base given and no default branch (main, master or "
                           "origin/HEAD) found")
    base_id = repo.resolve(base)
    return Refs(base_id, repo.merge_base(base_id, head_id), head if files else head_id)


def check_repo(path: str | GitRepo, base: str | None = None, head: str | None = None, *,
               check_all: bool = False, cache: SummaryCache | None = None,
               installer: Installer | None = None, deepen: bool = False,
               config_path: str = CONFIG_PATH, memory: MemoryBudget | None = None) -> Report:
    """Review `head` (a commit, or WORKTREE: the files on disk, or INDEX: the staged
    ones; default HEAD) against its merge base with `base` (default: the default
    branch), reading the functions' third-party packages through `installer` when given.
    `deepen`: a shallow clone fetches the history that takes first."""
    repo = open_repo(path)
    if deepen:
        files = uncommitted(head)
        base = repo.deepen(base or repo.default_branch() or "HEAD",
                           "HEAD" if files else head or "HEAD")
        head = head if files else repo.resolve(head or "HEAD")
    refs = resolve_refs(repo, base, head)
    cache = cache or SummaryCache()
    config = cache.config(repo.tree(refs.base), config_path)
    if uncommitted(refs.head):
        base_tree = repo.tree(refs.merge_base)
        head_tree = repo.files(refs.head)
        changed = tree_changes(base_tree, head_tree)
    elif refs.merge_base == refs.head:
        base_tree = head_tree = repo.tree(refs.head)
        changed = {}
    else:
        base_tree = repo.tree(refs.merge_base)
        head_tree, changed = repo.tree_after(base_tree, refs.merge_base, refs.head)
    report = review(base=base_tree, head=head_tree, changed=changed, config=config,
                    cache=cache, check_all=check_all,
                    base_name=refs.merge_base, head_name=refs.head, installer=installer,
                    memory=memory)
    return dataclasses.replace(report, config=config_use(
        repo.tree(refs.base), head_tree, config_path, refs.base, fork=base_tree))


def check_local(path: str | GitRepo, base: str | None, head: str | None, *, offline: bool = False,
                env: Mapping[str, str] = os.environ, **options) -> Report:
    """check_repo as the command line and the Action run it: the functions' packages read
    through the default installer under the cache folder, or, offline (asked, or
    REVIEWBOT_OFFLINE), not at all, which the report's notes then say."""
    from reviewbot.cache import default_cache_dir
    from reviewbot.dependencies.sites import OFFLINE_NOTE, default_installer
    from reviewbot.dependencies.sites import offline as offline_env

    no_network = offline or offline_env(env)
    report = check_repo(path, base, head, installer=None if no_network else
                        default_installer(default_cache_dir()), **options)
    if no_network:
        report = dataclasses.replace(report, notes=(*report.notes, OFFLINE_NOTE))
    return report


def list_handlers(path: str | GitRepo, ref: str | None = None, base: str | None = None
                  ) -> tuple[HandlerSet, ConfigUse | None]:
    """The handlers of a commit, or (no `ref`) of the files on disk, found with the
    configuration `check` would read: the one at `base` (default: the default branch).
    With no base to be found, the head's own, and no ConfigUse."""
    repo = open_repo(path)
    tree = repo.files(ref or WORKTREE)
    base = base or repo.default_branch()
    if base is None:
        return find_handlers(tree, load_config(tree.read(CONFIG_PATH) if CONFIG_PATH in tree
                                               else None)), None
    refs = resolve_refs(repo, base, ref or WORKTREE)
    base_tree = repo.tree(refs.base)
    config = load_config(base_tree.read(CONFIG_PATH) if CONFIG_PATH in base_tree else None)
    return find_handlers(tree, config), config_use(base_tree, tree, CONFIG_PATH, refs.base,
                                                   fork=repo.tree(refs.merge_base))


def suggest_fixes(path: str | GitRepo, report: Report) -> list[Suggestion]:
    """Fix suggestions (reviewbot.fixes) for the report's failing imports, read from the
    head commit the report was made at."""
    from reviewbot.fixes import merge_exports, suggest_all

    if not report.errors or not report.head:
        return []
    tree = open_repo(path).files(report.head)
    versions = {st.handler.name: st.handler.python_version for st in report.handlers}

    def read(p: str) -> str | None:
        return tree.read(p).decode("utf-8", "replace") if p in tree else None

    out = []
    for f in report.errors:
        out.extend(suggest_all([f], read, tree.blobs, versions.get(f.handler, (3, 12))))
    return merge_exports(out)


def apply_fixes(path: str | GitRepo, suggestions: list[Suggestion]) -> list[tuple[str, str]]:
    """Write the `__init__.py` edits into the working tree (nothing is committed).
    Returns (path, what happened) per file; a file whose working copy differs from the
    checked commit is left alone."""
    from reviewbot.fixes import file_fixes

    root = open_repo(path).top
    done = []
    for fix in file_fixes(suggestions):
        target = root / fix.path
        try:
            current = target.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            done.append((fix.path, "skipped: not in the working tree"))
            continue
        if current == fix.new_text:
            done.append((fix.path, "already fixed"))
        elif current != fix.old_text:
            done.append((fix.path, "skipped: the working copy has other changes"))
        else:
            with open(target, "w", encoding="utf-8", newline="") as fh:
                fh.write(fix.new_text)
            done.append((fix.path, fix.description))
    return done
