"""Reports as text for a terminal, Markdown for the PR comment, and JSON for machines.

The JSON form is a documented contract (docs/check.md); the Markdown form is the
body of the sticky PR comment, hidden marker included.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping

from reviewbot.checklist import item_line
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
                f"handler{'s' * (broken != 1)}: this change would fail at cold start")
    checked = sum(1 for h in report.handlers if h.checked)
    if not affected:
        if checked:
            return f"All {checked} Lambda handlers import cleanly"
        return "No Lambda handler is affected by this change"
    return (f"{len(affected)} affected Lambda handler{'s' * (len(affected) != 1)} import "
            f"cleanly")


def _chain(chain: tuple[str, ...]) -> str:
    return " → ".join(chain) if chain else "(its definition or requirements changed)"


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(code(n, cell=True) for n in names) if names else "—"


def _chain_md(chain: tuple[str, ...]) -> str:
    return text(_chain(chain), cell=True)


def to_markdown(report: Report, *, details_url: str | None = None,
                limit: int = 65_000, owners: Mapping[str, tuple[str, ...]] | None = None) -> str:
    """The sticky comment. `owners` (handler name -> CODEOWNERS owners) adds an Owners
    column to the affected handlers."""
    icon = {"failure": "❌", "neutral": "⚠️"}.get(report.conclusion, "✅")
    lines = [COMMENT_MARKER, f"### {icon} reviewbot: {verdict(report)}", ""]
    if report.nothing_checked:
        lines += [*settle_markdown(report), ""]
    if report.shared_modules:
        lines += ["**Changed shared modules**", "",
                  "| Module | Loaded by | Names removed | Names added |", "|---|---|---|---|"]
        for s in report.shared_modules:
            users = text(", ".join(s.handlers), cell=True) or "—"
            status = "" if s.status == "modified" else f" ({s.status})"
            lines.append(f"| {code(s.path, cell=True)}{status} | {users} | "
                         f"{_names(s.removed_names)} | {_names(s.added_names)} |")
        lines.append("")
    affected = report.affected
    if affected:
        cols = " Owners |" if owners is not None else ""
        lines += ["**Affected handlers**", "",
                  f"| Handler | Entry point | Runtime | Import chain |{cols}",
                  "|---|---|---|---|" + ("---|" if owners is not None else "")]
        for st in affected:
            h = st.handler
            who = ""
            if owners is not None:
                who = f" {text(', '.join(owners.get(h.name, ())), cell=True) or '—'} |"
            lines.append(f"| {text(h.name, cell=True)} | {code(h.handler, cell=True)} in "
                         f"{code(h.root, cell=True)} | {st.runtime_label} | "
                         f"{_chain_md(st.chain)} |{who}")
        lines.append("")
    if report.errors:
        lines += ["**Import check**", ""]
        lines += [_finding_md(f, "❌") for f in report.errors]
        lines.append("")
    if report.warnings:
        lines += [f"<details><summary>{len(report.warnings)} warning"
                  f"{'s' * (len(report.warnings) != 1)}</summary>", ""]
        lines += [_finding_md(f, "⚠️") for f in report.warnings]
        lines += ["", "</details>", ""]
    if report.unresolved:
        lines += [f"<details><summary>{len(report.unresolved)} function"
                  f"{'s' * (len(report.unresolved) != 1)} not analysed</summary>", ""]
        lines += [f"- {text(u.name)} ({code(f'{u.source}:{u.line}')}): {text(u.reason)}"
                  for u in report.unresolved]
        lines += ["", "</details>", ""]
    if report.checklist and (report.shared_modules or report.errors):
        lines += ["**Reviewer checklist**", ""]
        lines += [item_line(item) for item in report.checklist]
        lines.append("")
    body = "\n".join(lines).rstrip() + "\n"
    if len(body) > limit:
        more = f"[the check run]({details_url})" if details_url else "the check run"
        cut = body[: limit - 200].rsplit("\n", 1)[0]
        body = f"{cut}\n\n… trimmed: the full report is in {more}.\n"
    return body


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
    lines, quiet = [], 0
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
        lines.append(f"  {h.name:<24} {h.handler:<28} {st.runtime_label:<20} {mark}{chain}")
    if quiet:
        noun = "handler" if quiet == 1 else "handlers"
        other = "other " if lines else ""
        lines.append(c("dim", f"  {quiet} {other}{noun} checked: no import error"))
    return lines


def to_text(report: Report, *, color: bool = False) -> str:
    def c(name: str, text: str) -> str:
        return f"{_COLORS[name]}{text}{_COLORS['off']}" if color else text

    out = []
    head = {"failure": c("red", "FAIL"), "neutral": c("yellow", "NOTHING CHECKED")}.get(
        report.conclusion, c("green", "OK"))
    out.append(f"{head} {verdict(report)}")
    if report.base or report.head:
        out.append(c("dim", f"base {report.base[:12]}  head {report.head[:12]}"))
    if report.shared_modules:
        out.append("")
        out.append(c("bold", "Changed shared modules"))
        for s in report.shared_modules:
            out.append(f"  {s.path}  (loaded by {', '.join(s.handlers) or 'no handler'})")
            if s.removed_names:
                out.append(f"    removed: {', '.join(s.removed_names)}")
            if s.added_names:
                out.append(f"    added:   {', '.join(s.added_names)}")
    out.append("")
    out.append(c("bold", "Handlers"))
    out.extend(_handler_lines(report, c) or [c("dim", "  none found")])
    if report.errors:
        out.append("")
        out.append(c("bold", "Errors"))
        for f in report.errors:
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
