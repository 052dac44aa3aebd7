"""Import one Lambda handler the way the runtime would, without running any of its code.

The simulation walks module summaries in execution order from the handler module: each
module's ancestor packages run first, each import statement loads its target (recursively,
so a module still executing is "partially initialized"), and `from X import Y` then asks
whether `Y` is bound in X at that point, or is an importable submodule of X. Failures are
reported with CPython's and Lambda's own messages at the statement that raises them.
Imports inside functions are checked after the handler has loaded, as they run on first call.

The result also carries the handler's import closure (the repo files it loads) and the
module edges between them, which the diff uses to decide which handlers a change affects.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from reviewbot.model import Finding, Handler
from reviewbot.resolve import EXTENSION, EXTERNAL, NAMESPACE, ModuleRef, NotFound, SearchPath
from reviewbot.summary import (
    CALL,
    CAUGHT,
    CONDITIONAL,
    DEFINITE,
    MAYBE,
    UNGUARDED,
    Import,
    ModuleSummary,
    module_dunders,
)

SummaryProvider = Callable[[str, tuple[int, int]], ModuleSummary]

RUNNING = 1
DONE = 2
FAILED = 3


@dataclass
class _Module:
    ref: ModuleRef
    summary: ModuleSummary | None
    status: int = RUNNING
    paused_at: int = 0
    extra: dict[str, tuple[int, int]] = field(default_factory=dict)  # from star imports
    open_reason: str = ""
    # An import failure that aborted this module's execution but was caught (or only happens
    # on some paths) further up: CPython drops the module, so importing it again re-raises.
    broken: tuple[str, int, _Failure] | None = None
    broken_guard: int = UNGUARDED

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def package(self) -> str:
        return self.ref.name if self.ref.is_package else self.ref.name.rpartition(".")[0]

    def location(self) -> str:
        return f"({self.ref.path})" if self.ref.path else "(unknown location)"

    def binding(self, name: str) -> tuple[int, int] | None:
        if self.summary is not None:
            hit = self.summary.names.get(name)
            if hit is not None:
                return hit
        return self.extra.get(name)

    @property
    def closed(self) -> bool:
        return (self.ref.kind in ("source", NAMESPACE) and not self.ref.also_external
                and not self.open_reason and not (self.summary and self.summary.open_reason))

    def why_open(self) -> str:
        if self.summary is not None and self.summary.open_reason:
            return self.summary.open_reason
        return self.open_reason or "its contents cannot be read"


@dataclass
class HandlerResult:
    handler: Handler
    files: frozenset[str]  # repo files loaded by the handler (its import closure)
    edges: dict[str, set[str]]  # importer module -> imported modules (ancestors included)
    paths: dict[str, str]  # module -> file
    errors: list[Finding]
    warnings: list[Finding]

    def chain_to(self, targets: set[str]) -> tuple[str, ...]:
        """The shortest import chain from the handler module to any of the target files."""
        start = self.handler.module
        if self.paths.get(start) in targets:
            return (start,)
        prev: dict[str, str] = {start: ""}
        queue = deque([start])
        while queue:
            mod = queue.popleft()
            for nxt in sorted(self.edges.get(mod, ())):
                if nxt in prev:
                    continue
                prev[nxt] = mod
                if self.paths.get(nxt) in targets:
                    chain = [nxt]
                    while prev[chain[-1]]:
                        chain.append(prev[chain[-1]])
                    return tuple(reversed(chain))
                queue.append(nxt)
        return ()


class _Failure(Exception):
    """An import statement failed; the message is CPython's."""

    def __init__(self, kind: str, message: str, external: bool = False,
                 exc_type: str = "ImportError"):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.external = external
        # Lambda wraps only ImportError (and SyntaxError) as "Unable to import module";
        # anything else surfaces as its own type.
        self.exc_type = exc_type


class _Silent(Exception):
    """The import failed because of an error already reported elsewhere (a syntax error)."""


