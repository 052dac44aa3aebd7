"""Which `.github/reviewbot.yml` a check read, and what the head's version would change.

A check reads the configuration at the base, as the App does: a pull request must not be
able to switch its own check off. But a reader of the output must know that, and a head
that edits the file must hear what its version would do after the merge, and whether it
would load at all. Pure: two trees in, a record out.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from reviewbot.config import Config, ConfigError, load_config
from reviewbot.tree import Tree


@dataclass(frozen=True)
class ConfigUse:
    path: str
    commit: str  # the base commit the file was read at
    found: bool  # False: no file there, the defaults were used
    head: str = "same"  # same, changed, added, deleted or invalid (the head's version)
    head_errors: tuple[str, ...] = ()  # why the head's version would not load, at lines
    head_changes: tuple[str, ...] = ()  # what it would change: "handlers: adds auth"

    def summary(self) -> str:
        read = (f"{self.path} at the base ({self.commit[:12]})" if self.found
                else f"no {self.path} at the base ({self.commit[:12]}): the defaults")
        if self.head == "same":
            return f"config: {read}"
        if self.head == "invalid":
            return (f"config: {read}; the head's version does not load (fix it before "
                    f"merging): {'; '.join(self.head_errors)}")
        what = "deletes it" if self.head == "deleted" else (
            f"{'adds' if self.head == 'added' else 'changes'} it"
            + (f" ({'; '.join(self.head_changes)})" if self.head_changes else ""))
        return f"config: {read}; the head {what}, which takes effect after the merge"

    def to_json(self) -> dict:
        return {"path": self.path, "read_at": "base", "commit": self.commit,
                "found": self.found, "head": self.head, "head_errors": list(self.head_errors),
                "head_changes": list(self.head_changes)}


def config_use(base: Tree, head: Tree, path: str, commit: str,
               fork: Tree | None = None) -> ConfigUse:
    """The configuration read at `base` (commit `commit`) and the head's version of it.
    The head changes the file only if its version differs from the one at `fork` (the
    merge base): a file the base branch edited since is not the change's doing."""
    found = path in base.blobs
    if base.blobs.get(path) == head.blobs.get(path) or (
            fork is not None and fork.blobs.get(path) == head.blobs.get(path)):
        return ConfigUse(path, commit, found)
    if path not in head.blobs:
        return ConfigUse(path, commit, found, head="deleted")
    try:
        new = load_config(head.read(path), path)
    except ConfigError as exc:
        return ConfigUse(path, commit, found, head="invalid",
                         head_errors=tuple(str(exc).splitlines()))
    try:
        old = load_config(base.read(path) if found else None, path)
    except ConfigError:  # the base's is broken: the check itself says so
        old = load_config(None, path)
    return ConfigUse(path, commit, found, head="changed" if found else "added",
                     head_changes=_changes(old, new))


def _changes(old: Config, new: Config) -> tuple[str, ...]:
    """The keys whose values differ; for `handlers`, the entries added and removed."""
    out = []
    for f in fields(Config):
        before, after = getattr(old, f.name), getattr(new, f.name)
        if f.name == "handlers":
            names_old = {h.name for h in before}
            names_new = {h.name for h in after}
            strip = [tuple(getattr(h, g.name) for g in fields(h) if g.name != "line")
                     for h in before], [tuple(getattr(h, g.name) for g in fields(h)
                                              if g.name != "line") for h in after]
            if names_old == names_new and strip[0] == strip[1]:
                continue
            parts = [f"adds {', '.join(sorted(names_new - names_old))}"
                     if names_new - names_old else "",
                     f"removes {', '.join(sorted(names_old - names_new))}"
                     if names_old - names_new else ""]
            out.append(f"handlers: {'; '.join(p for p in parts if p) or 'edits entries'}")
        elif before != after:
            out.append(f.name)
    return tuple(out)
