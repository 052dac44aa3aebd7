"""Which configuration was read, and what the head's version would change."""

from reviewbot.configuse import config_use
from reviewbot.tree import Tree

PATH = ".github/reviewbot.yml"
OLD = "shared: [libs/**]\n"
NEW = "shared: [libs/**]\nthird_party: [requests]\n"


def tree(text: str | None) -> Tree:
    return Tree.from_files({PATH: text} if text is not None else {"a.py": "1\n"})


def test_a_file_the_base_branch_edited_since_the_fork_is_not_the_heads_change():
    use = config_use(tree(NEW), tree(OLD), PATH, "b" * 40, fork=tree(OLD))
    assert use.head == "same"
    assert use.summary() == f"config: {PATH} at the base ({'b' * 12})"


def test_what_the_head_changes_adds_deletes_or_breaks():
    assert config_use(tree(OLD), tree(NEW), PATH, "b" * 40, fork=tree(OLD)).head_changes \
        == ("third_party",)
    assert config_use(tree(None), tree(NEW), PATH, "b" * 40).head == "added"
    assert config_use(tree(OLD), tree(None), PATH, "b" * 40).head == "deleted"
    broken = config_use(tree(OLD), tree("shared: [\n"), PATH, "b" * 40)
    assert broken.head == "invalid" and broken.head_errors[0].startswith(f"{PATH}:")
    handlers = "handlers:\n  - {name: auth, handler: main.handler, root: fn}\n"
    assert config_use(tree(OLD), tree(handlers), PATH, "b" * 40).head_changes == (
        "handlers: adds auth", "shared")  # and drops `shared`