class HandlerCheck:
    """One simulated cold start of one handler."""

    def __init__(self, handler: Handler, search: SearchPath, summaries: SummaryProvider):
        self.handler = handler
        self.search = search
        self.summaries = summaries
        self.version = handler.python_version
        self.modules: dict[str, _Module] = {}
        self.edges: dict[str, set[str]] = {}
        self.errors: list[Finding] = []
        self.warnings: list[Finding] = []
        self.deferred: deque[tuple[_Module, Import]] = deque()
        self.at_call: str | None = None
        self.context = UNGUARDED  # the strongest guard among the import statements running
        self.chain: list[tuple[_Module, int]] = []  # (module, guard of its running import)
        self._seen: set[tuple] = set()
        self._shadow_warned: set[str] = set()

    # -- entry point ------------------------------------------------------------------

    def run(self) -> HandlerResult:
        h = self.handler
        modpath, dot, func = h.handler.rpartition(".")
        if not dot or not modpath:
            self.report(True, h.source, h.line, "missing-handler",
                        f"Bad handler '{h.handler}': not enough values to unpack "
                        f"(expected 2, got 1)")
            return self.result()
        if modpath.split("/")[0] in sys.builtin_module_names:
            self.report(True, h.source, h.line, "missing-module",
                        f"Cannot use built-in module {modpath} as a handler module")
            return self.result()
        try:
            mod = self.load(h.module, importer=None)
        except _Failure as exc:
            self.report(not (exc.external and not h.complete), h.source, h.line, exc.kind,
                        self.wrap(exc.message, exc.exc_type))
            mod = None
        except _Silent:
            mod = None
        if mod is not None and mod.status == DONE:
            self.check_handler_function(mod, func)
        while self.deferred:
            owner, imp = self.deferred.popleft()
            self.at_call = imp.func or owner.name
            self.run_import(owner, imp)
        return self.result()

    def result(self) -> HandlerResult:
        files = frozenset(m.ref.path for m in self.modules.values()
                          if m.ref.path is not None and m.ref.kind != EXTERNAL)
        paths = {m.name: m.ref.path for m in self.modules.values() if m.ref.path}
        return HandlerResult(self.handler, files, self.edges, paths, self.errors, self.warnings)

    def check_handler_function(self, mod: _Module, func: str) -> None:
        h = self.handler
        bound = mod.binding(func)
        path = mod.ref.path or h.source
        if bound is not None and bound[0] == DEFINITE:
            return
        if bound is not None:
            self.report(False, path, 1, "maybe",
                        f"Handler '{func}' is bound on module '{h.module_path}' only on some "
                        f"paths")
        elif not mod.closed:
            self.report(False, path, 1, "unknown",
                        f"Handler '{func}' not found on module '{h.module_path}', which "
                        f"may define names dynamically: {mod.why_open()}")
        else:
            self.report(True, path, 1, "missing-handler",
                        f"Handler '{func}' missing on module '{h.module_path}'")

    # -- reporting --------------------------------------------------------------------

    def wrap(self, message: str, exc_type: str = "ImportError") -> str:
        if exc_type != "ImportError":
            message = f"{exc_type}: {message}"
        if self.at_call is not None:
            return f"{message} (raised when {self.at_call}() runs)"
        if exc_type != "ImportError":
            return message
        return f"Unable to import module '{self.handler.module_path}': {message}"

    def report(self, error: bool, path: str, line: int, kind: str, message: str) -> None:
        key = (error, path, line, kind, message)
        if key in self._seen:
            return
        self._seen.add(key)
        finding = Finding(self.handler.name, path, line, kind, message)
        (self.errors if error else self.warnings).append(finding)

    def statement_failed(self, owner: _Module, imp: Import, exc: _Failure) -> None:
        if imp.guard == CAUGHT:
            return
        path = owner.ref.path or self.handler.source
        # The exception propagates through every import statement that is running: one of
        # them may catch it, or run on some paths only.
        self.failure(self.context, path, imp.line, exc)

    def failure(self, guard: int, path: str, line: int, exc: _Failure) -> None:
        if guard != UNGUARDED:
            for mod, g in reversed(self.chain):  # the modules the exception aborts
                if g == CAUGHT:
                    break
                if mod.broken is None or guard < mod.broken_guard:
                    mod.broken, mod.broken_guard = (path, line, exc), guard
        if guard == CAUGHT:
            return
        if guard == CONDITIONAL:
            self.report(False, path, line, exc.kind,
                        self.wrap(exc.message, exc.exc_type) + " (on some paths only)")
            return
        if exc.external and not self.handler.complete:
            self.report(False, path, line, exc.kind,
                        self.wrap(exc.message, exc.exc_type) + " (some of this function's layers are not"
                        " in the repository)")
            return
        self.report(True, path, line, exc.kind, self.wrap(exc.message, exc.exc_type))

    # -- loading ------------------------------------------------------------------------

    def edge(self, importer: str | None, target: str) -> None:
        if importer is not None and importer != target:
            self.edges.setdefault(importer, set()).add(target)

    def load(self, dotted: str, importer: str | None) -> _Module:
        """Import `dotted` (and its ancestors); return it, running or done."""
        mod = self.modules.get(dotted)
        if mod is not None:
            if mod.status == FAILED:
                raise _Silent()
            self.edge(importer, dotted)
            if mod.broken is not None and self.context < mod.broken_guard:
                # Its first run failed under a guard; this import runs it again, unguarded.
                path, line, exc = mod.broken
                mod.broken_guard = self.context
                self.failure(self.context, path, line, exc)
                raise _Silent()
            return mod
        parent_name, _, _ = dotted.rpartition(".")
        parent = None
        if parent_name:
            parent = self.load(parent_name, importer=None)
        ref = self.search.find(dotted, parent.ref if parent else None)
        if isinstance(ref, NotFound):
            raise _Failure("missing-module", ref.message, ref.external)
        if parent is not None:
            self.edge(dotted, parent_name)
        self.edge(importer, dotted)
        if ref.shadows_stdlib and dotted not in self._shadow_warned:
            self._shadow_warned.add(dotted)
            self.report(False, ref.path or self.handler.source, 1, "shadowed-stdlib",
                        f"'{dotted}' in the repository ({ref.path}) has the same name as a "
                        f"standard library module; on Lambda the runtime may already have "
                        f"imported the standard library one")
        summary = None
        if ref.kind == "source":
            summary = self.summaries(ref.path, self.version)
        mod = _Module(ref, summary)
        self.modules[dotted] = mod
        if summary is not None:
            if summary.error is not None:
                kind, message, line = summary.error
                mod.status = FAILED
                self.report(True, ref.path, line, kind,
                            f"Syntax error in module '{self.handler.module_path}': {message}"
                            if self.at_call is None else f"{message} (raised when "
                            f"{self.at_call}() runs)")
                raise _Silent()
            self.execute(mod)
        mod.status = DONE
        return mod

    def execute(self, mod: _Module) -> None:
        for imp in mod.summary.imports:
            if imp.scope == CALL:
                self.deferred.append((mod, imp))
                continue
            mod.paused_at = imp.seq
            self.run_import(mod, imp)
        mod.paused_at = 1 << 30

    def run_import(self, owner: _Module, imp: Import) -> None:
        outer = self.context
        self.context = max(outer, imp.guard)
        self.chain.append((owner, imp.guard))
        try:
            target = self.absolute(owner, imp)
            if not imp.is_from:
                self.load(target, owner.name)
                return
            source = self.load(target, owner.name)
            for name in imp.names:
                if name == "*":
                    self.star(owner, source, imp)
                else:
                    self.from_name(owner, source, name, imp)
        except _Failure as exc:
            self.statement_failed(owner, imp, exc)
        except _Silent:
            pass
        finally:
            self.chain.pop()
            self.context = outer

    def absolute(self, owner: _Module, imp: Import) -> str:
        if imp.level == 0:
            return imp.module
        package = owner.package
        if not package:
            raise _Failure("missing-module",
                           "attempted relative import with no known parent package")
        parts = package.split(".")
        if imp.level - 1 >= len(parts):
            raise _Failure("missing-module", "attempted relative import beyond top-level package")
        base = ".".join(parts[: len(parts) - (imp.level - 1)])
        return f"{base}.{imp.module}" if imp.module else base

    def from_name(self, owner: _Module, source: _Module, name: str, imp: Import) -> None:
        if source.ref.kind in (EXTERNAL, EXTENSION):
            return
        if name in module_dunders(source.ref.is_package, source.ref.kind == NAMESPACE):
            return
        bound = source.binding(name)
        running = source.status == RUNNING
        if bound is not None and (not running or bound[1] < source.paused_at):
            if bound[0] == MAYBE and self.context != CAUGHT:
                self.report(False, owner.ref.path, imp.line, "maybe",
                            f"'{name}' is bound in '{source.name}' ({source.ref.path}) only on "
                            f"some paths; the import fails on the others")
            return
        if source.ref.is_package:
            sub = f"{source.name}.{name}"
            found = self.search.find(sub, source.ref)
            if not isinstance(found, NotFound):
                self.load(sub, owner.name)
                return
        if not source.closed:
            if self.context != CAUGHT:
                self.report(False, owner.ref.path, imp.line, "unknown",
                            f"cannot tell whether '{source.name}' binds '{name}': "
                            f"{source.why_open()}")
            return
        if running:
            raise _Failure(
                "circular-import",
                f"cannot import name '{name}' from partially initialized module "
                f"'{source.name}' (most likely due to a circular import) {source.location()}"
                if source.ref.path else
                f"cannot import name '{name}' from partially initialized module "
                f"'{source.name}' (most likely due to a circular import)")
        raise _Failure("missing-name",
                       f"cannot import name '{name}' from '{source.name}' {source.location()}")

    def star(self, owner: _Module, source: _Module, imp: Import) -> None:
        """`from source import *`: bind its public names in owner, or make owner open."""
        cert = DEFINITE if imp.guard == 0 else MAYBE
        if source.ref.kind in (EXTERNAL, EXTENSION) or not source.closed or (
            source.summary is not None and source.summary.all_dynamic
        ):
            owner.open_reason = owner.open_reason or (
                f"'from {source.name} import *' brings names that cannot be listed")
            return
        summary = source.summary
        # A module still executing (a circular import) exports what it has bound so far.
        limit = source.paused_at if source.status == RUNNING else 1 << 30
        has_all = summary is not None and summary.all_names is not None and (
            summary.names.get("__all__", (0, 0))[1] < limit)
        if has_all:
            for name in summary.all_names:
                bound = source.binding(name)
                if bound is not None and bound[1] >= limit:
                    bound = None
                if bound is None and source.ref.is_package:
                    sub = f"{source.name}.{name}"
                    if not isinstance(self.search.find(sub, source.ref), NotFound):
                        self.load(sub, owner.name)
                        bound = (DEFINITE, 0)
                if bound is None and source.status == RUNNING:
                    raise _Failure("circular-import",
                                   f"partially initialized module '{source.name}' has no "
                                   f"attribute '{name}' (most likely due to a circular import)",
                                   exc_type="AttributeError")
                if bound is None:
                    raise _Failure("missing-name",
                                   f"module '{source.name}' has no attribute '{name}'",
                                   exc_type="AttributeError")
                owner.extra.setdefault(name, (min(cert, bound[0]), imp.seq))
            return
        names = dict(summary.names) if summary is not None else {}
        names.update(source.extra)
        if source.ref.is_package:  # submodules imported so far are attributes of the package
            prefix = source.name + "."
            for sub, mod in self.modules.items():
                if (sub.startswith(prefix) and "." not in sub[len(prefix):]
                        and mod.status == DONE and mod.broken is None):
                    names.setdefault(sub[len(prefix):], (DEFINITE, 0))
        for name, (c, q) in names.items():
            if not name.startswith("_") and q < limit:
                owner.extra.setdefault(name, (min(cert, c), imp.seq))


def check_handler(handler: Handler, search: SearchPath,
                  summaries: SummaryProvider) -> HandlerResult:
    return HandlerCheck(handler, search, summaries).run()

