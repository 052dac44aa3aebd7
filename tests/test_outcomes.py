"""Stored outcomes: trusted only while the files they loaded keep their content."""

from __future__ import annotations

from reviewbot.model import Finding, Handler
from reviewbot.outcomes import Closure, Outcome, files_digest, outcome_key, valid_closure

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
