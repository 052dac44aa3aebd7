"""CODEOWNERS pattern semantics (GitHub's "About code owners" examples) and handler owners."""

from __future__ import annotations

import pytest

from reviewbot.model import Handler
from reviewbot.owners import find, handler_owners, owners_of, parse, reviewers
from reviewbot.tree import Tree

# GitHub's example file, trimmed to the patterns whose behaviour it documents.
EXAMPLE = """\
# Comment
*       @global-owner1 @global-owner2
*.js    @js-owner #This is an inline comment.
*.go docs@example.com
*.txt @octo-org/octocats
/build/logs/ @doctocat
docs/*  docs@example.com
apps/ @octocat
/docs/ @doctocat
/scripts/ @doctocat @octocat
**/logs @octocat
/apps/ @octocat
/apps/github
"""

CASES = [
    ("README.md", ("@global-owner1", "@global-owner2")),
    ("src/app.js", ("@js-owner",)),  # at any depth; the inline comment is not an owner
    ("main.go", ("docs@example.com",)),
    ("notes/a.txt", ("@octo-org/octocats",)),
    ("build/logs/x.log", ("@octocat",)),  # /build/logs/ then **/logs: the last one wins
    ("build/other/x.log", ("@global-owner1", "@global-owner2")),
    ("docs/getting-started.md", ("@doctocat",)),  # /docs/ comes after docs/*
    # `docs/*` has a slash, so it is anchored at the root: sub/docs is not docs.
    ("sub/docs/getting-started.md", ("@global-owner1", "@global-owner2")),
    ("apps/web/index.html", ("@octocat",)),
    ("apps/github/main.py", ()),  # a pattern without owners: nobody owns it
    ("scripts/deploy.sh", ("@doctocat", "@octocat")),
    ("deeply/nested/logs/a.txt", ("@octocat",)),
]


@pytest.mark.parametrize("path,expected", CASES)
def test_github_example(path, expected):
    rules = parse(EXAMPLE)
    assert owners_of(rules, path) == expected


@pytest.mark.parametrize("pattern,path,hit", [
    ("docs/*", "docs/a.md", True),
    ("docs/*", "docs/build/a.md", False),  # GitHub: only the files directly in docs
    ("docs/", "docs/build/a.md", True),
    ("docs/", "x/docs/build/a.md", True),  # trailing slash only: any depth
    ("/docs/", "x/docs/a.md", False),  # leading slash: the root only
    ("docs", "x/docs/a.md", True),
    ("docs", "docs", True),  # a file named docs
    ("docs/", "docs", False),  # a trailing slash needs a folder
    ("a/**/b", "a/b/c.py", True),
    ("a/**/b", "a/x/y/b/c.py", True),
    ("a/**", "a/x/y.py", True),
    ("a/**", "b/a/y.py", False),
    ("**/logs", "logs/x", True),
    ("*.py", "a/b/c.py", True),
    ("/*.py", "a/c.py", False),
    ("/*.py", "c.py", True),
    ("backend/handlers/auth/", "backend/handlers/auth/main.py", True),
    ("backend/handlers/auth", "backend/handlers/authz/main.py", False),
    ("h?lp.md", "help.md", True),
    ("h?lp.md", "he/lp.md", False),
    ("with\\ space", "with space", True),
])
def test_pattern(pattern, path, hit):
    assert (owners_of(parse(f"{pattern} @o"), path) == ("@o",)) is hit


def test_unsupported_lines_are_skipped():
    rules = parse("* @all\n!secret @nobody\n[ab].py @nobody\n")
    assert owners_of(rules, "secret") == ("@all",)
    assert owners_of(rules, "a.py") == ("@all",)


def test_handler_owners_from_the_first_location():
    tree = Tree.from_files({
        ".github/CODEOWNERS": "* @platform\n/backend/handlers/auth/ @acme/identity @alice\n",
        "CODEOWNERS": "* @ignored\n",
        "backend/handlers/auth/main.py": "",
        "backend/handlers/goals/api/__init__.py": "",
    })
    location, rules = find(tree)
    assert location == ".github/CODEOWNERS"
    handlers = [Handler("auth", "main.handler", root="backend/handlers/auth"),
                Handler("goals", "api.handler", root="backend/handlers/goals")]
    assert handler_owners(rules, handlers, tree) == {
        "auth": ("@acme/identity", "@alice"), "goals": ("@platform",)}
    assert find(Tree.from_files({"docs/CODEOWNERS": "* @d\n"}))[0] == "docs/CODEOWNERS"
    assert find(Tree.from_files({"a.py": ""})) is None


def test_reviewers_skip_the_author_and_emails():
    assert reviewers(["@Alice", "@acme/identity", "bob@example.com", "@carol", "@carol"],
                     "alice") == (["carol"], ["identity"])
