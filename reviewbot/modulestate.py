"""The state of one module while a handler's cold start is simulated, and how an import fails.

A module is RUNNING while its own imports run (so a cycle sees it half-initialised), DONE
when its body has run, and FAILED when it cannot even be compiled. A module whose run
was aborted by a failure that something caught is DONE but `broken`: CPython dropped it
from `sys.modules`, so importing it again runs it, and fails, again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from reviewbot.resolve import NAMESPACE, ModuleRef
from reviewbot.summary import CAUGHT, UNGUARDED, Import, ModuleSummary

RUNNING = 1
DONE = 2
FAILED = 3


class ImportFailure(Exception):
    """An import statement failed; the message is CPython's."""

    def __init__(
        self, kind: str, message: str, external: bool = False, exc_type: str = "ImportError"
    ):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.external = external  # a top-level name nothing in the repository provides
        # Lambda wraps only ImportError (and SyntaxError) as "Unable to import module";
        # anything else surfaces as its own type.
        self.exc_type = exc_type


class SilentFailure(Exception):
    """The import failed because of an error already reported elsewhere (a syntax error)."""


class Broken(NamedTuple):
    """Where the failure that aborted a module's run was raised."""

    path: str
    line: int
    failure: ImportFailure


@dataclass
class ModuleState:
    ref: ModuleRef
    summary: ModuleSummary | None
    status: int = RUNNING
    paused_at: int = 0  # the seq of the import statement it is running
    extra: dict[str, tuple[int, int]] = field(default_factory=dict)  # from star imports
    open_reason: str = ""
    # An import failure that aborted this module's execution but was caught (or only happens
    # on some paths) further up: CPython drops the module, so importing it again re-raises.
    broken: Broken | None = None
    broken_guard: int = UNGUARDED  # how sure the abort is: UNGUARDED (always) or CONDITIONAL
    reported_guard: int = CAUGHT  # the surest level at which the failure was reported
    # seqs of its statements inside a `try` that surely raised ImportError: the `except`
    # arm surely runs (see Import.rescues)
    raised: frozenset[int] = frozenset()

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def package(self) -> str:
        return self.ref.name if self.ref.is_package else self.ref.name.rpartition(".")[0]

    def location(self) -> str:
        return f"({self.ref.path})" if self.ref.path else "(unknown location)"

    def binding(self, name: str) -> tuple[int, int] | None:
        """(certainty, seq) of the statement that binds `name`, or None."""
        if self.summary is not None:
            hit = self.summary.names.get(name)
            if hit is not None:
                return hit
            if name in self.summary.served:  # as sure as its `__getattr__` is bound
                return self.summary.names.get("__getattr__")
        return self.extra.get(name)

    @property
    def closed(self) -> bool:
        """Whether every name it binds is known (so a missing one is surely missing)."""
        return (self.ref.kind in ("source", NAMESPACE)
                and not self.ref.also_external
                and not self.open_reason
                and not (self.summary and self.summary.open_reason))

    @property
    def attributes_closed(self) -> bool:
        """Closed, and a missing attribute raises the import system's own AttributeError:
        a module `__getattr__` words its own, which we do not read."""
        return self.closed and not (self.summary and "__getattr__" in self.summary.names)

    def why_open(self) -> str:
        if self.summary is not None and self.summary.open_reason:
            return self.summary.open_reason
        return self.open_reason or "its contents cannot be read"


def copy_state(mod: ModuleState) -> ModuleState:
    """A shallow copy, as copy.copy makes it, in a third of the time."""
    new = object.__new__(ModuleState)
    new.__dict__.update(mod.__dict__)
    return new


def absolute_name(owner: ModuleState, imp: Import) -> str:
    """The module an import statement of `owner` names, relative imports resolved."""
    if imp.level == 0:
        return imp.module
    package = owner.package
    if not package:
        raise ImportFailure(
            "missing-module", "attempted relative import with no known parent package"
        )
    parts = package.split(".")
    if imp.level - 1 >= len(parts):
        raise ImportFailure("missing-module", "attempted relative import beyond top-level package")
    base = ".".join(parts[: len(parts) - (imp.level - 1)])
    return f"{base}.{imp.module}" if imp.module else base
