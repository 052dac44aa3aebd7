"""The checklist in the sticky comment: boxes, the signed ticks record, carrying ticks."""

from __future__ import annotations

import pytest

from reviewbot import checklist as cl
from reviewbot.config import parse_config

KEY = b"k" * 32
BODY = "<!-- reviewbot:import-check -->\n### x\n\n**Reviewer checklist**\n\n" + "\n".join(
    cl.item_line(t) for t in ("one", "two")) + "\n"


def test_boxes_and_changes():
    ids = list(cl.boxes(BODY))
    ticked = cl.set_boxes(BODY, {ids[1]: True})
    assert cl.boxes(ticked) == {ids[0]: False, ids[1]: True}
    assert cl.box_changes(BODY, ticked) == [(ids[1], True)]
    assert cl.skeleton(ticked) == cl.skeleton(BODY)
    assert cl.outside_boxes(ticked) == cl.outside_boxes(BODY)
    assert cl.outside_boxes(ticked.replace("### x", "### y")) != cl.outside_boxes(BODY)


def test_record_is_bound_to_key_pr_and_text():
    ids = list(cl.boxes(BODY))
    state = cl.apply(cl.State({}, []), [(ids[0], True)], "alice", False)
    body = cl.write_state(cl.set_boxes(BODY, {ids[0]: True}), state, KEY, "o/r#1")
    got = cl.read_state(body, KEY, "o/r#1")
    assert got.items == {ids[0]: cl.Tick(True, "alice", False)}
    assert cl.read_state(body, KEY, "o/r#2") is None  # copied to another PR
    assert cl.read_state(body, b"x" * 32, "o/r#1") is None  # another key
    assert cl.read_state(body.replace("### x", "### y"), KEY, "o/r#1") is None  # text edited
    assert cl.read_state(cl.set_boxes(body, {ids[1]: True}), KEY, "o/r#1") is not None
    assert cl.gate(body, got, "bob").conclusion == "failure"  # "two" is not ticked


def test_carry_keeps_ticks_of_unchanged_items_only():
    ids = list(cl.boxes(BODY))
    state = cl.apply(cl.State({}, []), [(i, True) for i in ids], "alice", False)
    old = cl.write_state(cl.set_boxes(BODY, {i: True for i in ids}), state, KEY, "s")
    new = BODY.replace(cl.item_line("two"), cl.item_line("two, reworded"))
    carried = cl.carry(old, new, KEY, "s")
    boxes = cl.boxes(carried)
    assert list(boxes.values()) == [True, False]
    result = cl.gate(carried, cl.read_state(carried, KEY, "s"), "bob")
    assert result.conclusion == "failure" and "1 of 2" in result.title
    assert cl.gate(None, None, "bob").conclusion == "success"  # nothing to tick


def test_gate_config_keys():
    c = parse_config("checklist_required: true\nrequest_owner_reviews: true\n"
                     "checklist_check_name: gate\n")
    assert (c.checklist_required, c.request_owner_reviews, c.checklist_check_name) == (
        True, True, "gate")
    d = parse_config("")
    assert (d.checklist_required, d.request_owner_reviews) == (False, False)


def test_a_checklist_cut_from_the_comment_never_passes_the_gate():
    ids = list(cl.boxes(BODY))
    body = cl.carry(None, BODY, KEY, "s")
    state = cl.read_state(body, KEY, "s")
    assert state.published == ids
    # the boxes edited out: the record no longer verifies, and the gate says so
    cut = body.replace(cl.item_line("one") + "\n", "").replace(cl.item_line("two") + "\n", "")
    assert cl.boxes(cut) == {} and cl.read_state(cut, KEY, "s") is None
    assert cl.gate(cut, None, "bob").conclusion == "failure"
    # a genuine record whose published items are not all in the body
    partial = cl.State({}, [], [*ids, "0123456789"])
    result = cl.gate(body, partial, "bob")
    assert result.conclusion == "failure" and "missing" in result.title


@pytest.mark.parametrize("broken", [True, False])
def test_a_600_handler_comment_keeps_the_gate_pending_until_a_reviewer_ticks_everything(
        broken):
    from dataclasses import replace

    from reviewbot.render import to_markdown
    from tests.test_markdown import big

    report = big(600) if broken else replace(big(600), errors=())
    body = cl.carry(None, to_markdown(report, limit=65_536 - 1_000), KEY, "o/r#7")
    assert len(body) <= 65_536
    ids = list(cl.boxes(body))
    assert len(ids) == len(report.checklist)  # every item survived the trimming
    state = cl.read_state(body, KEY, "o/r#7")
    assert state.verified == {"import-check": not broken}
    assert cl.gate(body, state, "author").conclusion == "failure"
    by_author = cl.apply(state, [(i, True) for i in ids], "author", True)
    ticked = cl.write_state(cl.set_boxes(body, dict.fromkeys(ids, True)), by_author, KEY, "o/r#7")
    assert cl.gate(ticked, cl.read_state(ticked, KEY, "o/r#7"), "author").conclusion == \
        "failure"  # the author's ticks do not count
    by_reviewer = cl.apply(state, [(i, True) for i in ids], "reviewer", False)
    done = cl.write_state(cl.set_boxes(body, dict.fromkeys(ids, True)), by_reviewer, KEY,
                          "o/r#7")
    result = cl.gate(done, cl.read_state(done, KEY, "o/r#7"), "author")
    # every box ticked by a reviewer; what reviewbot verifies must hold as well
    assert result.conclusion == ("failure" if broken else "success")
    # a broken import's line shown as verified by hand is an edit outside the boxes
    forged = done.replace("- ☐ Every import", "- ☑ Every import")
    assert cl.verified(forged) == {"import-check": True}
    assert cl.gate(forged, cl.read_state(forged, KEY, "o/r#7"), "author").conclusion == (
        "failure" if broken else "success")
