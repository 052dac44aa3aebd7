"""Stored outcomes: trusted only while the files they loaded keep their content."""

from __future__ import annotations

import ast
from pathlib import Path

from reviewbot import outcomes
from reviewbot.model import Finding, Handler
from reviewbot.outcomes import (
    ENGINE_SOURCES,
    Closure,
    Outcome,
    files_digest,
    outcome_key,
    valid_closure,
)

HANDLER = Handler(name="a", handler="main.handler", root="fa")
BLOBS = {"fa/main.py": "blob1", "lib/x.py": "blob2", "lib/y.py": "blob3"}


def stored() -> Outcome:
    files = ("fa/main.py", "lib/x.py")
    error = Finding("a", "fa/main.py", 1, "missing-module", "No module named 'z'")
    return Outcome(files, files_digest(BLOBS, files), (error,), ())


def test_a_record_holds_while_its_files_keep_their_content():
    outcome = stored()
    closure = valid_closure(HANDLER, {outcome.digest: outcome.record()}, BLOBS)
    assert closure == Closure(frozenset(outcome.files), outcome.errors, ())
    edited = dict(BLOBS, **{"lib/x.py": "blob4"})
    assert valid_closure(HANDLER, {outcome.digest: outcome.record()}, edited) is None
    gone = {p: b for p, b in BLOBS.items() if p != "lib/x.py"}
    assert valid_closure(HANDLER, {outcome.digest: outcome.record()}, gone) is None


def test_a_malformed_record_is_a_miss_and_the_next_variant_is_tried():
    outcome = stored()
    variants = {"old": ("too", "short"), outcome.digest: outcome.record()}
    assert valid_closure(HANDLER, variants, BLOBS) == outcome.closure()
    assert valid_closure(HANDLER, {"old": None}, BLOBS) is None


def test_packed_outcomes_come_back_the_same():
    outcome = stored()
    paths = sorted(BLOBS)
    packed = outcome.pack({p: i for i, p in enumerate(paths)})
    assert Outcome.unpack(packed, paths) == outcome


def test_the_key_changes_with_the_definition_and_the_roots():
    key = outcome_key(HANDLER, (), ["sig"])
    assert key == outcome_key(HANDLER, (), ["sig"])
    assert key != outcome_key(HANDLER, (), ["other"])
    assert key != outcome_key(HANDLER, ("yaml",), ["sig"])
    assert key != outcome_key(Handler(name="a", handler="app.handler", root="fa"), (), ["sig"])


def _reviewbot_imports(path: Path) -> set[str]:
    """The `reviewbot.*` modules a file imports, at any level of its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "reviewbot" and node.level == 0:
            names.update(f"reviewbot.{alias.name}" for alias in node.names)  # its modules
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.split(".")[0] == "reviewbot"}


def test_the_engine_fingerprint_covers_every_module_the_check_imports():
    package = Path(outcomes.__file__).parent
    covered = {name.removesuffix(".py") for name in ENGINE_SOURCES}
    todo, seen = ["reviewbot.importcheck"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        top = name.split(".")[1]
        assert top in covered, f"{name} is imported by the check but not in ENGINE_SOURCES"
        module = package.joinpath(*name.split(".")[1:])
        path = module / "__init__.py" if module.is_dir() else module.with_suffix(".py")
        files = sorted(module.glob("*.py")) if module.is_dir() else [path]
        for file in files:
            todo.extend(_reviewbot_imports(file))
    assert {"reviewbot.replay", "reviewbot.modulestate", "reviewbot.tree"} <= seen
