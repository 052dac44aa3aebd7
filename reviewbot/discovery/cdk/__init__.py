"""AWS CDK apps, read statically: the app `cdk.json` names, never run.

`cdk synth` runs the app's code, which the App must never do (and which needs AWS
credentials and Node.js). Instead the app's source is evaluated by a bounded reader of its
own (pyapp.py for Python, tsapp.py for TypeScript), and its Lambda
constructs become handlers (constructs.py). Handler names are construct paths
(`Stack/Construct`), stable across runs, so `.github/reviewbot.yml` can settle what
cannot be read by the same name. A committed `cdk.out/` is ignored unless the config's
`cdk_out: true` asks for it (synth.py).
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Mapping
from typing import Any

from reviewbot.discovery.cdk.constructs import Builder
from reviewbot.discovery.cdk.pyapp import PythonApp
from reviewbot.discovery.cdk.pyvalues import Budget
from reviewbot.discovery.cdk.synth import read_synth
from reviewbot.discovery.cdk.tsapp import TypeScriptApp
from reviewbot.discovery.common import Found, dirname, local_path, skipped
from reviewbot.tree import Tree

__all__ = ["discover"]


def _entry(app: str, app_dir: str, tree: Tree) -> tuple[str, str] | str:
    """(language, entry file) of the command in cdk.json's `app`, or why it is not read."""
    try:
        words = shlex.split(app)
    except ValueError:
        return f"app command {app!r} cannot be parsed"
    for word in words:
        for suffix, language in ((".py", "python"), (".ts", "typescript"),
                                 (".js", "typescript")):
            if word.endswith(suffix):
                path = local_path(app_dir, word)
                if path is None:
                    return f"app file {word} is outside the repository"
                if suffix == ".js" and path not in tree:
                    path = path.removesuffix(".js") + ".ts"  # compiled by tsc from it
                if path not in tree:
                    return f"app file {word} is not in the repository"
                return language, path
    return f"app command {app!r} names no Python or TypeScript file"


def _app(tree: Tree, path: str, found: Found) -> str | None:
    try:
        doc = json.loads(tree.read(path))
    except ValueError as exc:
        found.warn(path, 1, f"not valid JSON: {exc}")
        return None
    app = doc.get("app") if isinstance(doc, dict) else None
    if not isinstance(app, str):
        found.skip(f"{path}:app", path, 1, "cdk.json has no `app` command")
        return None
    return app


def discover(tree: Tree, layer_map: Mapping[str, Any] | None = None, *,
             cdk_out: bool = False) -> Found:
    found = Found()
    apps = sorted(p for p in tree.blobs if posixpath.basename(p) == "cdk.json" and not skipped(p))
    # the apps' files in one read (one git call), not one per module the readers open
    folders = tuple(f"{dirname(p)}/" for p in apps)
    tree.prefetch(p for p in tree.blobs if p.endswith((".py", ".ts", "cdk.json"))
                  and not skipped(p) and (p.startswith(folders) or "./" in folders))
    for path in apps:
        app = _app(tree, path, found)
        if app is None:
            continue
        app_dir = dirname(path)
        if cdk_out and read_synth(tree, app_dir, layer_map, found):
            continue
        entry = _entry(app, app_dir, tree)
        if isinstance(entry, str):
            found.skip(f"{path}:app", path, 1, entry)
            continue
        language, file = entry
        reader = (PythonApp if language == "python" else TypeScriptApp)(tree, app_dir, file)
        try:
            reader.run()
        except (Budget, RecursionError) as exc:
            found.warn(file, 1, f"CDK app not read to the end ({exc or 'too deep'}): "
                                f"functions after that point are missing")
        builder = Builder(tree, app_dir, layer_map, found)
        for construct in reader.constructs:
            builder.add(construct)
    return found
