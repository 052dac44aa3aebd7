"""The comment and the check run as GitHub renders them (cmark-gfm, GitHub's renderer):
text from code and messages stays literal, tables keep their columns."""

from __future__ import annotations

import re

import pytest

from reviewbot.app.job import checks
from reviewbot.markdown import code, text
from reviewbot.model import Finding, Handler, HandlerStatus, Report, SharedModuleChange
from reviewbot.render import to_markdown

cmarkgfm = pytest.importorskip("cmarkgfm")  # in the test extra; skips only outside it

INCIDENT = ("Unable to import module 'main': cannot import name 'GoalValidationError' from "
            "'goals_common' (backend/src/goals_common/__init__.py)")
ODD = "auth|v2 *beta* __x__ <b>[y](z)</b> `t`"


def html(markdown: str) -> str:
    from cmarkgfm.cmark import Options

    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


def plain(fragment: str) -> str:
    """The text a reader sees: tags dropped, entities decoded."""
    import html as html_lib

    return html_lib.unescape(re.sub(r"<[^>]+>", "", fragment))


def report() -> Report:
    handlers = [Handler(name, "main.handler", f"backend/handlers/{i}")
                for i, name in enumerate(["auth", ODD, "create_goal"])]
    return Report(
        handlers=tuple(HandlerStatus(h, True, ("main", "goals_common"), True) for h in handlers),
        errors=(Finding("auth", "backend/handlers/auth/main.py", 3, "missing-name", INCIDENT),
                Finding(ODD, "backend/handlers/1/main.py", 1, "missing-module",
                        "No module named 'a_b_c' *and* |pipes|")),
        shared_modules=(SharedModuleChange("backend/src/goals_common/__init__.py",
                                           ("auth", ODD), ("__all__", "Goal_Error"), ()),),
        base="b" * 40, head="h" * 40)


@pytest.mark.parametrize("render", [lambda r: to_markdown(r), lambda r: checks.details(r)])
def test_paths_names_and_messages_render_literally(render):
    out = html(render(report()))
    assert not re.search(r"<(strong|em)>(init|x|beta|and)</\1>", out)
    shown = plain(out)
    assert "<b>" not in out  # raw HTML from a name is shown, not rendered
    if "Import check" in shown or "GoalValidationError" in shown:
        assert INCIDENT in shown
    assert ODD in shown


@pytest.mark.parametrize("render", [lambda r: to_markdown(r), lambda r: checks.details(r)])
def test_a_name_with_pipes_stays_in_its_own_cell(render):
    """GFM drops the cells a row has beyond its header, so a `|` in a name would shift the
    rest of the row and lose its end: the name must be one whole cell."""
    out = html(render(report()))
    tables = re.findall(r"<table>.*?</table>", out, re.S)
    assert tables
    cells = [plain(c) for t in tables for c in re.findall(r"<td>(.*?)</td>", t, re.S)]
    assert ODD in cells or any(c.startswith(ODD + " ") for c in cells), cells
    for table in tables:
        columns = len(re.findall(r"<th[ >]", table))
        for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]:
            assert len(re.findall(r"<td[ >]", row)) == columns, row


@pytest.mark.parametrize("value", ["__init__.py", "a|b", "`x`", "x\\y", "*a* _b_ ~c~",
                                   "<script>", "[l](u)", "&copy;", "line\nbreak"])
def test_text_and_code_show_the_value_as_it_is(value):
    assert plain(html(text(value))).strip() == value
    flat = value.replace("\n", " ")
    assert plain(html(code(value))).strip() == value.replace("\n", " ")
    cell = html(f"| h |\n|---|\n| {code(value, cell=True)} | \n")
    assert plain(re.search(r"<td>(.*?)</td>", cell, re.S).group(1)) == flat


