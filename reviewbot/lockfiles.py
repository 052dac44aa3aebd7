"""The pins of the lock file an exporting build reads: they win over the manifest's ranges.

`poetry export` writes poetry.lock's versions, `pipenv requirements` Pipfile.lock's
`default` section, `uv export` uv.lock's: the build installs exactly those. Given to the
resolver as constraints, they pin what the manifest leaves open (a lock that disagrees with
its manifest fails to resolve, as the real export would fail).
"""

from __future__ import annotations

import json
import tomllib

from reviewbot.tree import Tree, join

LOCKS = {"poetry": "poetry.lock", "pipenv": "Pipfile.lock", "uv": "uv.lock"}
_LOCAL_SOURCES = ("editable", "virtual", "path", "directory", "workspace")


def lock_pins(tree: Tree, folder: str, exporter: str) -> tuple[str, tuple[str, ...]] | None:
    """The lock file of `exporter` in `folder` and its `name==version` pins, or None
    without one (or with one that cannot be read: the manifest's ranges then decide)."""
    path = join(folder, LOCKS[exporter])
    if path not in tree:
        return None
    text = tree.read(path).decode("utf-8", "replace")
    try:
        if exporter == "pipenv":
            default = json.loads(text).get("default", {})
            pins = [f"{name}{spec['version']}" for name, spec in default.items()
                    if isinstance(spec, dict) and str(spec.get("version", "")).startswith("==")]
        else:
            pins = [f"{p['name']}=={p['version']}" for p in tomllib.loads(text).get("package", [])
                    if isinstance(p, dict) and "name" in p and "version" in p
                    and not any(k in (p.get("source") or {}) for k in _LOCAL_SOURCES)]
    except (ValueError, tomllib.TOMLDecodeError, AttributeError, TypeError):
        return None
    return path, tuple(pins)
