"""Stored outcomes: trusted only while the files they loaded keep their content."""

from __future__ import annotations

import ast
from pathlib import Path

from reviewbot import outcomes
from reviewbot.fileset import FileSet, PathIndex
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
ROOTS = {root: PathIndex(root, sorted(p for p in BLOBS if p.startswith(root + "/")))
         for root in ("fa", "lib")}


def stored() -> Outcome:
    files = FileSet.of(["fa/main.py", "lib/x.py"], list(ROOTS.values()))
    error = Finding("a", "fa/main.py", 1, "missing-module", "No module named 'z'")
    return Outcome(files, files_digest(BLOBS, files), (error,), ())


def test_a_record_holds_while_its_files_keep_their_content():
    outcome = stored()
    closure = valid_closure(HANDLER, {outcome.digest: outcome.record()}, BLOBS, ROOTS.get)
    assert closure == Closure(frozenset({"fa/main.py", "lib/x.py"}), outcome.errors, ())
    edited = dict(BLOBS, **{"lib/x.py": "blob4"})
    assert valid_closure(HANDLER, {outcome.digest: outcome.record()}, edited, ROOTS.get) is None
    gone = {p: b for p, b in BLOBS.items() if p != "lib/x.py"}
    assert valid_closure(HANDLER, {outcome.digest: outcome.record()}, gone, ROOTS.get) is None


def test_a_malformed_record_is_a_miss_and_the_next_variant_is_tried():
    outcome = stored()
    (parts, rest), digest, errors, warnings = outcome.record()
    root, _mask = parts[0]
    bad_mask = (((root, b"not zlib"), *parts[1:]), rest)
    variants = {"old": ("too", "short"), "bad": (bad_mask, digest, errors, warnings),
                outcome.digest: outcome.record()}
    assert valid_closure(HANDLER, variants, BLOBS, ROOTS.get) == outcome.closure()
    assert valid_closure(HANDLER, {"old": None}, BLOBS, ROOTS.get) is None
    assert valid_closure(HANDLER, {"bad": (bad_mask, digest, errors, warnings)}, BLOBS,
                         ROOTS.get) is None


def test_a_mask_over_other_paths_is_a_miss():
    """A record read where the root holds other paths (a key collision, a foreign
    record) is not trusted: its mask does not fit."""
    outcome = stored()
    more = dict(ROOTS, lib=PathIndex("lib", ["lib/w.py", "lib/x.py", "lib/y.py"]))
    assert valid_closure(HANDLER, {outcome.digest: outcome.record()}, BLOBS, more.get) is None


def test_packed_outcomes_come_back_the_same():
    outcome = stored()
    assert Outcome.unpack(outcome.pack(), ROOTS.__getitem__) == outcome


def test_a_file_set_answers_as_the_set_of_its_paths():
    roots = [PathIndex("lib", ["lib/a.py", "lib/b.py", "lib/sub/c.py"]),
             PathIndex("lib/sub", ["lib/sub/c.py", "lib/sub/d.py"])]
    files = FileSet.of(["lib/sub/c.py", "lib/a.py", "lib/sub/d.py", "vendor/e.py"], roots)
    assert list(files) == ["lib/a.py", "lib/sub/c.py", "lib/sub/d.py", "vendor/e.py"]
    assert len(files) == 4
    assert "lib/sub/c.py" in files and "vendor/e.py" in files and "lib/b.py" not in files
    assert files & {"lib/b.py", "lib/sub/d.py", "x.py"} == {"lib/sub/d.py"}
    assert files.isdisjoint({"lib/b.py", "x.py"}) and not files.isdisjoint(["vendor/e.py"])
    assert files == frozenset(files) and files != FileSet.of(["lib/a.py"], roots)
    again = FileSet.unpacked(files.packed(), {r.root: r for r in roots}.__getitem__)
    assert list(again) == list(files)


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
