"""`reviewbot graph`: which handlers load which shared modules, as Mermaid, DOT or JSON.

Built from the static engine's import closure of each handler (`HandlerResult.edges` and
`.paths`), so it never runs repository code. Two views:

- default: one node per handler and one per shared package (a shared module collapsed to
  its top-level package or module file, `goals_common`), an edge from each handler to every
  shared package it loads, directly or through other modules;
- `modules=True`: one node per repository module file in any closure, with the module-level
  import edges between them, and an edge from each handler to its handler module (the
  implicit import of a submodule's parent package, which Python runs first, is left out).

A module is shared when the config's `shared` globs match its file, else when two or more
handlers load it. With a diff, changed modules and affected handlers are flagged.
Output order is sorted throughout, so the same commit always renders the same text.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field

from reviewbot.config import Config
from reviewbot.model import Handler, Report


@dataclass
class Node:
    id: str
    kind: str  # "handler" or "module"
    label: str
    path: str = ""  # module: repo file (modules view) or package location (default view)
    changed: bool = False
    affected: bool = False
    failing: bool = False  # a handler whose import check found an error
    members: tuple[str, ...] = ()  # a collapsed node: the nodes it stands for

    def to_json(self) -> dict:
        data = {"id": self.id, "kind": self.kind, "label": self.label,
                "changed": self.changed, "affected": self.affected,
                "failing": self.failing}
        if self.members:
            data["members"] = list(self.members)
        if self.path:
            data["path"] = self.path
        return data


@dataclass
class Graph:
    nodes: list[Node]
    edges: list[tuple[str, str]]
    modules: bool = False
    diff: bool = False
    commit: str = ""
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"nodes": [n.to_json() for n in self.nodes],
                "edges": [{"from": a, "to": b} for a, b in self.edges]}


def build_graph(repo_path: str, *, ref: str | None = None, base: str | None = None,
                head: str | None = None, modules: bool = False,
                max_nodes: int | None = None) -> Graph:
    """Read the repository at a commit (or a change's head) and build the graph; with
    `max_nodes`, one that stays readable at that size (`collapse`)."""
    from reviewbot.analysis import Analysis
    from reviewbot.cache import SummaryCache
    from reviewbot.gitsource import WORKTREE, GitRepo
    from reviewbot.localrun import check_repo, resolve_refs
    from reviewbot.review import find_handlers

    repo = GitRepo(repo_path)
    cache = SummaryCache()
    changed: set[str] = set()
    affected: set[str] = set()
    diff = base is not None or head is not None
    if diff:
        refs = resolve_refs(repo, base, head or WORKTREE)
        config = cache.config(repo.tree(refs.base))  # check_repo reuses it
        report = check_repo(repo, base, head or WORKTREE, cache=cache)
        commit = report.head
        handlers = tuple(s.handler for s in report.handlers)
        changed = set(report.changed_files)
        affected = {s.handler.name for s in report.handlers if s.affected}
        tree = repo.files(commit)
    else:
        commit = repo.resolve(ref) if ref else WORKTREE  # default: the files on disk
        tree = repo.files(commit)
        config = cache.config(tree)
        handlers = find_handlers(tree, config).handlers
    analysis = Analysis(tree, cache, config.third_party)
    analysis.prefetch(handlers)
    results = analysis.checks(handlers)
    closures = {h: (r.edges, r.paths) for h, r in results.items()}
    marks = {"changed": changed, "affected": affected,
             "failing": {h.name for h, r in results.items() if r.errors}}
    graph = graph_from_closures(closures, config, modules=modules, **marks)
    if max_nodes is not None and modules and len(graph.nodes) > max_nodes:
        graph = graph_from_closures(closures, config, **marks)
        graph.notes.append(f"collapsed: the module view has more than {max_nodes} nodes, "
                           "so modules are shown as their top-level packages")
    if max_nodes is not None:
        graph = collapse(graph, max_nodes)
    graph.diff = diff
    graph.commit = commit
    return graph


def graph_from_closures(closures: dict[Handler, tuple[dict[str, set[str]], dict[str, str]]],
                        config: Config, *, changed: set[str] | frozenset[str] = frozenset(),
                        affected: set[str] | frozenset[str] = frozenset(),
                        failing: set[str] | frozenset[str] = frozenset(),
                        modules: bool = False) -> Graph:
    """The graph from each handler's (module edges, module -> file) closure; `failing`
    names the handlers whose import check found an error."""
    loaders: dict[str, set[str]] = {}
    for h, (_, paths) in closures.items():
        for f in paths.values():
            loaders.setdefault(f, set()).add(h.name)

    nodes: dict[str, Node] = {}
    edges: set[tuple[str, str]] = set()
    for h in sorted(closures, key=lambda h: h.name):
        edge_map, paths = closures[h]
        hid = f"handler:{h.name}"
        own = paths.get(h.module, "")
        nodes[hid] = Node(hid, "handler", h.name, changed=own in changed,
                          affected=h.name in affected, failing=h.name in failing)
        if modules:
            for mod, path in paths.items():
                mid = f"module:{path}"
                if mid not in nodes:
                    nodes[mid] = Node(mid, "module", mod, path, changed=path in changed)
            if own:
                edges.add((hid, f"module:{own}"))
            for src, targets in edge_map.items():
                if src not in paths:
                    continue
                for dst in targets:
                    if src.rpartition(".")[0] == dst:
                        continue  # a submodule's implicit load of its parent package
                    if dst in paths and paths[dst] != paths[src]:
                        edges.add((f"module:{paths[src]}", f"module:{paths[dst]}"))
            continue
        for mod, path in paths.items():
            shared = config.is_shared(path)
            if shared is None:
                shared = len(loaders.get(path, ())) >= 2
            if not shared or mod == h.module:
                continue
            top, location = top_level(mod, path)
            mid = f"module:{location}"
            node = nodes.get(mid)
            if node is None:
                node = nodes[mid] = Node(mid, "module", top, location)
            node.changed = node.changed or path in changed
            edges.add((hid, mid))

    _disambiguate([n for n in nodes.values() if n.kind == "module"])
    ordered = sorted(nodes.values(), key=lambda n: (n.kind != "handler", n.label, n.id))
    return Graph(ordered, sorted(edges), modules=modules)


def graph_from_report(report: Report) -> Graph:
    """The check run's picture of a change: each affected handler and the changed shared
    modules it loads, failing handlers marked; collapsed when large."""
    failing = {f.handler for f in report.errors}
    nodes: dict[str, Node] = {}
    edges: set[tuple[str, str]] = set()

    def handler(name: str) -> str:
        hid = f"handler:{name}"
        nodes.setdefault(hid, Node(hid, "handler", name, affected=True,
                                   failing=name in failing))
        return hid

    for st in report.affected:
        handler(st.handler.name)
    for change in report.shared_modules:
        mid = f"module:{change.path}"
        nodes[mid] = Node(mid, "module", change.path, change.path, changed=True)
        edges.update((handler(name), mid) for name in change.handlers)
    ordered = sorted(nodes.values(), key=lambda n: (n.kind != "handler", n.label, n.id))
    return collapse(Graph(ordered, sorted(edges), diff=True, commit=report.head))


MAX_NODES = 60  # beyond this, GitHub's Mermaid layout of these graphs stops being readable


def collapse(graph: Graph, max_nodes: int = MAX_NODES) -> Graph:
    """Over `max_nodes`, handlers that load the same modules and carry the same marks fold
    into one node ("12 handlers"), so a 600-handler change reads as a few groups."""
    if len(graph.nodes) <= max_nodes:
        return graph
    targets: dict[str, list[str]] = {}
    for a, b in graph.edges:
        targets.setdefault(a, []).append(b)
    groups: dict[tuple, list[Node]] = {}
    for n in graph.nodes:
        if n.kind == "handler":
            key = (tuple(targets.get(n.id, ())), n.changed, n.affected, n.failing)
            groups.setdefault(key, []).append(n)
    folded: dict[str, str] = {}
    nodes = [n for n in graph.nodes if n.kind != "handler"]
    for (_, changed, affected, failing), members in groups.items():
        if len(members) == 1:
            nodes.append(members[0])
            continue
        gid = "group:" + members[0].id
        names = ", ".join(m.label for m in members[:3]) + (", …" if len(members) > 3 else "")
        nodes.append(Node(gid, "handler", f"{len(members)} handlers: {names}",
                          changed=changed, affected=affected, failing=failing,
                          members=tuple(m.id for m in members)))
        folded.update((m.id, gid) for m in members)
    edges = sorted({(folded.get(a, a), folded.get(b, b)) for a, b in graph.edges})
    ordered = sorted(nodes, key=lambda n: (n.kind != "handler", n.label, n.id))
    notes = [*graph.notes, f"collapsed: {len(folded)} handlers shown as {len(set(folded.values()))}"
                           " groups (same modules loaded, same marks)"] if folded else graph.notes
    return Graph(ordered, edges, modules=graph.modules, diff=graph.diff, commit=graph.commit,
                 notes=notes)


def top_level(module: str, path: str) -> tuple[str, str]:
    """(`goals_common`, `backend/src/goals_common`) for `goals_common.models` in
    `backend/src/goals_common/models.py`: the top-level name and where it lives."""
    parts = module.split(".")
    if posixpath.basename(path).startswith("__init__."):
        location = posixpath.dirname(path)  # the folder of `module` itself
        drop = len(parts) - 1
    elif len(parts) == 1:
        return parts[0], path
    else:
        location = posixpath.dirname(path)  # the folder of the parent package
        drop = len(parts) - 2
    for _ in range(drop):
        location = posixpath.dirname(location)
    return parts[0], location or "."


def _disambiguate(nodes: list[Node]) -> None:
    """Two modules with the same label (each function's `main`): add where they live."""
    count: dict[str, int] = {}
    for n in nodes:
        count[n.label] = count.get(n.label, 0) + 1
    for n in nodes:
        if count[n.label] > 1:
            n.label = f"{n.label} ({n.path})"


# -- renderers --------------------------------------------------------------------------


def render(graph: Graph, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(graph.to_json(), indent=2) + "\n"
    if fmt == "dot":
        return to_dot(graph)
    if fmt == "mermaid":
        return to_mermaid(graph)
    raise ValueError(f"unknown graph format {fmt!r}")


def _short_ids(graph: Graph) -> dict[str, str]:
    """Node ids that Mermaid accepts: letters, digits and underscores, unique."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for n in graph.nodes:
        prefix = "h" if n.kind == "handler" else "m"
        name = n.label.split(" (")[0] if n.kind == "module" else n.label
        if n.members:  # a group: named after its first handler
            prefix, name = "g", n.members[0].split(":", 1)[-1]
        base = f"{prefix}_{re.sub(r'[^A-Za-z0-9_]', '_', name)}"
        candidate, i = base, 2
        while candidate in used:
            candidate = f"{base}_{i}"
            i += 1
        used.add(candidate)
        out[n.id] = candidate
    return out


def _mermaid_label(text: str) -> str:
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;")
            .replace(">", "#gt;").replace("`", "#96;").replace("\n", " "))


# (class, the legend's words, its style): later class statements win, so the marks
# come after the kinds
_CLASSES = (
    ("handler", "handler", "fill:#ddf4ff,stroke:#0969da"),
    ("module", "shared module", "fill:#f6f8fa,stroke:#57606a"),
    ("changed", "changed by this PR", "fill:#fff8c5,stroke:#9a6700,stroke-width:3px"),
    ("affected", "affected handler", "fill:#fff1e5,stroke:#bc4c00,stroke-width:3px"),
    ("failing", "❌ import fails", "fill:#ffebe9,stroke:#cf222e,stroke-width:4px"),
)


def _members(graph: Graph, ids: dict[str, str], cls: str) -> list[str]:
    if cls in ("handler", "module"):
        return [ids[n.id] for n in graph.nodes if n.kind == cls]
    return [ids[n.id] for n in graph.nodes if getattr(n, cls)]


def to_mermaid(graph: Graph, *, legend: bool = True) -> str:
    """A flowchart: handlers (rounded) to the shared modules they load; changed,
    affected and failing nodes styled (failing ones also marked ❌, so the mark does not
    rest on colour alone), with a legend of the styles used."""
    ids = _short_ids(graph)
    lines = ["flowchart LR", *(f"  %% {note}" for note in graph.notes)]
    for n in graph.nodes:
        label = _mermaid_label(("❌ " if n.failing else "") + n.label)
        shape = f'(["{label}"])' if n.kind == "handler" else f'["{label}"]'
        lines.append(f"  {ids[n.id]}{shape}")
    for a, b in graph.edges:
        lines.append(f"  {ids[a]} --> {ids[b]}")
    used = [(cls, words, style) for cls, words, style in _CLASSES
            if _members(graph, ids, cls)]
    if legend and used:
        lines.append('  subgraph legend["Legend"]')
        for cls, words, _ in used:
            shape = f'(["{words}"])' if cls not in ("module", "changed") else f'["{words}"]'
            lines.append(f"    legend_{cls}{shape}:::{cls}")
        lines.append("  end")
    lines += [f"  classDef {cls} {style}" for cls, _, style in used]
    for cls, _, _ in used:
        lines.append(f"  class {','.join(_members(graph, ids, cls))} {cls}")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: Graph) -> str:
    lines = ["digraph reviewbot {", "  rankdir=LR;",
             '  node [fontname="Helvetica", fontsize=11];']
    for n in graph.nodes:
        style = "rounded,filled" if n.kind == "handler" else "filled"
        fill = "#fff8c5" if n.changed else "#ddf4ff" if n.kind == "handler" else "#f6f8fa"
        attrs = [f"label={_dot_quote(n.label)}", "shape=box", f'style="{style}"',
                 f'fillcolor="{fill}"']
        if n.changed or n.affected or n.failing:
            attrs += ["color=red", "fontcolor=red", "penwidth=4" if n.failing else "penwidth=2"]
        lines.append(f"  {_dot_quote(n.id)} [{', '.join(attrs)}];")
    for a, b in graph.edges:
        lines.append(f"  {_dot_quote(a)} -> {_dot_quote(b)};")
    lines.append("}")
    return "\n".join(lines) + "\n"
