"""CODEOWNERS: who owns each affected handler.

GitHub's rules (docs: "About code owners"): the file is the first of `.github/CODEOWNERS`,
`CODEOWNERS`, `docs/CODEOWNERS`; each line is a pattern and its owners (`@user`,
`@org/team` or an e-mail); the LAST matching pattern wins, and a matching pattern with no
owners leaves the path unowned. Patterns follow gitignore: `*` and `?` stay inside one path
segment, `**` spans segments, a leading `/` (or any slash but a trailing one) anchors the
pattern at the root, a pattern without one matches at any depth, a trailing `/` matches a
folder (and everything in it). Unlike gitignore there is no `!` negation and no `[...]`
range, and `docs/*` owns the files directly in `docs` but not those in its subfolders.
Pure: text in, owners out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from reviewbot.model import Handler
from reviewbot.tree import Tree

LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")


@dataclass(frozen=True)
class Rule:
    pattern: str
    owners: tuple[str, ...]
    line: int
    regex: re.Pattern
    dirs: bool  # the pattern may match a folder, owning everything below it


def _segment(seg: str) -> str:
    out = []
    for c in seg:
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(c))
    return "".join(out)


def compile_pattern(pattern: str) -> tuple[re.Pattern, bool]:
    """(regex over a repo path, whether a match on a folder covers what is below it)."""
    p = pattern.replace("\\#", "#").replace("\\ ", " ")
    dir_only = p.endswith("/")
    p = p.rstrip("/")
    anchored = "/" in p
    p = p.lstrip("/")
    segments = p.split("/") if p else []
    parts = []
    for k, seg in enumerate(segments):
        last = k == len(segments) - 1
        if seg == "**":
            parts.append(".*" if last else "(?:.*/)?")
        else:
            parts.append(_segment(seg) + ("" if last else "/"))
    body = "".join(parts)
    prefix = "" if anchored else "(?:.*/)?"
    # `docs/*` and `*.py` name files; `docs`, `docs/`, `**/logs` may name folders.
    last_seg = segments[-1] if segments else ""
    dirs = dir_only or "*" not in last_seg or last_seg == "**"
    return re.compile(f"^{prefix}{body}$"), dirs


def parse(text: str) -> list[Rule]:
    rules = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = re.split(r"(?<!\\)#", line, maxsplit=1)[0].strip()  # trailing comment
        fields = re.split(r"(?<!\\)\s+", line)
        pattern, owners = fields[0], tuple(f for f in fields[1:] if f)
        if not pattern or pattern.startswith("!") or "[" in pattern:
            continue  # not supported by GitHub: the line is skipped
        regex, dirs = compile_pattern(pattern)
        rules.append(Rule(pattern, owners, n, regex, dirs))
    return rules


def _parents(path: str) -> Iterable[str]:
    parts = path.split("/")
    for k in range(1, len(parts)):
        yield "/".join(parts[:k])


def matches(rule: Rule, path: str) -> bool:
    if not rule.pattern.endswith("/") and rule.regex.match(path):
        return True
    return rule.dirs and any(rule.regex.match(d) for d in _parents(path))


def owners_of(rules: list[Rule], path: str) -> tuple[str, ...]:
    """The owners of `path` (repo-relative, no leading slash): the last matching rule's."""
    for rule in reversed(rules):
        if matches(rule, path):
            return rule.owners
    return ()


def find(tree: Tree) -> tuple[str, list[Rule]] | None:
    for location in LOCATIONS:
        if location in tree:
            return location, parse(tree.read(location).decode("utf-8", "replace"))
    return None


def handler_file(handler: Handler, tree: Tree | None = None) -> str:
    """The file Lambda loads for the handler: root + module path + .py (or the package's
    `__init__.py` when that is what exists)."""
    root = "" if handler.root in ("", ".") else handler.root.rstrip("/") + "/"
    module = handler.module_path
    path = f"{root}{module}.py"
    if tree is not None and path not in tree and f"{root}{module}/__init__.py" in tree:
        return f"{root}{module}/__init__.py"
    return path


def handler_owners(rules: list[Rule], handlers: Iterable[Handler],
                   tree: Tree | None = None) -> dict[str, tuple[str, ...]]:
    return {h.name: owners_of(rules, handler_file(h, tree)) for h in handlers}


def reviewers(owners: Iterable[str], author: str) -> tuple[list[str], list[str]]:
    """(users, team slugs) to request from a list of owners; the author and e-mail owners
    (the API takes logins only) are left out."""
    users: list[str] = []
    teams: list[str] = []
    for o in owners:
        if not o.startswith("@"):
            continue
        name = o[1:]
        if "/" in name:
            slug = name.split("/", 1)[1]
            if slug not in teams:
                teams.append(slug)
        elif name.lower() != author.lower() and name not in users:
            users.append(name)
    return users, teams
