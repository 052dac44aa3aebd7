"""The data every part of reviewbot speaks: handlers, findings and the review report.

Plain frozen dataclasses with no behaviour beyond small derived properties, so the
analysis core, the CLI and the GitHub adapters can share them without importing each other.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

# The newest Lambda Python runtime (python3.14, launched 2025-11-18): assumed, and said, for a
# function whose runtime nothing sets.
DEFAULT_RUNTIME = "python3.14"
CONFIG_PATH = ".github/reviewbot.yml"

ERROR_KINDS = ("missing-name", "missing-module", "circular-import", "missing-handler", "syntax-error")
WARNING_KINDS = (*ERROR_KINDS, "unknown", "maybe", "shadowed-stdlib")


@dataclass(frozen=True)
class Handler:
    """One Lambda function as the runtime sees it.

    `root` is the repo folder that becomes /var/task; `paths` are further import roots in
    sys.path order (the layers' python folders). Both are repo-relative POSIX paths, "." for
    the repository root.
    """

    name: str
    handler: str
    root: str = "."
    paths: tuple[str, ...] = ()
    runtime: str = DEFAULT_RUNTIME
    source: str = CONFIG_PATH
    line: int = 0
    # False when a layer or artifact of this function cannot be read from the repo: imports
    # of unknown third-party modules are then warnings, not errors.
    complete: bool = True
    environment: tuple[tuple[str, str], ...] = ()
    # Layers outside the repository: the modules of those whose content is known (published
    # layers, `layers:` in the config), and those whose content is not, as written.
    layer_modules: tuple[str, ...] = ()
    unknown_layers: tuple[str, ...] = ()
    # What the build copies or installs into the code root besides its requirements.txt:
    # folders whose contents it copies there (serverless-python-requirements' `vendor`),
    # and the manifests of the root it exports to a requirements file in place of
    # requirements.txt, the first that applies ("poetry": pyproject.toml, "pipenv": Pipfile).
    vendor: tuple[str, ...] = ()
    exports: tuple[str, ...] = ()
    # True when nothing set the runtime and the documented default (DEFAULT_RUNTIME, or
    # the config's top-level `runtime`) is assumed: the output says so
    runtime_default: bool = False
    # The function's Architectures: x86_64 or arm64 (which wheels its build installs)
    arch: str = "x86_64"
    # False when the build installs nothing into the code root (CDK's Function zips its
    # asset folder as it is): a requirements.txt there is not installed
    installs: bool = True

    @property
    def runtime_label(self) -> str:
        return f"{self.runtime} (default)" if self.runtime_default else self.runtime

    @property
    def module_path(self) -> str:
        """The handler's module part as written (`src/handlers/auth`), as Lambda names it."""
        return self.handler.rpartition(".")[0]

    @property
    def module(self) -> str:
        """The dotted module Lambda imports (`src.handlers.auth`)."""
        return self.module_path.replace("/", ".")

    @property
    def function(self) -> str:
        return self.handler.rpartition(".")[2]

    @property
    def roots(self) -> tuple[str, ...]:
        return (self.root, *self.paths)

    @property
    def python_version(self) -> tuple[int, int]:
        return parse_runtime(self.runtime)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "handler": self.handler,
            "root": self.root,
            "paths": list(self.paths),
            "runtime": self.runtime,
            "runtime_default": self.runtime_default,
            "architecture": self.arch,
            "source": self.source,
            "line": self.line,
            "complete": self.complete,
            "layer_modules": list(self.layer_modules),
            "unknown_layers": list(self.unknown_layers),
        }


def parse_runtime(runtime: str) -> tuple[int, int]:
    """`python3.12` -> (3, 12); anything unreadable falls back to the default runtime."""
    text = runtime.removeprefix("python")
    try:
        major, minor = text.split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return parse_runtime(DEFAULT_RUNTIME) if runtime != DEFAULT_RUNTIME else (3, 14)


