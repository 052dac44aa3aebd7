"""Reports as text for a terminal, Markdown for the PR comment, and JSON for machines.

The JSON form is a documented contract (docs/check.md); the Markdown form is the
body of the sticky PR comment, hidden marker included.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping

from reviewbot.checklist import item_line, verified_line
from reviewbot.markdown import code, text
from reviewbot.model import Finding, Report

COMMENT_MARKER = "<!-- reviewbot:import-check -->"


def to_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2)


def verdict(report: Report) -> str:
    if report.nothing_checked:
        return report.nothing_checked
    affected = report.affected
    n_err = len(report.errors)
    broken = len({f.handler for f in report.errors})
    if n_err:
        return (f"{n_err} import error{'s' * (n_err != 1)} in {broken} Lambda "
                f"handler{'s' * (broken != 1)}: {_when(report.errors)}")
    checked = sum(1 for h in report.handlers if h.checked)
    if not affected:
        if checked:
            return f"All {checked} Lambda handlers import cleanly"
        return "No Lambda handler is affected by this change"
    return (f"{len(affected)} affected Lambda handler{'s' * (len(affected) != 1)} import "
            f"cleanly")


def _when(errors) -> str:
    """When the errors strike: at cold start, or when a function runs (still errors:
    every call of it would fail), counted apart."""
    cold = sum(1 for f in errors if not f.when_called)
    called = Counter(f.when_called for f in errors if f.when_called)
    if not called:
        return "this change would fail at cold start"
    runs = [f"{n} when `{name}()` runs" for name, n in sorted(called.items())]
    if not cold:
        return f"{', '.join(runs)} (every call would fail; cold start is fine)"
    return f"{cold} fail at cold start, {', '.join(runs)}"


def _chain(chain: tuple[str, ...]) -> str:
    return " → ".join(chain) if chain else "(its definition or requirements changed)"


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(code(n, cell=True) for n in names) if names else "—"


def _chain_md(chain: tuple[str, ...]) -> str:
    return text(_chain(chain), cell=True)


MAX_ROWS = 10  # affected handlers shown open; a longer table is collapsed
_UNABLE = re.compile(r"^Unable to import module '[^']*': ")


def to_markdown(report: Report, *, details_url: str | None = None,
                limit: int = 65_000, owners: Mapping[str, tuple[str, ...]] | None = None,
                heading: bool = True) -> str:
    """The sticky comment, read top-down: the verdict (counts, head, the check run), the
    errors grouped by cause, the changed shared modules, the affected handlers with their
    status, then the checklist. `owners` (handler name -> CODEOWNERS owners) adds an
    Owners column. Over `limit`, the long sections are cut first, each replaced by a line
    that says where it is in full; the verdict, every error group and the whole checklist
    stay."""
    icon = {"failure": "❌", "neutral": "⚠️"}.get(report.conclusion, "✅")
    run = f"[the check run]({details_url})" if details_url else "the check run"
    head = [COMMENT_MARKER, f"### {icon} reviewbot: {verdict(report)}", ""] if heading else []
    if report.head and heading:
        head += [f"Head {code(report.head[:12])}" + (f" · details in {run}" if details_url
                                                      else ""), ""]
    if report.config is not None and heading:
        head += [text(report.config.summary().replace("config: ", "Configuration: ", 1)), ""]
    if report.nothing_checked:
        head += [*settle_markdown(report), ""]
    sections = [  # (name, lines, what replaces it when the comment is too long)
        ("errors", _error_groups(report), None),
        ("shared", _shared_table(report), f"*Changed shared modules: in {run}.*"),
        ("affected", _affected_table(report, owners),
         f"*{len(report.affected)} affected handlers: listed in {run}.*"),
        ("warnings", _collapsed(f"{len(report.warnings)} warning"
                                f"{'s' * (len(report.warnings) != 1)}",
                                [_finding_md(f, "⚠️") for f in report.warnings]),
         f"*{len(report.warnings)} warnings: in {run}.*"),
        ("unresolved", _collapsed(
            f"{len(report.unresolved)} function{'s' * (len(report.unresolved) != 1)} "
            "not analysed", [f"- {text(u.name)} ({code(f'{u.source}:{u.line}')}): "
                             f"{text(u.reason)}" for u in report.unresolved]),
         f"*{len(report.unresolved)} functions not analysed: in {run}.*"),
    ]
    tail = _checklist(report) if has_checklist(report) else []

    def compose() -> str:
        body = [*head, *(line for _, lines, _ in sections for line in lines), *tail]
        return "\n".join(body).rstrip() + "\n"

    body = compose()
    for i in (4, 3, 2, 1):  # the longest, least urgent first
        if len(body) <= limit:
            break
        name, lines, note = sections[i]
        if lines and note:
            sections[i] = (name, [f"… trimmed: {note}", ""], None)
            body = compose()
    if len(body) > limit:  # the error groups alone are too long: keep their first lines
        keep = limit - len("\n".join([*head, *tail])) - 200
        cut = "\n".join(sections[0][1])[:max(keep, 0)].rsplit("\n", 1)[0]
        body = "\n".join([*head, cut, "", f"… trimmed: the other errors are in {run}.", "",
                          *tail]).rstrip() + "\n"
    return body


def has_checklist(report: Report) -> bool:
    """The comment carries the reviewer checklist: a shared module changed or an import
    broke (and the config's checklist is not empty)."""
    return bool(report.checklist and (report.shared_modules or report.errors))


def cause(f: Finding) -> tuple[str, str]:
    """What breaks, whichever handler's cold start reaches it and wherever it is imported:
    the kind and Lambda's message without its handler-module prefix."""
    return f.kind, _UNABLE.sub("", f.message)


def _checklist(report: Report) -> list[str]:
    """What reviewbot verified itself, checked (or not) with why, then the boxes people
    tick."""
    n = len(report.affected)
    handlers = f"{n} affected handler{'s' * (n != 1)}"
    causes = len({cause(f) for f in report.errors})
    why = (f"reviewbot found {causes} broken import{'s' * (causes != 1)} (above); this is "
           f"checked once the import check is green" if causes else
           f"verified by reviewbot: the import check resolved them for the {handlers} as "
           f"their Lambda runtime would")
    if report.unresolved and not causes:
        why += f" ({len(report.unresolved)} functions not analysed)"
    item = ("Every import of the affected handlers resolves, each name they import from a "
            f"changed shared package included: {why}")
    return ["**Reviewer checklist**", "", verified_line("import-check", item, not causes),
            *(item_line(i) for i in report.checklist), ""]


def _error_groups(report: Report) -> list[str]:
    """One entry per distinct broken import (its cause), at its one statement or counted
    over the statements that make it, with the handlers it breaks: named when one,
    counted and collapsed when more."""
    if not report.errors:
        return []
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in report.errors:
        groups.setdefault(cause(f), []).append(f)
    n = len(groups)
    lines = [f"**{n} broken import{'s' * (n != 1)}**", ""]
    for found in groups.values():
        names = list(dict.fromkeys(f.handler for f in found))
        places: dict[tuple[str, int], list[str]] = {}
        for f in found:
            places.setdefault((f.path, f.line), []).append(f.handler)
        # Lambda's own words, as the first handler's cold start prints them
        message = text(found[0].message)
        if len(places) == 1:
            path, line = next(iter(places))
            lines.append(f"- ❌ {code(f'{path}:{line}')}: {message}")
            if len(names) == 1:  # a hard line break (a backslash at the end), then the name
                lines[-1] += "\\"
                lines.append(f"  breaks {text(names[0])}")
                continue
            listed = [f"  - {text(name)}" for name in names]
            where = ""
        else:
            lines.append(f"- ❌ {message}")
            listed = [f"  - {code(f'{path}:{line}')}: {text(', '.join(dict.fromkeys(hs)))}"
                      for (path, line), hs in places.items()]
            where = f", imported at {len(places)} places"
        lines += [f"  <details><summary>breaks {len(names)} handlers{where}</summary>", "",
                  *listed, "", "  </details>"]
    return [*lines, ""]


def _shared_table(report: Report) -> list[str]:
    if not report.shared_modules:
        return []
    lines = ["**Changed shared modules**", "",
             "| Module | Loaded by | Names removed | Names added |", "|---|---|---|---|"]
    for s in report.shared_modules:
        users = f"{len(s.handlers)} handler{'s' * (len(s.handlers) != 1)}" \
            if len(s.handlers) > MAX_ROWS else text(", ".join(s.handlers), cell=True) or "—"
        status = "" if s.status == "modified" else f" ({s.status})"
        if s.syntax_error:  # not every name "removed": the file does not parse
            names = text(f"does not parse: {s.syntax_error}", cell=True)
            lines.append(f"| {code(s.path, cell=True)}{status} | {users} | {names} | — |")
            continue
        lines.append(f"| {code(s.path, cell=True)}{status} | {users} | "
                     f"{_names(s.removed_names)} | {_names(s.added_names)} |")
    return [*lines, ""]


def _affected_table(report: Report, owners: Mapping[str, tuple[str, ...]] | None) -> list[str]:
    affected = report.affected
    if not affected:
        return []
    broken = {f.handler for f in report.errors}
    doubtful = {f.handler for f in report.warnings}
    cols = " Owners |" if owners is not None else ""
    rows = [f"| Status | Handler | Entry point | Runtime | Import chain |{cols}",
            "|---|---|---|---|---|" + ("---|" if owners is not None else "")]
    for st in sorted(affected, key=lambda st: (st.handler.name not in broken,
                                               st.handler.name not in doubtful)):
        h = st.handler
        mark = "❌" if h.name in broken else ("⚠️" if h.name in doubtful else "✅")
        who = ""
        if owners is not None:
            who = f" {text(', '.join(owners.get(h.name, ())), cell=True) or '—'} |"
        rows.append(f"| {mark} | {text(h.name, cell=True)} | {code(h.handler, cell=True)} in "
                    f"{code(h.root, cell=True)} | {st.runtime_label} | "
                    f"{_chain_md(st.chain)} |{who}")
    title = f"**Affected handlers** ({len(affected)})"
    if len(affected) <= MAX_ROWS:
        return [title, "", *rows, ""]
    return [title, "", *_collapsed(f"{len(affected)} affected handlers", rows)]


def _collapsed(summary: str, lines: list[str]) -> list[str]:
    if not lines:
        return []
    return [f"<details><summary>{summary}</summary>", "", *lines, "", "</details>", ""]


MAX_SETTLE = 20  # entries whose configuration is shown; the rest are counted


def _plain(value: str, **_) -> str:
    return value


def settle_markdown(report: Report, *, markdown: bool = True) -> list[str]:
    """When nothing could be checked: what was not read, and the configuration that would
    settle each entry (for the terminal too, `markdown=False`: nothing escaped)."""
    t = text if markdown else _plain
    c = code if markdown else (lambda value: f"`{value}`")
    lines = []
    if report.unloaded:
        lines += ["Changed Python files that no handler found loads: "
                  + ", ".join(c(p) for p in report.unloaded[:MAX_SETTLE])
                  + (" …" if len(report.unloaded) > MAX_SETTLE else ""), ""]
    shown = report.unsettled[:MAX_SETTLE]
    if not shown:
        return [*lines, "No SAM, CloudFormation, Serverless, Terraform or CDK file here "
                        "defines a Python function. List the handlers in "
                        "`.github/reviewbot.yml` (`handlers:`, docs/configuration.md) to have "
                        "them checked."]
    lines += [f"- {t(u.name)} ({c(f'{u.source}:{u.line}')}): {t(u.reason)}" for u in shown]
    if len(report.unsettled) > MAX_SETTLE:
        lines.append(f"- … and {len(report.unsettled) - MAX_SETTLE} more")
    lines += ["", "To settle them, list them in `.github/reviewbot.yml` on the base branch:",
              "", "```yaml", "handlers:"]
    lines += [line for u in shown for line in u.settled_by.splitlines()[1:]]
    return [*lines, "```"]


def _finding_md(f: Finding, icon: str) -> str:
    return (f"- {icon} {code(f'{f.path}:{f.line}')} ({text(f.handler)}, {f.kind}): "
            f"{text(f.message)}")


_COLORS = {"red": "\033[31m", "green": "\033[32m", "yellow": "\033[33m", "bold": "\033[1m",
           "dim": "\033[2m", "off": "\033[0m"}


def _handler_lines(report: Report, c: Callable[[str, str], str]) -> list[str]:
    """One line per handler: affected (with its chain) or not, and for every checked one
    what the check found. Checked handlers that are neither affected nor broken are
    counted, not listed: with `--all` they are most of the repository."""
    errors = Counter(f.handler for f in report.errors)
    warnings = Counter(f.handler for f in report.warnings)
    rows, quiet = [], 0
    for st in report.handlers:
        h = st.handler
        found = []
        if errors[h.name]:
            found.append(c("red", f"{errors[h.name]} error" + "s" * (errors[h.name] > 1)))
        if warnings[h.name]:
            found.append(c("yellow", f"{warnings[h.name]} warning"
                                     + "s" * (warnings[h.name] > 1)))
        if st.checked and not st.affected and not found:
            quiet += 1
            continue
        mark = c("yellow", "affected") if st.affected else c("dim", "not affected")
        if st.checked:
            mark = ", ".join(found) or c("green", "ok")
            mark = f"{c('yellow', 'affected')}: {mark}" if st.affected else mark
        chain = f"  via {_chain(st.chain)}" if st.affected else ""
        rows.append((h.name, h.handler, st.runtime_label, f"{mark}{chain}"))
    lines = [f"  {line}" for line in columns(rows)]
    if quiet:
        noun = "handler" if quiet == 1 else "handlers"
        other = "other " if lines else ""
        lines.append(c("dim", f"  {quiet} {other}{noun} checked: no import error"))
    return lines


def columns(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of cells, each column as wide as its longest cell (the last one as it is)."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [" ".join([*(cell.ljust(w) for cell, w in zip(r, widths, strict=False)), r[-1]])
            for r in rows]


def to_text(report: Report, *, color: bool = False) -> str:
    def c(name: str, text: str) -> str:
        return f"{_COLORS[name]}{text}{_COLORS['off']}" if color else text

    out = []
    head = {"failure": c("red", "FAIL"), "neutral": c("yellow", "NOTHING CHECKED")}.get(
        report.conclusion, c("green", "OK"))
    out.append(f"{head} {verdict(report)}")
    if report.base or report.head:
        out.append(c("dim", f"base {report.base[:12]}  head {report.head[:12]}"))
    if report.config is not None:
        out.append(c("dim" if report.config.head == "same" else "yellow",
                     report.config.summary()))
    if report.shared_modules:
        out.append("")
        out.append(c("bold", "Changed shared modules"))
        for s in report.shared_modules:
            out.append(f"  {s.path}  (loaded by {', '.join(s.handlers) or 'no handler'})")
            if s.syntax_error:
                out.append(f"    does not parse: {s.syntax_error}")
            if s.removed_names:
                out.append(f"    removed: {', '.join(s.removed_names)}")
            if s.added_names:
                out.append(f"    added:   {', '.join(s.added_names)}")
    out.append("")
    out.append(c("bold", "Handlers"))
    out.extend(_handler_lines(report, c) or [c("dim", "  none found")])
    for heading, group in (("Errors at cold start", [f for f in report.errors
                                                     if not f.when_called]),
                           ("Errors when a function runs", [f for f in report.errors
                                                            if f.when_called])):
        if group:
            out.append("")
            out.append(c("bold", heading if len(group) < len(report.errors) or
                         group[0].when_called else "Errors"))
            for f in group:
                out.append(f"  {c('red', f'{f.path}:{f.line}')}: [{f.handler}] {f.message}")
    if report.warnings:
        out.append("")
        out.append(c("bold", "Warnings"))
        for f in report.warnings:
            out.append(f"  {c('yellow', f'{f.path}:{f.line}')}: [{f.handler}] {f.kind}: "
                       f"{f.message}")
    if report.unresolved:
        out.append("")
        out.append(c("bold", "Not analysed"))
        for u in report.unresolved:
            out.append(f"  {u.source}:{u.line}: {u.name}: {u.reason}")
    if report.nothing_checked:
        out += ["", c("bold", "Nothing checked"),
                *(f"  {line}" for line in settle_markdown(report, markdown=False))]
    for note in report.notes:
        out.append(c("dim", f"note: {note}"))
    return "\n".join(out) + "\n"


def _command_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _command_property(value: str) -> str:
    return _command_data(value).replace(":", "%3A").replace(",", "%2C")


def to_github(report: Report) -> str:
    """GitHub Actions workflow commands: an `::error` per broken import and a `::warning`
    per doubtful one, at its file and line (Actions shows them on the diff), and a
    `::warning` when nothing could be checked. Values escaped as the runner requires."""
    lines = []
    for level, findings in (("error", report.errors), ("warning", report.warnings)):
        for f in findings:
            title = _command_property(f"reviewbot {f.kind} ({f.handler})")
            lines.append(f"::{level} file={_command_property(f.path)},line={f.line},"
                         f"title={title}::{_command_data(f.message)}")
    if report.nothing_checked:
        lines.append(f"::warning title=reviewbot::{_command_data(report.nothing_checked)}")
    return "".join(f"{line}\n" for line in lines)