def big(n: int) -> Report:
    """A PR that reaches n handlers through one shared module; a third of them break on
    the same import, one more on its own."""
    handlers = [Handler(f"svc_{i:03d}_handler", f"m{i}.handler", f"services/svc_{i:03d}")
                for i in range(n)]
    broken = handlers[: max(1, n // 3)]
    errors = tuple(Finding(h.name, "libs/goals_common/__init__.py", 3, "missing-name",
                           INCIDENT.replace("'main'", f"'{h.module}'")) for h in broken)
    errors += (Finding(handlers[-1].name, f"{handlers[-1].root}/m.py", 1, "missing-module",
                       "Unable to import module 'main': No module named 'gone'"),)
    chain = ("main", "goals_common.models", "goals_common")
    return Report(
        handlers=tuple(HandlerStatus(h, True, chain, True) for h in handlers),
        errors=errors,
        shared_modules=(SharedModuleChange("libs/goals_common/__init__.py",
                                           tuple(h.name for h in handlers), ("X",), ()),),
        checklist=("Names removed from a shared package are exported again",
                   "Deployed to staging first"),
        base="b" * 40, head="h" * 40)


@pytest.mark.parametrize("n", [1, 50, 150, 600])
def test_the_comment_reads_top_down_within_github_s_limits_at_any_size(n):
    body = to_markdown(big(n), details_url="https://github.com/o/r/commit/h/checks",
                       limit=65_536 - 200)
    assert len(body) <= 65_536
    out = html(body)
    shown = plain(out)
    # the first error near the top, once per cause, with the handlers it breaks counted
    assert body.index("❌ `libs/goals_common/__init__.py:3`") < 2_500
    assert body.count("libs/goals_common/__init__.py:3`") == 1
    if n >= 3:
        assert f"breaks {max(1, n // 3)} handlers" in shown
    # the whole checklist, whatever was cut
    assert "Names removed from a shared package are exported again" in shown
    assert "Deployed to staging first" in shown
    assert "Head hhhhhhhhhhhh" in shown
    if n > 10:  # long lists collapsed
        assert "<summary>" + f"{n} affected handlers" in out or "trimmed" in shown


def test_the_check_summary_is_the_verdict_and_the_counts():
    out = plain(html(checks.summary(big(150))))
    assert out.splitlines()[:2] == [
        "51 import errors in 51 Lambda handlers: this change would fail at cold start",
        "150 affected handlers checked · 51 broken · 2 broken imports (one annotation at "
        "each failing line) · 1 shared module changed"]
    assert "svc_" not in out


def test_check_output_stays_within_github_s_limit_at_600_handlers():
    for part in (checks.summary(big(600)), checks.details(big(600))):
        assert len(part) <= 65_535


def test_the_check_run_shows_the_checklist_as_text_not_as_boxes():
    out = checks.details(big(3))
    assert "- [ ]" not in out and "<!-- item:" not in out
    assert "- ☐ Names removed from a shared package are exported again" in out


def test_the_check_run_text_reads_errors_modules_handlers_then_the_graph():
    out = checks.details(big(150))
    assert out.index("broken imports") < out.index("Changed shared modules") \
        < out.index("Affected handlers") < out.index("```mermaid")
    graph = out.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert '(["❌ 51 handlers: svc\\_000' not in graph  # code, not Markdown: not escaped
    assert '(["❌ 51 handlers: svc_000_handler' in graph
    assert 'subgraph legend["Legend"]' in graph


def test_one_cause_imported_in_many_handlers_is_one_entry():
    """50 handlers that each import the name a shared package stopped exporting: one
    broken import, its places and handlers collapsed, the first near the top."""
    handlers = [Handler(f"svc_{i:03d}", "app.handler", f"services/svc_{i:03d}")
                for i in range(150)]
    errors = tuple(Finding(h.name, f"{h.root}/app.py", 1, "missing-name", INCIDENT.replace(
        "'main'", "'app'")) for h in handlers[:50])
    report = Report(handlers=tuple(HandlerStatus(h, True, ("app", "goals_common"), True)
                                   for h in handlers), errors=errors,
                    base="b" * 40, head="h" * 40)
    body = to_markdown(report)
    shown = plain(html(body))
    assert "**1 broken import**" in body and shown.count("GoalValidationError") == 1
    assert "breaks 50 handlers, imported at 50 places" in shown
    assert "services/svc_049/app.py:1: svc_049" in shown
    assert body.index("❌ Unable to import module 'app'") < 2_500
    assert "1 broken import (one annotation" in plain(html(checks.summary(report)))
