"""The sticky comment's reviewer checklist as data: boxes, who ticked them, the gate.

Checklist lines read `- [ ] item <!-- item:ID -->` (or `- [x]`), ID a digest of the item's
text, so a box keeps its identity while its text stays the same. Who ticked what lives in
the comment itself, in a hidden block `<!-- reviewbot:ticks {json} SIG -->`; no database.
SIG is an HMAC (a key only the app knows) over the PR, the comment's text outside the boxes
and the JSON: a block copied from elsewhere, edited by hand, or sitting under text that is
not the bot's, does not verify and counts as no ticks at all. Pure functions.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field

ITEM = re.compile(r"^- \[(?P<mark>[ xX])\] (?P<text>.*?) <!-- item:(?P<id>[0-9a-f]{6,40}) -->"
                  r"[ \t]*\r?$", re.M)
# A line reviewbot verified itself: shown checked (☑) or not (☐) as text, never a box, so
# nobody can tick it; the gate takes its state from the signed record.
VERIFIED = re.compile(r"^- (?P<mark>[☑☐]) (?P<text>.*?) <!-- verified:(?P<id>[a-z-]{1,40}) -->"
                      r"[ \t]*\r?$", re.M)
BLOCK = re.compile(r"\n?<!-- reviewbot:ticks (?P<json>\{.*?\}) (?P<sig>[0-9a-f]{64}) -->\n?")
HEAD = re.compile(r"\n?<!-- reviewbot:head=[0-9a-f]{7,64} -->\n?")
MAX_LOG = 30


def item_id(text: str) -> str:
    return hashlib.sha1(text.strip().encode()).hexdigest()[:10]


def item_line(text: str, checked: bool = False) -> str:
    return f"- [{'x' if checked else ' '}] {text} <!-- item:{item_id(text)} -->"


def verified_line(key: str, text: str, ok: bool) -> str:
    return f"- {'☑' if ok else '☐'} {text} <!-- verified:{key} -->"


def verified(body: str) -> dict[str, bool]:
    """Verified line id -> whether reviewbot found it true."""
    return {m["id"]: m["mark"] == "☑" for m in VERIFIED.finditer(body or "")}


def boxes(body: str) -> dict[str, bool]:
    """Item id -> ticked, in the order of the comment."""
    return {m["id"]: m["mark"] != " " for m in ITEM.finditer(body or "")}


def texts(body: str) -> dict[str, str]:
    return {m["id"]: m["text"] for m in ITEM.finditer(body or "")}


def box_changes(before: str, after: str) -> list[tuple[str, bool]]:
    """The boxes an edit ticked (True) or unticked (False)."""
    old = boxes(before)
    return [(i, v) for i, v in boxes(after).items() if i in old and old[i] != v]


def skeleton(body: str) -> str:
    """The text outside the boxes: boxes emptied, the ticks block and head marker removed."""
    body = BLOCK.sub("\n", body or "")
    body = HEAD.sub("\n", body)
    body = ITEM.sub(lambda m: m.group(0).replace(f"[{m['mark']}]", "[ ]", 1), body)
    return body.replace("\r\n", "\n").strip()


def outside_boxes(body: str) -> str:
    """Everything an edit may not change: the text with boxes emptied, ticks block kept."""
    ticks = "".join(m.group(0).strip() for m in BLOCK.finditer(body or ""))
    return skeleton(body) + "\n" + ticks


def set_boxes(body: str, states: dict[str, bool]) -> str:
    def one(m: re.Match) -> str:
        if m["id"] not in states:
            return m.group(0)
        mark = "x" if states[m["id"]] else " "
        return m.group(0).replace(f"[{m['mark']}]", f"[{mark}]", 1)
    return ITEM.sub(one, body)


@dataclass(frozen=True)
class Tick:
    checked: bool
    by: str
    author: bool  # the sender was the PR's author


@dataclass
class State:
    items: dict[str, Tick]
    log: list[list]  # [item id, "tick" | "untick", login, by author]
    # the ids of the items reviewbot published: the gate requires every one of them, so a
    # comment whose boxes were cut, edited out or trimmed away cannot pass
    published: list[str] = field(default_factory=list)
    # what reviewbot verified itself when it published: line id -> true
    verified: dict[str, bool] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"items": {k: [t.checked, t.by, t.author] for k, t in sorted(self.items.items())},
                "log": self.log[-MAX_LOG:], "published": list(self.published),
                "verified": dict(sorted(self.verified.items()))}

    @classmethod
    def from_json(cls, data: dict) -> State:
        items = {str(k): Tick(bool(v[0]), str(v[1]), bool(v[2]))
                 for k, v in (data.get("items") or {}).items()}
        return cls(items, [list(e) for e in data.get("log") or []][-MAX_LOG:],
                   [str(i) for i in data.get("published") or []],
                   {str(k): bool(v) for k, v in (data.get("verified") or {}).items()})


def _sign(key: bytes, scope: str, body: str, payload: str) -> str:
    text = "\0".join((scope, hashlib.sha256(skeleton(body).encode()).hexdigest(), payload))
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def read_state(body: str, key: bytes, scope: str) -> State | None:
    """The verified ticks of a comment body; None when absent or not genuine."""
    m = BLOCK.search(body or "")
    if m is None:
        return None
    if not hmac.compare_digest(m["sig"], _sign(key, scope, body, m["json"])):
        return None
    try:
        return State.from_json(json.loads(m["json"]))
    except (ValueError, TypeError, IndexError, AttributeError):
        return None


def write_state(body: str, state: State, key: bytes, scope: str) -> str:
    """The body with its ticks block (re)written, right after the last checklist line
    (at the end when there is no checklist). Only ticks of items present are kept."""
    present = boxes(body)
    state = State({k: v for k, v in state.items.items() if k in present}, state.log,
                  state.published, state.verified)
    body = BLOCK.sub("\n", body).rstrip("\n") + "\n"
    payload = json.dumps(state.to_json(), separators=(",", ":"), sort_keys=True)
    payload = payload.replace("-->", "--\\u003e")
    block = f"<!-- reviewbot:ticks {payload} {_sign(key, scope, body, payload)} -->"
    found = list(ITEM.finditer(body))
    if not found:
        return body + block + "\n"
    end = found[-1].end()
    return body[:end] + "\n" + block + body[end:]


def apply(state: State, changes, sender: str, by_author: bool) -> State:
    items = dict(state.items)
    log = list(state.log)
    for item, checked in changes:
        items[str(item)] = Tick(bool(checked), sender, by_author)
        log.append([str(item), "tick" if checked else "untick", sender, by_author])
    return State(items, log[-MAX_LOG:], state.published, state.verified)


def carry(old_body: str | None, new_body: str, key: bytes, scope: str) -> str:
    """A freshly rendered body with the ticks of the existing comment kept for every item
    that is still there (same text); items that changed start unticked."""
    state = read_state(old_body or "", key, scope) if old_body else None
    state = state or State({}, [])
    old = boxes(old_body or "")
    keep = {i: True for i, v in old.items() if v and i in boxes(new_body)}
    # what the bot publishes now: the boxes, and what it verified itself
    state = State(state.items, state.log, list(boxes(new_body)), verified(new_body))
    return write_state(set_boxes(new_body, keep), state, key, scope)


@dataclass(frozen=True)
class Gate:
    conclusion: str
    title: str
    summary: str


def gate(body: str | None, state: State | None, author: str, *,
         expected: bool = False) -> Gate:
    """`success` when every box is ticked, each by someone other than the PR's author.
    `expected`: the report has a checklist, so a missing comment (deleted) fails."""
    if body is None and expected:
        return Gate("failure", "The reviewer checklist comment is missing",
                    "This change has a reviewer checklist, but reviewbot's sticky comment "
                    "is gone (deleted). reviewbot posts it again, with every box unticked; "
                    "press **Re-run** on the import check or comment `@reviewbot recheck` "
                    "if it has not.")
    if body is None:
        return Gate("success", "No reviewer checklist for this change",
                    "reviewbot posted no checklist on this pull request.")
    current = boxes(body)
    if state is None and BLOCK.search(body):  # the bot's record, no longer genuine
        return Gate("failure", "The checklist was altered",
                    "The sticky comment was edited outside its boxes, so reviewbot cannot "
                    "trust it; its next run restores the checklist, with the ticks it saw.")
    missing = [i for i in (state.published if state else ()) if i not in current]
    if missing:
        return Gate("failure", f"{len(missing)} checklist item{'s' * (len(missing) != 1)} "
                               "missing from the comment",
                    "Items reviewbot published are no longer in the sticky comment (edited "
                    "out or cut); its next run restores them. Every item must be ticked by "
                    "someone other than the author.")
    state = state or State({}, [], verified=verified(body))
    if not current and not state.verified:
        return Gate("success", "No reviewer checklist for this change",
                    "This change touches no shared module and has no import error, so the "
                    "sticky comment has no checklist.")
    names = texts(body)
    rows = ["| Item | Ticked | By |", "|---|---|---|"]
    done = 0
    shown = {m["id"]: m["text"] for m in VERIFIED.finditer(body)}
    for i, ok in state.verified.items():
        mark = "✅ verified" if ok else "❌ not verified"
        line = shown.get(i, i).replace("|", "\\|")
        rows.append(f"| {line} | {mark} | reviewbot |")
        done += ok
    for i, checked in current.items():
        tick = state.items.get(i)
        if not checked:
            mark, by = "⬜ no", "—"
        elif tick is None or not tick.checked:
            mark, by = "⚠️ not counted", "unknown (the tick was not seen by reviewbot)"
        elif tick.author:
            mark, by = "⚠️ not counted", f"@{tick.by} (the author)"
        else:
            mark, by = "✅ yes", f"@{tick.by}"
            done += 1
        text = names[i].replace("|", "\\|")
        rows.append(f"| {text} | {mark} | {by} |")
    total = len(current) + len(state.verified)
    ok = done == total
    title = (f"All {total} checklist items done" if ok else
             f"{done} of {total} checklist items done (verified by reviewbot or ticked by a "
             f"reviewer other than the author)")
    intro = (f"Every box of reviewbot's checklist must be ticked by someone other than the "
             f"pull request's author (@{author}); ticks by the author do not count. What "
             f"reviewbot verifies itself counts when it holds.")
    history = [f"- @{e[2]} {e[1]}ed “{names.get(e[0], e[0])}”"
               f"{' (author: not counted)' if e[3] else ''}" for e in state.log[-10:]]
    summary = "\n".join([intro, "", *rows, *(["", "**Latest changes**", "", *history]
                                             if history else [])])
    return Gate("success" if ok else "failure", title, summary)