@dataclass(frozen=True)
class Unresolved:
    """A function found in a deployment file that cannot be analysed, and why."""

    name: str
    source: str
    line: int
    reason: str

    @property
    def not_python(self) -> bool:
        """Known to import no Python module (another runtime, a file it executes): there
        is nothing to settle."""
        return self.reason.endswith((" is not Python", "not a Python module"))

    @property
    def settled_by(self) -> str:
        """The `.github/reviewbot.yml` entry that would settle it (a handler of that name
        replaces the deployment file's entry)."""
        return (f"handlers:\n  - name: {json.dumps(self.name)}\n    handler: module.function\n"
                f"    root: folder/that/becomes/var/task\n    runtime: python3.12")

    def to_json(self) -> dict:
        return {"source": self.source, "line": self.line, "name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class Finding:
    """A broken (error) or doubtful (warning) import, at the statement that makes it."""

    handler: str
    path: str
    line: int
    kind: str
    message: str

    @property
    def when_called(self) -> str:
        """The function whose call raises it ("lazy"), or "" for a failure at cold start
        (the wording's "(raised when lazy() runs)")."""
        m = _WHEN_CALLED.search(self.message)
        return m.group(1) if m else ""

    def to_json(self) -> dict:
        return {
            "handler": self.handler,
            "path": self.path,
            "line": self.line,
            "kind": self.kind,
            "message": self.message,
        }


_WHEN_CALLED = re.compile(r" \(raised when ([\w.]+)\(\) runs\)$")


@dataclass(frozen=True)
class HandlerStatus:
    """A handler in the report: whether the change reaches it, and by which import chain."""

    handler: Handler
    affected: bool
    chain: tuple[str, ...] = ()
    checked: bool = False
    previous_runtime: str = ""  # the base's runtime, when the change moves it

    @property
    def runtime_label(self) -> str:
        """`python3.12`, `python3.12 (default)` or `python3.11 → python3.13`."""
        if self.previous_runtime:
            return f"{self.previous_runtime} → {self.handler.runtime}"
        return self.handler.runtime_label

    def to_json(self) -> dict:
        data = self.handler.to_json()
        data["affected"] = self.affected
        data["chain"] = list(self.chain)
        data["previous_runtime"] = self.previous_runtime or None
        return data


@dataclass(frozen=True)
class SharedModuleChange:
    """A changed shared module, the handlers that load it, and its public names diff."""

    path: str
    handlers: tuple[str, ...]
    removed_names: tuple[str, ...] = ()
    added_names: tuple[str, ...] = ()
    status: str = "modified"
    # the head's version does not parse ("invalid syntax (line 3)"): no names are compared
    syntax_error: str = ""

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "handlers": list(self.handlers),
            "removed_names": list(self.removed_names),
            "added_names": list(self.added_names),
            "syntax_error": self.syntax_error or None,
        }


@dataclass(frozen=True)
class Report:
    """What one review found: the contract behind every output format."""

    handlers: tuple[HandlerStatus, ...]
    errors: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()
    shared_modules: tuple[SharedModuleChange, ...] = ()
    changed_files: tuple[str, ...] = ()
    unresolved: tuple[Unresolved, ...] = ()
    checklist: tuple[str, ...] = ()
    base: str = ""
    head: str = ""
    notes: tuple[str, ...] = field(default=())
    unloaded: tuple[str, ...] = ()  # changed Python files that no handler found loads
    # which configuration was read (a ConfigUse, set by the local adapter; the App's
    # check run says it in its own way)
    config: object | None = None

    @property
    def unsettled(self) -> tuple[Unresolved, ...]:
        """Deployment entries that may run Python but could not be read."""
        return tuple(u for u in self.unresolved if not u.not_python)

    @property
    def nothing_checked(self) -> str:
        """Why the check cannot vouch for the change, or "": no Python handler was found,
        or changed Python files load into no handler found while some entries could not
        be read (they may be the ones that load them)."""
        if self.errors:
            return ""
        n = len(self.unsettled)
        entries = f"{n} deployment entr{'y' if n == 1 else 'ies'} could not be resolved"
        if not self.handlers:
            return f"nothing checked: {entries}" if n else \
                "nothing checked: no Python Lambda handler was found"
        if self.unloaded and n:
            files = len(self.unloaded)
            return (f"nothing checked for {files} changed Python file{'s' * (files != 1)} "
                    f"that no handler found loads: {entries}")
        return ""

    @property
    def conclusion(self) -> str:
        """failure, neutral (nothing could be checked: GitHub counts it as passing, so it
        neither blocks a merge nor claims the change is safe) or success."""
        if self.errors:
            return "failure"
        return "neutral" if self.nothing_checked else "success"

    @property
    def affected(self) -> tuple[HandlerStatus, ...]:
        return tuple(h for h in self.handlers if h.affected)

    def to_json(self) -> dict:
        return {
            "conclusion": self.conclusion,
            "base": self.base,
            "head": self.head,
            "handlers": [h.to_json() for h in self.handlers],
            "errors": [f.to_json() for f in self.errors],
            "warnings": [f.to_json() for f in self.warnings],
            "shared_modules": [s.to_json() for s in self.shared_modules],
            "changed_files": list(self.changed_files),
            "unresolved": [u.to_json() for u in self.unresolved],
            "nothing_checked": self.nothing_checked,
            "unloaded": list(self.unloaded),
            "config": self.config.to_json() if self.config is not None else None,
        }
