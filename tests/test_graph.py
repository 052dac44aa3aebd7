"""`reviewbot graph`: handlers and the shared modules they load, with diff highlights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reviewbot.cli import main
from reviewbot.config import Config
from reviewbot.demo import write_incident_repo
from reviewbot.graph import (
    MAX_NODES,
    Graph,
    Node,
    collapse,
    graph_from_closures,
    render,
    to_mermaid,
    top_level,
)
from reviewbot.model import Handler

INCIDENT_MERMAID = """\
flowchart LR
  h_auth(["❌ auth"])
  h_create_goal(["create_goal"])
  h_health(["health"])
  h_list_goals(["list_goals"])
  m_goals_common["goals_common"]
  h_auth --> m_goals_common
  h_create_goal --> m_goals_common
  h_list_goals --> m_goals_common
  subgraph legend["Legend"]
    legend_handler(["handler"]):::handler
    legend_module["shared module"]:::module
    legend_changed["changed by this PR"]:::changed
    legend_affected(["affected handler"]):::affected
    legend_failing(["❌ import fails"]):::failing
  end
  classDef handler fill:#ddf4ff,stroke:#0969da
  classDef module fill:#f6f8fa,stroke:#57606a
  classDef changed fill:#fff8c5,stroke:#9a6700,stroke-width:3px
  classDef affected fill:#fff1e5,stroke:#bc4c00,stroke-width:3px
  classDef failing fill:#ffebe9,stroke:#cf222e,stroke-width:4px
  class h_auth,h_create_goal,h_health,h_list_goals handler
  class m_goals_common module
  class h_auth,m_goals_common changed
  class h_auth,h_create_goal,h_list_goals affected
  class h_auth failing
"""


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def incident(tmp_path):
    repo = tmp_path / "goals"
    return repo, write_incident_repo(repo)


def test_incident_mermaid_with_diff_is_exact(incident, capsys):
    repo, commits = incident
    code, out, _ = run(capsys, "graph", "--repo", str(repo), "--base", "main",
                       "--head", commits["pr"])
    assert code == 0
    assert out == INCIDENT_MERMAID


def test_incident_json_without_diff(incident, capsys):
    repo, _ = incident
    code, out, _ = run(capsys, "graph", "--repo", str(repo), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [n["id"] for n in data["nodes"]] == [
        "handler:auth", "handler:create_goal", "handler:health", "handler:list_goals",
        "module:backend/src/goals_common"]
    assert not any(n["changed"] or n["affected"] for n in data["nodes"])
    assert data["nodes"][-1] == {"id": "module:backend/src/goals_common", "kind": "module",
                                 "label": "goals_common", "changed": False,
                                 "affected": False, "failing": False,
                                 "path": "backend/src/goals_common"}
    assert data["edges"] == [
        {"from": "handler:auth", "to": "module:backend/src/goals_common"},
        {"from": "handler:create_goal", "to": "module:backend/src/goals_common"},
        {"from": "handler:list_goals", "to": "module:backend/src/goals_common"},
    ]


def test_incident_modules_view_has_module_edges(incident, capsys):
    repo, commits = incident
    code, out, _ = run(capsys, "graph", "--repo", str(repo), "--base", "main", "--head",
                       commits["pr"], "--modules", "--format", "json")
    assert code == 0
    data = json.loads(out)
    nodes = {n["id"]: n for n in data["nodes"]}
    edges = {(e["from"], e["to"]) for e in data["edges"]}
    src = "module:backend/src/goals_common/"
    assert ("handler:list_goals", "module:backend/handlers/list_goals/main.py") in edges
    assert ("module:backend/handlers/list_goals/main.py", src + "models.py") in edges
    assert (src + "__init__.py", src + "errors.py") in edges
    assert (src + "models.py", src + "errors.py") in edges
    # The implicit load of a submodule's parent package is not drawn.
    assert (src + "models.py", src + "__init__.py") not in edges
    assert nodes[src + "errors.py"]["changed"] is True
    assert nodes[src + "models.py"]["changed"] is False
    assert nodes["module:backend/handlers/auth/main.py"]["label"] == (
        "main (backend/handlers/auth/main.py)")
    assert nodes["handler:health"]["affected"] is False
    assert nodes["handler:list_goals"]["affected"] is True


def test_dot_highlights_in_red(incident, capsys):
    repo, commits = incident
    code, out, _ = run(capsys, "graph", "--repo", str(repo), "--base", "main", "--head",
                       commits["fix"], "--format", "dot")
    assert code == 0
    assert out.startswith("digraph reviewbot {\n")
    lines = {line.strip().split(" [")[0]: line for line in out.splitlines()}
    assert "color=red" in lines['"handler:auth"']
    assert "color=red" in lines['"module:backend/src/goals_common"']
    assert "color=red" not in lines['"handler:health"']
    assert '  "handler:auth" -> "module:backend/src/goals_common";' in out.splitlines()


def test_shared_by_usage_without_globs(make_repo, capsys):
    repo = make_repo()
    repo.commit({
        ".github/reviewbot.yml": "discover: false\nhandlers:\n"
        "  - {name: a, handler: main.handler, root: a, paths: [lib]}\n"
        "  - {name: b, handler: main.handler, root: b, paths: [lib]}\n",
        "lib/common.py": "X = 1\n",
        "lib/only_a.py": "Y = 1\n",
        "lib/deep/__init__.py": "",
        "lib/deep/pkg/__init__.py": "",
        "lib/deep/pkg/mod.py": "from common import X\n",
        "a/main.py": "import only_a\nimport common\nfrom deep.pkg import mod\n\n"
                     "def handler(e, c):\n    pass\n",
        "a/local.py": "",
        "b/main.py": "from deep.pkg.mod import X\n\ndef handler(e, c):\n    pass\n",
    })
    code, out, _ = run(capsys, "graph", "--repo", str(repo.path), "--format", "json")
    assert code == 0
    edges = {(e["from"], e["to"]) for e in json.loads(out)["edges"]}
    assert edges == {("handler:a", "module:lib/common.py"), ("handler:a", "module:lib/deep"),
                     ("handler:b", "module:lib/common.py"), ("handler:b", "module:lib/deep")}


def test_usage_errors(incident, capsys):
    repo, _ = incident
    assert run(capsys, "graph", "--repo", str(repo), "--format", "svg")[0] == 2
    assert run(capsys, "graph", "--repo", str(repo), "--ref", "HEAD", "--base", "main")[0] == 2
    assert run(capsys, "graph", "--repo", str(repo), "--ref", "nope")[0] == 2


@pytest.mark.parametrize(("module", "path", "expected"), [
    ("goals_common", "backend/src/goals_common/__init__.py",
     ("goals_common", "backend/src/goals_common")),
    ("goals_common.models", "backend/src/goals_common/models.py",
     ("goals_common", "backend/src/goals_common")),
    ("a.b.c", "src/a/b/c/__init__.py", ("a", "src/a")),
    ("a.b.c", "src/a/b/c.py", ("a", "src/a")),
    ("util", "lib/util.py", ("util", "lib/util.py")),
    ("pkg", "pkg/__init__.py", ("pkg", "pkg")),
])
def test_top_level(module, path, expected):
    assert top_level(module, path) == expected


def test_shared_globs_decide_and_labels_are_escaped():
    a = Handler("a", "main.handler", root="a")
    b = Handler("b", "main.handler", root="b")
    closures = {
        a: ({"main": {"x"}}, {"main": "a/main.py", "x": "a/x.py"}),
        b: ({"main": {"q"}}, {"main": "b/main.py", "q": "b/q.py"}),
    }
    graph = graph_from_closures(closures, Config(shared=("a/x.py",)))
    assert graph.edges == [("handler:a", "module:a/x.py")]
    odd = Graph([Node("handler:x", "handler", 'say "hi"'), Node("module:m", "module", "end")],
                [("handler:x", "module:m")])
    mermaid = render(odd, "mermaid")
    assert 'h_say__hi_(["say #quot;hi#quot;"])' in mermaid
    assert "m_end[\"end\"]" in mermaid
    assert 'label="say \\"hi\\""' in render(odd, "dot")


def test_docs_show_the_real_incident_graph():
    doc = (Path(__file__).parents[1] / "docs" / "graph.md").read_text()
    first = doc.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert first == INCIDENT_MERMAID


def test_failing_handlers_are_marked_at_the_commit_drawn(incident, capsys):
    repo, commits = incident
    for ref, broken in ((commits["pr"], {"handler:auth"}), (commits["fix"], set())):
        code, out, _ = run(capsys, "graph", "--repo", str(repo), "--ref", ref, "--format",
                           "json")
        assert code == 0
        assert {n["id"] for n in json.loads(out)["nodes"] if n["failing"]} == broken


def many(n: int) -> dict:
    """n handlers over two shared packages; every seventh one's import fails."""
    closures = {}
    for i in range(n):
        h = Handler(f"svc_{i:03d}", "main.handler", root=f"services/svc_{i:03d}")
        lib = "billing" if i % 2 else "goals"
        closures[h] = ({"main": {lib}}, {"main": f"{h.root}/main.py",
                                        lib: f"libs/{lib}/__init__.py"})
    return closures


