"""Running a review on a local git repository: the adapter behind `reviewbot check`."""

from __future__ import annotations

from dataclasses import dataclass

from reviewbot.cache import SummaryCache
from reviewbot.config import Config, parse_config
from reviewbot.gitsource import GitError, GitRepo
from reviewbot.model import CONFIG_PATH, Report
from reviewbot.review import HandlerSet, find_handlers, review
from reviewbot.tree import Tree


@dataclass
class Refs:
    base: str  # the commit the config is read from (the base branch tip)
    merge_base: str
    head: str


def resolve_refs(repo: GitRepo, base: str | None, head: str | None) -> Refs:
    head_id = repo.resolve(head or "HEAD")
    if base is None:
        base = repo.default_branch()
        if base is None:
            raise GitError("no --base given and no default branch (main, master or "
                           "origin/HEAD) found")
    base_id = repo.resolve(base)
    return Refs(base_id, repo.merge_base(base_id, head_id), head_id)


def load_config(tree: Tree) -> Config:
    if CONFIG_PATH not in tree:
        return Config()
    return parse_config(tree.read(CONFIG_PATH), CONFIG_PATH)


def check_repo(path: str, base: str | None = None, head: str | None = None, *,
               check_all: bool = False, cache: SummaryCache | None = None) -> Report:
    """Review `head` against its merge base with `base` (default: the default branch)."""
    repo = GitRepo(path)
    refs = resolve_refs(repo, base, head)
    config = load_config(repo.tree(refs.base))
    head_tree = repo.tree(refs.head)
    if refs.merge_base == refs.head:
        base_tree, changed = head_tree, {}
    else:
        base_tree = repo.tree(refs.merge_base)
        changed = repo.changed_files(refs.merge_base, refs.head)
    return review(base=base_tree, head=head_tree, changed=changed, config=config,
                  cache=cache or SummaryCache(), check_all=check_all,
                  base_name=refs.merge_base, head_name=refs.head)


def list_handlers(path: str, ref: str | None = None) -> HandlerSet:
    repo = GitRepo(path)
    commit = repo.resolve(ref or "HEAD")
    tree = repo.tree(commit)
    return find_handlers(tree, load_config(tree))