def test_a_large_graph_collapses_to_groups_with_the_same_marks():
    closures = many(600)
    failing = {h.name for i, h in enumerate(closures) if i % 7 == 0}
    full = graph_from_closures(closures, Config(shared=("libs/**",)), failing=failing,
                               affected={h.name for h in closures},
                               changed={"libs/goals/__init__.py"})
    assert len(full.nodes) == 602
    small = collapse(full)
    assert len(small.nodes) <= MAX_NODES
    # failing and passing handlers of each package stay apart, and every handler is kept
    assert sorted(len(n.members) for n in small.nodes if n.kind == "handler") == \
        [43, 43, 257, 257]  # 86 failing (i % 7 == 0), half of them on each package
    for n in small.nodes:
        if n.members:
            assert {m.removeprefix("handler:") in failing for m in n.members} == {n.failing}
    text = to_mermaid(small)
    assert text.startswith("flowchart LR\n  %% collapsed: 600 handlers shown as 4 groups")
    assert 'subgraph legend["Legend"]' in text and "legend_failing" in text
    assert collapse(graph_from_closures(many(20), Config(shared=("libs/**",)))).nodes == \
        graph_from_closures(many(20), Config(shared=("libs/**",))).nodes  # small: as it is


def test_the_cli_collapses_mermaid_only(make_repo, capsys):
    files = {"template.yaml": "Resources:\n" + "".join(
        f"  F{i}:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        f"      CodeUri: fn{i}/\n      Handler: app.handler\n      Runtime: python3.12\n"
        for i in range(70))}
    for i in range(70):
        files[f"fn{i}/app.py"] = "import json\n\ndef handler(e, c):\n    return 1\n"
    repo = make_repo()
    repo.commit(files)
    code, out, _ = run(capsys, "graph", "--repo", str(repo.path), "--modules")
    assert code == 0 and "%% collapsed" in out and out.count("([\"") < MAX_NODES
    code, out, _ = run(capsys, "graph", "--repo", str(repo.path), "--modules",
                       "--no-collapse")
    assert "%% collapsed" not in out and out.count("([\"") >= 70
    code, out, _ = run(capsys, "graph", "--repo", str(repo.path), "--modules", "--format",
                       "json")
    assert len(json.loads(out)["nodes"]) == 140
